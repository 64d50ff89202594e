package crdt

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// model describes one CRDT type to the generic law and convergence checks.
type model[T any] struct {
	zero  func() T
	clone func(T) T
	merge func(dst *T, src T)
	equal func(a, b T) bool
	// op applies a random mutation as replica r (reading time from clk)
	// to s and returns its delta.
	op func(t *rapid.T, s *T, r ReplicaID, clk *Clock) T
	// persistent, when set, is the type's Joined: it must equal clone
	// then merge and leave both arguments unchanged.
	persistent func(a, b T) T
}

func (m model[T]) joined(a, b T) T {
	c := m.clone(a)
	m.merge(&c, b)
	return c
}

// checkModel runs random operations on 2–5 replicas with random partial
// syncs, then checks the join laws on the replicas' states and that fresh
// replicas fed every delta in a random order, with duplicates, converge to
// the join of all states.
func checkModel[T any](t *testing.T, m model[T]) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "replicas")
		states := make([]T, n)
		clocks := make([]*Clock, n)
		base := time.UnixMilli(1_700_000_000_000)
		for i := range states {
			states[i] = m.zero()
			// Clocks read a coarse, jittery fake time so that equal wall
			// times and concurrent writes are common.
			clocks[i] = NewClock(ReplicaID(i+1), func() time.Time {
				return base.Add(time.Duration(rapid.IntRange(0, 5).Draw(t, "ms")) * time.Millisecond)
			}, time.Second, Timestamp{})
		}
		var deltas []T
		steps := rapid.IntRange(0, 40).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(t, "at")
			if rapid.IntRange(0, 3).Draw(t, "kind") == 0 {
				j := rapid.IntRange(0, n-1).Draw(t, "from")
				m.merge(&states[i], m.clone(states[j]))
				continue
			}
			deltas = append(deltas, m.clone(m.op(t, &states[i], ReplicaID(i+1), clocks[i])))
		}
		a := states[rapid.IntRange(0, n-1).Draw(t, "a")]
		b := states[rapid.IntRange(0, n-1).Draw(t, "b")]
		c := states[rapid.IntRange(0, n-1).Draw(t, "c")]
		if ab, ba := m.joined(a, b), m.joined(b, a); !m.equal(ab, ba) {
			t.Fatalf("not commutative:\n a⊔b = %+v\n b⊔a = %+v", ab, ba)
		}
		if l, r := m.joined(m.joined(a, b), c), m.joined(a, m.joined(b, c)); !m.equal(l, r) {
			t.Fatalf("not associative:\n (a⊔b)⊔c = %+v\n a⊔(b⊔c) = %+v", l, r)
		}
		if aa := m.joined(a, a); !m.equal(aa, a) {
			t.Fatalf("not idempotent:\n a⊔a = %+v\n a   = %+v", aa, a)
		}
		if ab := m.joined(a, b); !m.equal(m.joined(ab, a), ab) {
			t.Fatalf("a⊔b does not absorb a")
		}
		if m.persistent != nil {
			pairs := [][2]T{{m.joined(a, b), a}, {a, m.zero()}, {m.zero(), a}}
			for _, x := range states {
				for _, y := range states {
					pairs = append(pairs, [2]T{x, y})
				}
			}
			for _, p := range pairs {
				x, y := m.clone(p[0]), m.clone(p[1])
				if got, want := m.persistent(p[0], p[1]), m.joined(p[0], p[1]); !m.equal(got, want) {
					t.Fatalf("Joined(x, y) = %+v, want %+v", got, want)
				}
				if !m.equal(p[0], x) || !m.equal(p[1], y) {
					t.Fatalf("Joined changed its arguments: %+v, %+v; were %+v, %+v", p[0], p[1], x, y)
				}
			}
		}

		all := m.zero()
		for _, s := range states {
			m.merge(&all, s)
		}
		// Every state is the join of the deltas it has seen, so feeding all
		// deltas must reach exactly the join of the final states.
		for k := range 3 {
			fresh := m.zero()
			order := rapid.Permutation(append(deltas, deltas[:rapid.IntRange(0, len(deltas)).Draw(t, "dups")]...)).Draw(t, fmt.Sprintf("order%d", k))
			for _, d := range order {
				m.merge(&fresh, m.clone(d))
			}
			if !m.equal(fresh, all) {
				t.Fatalf("replica %d fed all deltas = %+v\nwant join of states %+v", k, fresh, all)
			}
		}
	})
}

func smallKey(t *rapid.T) string {
	return rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(t, "key")
}

func smallBytes(t *rapid.T) []byte {
	return rapid.SampledFrom([][]byte{nil, {}, {1}, {2}, {1, 2}}).Draw(t, "val")
}

func TestRegisterLaws(t *testing.T) {
	checkModel(t, model[Register]{
		zero:  func() Register { return Register{} },
		clone: func(r Register) Register { return Register{}.Merge(r) },
		merge: func(d *Register, s Register) { *d = d.Merge(s) },
		equal: func(a, b Register) bool { return a.TS == b.TS && string(a.Val) == string(b.Val) },
		op: func(t *rapid.T, s *Register, _ ReplicaID, clk *Clock) Register {
			return s.Set(smallBytes(t), clk.Now())
		},
	})
}

func TestLWWMapLaws(t *testing.T) {
	checkModel(t, model[LWWMap]{
		zero:       func() LWWMap { return LWWMap{} },
		clone:      LWWMap.Clone,
		merge:      (*LWWMap).Merge,
		equal:      LWWMap.Equal,
		persistent: LWWMap.Joined,
		op: func(t *rapid.T, s *LWWMap, _ ReplicaID, clk *Clock) LWWMap {
			if rapid.Bool().Draw(t, "delete") {
				return s.Delete(smallKey(t), clk.Now())
			}
			return s.Set(smallKey(t), smallBytes(t), clk.Now())
		},
	})
}

func TestPNCounterLaws(t *testing.T) {
	checkModel(t, model[PNCounter]{
		zero:       func() PNCounter { return PNCounter{} },
		clone:      PNCounter.Clone,
		merge:      (*PNCounter).Merge,
		equal:      PNCounter.Equal,
		persistent: PNCounter.Joined,
		op: func(t *rapid.T, s *PNCounter, r ReplicaID, _ *Clock) PNCounter {
			return s.Add(r, rapid.Int64Range(-1000, 1000).Draw(t, "delta"))
		},
	})
}

func TestCounterMapLaws(t *testing.T) {
	checkModel(t, model[CounterMap]{
		zero:       func() CounterMap { return CounterMap{} },
		clone:      CounterMap.Clone,
		merge:      (*CounterMap).Merge,
		equal:      CounterMap.Equal,
		persistent: CounterMap.Joined,
		op: func(t *rapid.T, s *CounterMap, r ReplicaID, _ *Clock) CounterMap {
			return s.Add(smallKey(t), r, rapid.Int64Range(-1000, 1000).Draw(t, "delta"))
		},
	})
}

func TestMaxMinLaws(t *testing.T) {
	checkModel(t, model[Max]{
		zero:  func() Max { return Max{} },
		clone: func(m Max) Max { return m },
		merge: (*Max).Merge,
		equal: func(a, b Max) bool { return a == b },
		op: func(t *rapid.T, s *Max, _ ReplicaID, _ *Clock) Max {
			return s.Observe(rapid.Int64Range(-5, 5).Draw(t, "v"))
		},
	})
	checkModel(t, model[Min]{
		zero:  func() Min { return Min{} },
		clone: func(m Min) Min { return m },
		merge: (*Min).Merge,
		equal: func(a, b Min) bool { return a == b },
		op: func(t *rapid.T, s *Min, _ ReplicaID, _ *Clock) Min {
			return s.Observe(rapid.Int64Range(-5, 5).Draw(t, "v"))
		},
	})
}

func TestGSetLaws(t *testing.T) {
	checkModel(t, model[GSet]{
		zero:       func() GSet { return GSet{} },
		clone:      GSet.Clone,
		merge:      (*GSet).Merge,
		equal:      GSet.Equal,
		persistent: GSet.Joined,
		op:         func(t *rapid.T, s *GSet, _ ReplicaID, _ *Clock) GSet { return s.Add(smallKey(t)) },
	})
}

func TestORSetLaws(t *testing.T) {
	checkModel(t, model[ORSet]{
		zero:       func() ORSet { return ORSet{} },
		clone:      ORSet.Clone,
		merge:      (*ORSet).Merge,
		equal:      ORSet.Equal,
		persistent: ORSet.Joined,
		op: func(t *rapid.T, s *ORSet, r ReplicaID, _ *Clock) ORSet {
			if rapid.IntRange(0, 2).Draw(t, "op") == 0 {
				return s.Remove(smallKey(t))
			}
			return s.Add(r, smallKey(t))
		},
	})
}

func TestRecentLaws(t *testing.T) {
	const n = 3
	checkModel(t, model[Recent]{
		zero:       func() Recent { return Recent{} },
		clone:      Recent.Clone,
		merge:      func(d *Recent, s Recent) { d.Merge(s, n) },
		equal:      Recent.Equal,
		persistent: func(a, b Recent) Recent { return a.Joined(b, n) },
		op: func(t *rapid.T, s *Recent, _ ReplicaID, _ *Clock) Recent {
			// IDs are drawn from a small pool so redelivered and
			// conflicting versions of one ID are common.
			return s.Add(Item{
				ID:   rapid.SampledFrom([]string{"m1", "m2", "m3", "m4", "m5", "m6"}).Draw(t, "id"),
				Time: rapid.Int64Range(0, 4).Draw(t, "time"),
				Data: smallBytes(t),
			}, n)
		},
	})
}

func TestLedgerLaws(t *testing.T) {
	checkModel(t, model[Ledger]{
		zero:       func() Ledger { return Ledger{} },
		clone:      Ledger.Clone,
		merge:      (*Ledger).Merge,
		equal:      Ledger.Equal,
		persistent: Ledger.Joined,
		op: func(t *rapid.T, s *Ledger, _ ReplicaID, _ *Clock) Ledger {
			// Keys come from a small pool so that one message reaching
			// several replicas, with different times and data, is common.
			return s.Add(LedgerEntry{
				Key:  rapid.Uint64Range(1, 6).Draw(t, "key"),
				Time: rapid.Int64Range(0, 4).Draw(t, "time"),
				Data: smallBytes(t),
			})
		},
	})
}

func TestTombstonesLaws(t *testing.T) {
	checkModel(t, model[Tombstones]{
		zero:       func() Tombstones { return Tombstones{} },
		clone:      Tombstones.Clone,
		merge:      (*Tombstones).Merge,
		equal:      Tombstones.Equal,
		persistent: Tombstones.Joined,
		op: func(t *rapid.T, s *Tombstones, _ ReplicaID, _ *Clock) Tombstones {
			return s.Erase(TombstoneKey([]byte("salt"), smallKey(t)))
		},
	})
}

// Recent.Merge of one item (its fast path) keeps exactly what the
// general merge keeps, down to nil versus empty data — into items shared
// without room (as Joined and Adopted share them: copied, the sharer's
// items untouched) and into items with room of their own (written in
// place).
func TestRecentMergeOneIsMergeAll(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		item := func() Item {
			return Item{
				ID:   rapid.SampledFrom([]string{"m1", "m2", "m3", "m4", "m5"}).Draw(t, "id"),
				Time: rapid.Int64Range(0, 3).Draw(t, "time"),
				Data: smallBytes(t),
			}
		}
		n := rapid.IntRange(0, 4).Draw(t, "n")
		var r Recent
		for range rapid.IntRange(0, 8).Draw(t, "items") {
			r.mergeAll(Recent{Items: []Item{item()}}, n)
		}
		before := r.Clone()
		it := item()
		all := r
		all.mergeAll(Recent{Items: []Item{it}}, n)
		shared := Recent{Items: slices.Clip(r.Items)}
		owned := r
		if len(r.Items) > 0 {
			room := rapid.IntRange(1, 3).Draw(t, "room")
			owned.Items = append(make([]Item, 0, len(r.Items)+room), r.Items...)
		}
		for _, one := range []struct {
			name string
			r    Recent
		}{{"shared", shared}, {"owned", owned}} {
			one.r.mergeOne(it, n)
			same := slices.EqualFunc(one.r.Items, all.Items, func(a, b Item) bool {
				return a.ID == b.ID && a.Time == b.Time && bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil)
			})
			if !same || (one.r.Items == nil) != (all.Items == nil) {
				t.Fatalf("merging %+v into %+v (n=%d), %s: one-item path %+v, general %+v", it, r.Items, n, one.name, one.r.Items, all.Items)
			}
		}
		if !r.Equal(before) {
			t.Fatal("Merge wrote to the items a sharer holds without room")
		}
	})
}
