package crdt

import (
	"cmp"
	"maps"
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
	i := 0
	for _, e := range o.Entries {
		for i < len(c.Entries) && c.Entries[i].Replica < e.Replica {
			i++
		}
		if i == len(c.Entries) || c.Entries[i].Replica != e.Replica {
			return true
		}
	}
	return false
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

// CounterMap is a map of named PN-counters (events by name, revenue by
// currency, …); each key merges independently. The zero value is empty.
type CounterMap struct {
	M map[string]PNCounter
}

// Value returns the value of counter key (0 if absent).
func (m CounterMap) Value(key string) int64 { return m.M[key].Value() }

// Add adds delta to counter key as replica r and returns the delta.
func (m *CounterMap) Add(key string, r ReplicaID, delta int64) CounterMap {
	if m.M == nil {
		m.M = make(map[string]PNCounter)
	}
	c := m.M[key]
	d := c.Add(r, delta)
	m.M[key] = c
	return CounterMap{M: map[string]PNCounter{key: d}}
}

// Merge joins o into m.
func (m *CounterMap) Merge(o CounterMap) {
	if len(o.M) == 0 {
		return
	}
	if m.M == nil {
		m.M = make(map[string]PNCounter, len(o.M))
	}
	for k, oc := range o.M {
		// Joined never changes m's counter in place (it may be shared
		// with a state m was Joined from) and never keeps oc's entries.
		m.M[k] = m.M[k].Joined(oc)
	}
}

// Clone returns a deep copy.
func (m CounterMap) Clone() CounterMap {
	if m.M == nil {
		return CounterMap{}
	}
	c := make(map[string]PNCounter, len(m.M))
	for k, v := range m.M {
		c[k] = v.Clone()
	}
	return CounterMap{M: c}
}

// Equal reports whether m and o hold the same counters.
func (m CounterMap) Equal(o CounterMap) bool {
	return maps.EqualFunc(m.M, o.M, PNCounter.Equal)
}
