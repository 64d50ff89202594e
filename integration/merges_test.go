package integration_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"ucv/edge/store"
	"ucv/hub"
	"ucv/profile"
)

// A merge the hub decides — here a steward's — shows on the edge: the
// edge's profile lists the absorbed profile in merged_from and explains it
// with who decided and why (issue 9 §6), as a merge an edge decides does.
func TestHubMergeShowsOnEdge(t *testing.T) {
	h, url := newHub(t, "hub-m")
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	e.ingest(
		`{"type":"identify","userId":"ann-1","messageId":"m1","traits":{"name":"Ann"}}`,
		`{"type":"identify","anonymousId":"kiosk-ann","messageId":"m2","traits":{"plan":"gold"}}`)
	a, err := e.st.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann-1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.st.ResolveIdentifier(profile.Identifier{Type: profile.AnonymousID, Value: "kiosk-ann"})
	if err != nil {
		t.Fatal(err)
	}
	e.sync(url)
	waitFor(t, "the edge to settle", func() bool { return e.settled(h) })
	cmd, err := hub.MarshalMerge(&hub.Merge{A: a, B: b, Actor: "steward-7", Reason: "same loyalty card"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := h.Apply(context.Background(), cmd); err != nil || r.Err != nil {
		t.Fatalf("steward merge: %v %v", err, r)
	}
	canon, absorbed := min(a, b), max(a, b)
	var recs []profile.MergeRecord
	var v store.View
	// The file first, then the read index (memAfterCommit): a lookup can
	// serve the view from before the merge for a moment after the file
	// holds it, so both are waited for.
	waitFor(t, "the hub's merge on the edge", func() bool {
		p, err := e.st.Profile(canon)
		if err != nil {
			return false
		}
		recs = p.MergeRecords()
		v, err = e.st.LookupID(absorbed)
		return len(recs) == 1 && err == nil && v.ID == canon
	})
	r := recs[0]
	if r.From != absorbed || r.Into != canon || r.DecidedBy != "steward:steward-7" || r.Reason != "same loyalty card" || r.Rule != "steward" {
		t.Fatalf("merge record on the edge = %+v", r)
	}
	if !strings.Contains(string(v.JSON), `"merged_from":["`+absorbed+`"]`) {
		t.Fatalf("the edge's view does not list %s in merged_from:\n%s", absorbed, v.JSON)
	}
}

// After a steward splits what an edge merged, neither side still lists
// the other in merged_from — on the hub's admin view, in what it serves
// edges, nor on the edge. The edge's merge record lives in the state it
// pushed for the surviving profile, a last-writer-wins map that cannot
// forget it; a record naming a profile the hub now keeps in another
// cluster is stale and left out of every view.
func TestUnmergeLeavesNoStaleMergeRecord(t *testing.T) {
	h, url := newHub(t, "hub-u")
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	e.ingest(
		`{"type":"track","anonymousId":"kiosk-1","messageId":"m1","event":"Order Completed","properties":{"revenue":10}}`,
		`{"type":"identify","userId":"ann-1","messageId":"m2","traits":{"name":"Ann"}}`,
		`{"type":"identify","anonymousId":"kiosk-1","userId":"ann-1","messageId":"m3"}`) // the edge merges them
	e.sync(url)
	waitFor(t, "the edge to settle", func() bool { return e.settled(h) })
	canon, err := e.st.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann-1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.st.Profile(canon)
	if err != nil || len(p.MergeRecords()) != 1 {
		t.Fatalf("the edge's merge: %v, records %+v", err, p.MergeRecords())
	}
	absorbed := p.MergeRecords()[0].From
	cmd, err := hub.MarshalUnmerge(&hub.Unmerge{A: canon, B: absorbed, Actor: "steward-7", Reason: "shared kiosk"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := h.Apply(context.Background(), cmd); err != nil || r.Err != nil {
		t.Fatalf("steward unmerge: %v %v", err, r)
	}
	waitFor(t, "the split on the edge", func() bool {
		a, errA := e.st.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann-1"})
		b, errB := e.st.ResolveIdentifier(profile.Identifier{Type: profile.AnonymousID, Value: "kiosk-1"})
		return errA == nil && errB == nil && a != b
	})
	// The read index follows the file (memAfterCommit): wait until both
	// views are served as the file has them — or time out below.
	waitFor(t, "the split in the edge's views", func() bool {
		for _, id := range []string{canon, absorbed} {
			if v, err := e.st.LookupID(id); err != nil || !strings.Contains(string(v.JSON), `"merged_from":[]`) {
				return false
			}
		}
		return true
	})
	for _, id := range []string{canon, absorbed} {
		for what, get := range map[string]func(string) (hub.View, error){"admin view": h.FSM().Profile, "served view": h.FSM().ServedProfile} {
			v, err := get(id)
			if err != nil {
				t.Fatal(err)
			}
			if recs := v.Profile.MergeRecords(); len(recs) != 0 {
				t.Errorf("hub %s of %s after the split lists merges %+v", what, id, recs)
			}
		}
		v, err := e.st.LookupID(id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(v.JSON), `"merged_from":[]`) {
			t.Errorf("the edge's view of %s after the split:\n%s", id, v.JSON)
		}
	}
}
