package crdt

import (
	"bytes"
	"maps"
	"slices"
)

// Register is a last-writer-wins register holding opaque bytes (callers
// encode their value, e.g. as msgpack). The later timestamp wins; equal
// timestamps (which a correct clock never issues for different writes) are
// broken by comparing the bytes, so Merge is a join even then. A nil Val
// with a non-zero TS is a deletion that still wins over older writes.
type Register struct {
	TS  Timestamp
	Val []byte
}

// wins reports whether r should replace o.
func (r Register) wins(o Register) bool {
	if c := r.TS.Compare(o.TS); c != 0 {
		return c > 0
	}
	return bytes.Compare(r.Val, o.Val) > 0
}

// Merge returns the join of r and o (sharing the winner's immutable bytes).
func (r Register) Merge(o Register) Register {
	if o.wins(r) {
		return o
	}
	return r
}

// Set writes v at ts if ts is later than the current write and returns
// the delta (the register written), which is the same whether or not the
// write won locally.
func (r *Register) Set(v []byte, ts Timestamp) Register {
	d := Register{TS: ts, Val: bytes.Clone(v)}
	*r = r.Merge(d)
	return d
}

// LWWMap is a map of last-writer-wins registers: each key merges
// independently. Deleting writes a nil value (a register tombstone) so a
// deletion wins over older concurrent writes. The zero value is empty and
// ready to use.
type LWWMap struct {
	M map[string]Register
}

// Len returns the number of keys, including deleted ones.
func (m LWWMap) Len() int { return len(m.M) }

// Get returns the value at key and whether a live (non-deleted) value
// exists. The returned slice must not be modified.
func (m LWWMap) Get(key string) ([]byte, bool) {
	r, ok := m.M[key]
	if !ok || r.Val == nil {
		return nil, false
	}
	return r.Val, true
}

// Register returns the register at key (zero if absent).
func (m LWWMap) Register(key string) Register { return m.M[key] }

// Keys returns the live keys in sorted order.
func (m LWWMap) Keys() []string {
	ks := make([]string, 0, len(m.M))
	for k, r := range m.M {
		if r.Val != nil {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// Set writes key=v at ts and returns the delta. A nil v deletes.
func (m *LWWMap) Set(key string, v []byte, ts Timestamp) LWWMap {
	d := Register{TS: ts, Val: bytes.Clone(v)}
	if m.M == nil {
		m.M = make(map[string]Register)
	}
	m.M[key] = m.M[key].Merge(d)
	return LWWMap{M: map[string]Register{key: d}}
}

// Delete deletes key at ts and returns the delta.
func (m *LWWMap) Delete(key string, ts Timestamp) LWWMap { return m.Set(key, nil, ts) }

// Merge joins o into m.
func (m *LWWMap) Merge(o LWWMap) {
	if len(o.M) == 0 {
		return
	}
	if m.M == nil {
		m.M = make(map[string]Register, len(o.M))
	}
	for k, r := range o.M {
		m.M[k] = m.M[k].Merge(r)
	}
}

// Clone returns a copy that shares only immutable value bytes.
func (m LWWMap) Clone() LWWMap {
	if m.M == nil {
		return LWWMap{}
	}
	return LWWMap{M: maps.Clone(m.M)}
}

// Equal reports whether m and o hold the same registers.
func (m LWWMap) Equal(o LWWMap) bool {
	return maps.EqualFunc(m.M, o.M, func(a, b Register) bool {
		return a.TS == b.TS && bytes.Equal(a.Val, b.Val) && (a.Val == nil) == (b.Val == nil)
	})
}
