package hub_test

import (
	"bytes"
	"slices"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
)

// feedApart returns, for the feed after cursor, each item's cluster ID →
// its cannot-link partners.
func feedApart(l *log, after uint64) map[string][]string {
	l.t.Helper()
	items, _ := l.f.Feed(after, 100)
	out := map[string][]string{}
	for _, v := range items {
		out[v.ID] = v.Apart
	}
	return out
}

// TestUnmergeSticksAgainstEdgeMerges: after a steward's unmerge of two
// profiles that share an e-mail, the feed carries the cannot-link on
// both sides, and an edge's merge of the pair (or of anything in their
// clusters) is ignored, identically after a restore. A later steward
// merge still overrides the unmerge.
func TestUnmergeSticksAgainstEdgeMerges(t *testing.T) {
	l := newLog(t)
	twoStores(l) // p1 and p2 share ann@example.org: one cluster
	if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p1, B: p2, Actor: "steward", Reason: "two people"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	unmerged := l.index
	if got := feedApart(l, unmerged-1); !slices.Equal(got[p1], []string{p2}) || !slices.Equal(got[p2], []string{p1}) {
		t.Fatalf("feed at the unmerge: apart = %v, want p1↔p2", got)
	}
	// An edge that re-linked them by its own rules pushes the merge: the
	// entry is consumed (the sequence moves on) and changes nothing.
	h := len(l.f.History(p1))
	if r := l.sync("edge-a", hubtest.MergeEntry(3, p2, p1)); r.Err != nil || r.Applied != 1 || len(r.Clusters) != 0 {
		t.Fatalf("edge merge after unmerge = %+v (%v), want applied, no cluster changed", r, r.Err)
	}
	if v, _ := l.f.Profile(p2); v.ID != p2 {
		t.Fatalf("an edge merge undid the unmerge: p2 is in %s", v.ID)
	}
	if got := l.f.EdgeSeq("edge-a"); got != 3 {
		t.Fatalf("EdgeSeq(edge-a) = %d, want 3", got)
	}
	if len(l.f.History(p1)) != h {
		t.Fatal("an ignored edge merge was recorded in the history")
	}
	if v, _ := l.f.Profile(p1); !slices.Equal(v.Apart, []string{p2}) {
		t.Fatalf("after an ignored edge merge p1: apart = %v, want [p2]", v.Apart)
	}
	if items, _ := l.f.Feed(unmerged, 100); len(items) != 0 {
		t.Fatalf("an ignored edge merge reached the feed: %+v", items)
	}

	// The cannot-link holds between whole clusters: p3 joins p2 by a
	// steward's merge, and an edge's merge of p3 with p1 is ignored too;
	// p3's cluster carries the partner p1.
	l.sync("edge-c", hubtest.Delta(3, 1, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Anon("anon-3")}}))
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p3, B: p2, Actor: "steward"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := feedApart(l, l.index-1); !slices.Equal(got[p2], []string{p1}) {
		t.Fatalf("feed of p2+p3: apart = %v, want [p1]", got)
	}
	l.sync("edge-c", hubtest.MergeEntry(2, p3, p1))
	if v, _ := l.f.Profile(p3); v.ID != p2 {
		t.Fatalf("an edge merge of p3 (apart from p1 through p2) moved it to %s", v.ID)
	}

	// A replica restored from a snapshot ignores the same merges.
	var snap bytes.Buffer
	if err := l.f.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r := &log{t: t, f: mustFSM(t), index: l.index}
	if err := r.f.Restore(nopCloser{bytes.NewReader(snap.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.f.Profile(p1); !slices.Equal(v.Apart, []string{p2}) {
		t.Fatalf("restored p1: apart = %v, want [p2]", v.Apart)
	}
	for _, x := range []*log{l, r} {
		x.sync("edge-b", hubtest.MergeEntry(2, p1, p2))
	}
	if !bytes.Equal(l.state(), r.state()) {
		t.Fatal("the restored replica applied an edge merge differently")
	}
	if v, _ := r.f.Profile(p1); v.ID != p1 || len(v.Fragments) != 1 {
		t.Fatalf("restored replica: p1 = %s %v after an edge merge, want alone", v.ID, v.Fragments)
	}

	// A steward's merge overrides the unmerge; the cannot-link is gone
	// from the feed.
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p1, B: p2, Actor: "steward", Reason: "same person after all"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	v, _ := l.f.Profile(p2)
	if v.ID != p1 || len(v.Fragments) != 3 || len(v.Apart) != 0 {
		t.Fatalf("after a steward merge: p2 in %s %v apart %v, want p1 with 3 fragments, none apart", v.ID, v.Fragments, v.Apart)
	}
	if got := feedApart(l, l.index-1); len(got) != 1 || len(got[p1]) != 0 {
		t.Fatalf("feed at the steward merge = %v, want p1 without partners", got)
	}
}

// TestReviewRejectReachesFeed: a review reject changes no cluster but
// adds a cannot-link, so both clusters are put in the feed again with
// their partner.
func TestReviewRejectReachesFeed(t *testing.T) {
	l := newLog(t)
	reviewPair(t, l)
	at := l.index
	if r := review(l, "pa", "pb", false); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := feedApart(l, at); !slices.Equal(got["pa"], []string{"pb"}) || !slices.Equal(got["pb"], []string{"pa"}) {
		t.Fatalf("feed after a review reject: apart = %v, want pa↔pb", got)
	}
	// An edge's merge of the pair is ignored.
	l.sync("e", hubtest.MergeEntry(3, "pb", "pa"))
	if v, _ := l.f.Profile("pb"); v.ID != "pb" {
		t.Fatalf("an edge merge undid a review reject: pb is in %s", v.ID)
	}
}

func mustFSM(t *testing.T) *hub.FSM {
	t.Helper()
	f, err := hub.NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	return f
}
