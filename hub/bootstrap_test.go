package hub_test

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
)

// bootstrapViews reads every cluster of a bootstrap copy, encoded.
// fataler is what the helpers need of testing.TB and rapid.T.
type fataler interface {
	tb
	Fatalf(format string, args ...any)
}

func bootstrapViews(t fataler, b *hub.Bootstrap) []hub.View {
	t.Helper()
	var out []hub.View
	want := -1
	err := b.Clusters(func(n int) error { want = n; return nil }, func(v hub.View) error {
		out = append(out, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want != len(out) {
		t.Fatalf("bootstrap announced %d clusters, gave %d", want, len(out))
	}
	return out
}

// checkBootstrapIsFeed: a bootstrap copy holds exactly what the change
// feed from the start gives (same clusters, fragments, positions and
// profile bytes), sorted by cluster ID.
func checkBootstrapIsFeed(t fataler, f *hub.FSM) {
	t.Helper()
	got := bootstrapViews(t, f.Bootstrap())
	feed, _ := f.Feed(0, math.MaxInt)
	slices.SortFunc(feed, func(a, b hub.View) int { return cmpString(a.ID, b.ID) })
	if len(got) != len(feed) {
		t.Fatalf("bootstrap has %d clusters, feed %d", len(got), len(feed))
	}
	for i := range got {
		a, b := got[i], feed[i]
		if a.ID != b.ID || !slices.Equal(a.Fragments, b.Fragments) || a.Changed != b.Changed {
			t.Fatalf("cluster %d: bootstrap %s %v @%d, feed %s %v @%d", i, a.ID, a.Fragments, a.Changed, b.ID, b.Fragments, b.Changed)
		}
		ab, err1 := a.Profile.Marshal()
		bb, err2 := b.Profile.Marshal()
		if err1 != nil || err2 != nil || !bytes.Equal(ab, bb) {
			t.Fatalf("cluster %s: profiles differ (%v, %v)", a.ID, err1, err2)
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestBootstrapIsPointInTime(t *testing.T) {
	l := newLog(t)
	twoStores(l)
	checkBootstrapIsFeed(t, l.f)
	b := l.f.Bootstrap()
	if b.Index() != 2 {
		t.Fatalf("bootstrap at index %d, want 2", b.Index())
	}
	before := bootstrapViews(t, b)
	if len(before) != 1 || !slices.Equal(before[0].Fragments, []string{p1, p2}) {
		t.Fatalf("want one cluster of %s and %s, got %+v", p1, p2, before)
	}
	// Apply goes on: a split and a new profile change the FSM, not the copy.
	if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p1, B: p2, Actor: "steward", Reason: "two people"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := l.sync("edge-a", hubtest.Delta(1, 3, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Anon("anon-3")}, Name: "Page Viewed"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	again := bootstrapViews(t, b)
	if len(again) != 1 || !slices.Equal(again[0].Fragments, []string{p1, p2}) {
		t.Fatalf("the copy changed under Apply: %+v", again)
	}
	after := bootstrapViews(t, l.f.Bootstrap())
	var ids []string
	for _, v := range after {
		ids = append(ids, v.ID)
	}
	if !slices.Equal(ids, []string{p1, p2, p3}) {
		t.Fatalf("after the split and a new profile: clusters %v", ids)
	}
	checkBootstrapIsFeed(t, l.f)
}
