package hub_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// fullState returns the resync entry at seq carrying fragment id's whole
// state as hub l holds it: what an edge's store would send.
func fullState(l *log, seq uint64, id string) replication.Entry {
	l.t.Helper()
	p, err := l.f.Fragment(id)
	if err != nil {
		l.t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		l.t.Fatal(err)
	}
	return replication.Entry{Seq: seq, Kind: replication.KindDelta, ProfileID: id, Delta: b}
}

func (l *log) resync(edge string, es ...replication.Entry) *hub.Result {
	l.t.Helper()
	return l.apply(hub.MarshalSync(&hub.SyncBatch{Edge: edge, Resync: true, Entries: es}))
}

// A hub that lost an edge's early sequences accepts the edge's resync
// (full states after a jump), replays of it are duplicates, the skipped
// sequences count as applied, and the gap rule holds again afterwards.
func TestSyncResync(t *testing.T) {
	// Hub A got the edge's first three entries; the edge trimmed them.
	a := newLog(t)
	edge := hubtest.NewEdge("e", 1)
	if r := a.sync("e",
		edge.Delta(hubtest.Event{Profile: p1, IDs: []profile.Identifier{hubtest.Email("ann@example.org")}, Name: "Order Completed", Revenue: 5}),
		edge.Delta(hubtest.Event{Profile: p2, IDs: []profile.Identifier{hubtest.Anon("b")}, Name: "Order Completed", Revenue: 7}),
		edge.Merge(p2, p1),
	); r.Err != nil {
		t.Fatal(r.Err)
	}
	full := []replication.Entry{fullState(a, 10, p1), fullState(a, 11, p2), hubtest.MergeEntry(12, p2, p1)}

	// Hub B is new: the edge's next entry is a gap, with or without
	// entries it still holds.
	b := newLog(t)
	next := edge.Delta(hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 11}) // seq 4
	if r := b.sync("e", next); !errors.Is(r.Err, hub.ErrSequenceGap) || !strings.Contains(r.Err.Error(), "expected 1") {
		t.Fatalf("push after the hub lost its data: %v, want a gap expecting 1", r.Err)
	}
	empty := b.state()
	// A resync batch is validated like any other: a bad entry changes nothing.
	bad := replication.Entry{Seq: 13, Kind: replication.KindDelta, ProfileID: p1, Delta: []byte{1, 64, 0}}
	if r := b.resync("e", append(full[:3:3], bad)...); !errors.Is(r.Err, hub.ErrInvalid) || !bytes.Equal(b.state(), empty) {
		t.Fatalf("resync with a bad entry: %v (state changed: %v), want ErrInvalid and no change", r.Err, !bytes.Equal(b.state(), empty))
	}
	r := b.resync("e", full...)
	if r.Err != nil || r.Applied != 3 || r.LastSeq != 12 {
		t.Fatalf("resync = %+v (%v), want 3 applied up to 12", r, r.Err)
	}
	if got := b.f.EdgeSeq("e"); got != 12 {
		t.Fatalf("EdgeSeq after resync = %d, want 12", got)
	}
	va, _ := a.f.Profile(p2)
	vb, err := b.f.Profile(p2)
	if err != nil || vb.ID != p1 || !vb.Profile.Equal(va.Profile) {
		t.Fatalf("hub B's view of p2 = %s %v (%v), want hub A's cluster %s", vb.ID, vb.Fragments, err, va.ID)
	}
	if got := vb.Profile.Count("revenue:USD"); got != 1200 {
		t.Errorf("revenue after resync = %d, want 1200 (each order once)", got)
	}
	after := b.state()

	// Replays of the resync, whole or in part, are duplicates; so are
	// the sequences it skipped (covered by the full states).
	for name, push := range map[string]func() *hub.Result{
		"replay":         func() *hub.Result { return b.resync("e", full...) },
		"partial replay": func() *hub.Result { return b.resync("e", full[1:]...) },
		"skipped seq":    func() *hub.Result { return b.sync("e", next) },
	} {
		if r := push(); r.Err != nil || !r.Duplicate || r.LastSeq != 12 {
			t.Fatalf("%s = %+v (%v), want a duplicate up to 12", name, r, r.Err)
		}
		if !bytes.Equal(b.state(), after) {
			t.Fatalf("%s changed the state", name)
		}
	}

	// From then on sequences are contiguous again: 13 applies, 15 is a
	// gap without the flag.
	later := hubtest.Delta(1, 13, hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 3})
	if r := b.sync("e", full[2], later); r.Err != nil || r.Applied != 1 || r.Skipped != 1 || r.LastSeq != 13 {
		t.Fatalf("push after the resync = %+v (%v)", r, r.Err)
	}
	if r := b.sync("e", hubtest.Delta(1, 15, hubtest.Event{Profile: p1})); !errors.Is(r.Err, hub.ErrSequenceGap) || !strings.Contains(r.Err.Error(), "expected 14") {
		t.Fatalf("unflagged jump after the resync: %v, want a gap expecting 14", r.Err)
	}

	// A stranger without the flag must still start at 1.
	if r := b.sync("stranger", hubtest.Delta(2, 5, hubtest.Event{Profile: p3})); !errors.Is(r.Err, hub.ErrSequenceGap) || !strings.Contains(fmt.Sprint(r.Err), "expected 1") {
		t.Fatalf("stranger at 5 without the flag: %v, want a gap expecting 1", r.Err)
	}

	// Deterministic: another replica applying the same log ends with
	// the same bytes.
	c := newLog(t)
	c.sync("e", next)
	c.resync("e", append(full[:3:3], bad)...)
	c.resync("e", full...)
	c.resync("e", full...)
	c.resync("e", full[1:]...)
	c.sync("e", next)
	c.sync("e", full[2], later)
	c.sync("e", hubtest.Delta(1, 15, hubtest.Event{Profile: p1}))
	c.sync("stranger", hubtest.Delta(2, 5, hubtest.Event{Profile: p3}))
	if !bytes.Equal(c.snapshot(), b.snapshot()) {
		t.Fatal("two replicas applying the same resync log differ")
	}
}
