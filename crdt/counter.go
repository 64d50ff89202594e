package crdt

import "maps"

// PN holds one replica's monotonic increments (P) and decrements (N).
type PN struct {
	P, N uint64
}

// PNCounter is a positive-negative counter with one entry per replica.
// Merge takes the per-replica maximum, so re-merging a state never counts
// an increment twice: revenue in minor units stays exact however often a
// delta is redelivered. Only the owning replica may mutate its entry.
// The zero value is 0 and ready to use.
type PNCounter struct {
	M map[ReplicaID]PN
}

// Value returns the counter's value (sum of P minus sum of N, wrapping on
// overflow like int64 arithmetic).
func (c PNCounter) Value() int64 {
	var v int64
	for _, e := range c.M {
		v += int64(e.P) - int64(e.N)
	}
	return v
}

// Add adds delta (which may be negative) as replica r and returns the
// delta state: r's whole entry, which is idempotent to re-merge.
func (c *PNCounter) Add(r ReplicaID, delta int64) PNCounter {
	if c.M == nil {
		c.M = make(map[ReplicaID]PN)
	}
	e := c.M[r]
	if delta >= 0 {
		e.P += uint64(delta)
	} else {
		e.N += uint64(-delta)
	}
	c.M[r] = e
	return PNCounter{M: map[ReplicaID]PN{r: e}}
}

// Merge joins o into c.
func (c *PNCounter) Merge(o PNCounter) {
	if len(o.M) == 0 {
		return
	}
	if c.M == nil {
		c.M = make(map[ReplicaID]PN, len(o.M))
	}
	for r, e := range o.M {
		cur := c.M[r]
		c.M[r] = PN{P: max(cur.P, e.P), N: max(cur.N, e.N)}
	}
}

// Clone returns a deep copy.
func (c PNCounter) Clone() PNCounter {
	if c.M == nil {
		return PNCounter{}
	}
	return PNCounter{M: maps.Clone(c.M)}
}

// Equal reports whether c and o hold the same entries.
func (c PNCounter) Equal(o PNCounter) bool { return maps.Equal(c.M, o.M) }

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
		c := m.M[k].Clone()
		c.Merge(oc)
		m.M[k] = c
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
