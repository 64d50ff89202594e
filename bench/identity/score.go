package identity

import (
	"sort"
)

// Metrics are accuracy scores of a clustering against the truth.
type Metrics struct {
	// Pairwise: pairs of records placed in one cluster.
	PairPrecision, PairRecall, PairF1 float64
	// Link*: the same over cross-source pairs only (link tasks).
	LinkPrecision, LinkRecall, LinkF1 float64
	// Cluster: predicted clusters identical to a true entity.
	ClusterPrecision, ClusterRecall, ClusterF1 float64
	// BCubed precision, recall and F1 averaged over records.
	BCubedPrecision, BCubedRecall, BCubedF1 float64
	TruePairs, PredictedPairs, CorrectPairs int64
}

// Score compares assignments (record → cluster) with entity (record →
// true entity). source, when not nil, enables the Link* scores.
func Score(assign [][2]string, entity, source map[string]string) Metrics {
	type cell struct{ pred, truth string }
	predSize := map[string]int64{}
	truthSize := map[string]int64{}
	cells := map[cell]int64{}
	// cross-source counts per group: first source seen counts as A.
	srcA := ""
	for _, a := range assign {
		if srcA == "" || source[a[0]] < srcA {
			srcA = source[a[0]]
		}
	}
	predA, predB, truthA, truthB := map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}
	cellA, cellB := map[cell]int64{}, map[cell]int64{}
	for _, a := range assign {
		id, pc := a[0], a[1]
		tc := entity[id]
		predSize[pc]++
		truthSize[tc]++
		c := cell{pc, tc}
		cells[c]++
		if source != nil {
			if source[id] == srcA {
				predA[pc]++
				truthA[tc]++
				cellA[c]++
			} else {
				predB[pc]++
				truthB[tc]++
				cellB[c]++
			}
		}
	}
	c2 := func(n int64) int64 { return n * (n - 1) / 2 }
	var m Metrics
	for _, n := range predSize {
		m.PredictedPairs += c2(n)
	}
	for _, n := range truthSize {
		m.TruePairs += c2(n)
	}
	for _, n := range cells {
		m.CorrectPairs += c2(n)
	}
	m.PairPrecision, m.PairRecall, m.PairF1 = prf(m.CorrectPairs, m.PredictedPairs, m.TruePairs)
	if source != nil {
		var tp, pp, tt int64
		for k, a := range cellA {
			tp += a * cellB[k]
		}
		for k, a := range predA {
			pp += a * predB[k]
		}
		for k, a := range truthA {
			tt += a * truthB[k]
		}
		m.LinkPrecision, m.LinkRecall, m.LinkF1 = prf(tp, pp, tt)
	}
	// Exact clusters: a cell that is the whole predicted and whole true cluster.
	var exact int64
	for k, n := range cells {
		if predSize[k.pred] == n && truthSize[k.truth] == n {
			exact++
		}
	}
	m.ClusterPrecision, m.ClusterRecall, m.ClusterF1 = prf(exact, int64(len(predSize)), int64(len(truthSize)))
	// B-cubed: each record in cell c has precision n_c/|pred| and recall n_c/|truth|.
	var bp, br float64
	for k, n := range cells {
		bp += float64(n) * float64(n) / float64(predSize[k.pred])
		br += float64(n) * float64(n) / float64(truthSize[k.truth])
	}
	N := float64(len(assign))
	if N > 0 {
		m.BCubedPrecision, m.BCubedRecall = bp/N, br/N
		m.BCubedF1 = f1(m.BCubedPrecision, m.BCubedRecall)
	}
	return m
}

func prf(tp, predicted, truth int64) (p, r, f float64) {
	if predicted > 0 {
		p = float64(tp) / float64(predicted)
	}
	if truth > 0 {
		r = float64(tp) / float64(truth)
	}
	return p, r, f1(p, r)
}

func f1(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// TruePairs returns every true pair (a < b) of the data set, sorted.
func TruePairs(entity map[string]string) [][2]string {
	groups := map[string][]string{}
	for id, e := range entity {
		groups[e] = append(groups[e], id)
	}
	var out [][2]string
	for _, g := range groups {
		sort.Strings(g)
		for i := range g {
			for j := i + 1; j < len(g); j++ {
				out = append(out, [2]string{g[i], g[j]})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}
