package identity

import (
	"sort"
)

// The review queue (docs/decisions/0048-review-calibration.md).
//
// Candidate pairs (reviewsOf: in the review band, or refused links) are
// collapsed into one item per pair of clusters, because a steward's
// ruling is about clusters: accepting any pair between two clusters
// merges them, so the weaker pairs between the same clusters are
// dominated by the strongest one. Each item carries the estimated
// probability that the two clusters are one person (the mean match
// probability over their cross pairs, as the whole-cluster check
// computes it; 0 when a veto separates them) and its expected benefit:
// that probability times the records whose B³ error an accepted miss
// fixes. An item is kept only
// when a ruling can change the clustering and is more likely than not
// to do so (ReviewMinProbability), and at most one item names each
// cluster (the one of highest benefit), so rulings never invalidate
// each other; the queue is ordered by expected benefit, highest first.

// ReviewMinProbability is the lowest cluster match probability for which
// a pair of clusters is put to a steward. A ruling changes the
// clustering only when it accepts (a rejection keeps the clusters apart,
// as they already are), so an item is worth a steward's time only when
// acceptance is at least as likely as not: at 1/2 the engine's "apart"
// is exactly as likely wrong as right, which under B³ — where a missed
// and a false merge of the same two clusters cost the same records — is
// where the engine's own decision stops being the better bet.
const ReviewMinProbability = 0.5

// reviewGroup gathers the candidate pairs between two clusters.
type reviewGroup struct {
	ca, cb int32 // representatives; id(ca) < id(cb)
	best   Review
	pairs  int
}

// Reviews returns the pending review queue: one item per pair of
// clusters that a steward's ruling could join, whose estimated
// probability of being one person (Review.ClusterProbability) is at
// least ReviewMinProbability, at most one item per cluster, ordered by
// expected benefit (Review.Benefit) highest first, ties by (A, B). Each
// item names the strongest candidate pair between its two clusters (in
// the review band, or above it but refused by the whole-cluster check);
// Pairs counts the candidate pairs it stands for. Pairs a steward
// rejected, clusters that conflict (a vetoed pair across them: never one
// person, so their probability is 0; ReviewCandidates still lists the
// refused link with its Conflict) and clusters a steward ruling could
// not join (a rejected pair across them, identifier limits) are never
// items. The queue is a pure function of the records and the steward
// decisions.
func (ix *Index) Reviews() []Review {
	groups := ix.reviewGroups()
	var items []Review
	for _, g := range groups {
		if !ix.joinable(g.ca, g.cb) {
			continue
		}
		r := g.best
		ma, mb := ix.ents[g.ca].members, ix.ents[g.cb].members
		if ix.ents[ix.byID[r.A]].cluster != g.ca {
			ma, mb = mb, ma
		}
		r.SizeA, r.SizeB, r.Pairs = len(ma), len(mb), g.pairs
		r.ClusterProbability = ix.clusterProbability(ma, mb)
		if r.ClusterProbability < ReviewMinProbability {
			continue
		}
		r.Benefit = r.ClusterProbability * joined(len(ma), len(mb))
		items = append(items, r)
	}
	sort.Slice(items, func(i, j int) bool { return moreUrgent(items[i], items[j]) })
	used := map[int32]bool{}
	out := items[:0]
	for _, r := range items {
		ca, cb := ix.ents[ix.byID[r.A]].cluster, ix.ents[ix.byID[r.B]].cluster
		if used[ca] || used[cb] {
			continue
		}
		used[ca], used[cb] = true, true
		out = append(out, r)
	}
	return out
}

// ReviewCandidates returns every candidate pair behind the queue, sorted
// by (A, B): pairs in different clusters scored within the review band,
// or above it but refused by the whole-cluster check (with the conflict
// that refused them, when one did), not rejected by a steward and not
// vetoed. Reviews collapses and filters them; this list is for
// explanation and diagnosis.
func (ix *Index) ReviewCandidates() []Review {
	var out []Review
	for _, n := range ix.sortedEntries() {
		for _, r := range ix.reviewsOf(n, nil) {
			if r.A == ix.id(n) {
				out = append(out, r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessReview(out[i], out[j]) })
	return out
}

// reviewGroups collects the candidate pairs by pair of clusters, each
// group holding its strongest pair (highest weight, ties by (A, B)).
// Groups come in the order of their first pair by (A, B).
func (ix *Index) reviewGroups() []*reviewGroup {
	byPair := map[[2]int32]*reviewGroup{}
	var groups []*reviewGroup
	for _, n := range ix.sortedEntries() {
		for _, r := range ix.reviewsOf(n, nil) {
			if r.A != ix.id(n) {
				continue
			}
			ca, cb := ix.ents[ix.byID[r.A]].cluster, ix.ents[ix.byID[r.B]].cluster
			if ix.id(cb) < ix.id(ca) {
				ca, cb = cb, ca
			}
			k := [2]int32{ca, cb}
			g := byPair[k]
			if g == nil {
				g = &reviewGroup{ca: ca, cb: cb, best: r}
				byPair[k] = g
				groups = append(groups, g)
			} else if r.Weight > g.best.Weight || r.Weight == g.best.Weight && lessReview(r, g.best) {
				g.best = r
			}
			g.pairs++
		}
	}
	return groups
}

// joinable reports whether a steward's acceptance could join clusters
// ca and cb: no pair across them was rejected and their union keeps
// within the identity rules' limits (canMerge refuses those even for a
// must-link, so such an item could change nothing).
func (ix *Index) joinable(ca, cb int32) bool {
	A, B := ix.ents[ca].members, ix.ents[cb].members
	if len(ix.cannot) > 0 {
		if len(ix.cannot) < len(A)*len(B) {
			for k := range ix.cannot {
				x, okx := ix.byID[k[0]]
				y, oky := ix.byID[k[1]]
				if !okx || !oky {
					continue
				}
				cx, cy := ix.ents[x].cluster, ix.ents[y].cluster
				if cx == ca && cy == cb || cx == cb && cy == ca {
					return false
				}
			}
		} else {
			for _, a := range A {
				for _, b := range B {
					if ix.cannot[pairKey(ix.id(a), ix.id(b))] {
						return false
					}
				}
			}
		}
	}
	comp := make([]int32, 0, len(A)+len(B))
	comp = append(append(comp, A...), B...)
	la, lb := make([]int32, len(A)), make([]int32, len(B))
	for i := range la {
		la[i] = int32(i)
	}
	for i := range lb {
		lb[i] = int32(len(A) + i)
	}
	return ix.withinLimits(comp, la, lb)
}

// clusterProbability estimates the probability that clusters A and B are
// one person: the mean match probability over their cross pairs (the
// first maxCheck records per side, as canMerge reads them), and 0 when
// two of them conflict (clusterConflict: a veto says they can never be
// one person, so accepting would certainly join two people). It scores
// without counting in Stats, so reading the queue changes nothing.
func (ix *Index) clusterProbability(A, B []int32) float64 {
	if _, _, v := ix.clusterConflict(A, B); v != vetoNone {
		return 0
	}
	sum, n := 0.0, 0
	for x, y := range crossPairs(A, B) {
		a, b := A[x], B[y]
		w, ok := ix.edgeWeight(a, b)
		if !ok {
			pa, pb := ix.ents[a].p, ix.ents[b].p
			if pb.id < pa.id {
				pa, pb = pb, pa
			}
			_, w = ix.m.score(pa, pb)
		}
		sum += Probability(w)
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// joined is the number of records whose B³ error joining clusters of a
// and b records fixes when they are one person (or makes when they are
// not): each record of A gains b/(a+b) recall and each of B a/(a+b),
// 2ab/(a+b) records' worth in all — 1 for two single records.
func joined(a, b int) float64 {
	fa, fb := float64(a), float64(b)
	return 2 * fa * fb / (fa + fb)
}

// moreUrgent orders the queue: expected benefit, then cluster
// probability, highest first, then (A, B).
func moreUrgent(x, y Review) bool {
	if x.Benefit != y.Benefit {
		return x.Benefit > y.Benefit
	}
	if x.ClusterProbability != y.ClusterProbability {
		return x.ClusterProbability > y.ClusterProbability
	}
	return lessReview(x, y)
}
