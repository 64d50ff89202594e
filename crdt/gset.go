package crdt

import (
	"maps"
)

// GSet is a grow-only set of strings. Merge is union. The zero value is
// empty and ready to use.
type GSet struct {
	M map[string]struct{}
}

// Has reports whether s is in the set.
func (g GSet) Has(s string) bool { _, ok := g.M[s]; return ok }

// Len returns the number of elements.
func (g GSet) Len() int { return len(g.M) }

// Add adds s and returns the delta.
func (g *GSet) Add(s string) GSet {
	if g.M == nil {
		g.M = make(map[string]struct{})
	}
	g.M[s] = struct{}{}
	return GSet{M: map[string]struct{}{s: {}}}
}

// Merge joins o into g.
func (g *GSet) Merge(o GSet) {
	if len(o.M) == 0 {
		return
	}
	if g.M == nil {
		g.M = make(map[string]struct{}, len(o.M))
	}
	for s := range o.M {
		g.M[s] = struct{}{}
	}
}

// Elems returns the elements in sorted order.
func (g GSet) Elems() []string { return SortedKeys(g.M) }

// Clone returns a deep copy.
func (g GSet) Clone() GSet {
	if g.M == nil {
		return GSet{}
	}
	return GSet{M: maps.Clone(g.M)}
}

// Equal reports whether g and o hold the same elements.
func (g GSet) Equal(o GSet) bool { return maps.Equal(g.M, o.M) }
