package hub_test

import (
	"slices"
	"testing"
	"time"

	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/profile/catalog"
)

// Retention at the hub (decision 0041): a fragment a sync batch
// rewrites holds no event past the catalog's cutoff as of the state
// machine's clock, and its state carries the watermark, so the edges
// that receive it through the feed prune too and an old edge delta
// cannot bring them back.
func TestRetentionPrunesFragments(t *testing.T) {
	const day = 24 * time.Hour
	l := newLog(t)
	l.at = t0
	l.apply(define(catalog.KindRetention, catalog.RetentionPolicyName, `{"events_days":30}`))
	e := hubtest.NewEdge("e", 1)
	ev := func(id string, at time.Time) hubtest.Event {
		return hubtest.Event{Profile: p1, MessageID: id, Name: "Order Completed", Revenue: 10, At: at.UnixMilli(),
			IDs: []profile.Identifier{hubtest.Email("ann@example.org")}}
	}
	old := e.Delta(ev("o-old", t0.Add(-40*day)))
	if r := l.sync("e", old, e.Delta(ev("o-new", t0.Add(-day)))); r.Err != nil {
		t.Fatal(r.Err)
	}
	events := func() []string {
		p, err := l.f.Fragment(p1)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range p.Events() {
			out = append(out, x.MessageID)
		}
		return out
	}
	if got := events(); !slices.Equal(got, []string{"o-new"}) {
		t.Fatalf("fragment events = %v, want o-new only", got)
	}
	p, _ := l.f.Fragment(p1)
	if !p.Retained.Set || p.Retained.V != t0.Add(-30*day).UnixMilli() || p.Count("orders") != 1 {
		t.Fatalf("watermark %+v, orders %d", p.Retained, p.Count("orders"))
	}
	// Later, a delta for the fragment prunes what has aged out since.
	l.at = t0.Add(5 * day)
	if r := l.sync("e", e.Delta(ev("o-later", t0.Add(5*day)))); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := events(); !slices.Equal(got, []string{"o-later", "o-new"}) {
		t.Fatalf("after 5 days events = %v", got)
	}
	l.at = t0.Add(31 * day)
	if r := l.sync("e", e.Delta(ev("o-last", t0.Add(31*day)))); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := events(); !slices.Equal(got, []string{"o-last", "o-later"}) {
		t.Fatalf("after 31 days events = %v, want o-new pruned", got)
	}
	// Another edge's copy of the old order does not come back.
	e2 := hubtest.NewEdge("e2", 2)
	if r := l.sync("e2", e2.Delta(ev("o-old", t0.Add(-40*day)))); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := events(); !slices.Equal(got, []string{"o-last", "o-later"}) {
		t.Fatalf("an old delta brought events back: %v", got)
	}
	if p, _ := l.f.Fragment(p1); p.Count("orders") != 2 {
		t.Fatalf("orders = %d, want 2", p.Count("orders"))
	}
}
