package crdt

// Max is a register that keeps the largest value ever written (last seen,
// last order time). Merge is max; the zero value holds 0 and counts as
// unset (Set reports whether V was written).
type Max struct {
	V   int64
	Set bool
}

// Merge joins o into m.
func (m *Max) Merge(o Max) {
	if o.Set && (!m.Set || o.V > m.V) {
		*m = o
	}
}

// Observe records v and returns the delta.
func (m *Max) Observe(v int64) Max {
	d := Max{V: v, Set: true}
	m.Merge(d)
	return d
}

// Min is a register that keeps the smallest value ever written (first
// seen). An unset Min is the identity of Merge.
type Min struct {
	V   int64
	Set bool
}

// Merge joins o into m.
func (m *Min) Merge(o Min) {
	if o.Set && (!m.Set || o.V < m.V) {
		*m = o
	}
}

// Observe records v and returns the delta.
func (m *Min) Observe(v int64) Min {
	d := Min{V: v, Set: true}
	m.Merge(d)
	return d
}
