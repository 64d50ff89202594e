package hub

import (
	"slices"

	"github.com/google/btree"
)

// Cannot-link ("apart") pairs are the decisions with same=false: a
// steward's unmerge or review reject said fragments a and b are
// different people, so their clusters never join. They are what edges
// need to keep such a pair apart
// (docs/decisions/0022-hub-unmerge-on-edges.md): the feed item of a
// cluster carries its members' partners (View.Apart), and an edge's merge
// of two clusters that hold a cannot-link pair is ignored (applier.apart).
//
// state.apart indexes them both ways, (a, b) and (b, a), so the partners
// of one fragment are one range read. It is derived from the decisions
// (noteApart in Apply and in Restore) and never snapshotted.

type apartPair = [2]string

func newApart() *btree.BTreeG[apartPair] {
	return btree.NewG(degree, func(x, y apartPair) bool { return x[0] < y[0] || x[0] == y[0] && x[1] < y[1] })
}

// noteApart brings st.apart in line with decision d (which replaced any
// earlier decision on its pair).
func (st *state) noteApart(d *decision) {
	if d.same {
		st.apart.Delete(apartPair{d.a, d.b})
		st.apart.Delete(apartPair{d.b, d.a})
		return
	}
	st.apart.ReplaceOrInsert(apartPair{d.a, d.b})
	st.apart.ReplaceOrInsert(apartPair{d.b, d.a})
}

// setDecision stores d, replacing the pair's earlier decision, and
// reports whether the pair's cannot-link changed (appeared or went).
func (a *applier) setDecision(d *decision) bool {
	old, had := a.st.decisions.Get(d)
	a.st.decisions.ReplaceOrInsert(d)
	a.st.noteApart(d)
	return (had && !old.same) != !d.same
}

// apartOf returns the cannot-link partners of a cluster's members,
// sorted and without the members themselves. t is state.apart or a
// clone of it.
func apartOf(t *btree.BTreeG[apartPair], members []string) []string {
	if t.Len() == 0 {
		return nil
	}
	var out []string
	for _, m := range members {
		t.AscendGreaterOrEqual(apartPair{m, ""}, func(p apartPair) bool {
			if p[0] != m {
				return false
			}
			if !slices.Contains(members, p[1]) {
				out = append(out, p[1])
			}
			return true
		})
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// clusterOf returns the cluster of fragment id as this Apply sees it
// ("" when the hub does not know id).
func (a *applier) clusterOf(id string) string {
	if fr, ok := a.owned[id]; ok {
		return fr.cluster
	}
	if fr, ok := a.frag(id); ok {
		return fr.cluster
	}
	return ""
}

// apart reports whether the clusters of fragments x and y hold a
// cannot-link pair: a steward ruled some member of one a different
// person from some member of the other. An edge's merge of such a pair
// is ignored, so a steward's unmerge is not undone by an edge that
// re-linked the two by its own rules (or had not heard of the unmerge
// yet). A pure function of the state: every replica ignores the same
// merges. A later steward merge still overrides the unmerge.
func (a *applier) apart(x, y string) bool {
	if a.st.apart.Len() == 0 {
		return false
	}
	cx, cy := a.clusterOf(x), a.clusterOf(y)
	if cx == "" || cy == "" || cx == cy {
		return false
	}
	for _, m := range a.st.clusters[cx] {
		hit := false
		a.st.apart.AscendGreaterOrEqual(apartPair{m, ""}, func(p apartPair) bool {
			if p[0] != m {
				return false
			}
			hit = a.clusterOf(p[1]) == cy
			return !hit
		})
		if hit {
			return true
		}
	}
	return false
}

// touchApart puts every fragment of the clusters of x and y at this
// index in the feed, so edges receive their changed cannot-links even
// when no cluster changed (a review reject of a pair already apart, a
// steward merge the remaining cannot-links refuse).
func (a *applier) touchApart(x, y string) {
	for _, id := range []string{x, y} {
		cid := a.clusterOf(id)
		for _, m := range a.st.clusters[cid] {
			a.touch(m, cid)
		}
		a.touched[cid] = true
	}
}
