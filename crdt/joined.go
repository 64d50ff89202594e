package crdt

import (
	"maps"
	"slices"
)

// Persistent joins. Joined returns the join of its receiver and argument
// without modifying either, copying only what the argument changes: when
// the argument adds nothing, the result is the receiver itself, and
// otherwise it shares the receiver's untouched entries (counters' replica
// lists, dot lists, item data). A state that went through Joined
// therefore shares storage with the state it came from, and neither may
// be changed in place afterwards (Merge, Add, Set, Drop…): Clone first.
// This is how an owner that keeps old states for readers (the hub's
// copy-on-write snapshots) updates a state at the cost of the change
// rather than of the whole state. The result equals, entry for entry, a
// Clone of the receiver merged with the argument.
//
// A Ledger's Adds and small Merges and a Recent's one-item merges write
// into their slice's spare capacity (decision 0110), so the joins that
// share a Ledger's or Recent's slice hand it out clipped: a write by the
// state that took it copies. The state that gave it away keeps its
// capacity, and the rule above is what keeps its writes from reaching
// the sharer.

// Joined returns the join of m and o; see "Persistent joins" above.
func (m LWWMap) Joined(o LWWMap) LWWMap {
	var c map[string]Register
	for k, r := range o.M {
		cur, ok := m.M[k]
		if ok && !r.wins(cur) {
			continue
		}
		if c == nil {
			c = cloneOrMake(m.M, len(o.M))
		}
		c[k] = c[k].Merge(r)
	}
	if c == nil {
		return m
	}
	return LWWMap{M: c}
}

// covers reports whether merging o into c would change nothing.
func (c PNCounter) covers(o PNCounter) bool {
	i := 0
	for _, e := range o.Entries {
		for i < len(c.Entries) && c.Entries[i].Replica < e.Replica {
			i++
		}
		if i == len(c.Entries) {
			return false
		}
		if cur := c.Entries[i]; cur.Replica != e.Replica || e.P > cur.P || e.N > cur.N {
			return false
		}
	}
	return true
}

// Joined returns the join of c and o; see "Persistent joins" above.
func (c PNCounter) Joined(o PNCounter) PNCounter {
	if c.covers(o) {
		return c
	}
	return PNCounter{Entries: mergePN(c.Entries, o.Entries)}
}

// Joined returns the join of m and o; see "Persistent joins" above. The
// counters of keys o does not change are shared with m.
func (m CounterMap) Joined(o CounterMap) CounterMap {
	if m.covers(o) {
		return m
	}
	return CounterMap{Entries: joinCounters(m.Entries, o.Entries)}
}

// covers reports whether merging o into m would change nothing.
func (m CounterMap) covers(o CounterMap) bool {
	i := 0
	for _, e := range o.Entries {
		for i < len(m.Entries) && m.Entries[i].Key < e.Key {
			i++
		}
		if i == len(m.Entries) || m.Entries[i].Key != e.Key || !m.Entries[i].Counter.covers(e.Counter) {
			return false
		}
	}
	return true
}

// Joined returns the join of g and o; see "Persistent joins" above.
func (g GSet) Joined(o GSet) GSet {
	for e := range o.M {
		if _, ok := g.M[e]; !ok {
			c := cloneOrMake(g.M, len(o.M))
			maps.Copy(c, o.M)
			return GSet{M: c}
		}
	}
	return g
}

// Joined returns the join of t and o; see "Persistent joins" above.
func (t Tombstones) Joined(o Tombstones) Tombstones { return Tombstones{Keys: t.Keys.Joined(o.Keys)} }

// Joined returns the join of s and o; see "Persistent joins" above. The
// dot lists of s are shared with the result.
func (s ORSet) Joined(o ORSet) ORSet {
	if s.covers(o) {
		return s
	}
	// Merge builds a new Entries map of new dot lists and only reads
	// s.Entries, so only the context needs a copy.
	j := ORSet{Entries: s.Entries, Ctx: s.Ctx.clone()}
	j.Merge(o)
	return j
}

// covers reports whether merging o into s would change nothing: o adds
// no dot s has not seen, removes no dot of s, and its context is within
// s's. It may answer false for some o that would change nothing (a
// context it cannot cheaply prove covered); it never answers true for one
// that would change something, given s in canonical form.
func (s ORSet) covers(o ORSet) bool {
	for e, theirs := range o.Entries {
		mine := s.Entries[e]
		for _, d := range theirs {
			if !containsDot(mine, d) && !s.Ctx.Contains(d) {
				return false
			}
		}
	}
	for r, q := range o.Ctx.VV {
		if q > s.Ctx.VV[r] {
			return false
		}
	}
	for d := range o.Ctx.Cloud {
		if !s.Ctx.Contains(d) {
			return false
		}
	}
	if len(o.Ctx.VV) == 0 && len(o.Ctx.Cloud) == 0 {
		return true
	}
	for e, mine := range s.Entries {
		theirs := o.Entries[e]
		for _, d := range mine {
			if !containsDot(theirs, d) && o.Ctx.Contains(d) {
				return false
			}
		}
	}
	return true
}

func containsDot(ds []Dot, d Dot) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// Joined returns the join of r and o keeping the n newest items; see
// "Persistent joins" above. Item data is shared.
func (r Recent) Joined(o Recent, n int) Recent {
	// Without room, j's Merge builds a new slice and only reads r.Items
	// (mergeOne writes in place only into room).
	j := Recent{Items: slices.Clip(r.Items)}
	j.Merge(o, n)
	return j
}

// cloneOrMake returns a copy of m, or a new map sized for n keys when m
// is nil.
func cloneOrMake[K comparable, V any](m map[K]V, n int) map[K]V {
	if m == nil {
		return make(map[K]V, n)
	}
	return maps.Clone(m)
}

// Adopted returns LWWMap{}.Joined(m) — the join of m into an empty map —
// sharing m's map when that join equals it entry for entry (every
// register wins over the zero register, as every written one does), so
// m must not be changed afterwards. An owner taking a state's first
// delta as the state pays nothing for the copy.
func (m LWWMap) Adopted() LWWMap {
	if len(m.M) == 0 {
		return LWWMap{}
	}
	for _, r := range m.M {
		if !r.wins(Register{}) {
			return LWWMap{}.Joined(m)
		}
	}
	return m
}

// Adopted returns GSet{}.Joined(g), sharing g's map; g must not be
// changed afterwards. See LWWMap.Adopted.
func (g GSet) Adopted() GSet {
	if len(g.M) == 0 {
		return GSet{}
	}
	return g
}

// Adopted returns Tombstones{}.Joined(t), sharing t's keys; t must not
// be changed afterwards. See LWWMap.Adopted.
func (t Tombstones) Adopted() Tombstones { return Tombstones{Keys: t.Keys.Adopted()} }

// Adopted returns ORSet{}.Joined(s), sharing s's entries and version
// vector when the join equals them (each element's dots non-empty,
// sorted and past an empty context; no cloud; every vector entry
// positive), as in a delta an ORSet wrote; s must not be changed
// afterwards. Otherwise it is the join itself. See LWWMap.Adopted.
func (s ORSet) Adopted() ORSet {
	if len(s.Ctx.Cloud) > 0 {
		return ORSet{}.Joined(s)
	}
	for _, q := range s.Ctx.VV {
		if q == 0 {
			return ORSet{}.Joined(s)
		}
	}
	for _, ds := range s.Entries {
		if len(ds) == 0 || !slices.IsSortedFunc(ds, dotCompare) {
			return ORSet{}.Joined(s)
		}
		for _, d := range ds {
			if d.Seq == 0 { // an empty context contains it
				return ORSet{}.Joined(s)
			}
		}
	}
	var j ORSet
	if len(s.Entries) > 0 {
		j.Entries = s.Entries
	}
	if len(s.Ctx.VV) > 0 {
		j.Ctx.VV = s.Ctx.VV
	}
	return j
}

// Adopted returns Ledger{}.Joined(l), sharing l's entries (the join of
// l into nothing copies them as they are); l must not be changed
// afterwards. See LWWMap.Adopted.
func (l Ledger) Adopted() Ledger {
	if len(l.Entries) == 0 {
		return Ledger{}
	}
	return Ledger{Entries: slices.Clip(l.Entries)} // shared: without room (Add)
}

// Adopted returns Recent{}.Joined(r, n), sharing r's items when there
// are at most n (the join of r into nothing copies them as they are,
// only cutting them to n); r must not be changed afterwards. See
// LWWMap.Adopted.
func (r Recent) Adopted(n int) Recent {
	switch {
	case len(r.Items) == 0:
		return Recent{}
	case len(r.Items) <= n:
		return Recent{Items: slices.Clip(r.Items)} // shared: without room (mergeOne)
	}
	return Recent{}.Joined(r, n)
}
