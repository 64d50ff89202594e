package identity

import (
	"os"
	"testing"

	hid "ucv/hub/identity"
)

func TestZZFalse(t *testing.T) {
	if os.Getenv("ZZFALSE") == "" {
		t.Skip()
	}
	d := GenerateCustomers(20261202, 10000)
	ds := d.Dataset("customers")
	m, err := hid.Train(ds.Records, hid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ix := hid.NewIndex(m)
	if err := ix.Load(ds.Records, nil); err != nil {
		t.Fatal(err)
	}
	rec := map[string]hid.Record{}
	for _, r := range ds.Records {
		rec[r.ID] = r
	}
	cat := map[string]int{}
	n := 0
	for _, c := range ix.Clusters() {
		ents := map[string]bool{}
		for _, r := range c.Records {
			ents[ds.Entity[r]] = true
		}
		if len(ents) < 2 {
			continue
		}
		for _, l := range c.Links {
			if ds.Entity[l.A] == ds.Entity[l.B] {
				continue
			}
			ea, _ := d.Entity(ds.Entity[l.A])
			eb, _ := d.Entity(ds.Entity[l.B])
			rel := "unrelated"
			if ea.Generation == eb.ID {
				rel = "jrsr"
			} else if ea.Twin == eb.ID {
				rel = "twin"
			} else if ea.Household == eb.Household && ea.Household != "" {
				rel = "household"
			}
			k := l.Rule + "/" + rel
			cat[k]++
			n++
			if n%15 == 0 {
				e, _ := ix.Explain(l.A, l.B)
				t.Logf("BAD %s %s\n  A %v\n  B %v", k, e.String(), rec[l.A].Fields, rec[l.B].Fields)
			}
		}
	}
	for k, v := range cat {
		t.Logf("%-40s %d", k, v)
	}
}
