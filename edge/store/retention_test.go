package store

import (
	"slices"
	"testing"
	"time"

	"ucv/profile"
	"ucv/profile/catalog"
)

// Retention (decision 0041) on two replicas that received the same
// orders in opposite orders: the stored profiles hold the same events
// (those before the catalog's cutoff are pruned from timeline and
// ledger when the profile is written), the windows agree, and when an
// event's age passes the policy with no new event the sweep prunes it
// from both.
func TestRetentionPrunesStoredProfiles(t *testing.T) {
	const day = 24 * time.Hour
	cat := traits(t, map[string]catalog.ComputedTrait{
		"orders_90d": {Event: "Order Completed", Aggregate: "count", Window: "90d"},
		"orders":     {Event: "Order Completed", Aggregate: "count"},
	})
	cat, _, err := cat.With(catalog.RetentionPolicyName, catalog.Retention{EventsDays: 30}, cat.Version+1)
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		order("ann", "o1", t0.Add(-60*day), "1"),
		order("ann", "o2", t0.Add(-31*day), "2"),
		order("ann", "o3", t0.Add(-10*day), "3"),
		order("ann", "o4", t0.Add(-time.Hour), "4"),
	}
	clk := newTestClock(t0)
	var replicas []*Store
	for i, evs := range [][]string{bodies, slices.Clone(bodies)} {
		if i == 1 {
			slices.Reverse(evs)
		}
		s := open(t, func(o *Options) { o.Now = clk.now; o.SweepInterval = 5 * time.Millisecond })
		if _, err := s.SetCatalog(cat); err != nil {
			t.Fatal(err)
		}
		for _, b := range evs {
			ingest(t, s, b)
		}
		replicas = append(replicas, s)
	}
	stored := func(s *Store) *profile.Profile {
		id, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Profile(id)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	events := func(p *profile.Profile) []string {
		var out []string
		for _, e := range p.Events() {
			out = append(out, e.MessageID)
		}
		return out
	}
	for i, s := range replicas {
		p := stored(s)
		if got := events(p); !slices.Equal(got, []string{"o4", "o3"}) {
			t.Errorf("replica %d timeline = %v, want o4 o3", i, got)
		}
		n := 0
		p.LedgerEvents(func(*profile.LedgerEvent) { n++ })
		if n != 2 {
			t.Errorf("replica %d ledger holds %d events, want 2", i, n)
		}
		if c := computedOf(t, s, "ann"); c["orders"] != 2.0 || c["orders_90d"] != 2.0 {
			t.Errorf("replica %d computed = %v", i, c)
		}
	}
	// 21 days later o3 is 31 days old: the sweep prunes it from both,
	// with no new event.
	clk.set(t0.Add(21 * day))
	for i, s := range replicas {
		waitFor(t, "the sweep to prune o3", func() bool { return slices.Equal(events(stored(s)), []string{"o4"}) })
		if c := computedOf(t, s, "ann"); c["orders"] != 1.0 {
			t.Errorf("replica %d computed after 21 days = %v", i, c)
		}
	}
	// The two states merge to the same events: nothing comes back.
	a, b := stored(replicas[0]), stored(replicas[1])
	a.Merge(b)
	if got := events(a); !slices.Equal(got, []string{"o4"}) {
		t.Errorf("merged timeline = %v", got)
	}
}
