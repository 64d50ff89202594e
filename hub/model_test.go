package hub_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/hub/identity"
	"ucv/profile"
	"ucv/replication"
)

// historicalModel is a model trained (ucv resolve's EM, DefaultConfig) on
// the first 1,000 records by unique_id of historical_50k
// (shared/data/historical_50k, the synthetic Splink data set); bench
// identity --model both measures the gap that makes installing one worth
// it.
func historicalModel(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "historical_50k_first1000.model"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// bevan pushes records Q43127454-1 and Q43127454-10 of historical_50k
// (one true person) as two profiles from two edges. The untrained model
// scores the pair +1.85, in the review band; the trained one +8.5.
func bevan(l *log) {
	l.t.Helper()
	if r := l.sync("edge-a", hubtest.Delta(1, 1, hubtest.Event{Profile: p1, Kind: profile.Identify,
		Traits: map[string]any{"firstName": "irwin", "lastName": "bevan", "birthday": "1852-01-01", "city": "wales",
			"postalCode": "m9 6ns", "gender": "male"}})); r.Err != nil {
		l.t.Fatal(r.Err)
	}
	if r := l.sync("edge-b", hubtest.Delta(2, 1, hubtest.Event{Profile: p2, Kind: profile.Identify,
		Traits: map[string]any{"firstName": "irving", "lastName": "bevan", "city": "wales"}})); r.Err != nil {
		l.t.Fatal(r.Err)
	}
}

// TestModelInstallMergesPair: a true pair the untrained model leaves in
// review merges once the trained model is installed; the snapshot
// carries the model, restores to the same bytes and matches its golden
// file.
func TestModelInstallMergesPair(t *testing.T) {
	l := newLog(t)
	bevan(l)
	if v, _ := l.f.Profile(p2); v.ID != p2 {
		t.Fatalf("before the install, %s resolves to %s, want itself", p2, v.ID)
	}
	if rs := l.f.Reviews(); len(rs) != 1 || rs[0].A != p1 || rs[0].B != p2 {
		t.Fatalf("before the install, reviews = %+v, want the pair pending", rs)
	}
	before, err := l.f.Model()
	if err != nil || before.Installed {
		t.Fatalf("Model() = %+v, %v; want the untrained default", before, err)
	}
	res := l.apply(hub.MarshalSetModel(&hub.SetModel{Model: historicalModel(t), Actor: "ops"}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if v, _ := l.f.Profile(p2); v.ID != p1 {
		t.Fatalf("after the install, %s resolves to %s, want %s", p2, v.ID, p1)
	}
	if len(l.f.Reviews()) != 0 {
		t.Errorf("the merged pair is still in review")
	}
	h := l.f.History(p1)
	if len(h) != 1 || h[0].Kind != "merge" || h[0].Rule != "probabilistic" || h[0].Index != res.Index {
		t.Errorf("History = %+v, want one probabilistic merge at the install's index %d", h, res.Index)
	}
	info, err := l.f.Model()
	if err != nil {
		t.Fatal(err)
	}
	if !info.Installed || info.Index != res.Index || info.Actor != "ops" || info.TrainedRecords != 1000 ||
		info.Hash != identity.HashOf(historicalModel(t)) || info.Hash == before.Hash || len(info.Levels) == 0 {
		t.Errorf("Model() = %+v", info)
	}

	got := l.snapshot()
	r := goldenRestore(t, got, "snapshot_model.golden", "ModelInstall")
	if ri, err := r.Model(); err != nil || ri.Hash != info.Hash || ri.Index != info.Index {
		t.Errorf("restored Model() = %+v, %v; want %+v", ri, err, info)
	}
	// New records after the restore are scored with the restored model:
	// a third Bevan record joins the cluster.
	rl := &log{t: t, f: r, index: r.Index()}
	rl.sync("edge-c", hubtest.Delta(3, 1, hubtest.Event{Profile: p3, Kind: profile.Identify,
		Traits: map[string]any{"firstName": "irwin", "lastName": "bevan", "birthday": "1852-01-01", "city": "wales"}}))
	if v, _ := r.Profile(p3); v.ID != p1 {
		t.Errorf("a record added after the restore resolves to %s, want %s", v.ID, p1)
	}
}

func TestModelCommandRejects(t *testing.T) {
	good := historicalModel(t)
	if _, err := hub.MarshalSetModel(&hub.SetModel{}); !errors.Is(err, hub.ErrInvalid) {
		t.Errorf("MarshalSetModel(empty) = %v, want ErrInvalid", err)
	}
	bad, err := hub.MarshalSetModel(&hub.SetModel{Model: good[:len(good)-1], Actor: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := hub.UnmarshalSetModel(bad); !errors.Is(err, hub.ErrMalformed) || !errors.Is(err, identity.ErrBadModel) {
		t.Errorf("UnmarshalSetModel(truncated model) = %v, want ErrMalformed and ErrBadModel", err)
	}
	cmd, err := hub.MarshalSetModel(&hub.SetModel{Model: good, Actor: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	sm, m, err := hub.UnmarshalSetModel(cmd)
	if err != nil || sm.Actor != "ops" || !bytes.Equal(sm.Model, good) || m == nil {
		t.Errorf("UnmarshalSetModel = %+v, %v", sm, err)
	}
}

// BenchmarkModelInstall measures applying a CmdModel to an FSM holding N
// fragments (UCV_BENCH_MODEL_N, default 10,000) of synthetic people, a
// third of them noisy duplicates: the identity index is rebuilt from
// every record and decision, and the changed clusters regrouped. One op
// is one install, alternating two models so every op changes clusters.
//
//	UCV_BENCH_MODEL_N=100000 go test -run '^$' -bench ModelInstall -benchtime 4x ./hub
func BenchmarkModelInstall(b *testing.B) {
	n := 10000
	if s := os.Getenv("UCV_BENCH_MODEL_N"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			b.Fatal(err)
		}
	}
	first := []string{"ann", "bob", "carl", "dora", "emil", "fay", "gus", "hana", "ivan", "jo", "kim", "lea", "max", "nina", "otto", "pia"}
	last := []string{"smith", "jones", "brown", "taylor", "wilson", "evans", "thomas", "roberts", "walker", "wright", "hall", "green", "wood", "clark", "hill", "lewis", "king", "baker", "adams", "moore"}
	cities := []string{"leeds", "york", "bath", "hull", "derby", "wells", "ripon", "truro"}
	l := newLog(b)
	ed := hubtest.NewEdge("edge-a", 1)
	const batch = 1000
	for i := 0; i < n; i += batch {
		es := make([]replication.Entry, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			p := j * 2 / 3 // every third record repeats a person
			tr := map[string]any{"firstName": first[p%len(first)], "lastName": last[(p/len(first))%len(last)],
				"birthday": fmt.Sprintf("19%02d-%02d-%02d", 30+p%70, 1+p%12, 1+p%28), "city": cities[p%len(cities)],
				"postalCode": fmt.Sprintf("ls%d %dab", p%97, p%9)}
			if j%3 == 2 {
				tr["firstName"] = first[p%len(first)] + "e" // a typo
				delete(tr, "postalCode")
			}
			es = append(es, ed.Delta(hubtest.Event{Profile: fmt.Sprintf("P%07d", j), Kind: profile.Identify, Traits: tr}))
		}
		if r := l.sync(ed.Name, es...); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	um, err := identity.Untrained(identity.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	ub, err := um.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	models := [][]byte{historicalModel(b), ub}
	b.ResetTimer()
	changed := 0
	for i := range b.N {
		r := l.apply(hub.MarshalSetModel(&hub.SetModel{Model: models[i%2], Actor: "bench"}))
		changed += len(r.Clusters)
	}
	b.ReportMetric(float64(n), "fragments")
	b.ReportMetric(float64(changed)/float64(b.N), "changed-clusters/op")
}
