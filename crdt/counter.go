package crdt

import (
	"cmp"
	"slices"
)

// PN holds one replica's monotonic increments (P) and decrements (N).
type PN struct {
	Replica ReplicaID
	P, N    uint64
}

// PNCounter is a positive-negative counter with one entry per replica.
// Merge takes the per-replica maximum, so re-merging a state never counts
// an increment twice: revenue in minor units stays exact however often a
// delta is redelivered. Only the owning replica may mutate its entry.
// The zero value is 0 and ready to use.
type PNCounter struct {
	// Entries hold one PN per replica, sorted by replica. Counters have
	// few replicas (the tills that wrote one profile's counter), so a
	// sorted slice merges in one pass and costs one allocation.
	Entries []PN
}

// Value returns the counter's value (sum of P minus sum of N, wrapping on
// overflow like int64 arithmetic).
func (c PNCounter) Value() int64 {
	var v int64
	for _, e := range c.Entries {
		v += int64(e.P) - int64(e.N)
	}
	return v
}

// find returns the position of replica r in c.Entries, or where it
// belongs, and whether it is there.
func (c PNCounter) find(r ReplicaID) (int, bool) {
	return slices.BinarySearchFunc(c.Entries, r, func(e PN, r ReplicaID) int { return cmp.Compare(e.Replica, r) })
}

// Add adds delta (which may be negative) as replica r and returns the
// delta state: r's whole entry, which is idempotent to re-merge.
func (c *PNCounter) Add(r ReplicaID, delta int64) PNCounter {
	i, ok := c.find(r)
	if !ok {
		c.Entries = slices.Insert(c.Entries, i, PN{Replica: r})
	}
	e := &c.Entries[i]
	if delta >= 0 {
		e.P += uint64(delta)
	} else {
		e.N += uint64(-delta)
	}
	return PNCounter{Entries: []PN{*e}}
}

// Merge joins o into c.
func (c *PNCounter) Merge(o PNCounter) {
	if len(o.Entries) == 0 {
		return
	}
	if c.addsReplica(o) {
		c.Entries = mergePN(c.Entries, o.Entries)
		return
	}
	i := 0
	for _, e := range o.Entries {
		for c.Entries[i].Replica != e.Replica {
			i++
		}
		cur := &c.Entries[i]
		cur.P, cur.N = max(cur.P, e.P), max(cur.N, e.N)
	}
}

// addsReplica reports whether o has a replica c lacks.
func (c PNCounter) addsReplica(o PNCounter) bool {
	return addsSortedKey(c.Entries, o.Entries, func(e PN) ReplicaID { return e.Replica })
}

// mergePN returns the per-replica maximum of two sorted entry lists as
// a new slice.
func mergePN(a, b []PN) []PN {
	out := make([]PN, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch x, y := a[i], b[j]; {
		case x.Replica < y.Replica:
			out = append(out, x)
			i++
		case x.Replica > y.Replica:
			out = append(out, y)
			j++
		default:
			out = append(out, PN{Replica: x.Replica, P: max(x.P, y.P), N: max(x.N, y.N)})
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Clone returns a deep copy.
func (c PNCounter) Clone() PNCounter { return PNCounter{Entries: slices.Clone(c.Entries)} }

// Equal reports whether c and o hold the same entries.
func (c PNCounter) Equal(o PNCounter) bool { return slices.Equal(c.Entries, o.Entries) }

// CounterEntry is one named counter of a CounterMap.
type CounterEntry struct {
	Key     string
	Counter PNCounter
}

// CounterMap is a map of named PN-counters (events by name, revenue by
// currency, …); each key merges independently. The zero value is empty.
type CounterMap struct {
	// Entries hold one counter per key, sorted by key. A profile has a
	// few dozen keys and a delta a handful, so a sorted slice merges in
	// one pass and copies without hashing.
	Entries []CounterEntry
}

// find returns the position of key in m.Entries, or where it belongs,
// and whether it is there.
func (m CounterMap) find(key string) (int, bool) {
	return slices.BinarySearchFunc(m.Entries, key, func(e CounterEntry, k string) int { return cmp.Compare(e.Key, k) })
}

// Value returns the value of counter key (0 if absent).
func (m CounterMap) Value(key string) int64 {
	if i, ok := m.find(key); ok {
		return m.Entries[i].Counter.Value()
	}
	return 0
}

// Add adds delta to counter key as replica r and returns the delta.
func (m *CounterMap) Add(key string, r ReplicaID, delta int64) CounterMap {
	i, ok := m.find(key)
	if !ok {
		m.Entries = slices.Insert(m.Entries, i, CounterEntry{Key: key})
	}
	d := m.Entries[i].Counter.Add(r, delta)
	return CounterMap{Entries: []CounterEntry{{Key: key, Counter: d}}}
}

// Merge joins o into m.
func (m *CounterMap) Merge(o CounterMap) {
	if len(o.Entries) == 0 {
		return
	}
	if m.addsKey(o) {
		m.Entries = joinCounters(m.Entries, o.Entries)
		return
	}
	i := 0
	for _, e := range o.Entries {
		for m.Entries[i].Key != e.Key {
			i++
		}
		// Joined never changes m's counter in place (it may be shared
		// with a state m was Joined from) and never keeps e's entries.
		m.Entries[i].Counter = m.Entries[i].Counter.Joined(e.Counter)
	}
}

// addsKey reports whether o has a key m lacks.
func (m CounterMap) addsKey(o CounterMap) bool {
	return addsSortedKey(m.Entries, o.Entries, func(e CounterEntry) string { return e.Key })
}

// addsSortedKey reports whether sorted list o holds a key that sorted
// list have lacks (one pass over both).
func addsSortedKey[E any, K cmp.Ordered](have, o []E, key func(E) K) bool {
	i := 0
	for _, e := range o {
		k := key(e)
		for i < len(have) && key(have[i]) < k {
			i++
		}
		if i == len(have) || key(have[i]) != k {
			return true
		}
	}
	return false
}

// joinCounters returns the join of two sorted counter lists as a new
// slice. Counters of a that b leaves unchanged are shared; b's entries
// are never kept.
func joinCounters(a, b []CounterEntry) []CounterEntry {
	out := make([]CounterEntry, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Key < b[j].Key:
			out = append(out, a[i])
			i++
		case i == len(a) || a[i].Key > b[j].Key:
			out = append(out, CounterEntry{Key: b[j].Key, Counter: PNCounter{}.Joined(b[j].Counter)})
			j++
		default:
			out = append(out, CounterEntry{Key: a[i].Key, Counter: a[i].Counter.Joined(b[j].Counter)})
			i++
			j++
		}
	}
	return out
}

// Clone returns a deep copy.
func (m CounterMap) Clone() CounterMap {
	if m.Entries == nil {
		return CounterMap{}
	}
	c := make([]CounterEntry, len(m.Entries))
	for i, e := range m.Entries {
		c[i] = CounterEntry{Key: e.Key, Counter: e.Counter.Clone()}
	}
	return CounterMap{Entries: c}
}

// Equal reports whether m and o hold the same counters.
func (m CounterMap) Equal(o CounterMap) bool {
	return slices.EqualFunc(m.Entries, o.Entries, func(a, b CounterEntry) bool {
		return a.Key == b.Key && a.Counter.Equal(b.Counter)
	})
}
