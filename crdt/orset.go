package crdt

import (
	"maps"
	"slices"
)

// Dot names one add event: the Seq-th event issued by Replica.
type Dot struct {
	Replica ReplicaID
	Seq     uint64
}

// CausalContext is the set of dots a replica has seen, kept compact as a
// version vector (every dot up to VV[r] is seen) plus a cloud of seen dots
// beyond a gap. After every operation it is in canonical form: no cloud
// dot is covered by or contiguous with the vector, and the vector has no
// zero entries, so equal sets have equal representations.
type CausalContext struct {
	VV    map[ReplicaID]uint64
	Cloud map[Dot]struct{}
}

// Contains reports whether d has been seen.
func (c CausalContext) Contains(d Dot) bool {
	if d.Seq <= c.VV[d.Replica] {
		return true
	}
	_, ok := c.Cloud[d]
	return ok
}

// next returns the next dot for replica r. It assumes r's own dots are
// contiguous, which holds because only r issues them.
func (c *CausalContext) next(r ReplicaID) Dot {
	s := c.VV[r]
	for d := range c.Cloud {
		if d.Replica == r && d.Seq > s {
			s = d.Seq
		}
	}
	return Dot{Replica: r, Seq: s + 1}
}

func (c *CausalContext) add(d Dot) {
	if c.Contains(d) {
		return
	}
	if c.Cloud == nil {
		c.Cloud = make(map[Dot]struct{})
	}
	c.Cloud[d] = struct{}{}
}

func (c *CausalContext) merge(o CausalContext) {
	for r, s := range o.VV {
		if s > c.VV[r] {
			if c.VV == nil {
				c.VV = make(map[ReplicaID]uint64)
			}
			c.VV[r] = s
		}
	}
	for d := range o.Cloud {
		c.add(d)
	}
	c.compact()
}

// compact folds cloud dots into the vector and drops covered ones.
func (c *CausalContext) compact() {
	if len(c.Cloud) == 0 {
		c.Cloud = nil
		return
	}
	ds := SortedKeysFunc(c.Cloud, dotCompare)
	for _, d := range ds {
		v := c.VV[d.Replica]
		switch {
		case d.Seq <= v:
			delete(c.Cloud, d)
		case d.Seq == v+1:
			if c.VV == nil {
				c.VV = make(map[ReplicaID]uint64)
			}
			c.VV[d.Replica] = d.Seq
			delete(c.Cloud, d)
		}
	}
	if len(c.Cloud) == 0 {
		c.Cloud = nil
	}
}

func (c CausalContext) clone() CausalContext {
	var o CausalContext
	if c.VV != nil {
		o.VV = maps.Clone(c.VV)
	}
	if c.Cloud != nil {
		o.Cloud = maps.Clone(c.Cloud)
	}
	return o
}

// ORSet is an add-wins observed-remove set of strings with compact dots
// (the δ-AWORSet of Almeida, Shoker and Baquero). An element is present
// while it has a dot that no remove has observed; a remove concurrent with
// an add loses. The zero value is empty and ready to use.
type ORSet struct {
	// Entries maps each present element to its live dots (sorted).
	Entries map[string][]Dot
	Ctx     CausalContext
}

// Has reports whether e is present.
func (s ORSet) Has(e string) bool { return len(s.Entries[e]) > 0 }

// Len returns the number of present elements.
func (s ORSet) Len() int { return len(s.Entries) }

// Elems returns the present elements in sorted order.
func (s ORSet) Elems() []string { return SortedKeys(s.Entries) }

// Add adds e as replica r and returns the delta. The delta also covers
// e's older dots, so they are replaced rather than accumulated.
func (s *ORSet) Add(r ReplicaID, e string) ORSet {
	d := s.Ctx.next(r)
	delta := ORSet{Entries: map[string][]Dot{e: {d}}}
	for _, old := range s.Entries[e] {
		delta.Ctx.add(old)
	}
	delta.Ctx.add(d)
	delta.Ctx.compact()
	s.Merge(delta)
	return delta
}

// Remove removes e (the adds observed so far) and returns the delta.
func (s *ORSet) Remove(e string) ORSet {
	var delta ORSet
	for _, old := range s.Entries[e] {
		delta.Ctx.add(old)
	}
	delta.Ctx.compact()
	s.Merge(delta)
	return delta
}

// Merge joins o into s: a dot survives if both sides have it, or if one
// side has it and the other has not seen it.
func (s *ORSet) Merge(o ORSet) {
	out := make(map[string][]Dot, max(len(s.Entries), len(o.Entries)))
	keep := func(e string, mine, theirs []Dot, theirCtx CausalContext) {
		var kept []Dot
		for _, d := range mine {
			if slices.Contains(theirs, d) || !theirCtx.Contains(d) {
				kept = append(kept, d)
			}
		}
		for _, d := range theirs {
			if !slices.Contains(mine, d) && !s.Ctx.Contains(d) {
				kept = append(kept, d)
			}
		}
		if len(kept) > 0 {
			slices.SortFunc(kept, dotCompare)
			out[e] = kept
		}
	}
	for e, mine := range s.Entries {
		keep(e, mine, o.Entries[e], o.Ctx)
	}
	for e, theirs := range o.Entries {
		if _, done := s.Entries[e]; !done {
			keep(e, nil, theirs, o.Ctx)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	s.Entries = out
	s.Ctx.merge(o.Ctx)
}

func dotCompare(a, b Dot) int {
	if a.Replica != b.Replica {
		return cmp3(a.Replica < b.Replica)
	}
	if a.Seq != b.Seq {
		return cmp3(a.Seq < b.Seq)
	}
	return 0
}

// Clone returns a deep copy.
func (s ORSet) Clone() ORSet {
	var c ORSet
	if s.Entries != nil {
		c.Entries = make(map[string][]Dot, len(s.Entries))
		for e, ds := range s.Entries {
			c.Entries[e] = slices.Clone(ds)
		}
	}
	c.Ctx = s.Ctx.clone()
	return c
}

// Equal reports whether s and o have the same elements, dots and context.
func (s ORSet) Equal(o ORSet) bool {
	return maps.EqualFunc(s.Entries, o.Entries, slices.Equal) &&
		maps.Equal(s.Ctx.VV, o.Ctx.VV) && maps.Equal(s.Ctx.Cloud, o.Ctx.Cloud)
}
