package hub_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// TestPropertyInterleavingIndependent: sync batches from 2–4 edges,
// applied in two random interleavings (each edge's batches in order,
// with replays of earlier batches mixed in), give the same fragments,
// clusters and edge sequences. Only positions (Raft indexes) and the
// order of history events may differ. The second run keeps only 0–3
// fragments decoded between Applies (FSM.SetHotFragments), the first
// the default: encoding and decoding fragments changes nothing either.
func TestPropertyInterleavingIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nEdges := rapid.IntRange(2, 4).Draw(t, "edges")
		emails := []string{"a@example.org", "b@example.org", "c@example.org"}
		batches := make([][][]replication.Entry, nEdges)
		var ids []string
		for e := range nEdges {
			edge := hubtest.NewEdge(fmt.Sprintf("edge-%d", e), crdt.ReplicaID(e+1))
			nb := rapid.IntRange(1, 5).Draw(t, "batches")
			for range nb {
				var batch []replication.Entry
				for range rapid.IntRange(1, 4).Draw(t, "entries") {
					p := fmt.Sprintf("P%d-%d", e, rapid.IntRange(0, 3).Draw(t, "profile"))
					if !slices.Contains(ids, p) {
						ids = append(ids, p)
					}
					if rapid.IntRange(0, 9).Draw(t, "kind") == 0 {
						q := fmt.Sprintf("P%d-%d", e, rapid.IntRange(0, 3).Draw(t, "other"))
						if q != p && slices.Contains(ids, q) {
							batch = append(batch, edge.Merge(q, p))
							continue
						}
					}
					ev := hubtest.Event{Profile: p, Name: "Order Completed", Revenue: 1}
					if rapid.Bool().Draw(t, "identify") {
						ev.IDs = []profile.Identifier{hubtest.Email(rapid.SampledFrom(emails).Draw(t, "email"))}
						ev.Traits = map[string]any{"plan": rapid.SampledFrom([]string{"gold", "free"}).Draw(t, "plan")}
					}
					batch = append(batch, edge.Delta(ev))
				}
				batches[e] = append(batches[e], batch)
			}
		}
		run := func(label string, hot int) *log {
			l := newLog(t)
			l.f.SetHotFragments(hot)
			next := make([]int, nEdges)
			for {
				var open []int
				for e := range nEdges {
					if next[e] < len(batches[e]) {
						open = append(open, e)
					}
				}
				if len(open) == 0 {
					return l
				}
				e := rapid.SampledFrom(open).Draw(t, label+" edge")
				if next[e] > 0 && rapid.IntRange(0, 3).Draw(t, label+" replay") == 0 {
					old := rapid.IntRange(0, next[e]-1).Draw(t, label+" which")
					if r := l.sync(fmt.Sprintf("edge-%d", e), batches[e][old]...); r.Err != nil || !r.Duplicate {
						t.Fatalf("replay of batch %d of edge %d: %+v", old, e, r)
					}
					continue
				}
				if r := l.sync(fmt.Sprintf("edge-%d", e), batches[e][next[e]]...); r.Err != nil {
					t.Fatalf("batch %d of edge %d: %v", next[e], e, r.Err)
				}
				next[e]++
			}
		}
		x := run("first", hub.DefaultHotFragments)
		y := run("second", rapid.IntRange(0, 3).Draw(t, "hot fragments"))
		checkBootstrapIsFeed(t, x.f)
		for e := range nEdges {
			name := fmt.Sprintf("edge-%d", e)
			if a, b := x.f.EdgeSeq(name), y.f.EdgeSeq(name); a != b {
				t.Fatalf("%s at seq %d vs %d", name, a, b)
			}
		}
		for _, id := range ids {
			a, errA := x.f.Profile(id)
			b, errB := y.f.Profile(id)
			if errA != nil || errB != nil {
				t.Fatalf("Profile(%s): %v, %v", id, errA, errB)
			}
			if a.ID != b.ID || !slices.Equal(a.Fragments, b.Fragments) {
				t.Fatalf("%s is in %s %v in one order and %s %v in the other", id, a.ID, a.Fragments, b.ID, b.Fragments)
			}
			ab, _ := a.Profile.Marshal()
			bb, _ := b.Profile.Marshal()
			if !bytes.Equal(ab, bb) {
				t.Fatalf("profile %s differs between the orders", a.ID)
			}
		}
	})
}
