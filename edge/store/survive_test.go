package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// survivalCatalog has a policy of each kind (0045).
func survivalCatalog(t testing.TB) catalog.Catalog {
	t.Helper()
	c := catalog.Catalog{}
	for name, s := range map[string]catalog.Survivorship{
		"name":  {Policy: profile.PolicySourcePriority, Sources: []string{"crm", "pos"}},
		"last":  {Policy: profile.PolicyMostFrequent},
		"addr":  {Policy: profile.PolicyLongest},
		"score": {Policy: profile.PolicyMax},
		"since": {Policy: profile.PolicyMin},
		"plan":  {Policy: profile.PolicyMostRecent},
	} {
		n, _, err := c.With(name, s, c.Version+1)
		if err != nil {
			t.Fatal(err)
		}
		c = n
	}
	return c
}

// viewTraits returns the traits of the stored view of id.
func viewTraits(t testing.TB, s *Store, id string) string {
	t.Helper()
	v, err := s.LookupID(id)
	if err != nil {
		t.Fatalf("LookupID(%s): %v", id, err)
	}
	var m struct {
		Traits json.RawMessage `json:"traits"`
	}
	if err := json.Unmarshal(append(v.JSON, `,"days_since_last_seen":null}}`...), &m); err != nil {
		t.Fatal(err)
	}
	return string(m.Traits)
}

// An edge's view follows the policy: a value ingested from the CRM's
// write key beats a later one from the web's.
func TestSurvivorshipOnIngest(t *testing.T) {
	s := open(t)
	if _, err := s.SetCatalog(survivalCatalog(t)); err != nil {
		t.Fatal(err)
	}
	crm := ev(t, `{"type":"identify","userId":"u1","messageId":"m1","traits":{"name":"Katherine"}}`)
	crm.Source = "crm"
	web := ev(t, `{"type":"identify","userId":"u1","messageId":"m2","traits":{"name":"Katherin"}}`)
	web.Source = "web"
	for _, e := range []Event{crm, web} {
		if _, err := s.Ingest(context.Background(), []Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	_, m := lookup(t, s, profile.UserID, "u1")
	if got := m["traits"].(map[string]any)["name"]; got != "Katherine" {
		t.Fatalf("name = %v, want the CRM's", got)
	}
	// Without the policy the view shows the latest write again.
	if _, err := s.ReplaceCatalog(catalog.Catalog{Version: 100}); err != nil {
		t.Fatal(err)
	}
	_, m = lookup(t, s, profile.UserID, "u1")
	if got := m["traits"].(map[string]any)["name"]; got != "Katherin" {
		t.Fatalf("name without a policy = %v", got)
	}
}

// TestSurvivorshipSameOnEveryReplica: two edges that receive the same
// fragments' states from the hub's feed in different orders, with
// repeats, render the same golden record, and it is the one the hub's
// join of the fragments gives.
func TestSurvivorshipSameOnEveryReplica(t *testing.T) {
	cat := survivalCatalog(t)
	noSync := func(o *Options) { o.NoSync = true } // many small commits; durability is not under test
	a, b := open(t, noSync), open(t, noSync)
	for _, s := range []*Store{a, b} {
		if _, err := s.SetCatalog(cat); err != nil {
			t.Fatal(err)
		}
	}
	comp, err := catalog.Compile(cat)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		canon := fmt.Sprintf("C%05d", run)
		recs := map[string]*profile.Profile{}
		var deltas []*profile.Profile
		for i := range rapid.IntRange(1, 25).Draw(rt, "writes") {
			rec := rapid.SampledFrom([]string{"r1", "r2", "r3"}).Draw(rt, "record")
			id := canon + "-" + rec
			p := recs[id]
			if p == nil {
				p = profile.New(id)
				recs[id] = p
			}
			trait := rapid.SampledFrom([]string{"name", "last", "addr", "score", "since", "plan"}).Draw(rt, "trait")
			val := rapid.SampledFrom([]any{"Ann", "Anne", "Ann Lee", "2019-01-02", 7, 12.5, "x"}).Draw(rt, "val")
			src := rapid.SampledFrom([]string{"crm", "pos", "web"}).Draw(rt, "source")
			m := &profile.Message{Kind: profile.Identify, MessageID: fmt.Sprintf("%s-m%d", canon, i), Timestamp: t0, Traits: map[string]any{trait: val}}
			ts := crdt.Timestamp{Wall: t0.Add(time.Duration(rapid.IntRange(0, 3).Draw(rt, "dt")+i) * time.Second).UnixMilli(), Node: crdt.ReplicaID(i + 1)}
			d := p.Apply(m, nil, profile.Source{Node: crdt.ReplicaID(i + 1), Name: src}, ts)
			d.ID = canon
			deltas = append(deltas, d)
		}
		hub := profile.New(canon)
		for _, d := range deltas {
			hub = hub.Join(d)
		}
		want := string(comp.Survive(hub).TraitsJSON())
		for _, s := range []*Store{a, b} {
			order := rapid.Permutation(deltas).Draw(rt, "order")
			order = append(order, order[:rapid.IntRange(0, len(order)).Draw(rt, "repeats")]...)
			// In pages of a few items, as the feed delivers them.
			var page []replication.FeedItem
			for i, d := range order {
				b, err := d.Marshal()
				if err != nil {
					rt.Fatal(err)
				}
				page = append(page, replication.FeedItem{ID: canon, Fragments: []string{canon}, State: b})
				if len(page) < 8 && i < len(order)-1 {
					continue
				}
				acked, _ := s.LastSeq()
				if _, err := s.ApplyClusters(ctx, page, acked); err != nil {
					rt.Fatal(err)
				}
				page = nil
			}
			if got := viewTraits(t, s, canon); got != want {
				rt.Fatalf("edge view traits %s, hub %s", got, want)
			}
		}
	})
}

// BenchmarkIngestSurvivorship: identify events carrying 10 traits from
// three sources on 1,000 returning users (NoSync: CPU), with no policy
// and with a default policy (most_frequent) plus a source_priority one:
// the price of choosing the golden record when each view is rendered.
func BenchmarkIngestSurvivorship(b *testing.B) {
	for _, defs := range []string{"none", "policies"} {
		b.Run("catalog="+defs, func(b *testing.B) {
			s := open(b, func(o *Options) { o.NoSync = true })
			if defs == "policies" {
				c := catalog.Catalog{}
				c, _, _ = c.With(catalog.SurvivorshipDefault, catalog.Survivorship{Policy: profile.PolicyMostFrequent}, 1)
				c, _, _ = c.With("name", catalog.Survivorship{Policy: profile.PolicySourcePriority, Sources: []string{"crm", "pos"}}, 2)
				if _, err := s.SetCatalog(c); err != nil {
					b.Fatal(err)
				}
			}
			sources := []string{"crm", "pos", "web"}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				e := ev(b, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d","traits":{"name":"N%d","t1":%d,"t2":"v%d","t3":"w%d","t4":%d,"t5":"x","t6":"y%d","t7":%d,"t8":"z","t9":"q%d"}}`,
					i%1000, i, i%3, i%5, i%7, i%2, i%4, i%3, i%6, i%2))
				e.Source = sources[i%3]
				if _, err := s.Ingest(context.Background(), []Event{e}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
