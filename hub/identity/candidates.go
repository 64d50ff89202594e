package identity

import "sort"

// CandidatePairs calls fn once for every pair of records that blocking
// makes candidates (sharing a key whose block is within its cap), each
// pair as (smaller ID, larger ID), in ID order. Benchmarks use it to
// measure blocking pairs completeness.
func (ix *Index) CandidatePairs(fn func(a, b string)) {
	for _, n := range ix.sortedEntries() {
		for _, m := range ix.candidates(n) {
			if ix.id(n) < ix.id(m) {
				fn(ix.id(n), ix.id(m))
			}
		}
	}
}

// candidates returns n's candidate partners, sorted by ID, deduplicated.
func (ix *Index) candidates(n int32) []int32 {
	var cand []int32
	var buf [1]int32
	for _, k := range blockKeys(ix.ents[n].p) {
		mem := ix.blocks.get(k, &buf)
		if len(mem) > ix.capOf(k) {
			continue
		}
		for _, m := range mem {
			if m != n {
				cand = append(cand, m)
			}
		}
	}
	sort.Slice(cand, func(i, j int) bool { return ix.id(cand[i]) < ix.id(cand[j]) })
	w := 0
	for i, m := range cand {
		if i > 0 && cand[w-1] == m {
			continue
		}
		cand[w] = m
		w++
	}
	return cand[:w]
}

// PairSet is a fixed list of prepared record pairs for measuring pair
// scoring throughput without blocking or index work in the timing.
type PairSet struct {
	m     *Model
	pairs [][2]*prep
}

// CandidateSet returns every candidate pair of the index as a PairSet.
func (ix *Index) CandidateSet() *PairSet {
	s := &PairSet{m: ix.m}
	for _, n := range ix.sortedEntries() {
		for _, m := range ix.candidates(n) {
			if ix.id(n) < ix.id(m) {
				s.pairs = append(s.pairs, [2]*prep{ix.ents[n].p, ix.ents[m].p})
			}
		}
	}
	return s
}

// Len returns the number of pairs.
func (s *PairSet) Len() int { return len(s.pairs) }

// Score compares and weighs every pair once and returns the sum of the
// weights (so the work cannot be optimised away).
func (s *PairSet) Score() float64 {
	t := 0.0
	for _, p := range s.pairs {
		_, w := s.m.score(p[0], p[1])
		t += w
	}
	return t
}

// BlockKeys returns the blocking keys of record id (nil if the index
// does not hold it), sorted: each is a rule number in the top byte and
// a 56-bit hash of the key's text below it (BlockRule names the rule).
// Partitioning studies use them to place records by blocking key; the
// slice is a copy.
func (ix *Index) BlockKeys(id string) []uint64 {
	n, ok := ix.byID[id]
	if !ok {
		return nil
	}
	keys := blockKeys(ix.ents[n].p)
	out := make([]uint64, len(keys))
	for i, k := range keys {
		out[i] = uint64(k)
	}
	return out
}

// BlockRule returns the name of the blocking rule that made key k (a
// key of BlockKeys), or "" for none.
func BlockRule(k uint64) string {
	if r := blockKey(k).rule(); r < len(blockRules) {
		return blockRules[r].name
	}
	return ""
}
