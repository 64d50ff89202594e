package identity

import (
	"os"
	"sort"
	"strings"
	"testing"

	hid "ucv/hub/identity"
)

func TestZZMiss(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	ds, err := Load("", "customers")
	if err != nil {
		t.Fatal(err)
	}
	m, err := hid.TrainResolved(ds.Records, hid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ix := hid.NewIndex(m)
	if err := ix.Load(ds.Records, nil); err != nil {
		t.Fatal(err)
	}
	clusterOf := map[string]string{}
	for _, a := range ix.Assignments() {
		clusterOf[a[0]] = a[1]
	}
	byEnt := map[string][]string{}
	for id, e := range ds.Entity {
		byEnt[e] = append(byEnt[e], id)
	}
	// weight buckets of missed pairs
	buckets := map[string]int{}
	sig := map[string]int{}
	for _, ids := range byEnt {
		sort.Strings(ids)
		for i, a := range ids {
			for _, b := range ids[i+1:] {
				if clusterOf[a] == clusterOf[b] {
					continue
				}
				e, err := ix.Explain(a, b)
				if err != nil {
					buckets["err"]++
					continue
				}
				w := e.Weight
				switch {
				case w >= 2:
					buckets["a >=2"]++
				case w >= -2:
					buckets["b -2..2"]++
				case w >= -8:
					buckets["c -8..-2"]++
				default:
					buckets["d < -8"]++
				}
				if w >= 2 {
					es := e.String()
					if i := strings.Index(es, "); "); i >= 0 {
						es = es[i+3:]
					}
					var labs []string
					for _, part := range strings.Split(es, "; ") {
						if j := strings.LastIndex(part, " "); j > 0 && !strings.HasPrefix(part, "shared") {
							part = part[:j]
						}
						if strings.HasPrefix(part, "adjustment") || strings.HasPrefix(part, "city") || strings.HasPrefix(part, "state") || strings.HasPrefix(part, "street_number") || strings.HasPrefix(part, "gender") {
							continue
						}
						labs = append(labs, part)
					}
					sort.Strings(labs)
					sig[strings.Join(labs, " | ")]++
				}
			}
		}
	}
	t.Logf("buckets %v", buckets)
	type kv struct {
		k string
		v int
	}
	var kvs []kv
	for k, v := range sig {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v })
	for i, x := range kvs {
		if i < 30 {
			t.Logf("%5d  %s", x.v, x.k)
		}
	}
}
