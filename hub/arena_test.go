package hub_test

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/arena"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// TestArenaSameState: an FSM keeping its cold fragments in a memory-mapped
// arena of tiny chunks (docs/decisions/0066-hub-fragments-off-the-heap.md)
// gives the same snapshot and views as one keeping them on the heap,
// while people return often enough that the arena compacts and unmaps
// chunks many times over. Snapshots and bootstrap copies taken along the
// way are read after the chunks they were taken over were emptied: the
// pins must keep those mapped (a chunk unmapped too early faults here).
// A restore in the middle replaces every encoding, and the restored
// arena FSM goes on as the heap one does.
func TestArenaSameState(t *testing.T) {
	heap := newLog(t)
	off := newLog(t)
	if err := off.f.UseArena(t.TempDir(), 16<<10); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*log{heap, off} {
		l.f.SetHotFragments(3)
	}
	const people = 600
	var seq uint64
	event := func(round, i int) replication.Entry {
		ev := hubtest.Event{Profile: fmt.Sprintf("P%04d", i), Name: "Order Completed", Revenue: float64(round + 1)}
		if round == 0 || i%7 == round%7 {
			ev.IDs = []profile.Identifier{hubtest.Email(fmt.Sprintf("p%d@example.org", i%290))} // a few shared
			ev.Traits = map[string]any{"plan": fmt.Sprintf("plan-%d", round), "first_name": fmt.Sprintf("n%d", i)}
		}
		seq++
		return hubtest.Delta(1, seq, ev)
	}
	type held struct {
		snap  []byte // written at once, to compare with
		boot  *hub.Bootstrap
		views []hub.View    // what boot read when taken
		late  func() []byte // writes a snapshot taken then, later
	}
	var olds []held
	for round := range 24 {
		for i := 0; i < people; i += 10 {
			var es []replication.Entry
			for j := i; j < i+10; j++ {
				if round == 0 || (j*7+round)%5 == 0 { // a fifth return each round
					es = append(es, event(round, j))
				}
			}
			if len(es) == 0 {
				continue
			}
			for _, l := range []*log{heap, off} {
				if r := l.sync("edge-a", es...); r.Err != nil {
					t.Fatal(r.Err)
				}
			}
		}
		if round%5 == 4 {
			// Hold a bootstrap copy over the next rounds, and what it
			// reads now to compare with.
			olds = append(olds, held{boot: off.f.Bootstrap(), views: bootstrapViews(t, off.f.Bootstrap())})
		}
		if round%5 == 2 {
			// Hold a snapshot over the next rounds.
			s := off.snapshot()
			fs, err := off.f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			olds = append(olds, held{snap: s, late: func() []byte {
				defer fs.Release()
				var b bytes.Buffer
				if err := hub.PersistTo(fs, &b); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}})
		}
		if round == 12 {
			// Restore the arena FSM from its own snapshot.
			s := off.snapshot()
			if err := off.f.Restore(nopCloser{bytes.NewReader(s)}); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(heap.state(), off.state()) {
			t.Fatalf("round %d: the arena FSM's state differs from the heap one's", round)
		}
	}
	for i, h := range olds {
		if h.late != nil {
			if got := h.late(); !bytes.Equal(got, h.snap) {
				t.Fatalf("held snapshot %d reads differently after the arena compacted", i)
			}
			continue
		}
		got := bootstrapViews(t, h.boot) // decodes every fragment of the copy
		for j := range got {
			if !got[j].Profile.Equal(h.views[j].Profile) {
				t.Fatalf("held bootstrap copy %d: cluster %s reads differently after the arena compacted", i, got[j].ID)
			}
		}
	}
	for i := range people {
		id := fmt.Sprintf("P%04d", i)
		a, errA := heap.f.Profile(id)
		b, errB := off.f.Profile(id)
		if errA != nil || errB != nil || a.ID != b.ID || !slices.Equal(a.Fragments, b.Fragments) || !a.Profile.Equal(b.Profile) {
			t.Fatalf("%s: heap %v %v, arena %v %v", id, a.ID, errA, b.ID, errB)
		}
	}
	checkBootstrapIsFeed(t, off.f)
	olds = nil
	// The bootstrap copies' pins go with them, released by cleanups that
	// run after a collection, on their own goroutine: wait for them.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GC(); off.f.ArenaStats().Pending != 0; runtime.GC() {
		if time.Now().After(deadline) {
			t.Fatalf("chunks still pending 10 s after every pin was dropped: %+v", off.f.ArenaStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := off.f.ArenaStats()
	t.Logf("arena: %+v", s)
	if s.Passes == 0 || s.Moved == 0 || s.Unmapped == 0 {
		t.Fatalf("the arena never compacted: %+v", s)
	}
	if s.Mapped > 4*s.Live+4*(16<<10) {
		t.Fatalf("%d bytes mapped for %d live", s.Mapped, s.Live)
	}
	if hs := heap.f.ArenaStats(); hs != (arena.Stats{}) {
		t.Fatalf("the heap FSM has arena counters %+v", hs)
	}
}
