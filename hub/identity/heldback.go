package identity

import (
	"fmt"
	"math"
	"sort"

	"ucv/profile"
)

// Checking a model on records it was not trained on
// (docs/decisions/0047-hub-self-training.md). There is no ground truth,
// so the check is the held-out likelihood of the Fellegi-Sunter mixture:
// the comparison vectors of the held-back records' candidate pairs are
// draws from λ·P(v | match) + (1−λ)·P(v | non-match), with P(v | ·) the
// product over non-missing comparisons of the model's m (or u) of the
// level seen. The model whose m and u give those vectors the higher
// likelihood describes the data better. λ is the share of matches among
// candidate pairs, a property of the blocking and the data rather than
// of the model (a model's prior is over all pairs, not candidate
// pairs), so each model is given the λ that maximises its own
// likelihood on the sample (one-parameter EM, concave, so the global
// maximum): the comparison is of m and u alone.

// PairSample is the comparison vectors of a sample of candidate pairs:
// the pairs the blocking rules put together among some records. It is
// immutable and safe for concurrent use; the vectors hold no values.
type PairSample struct {
	vs []vcount
}

type vcount struct {
	lv [numComp]uint8
	n  float64
}

// SamplePairs returns the candidate pairs of recs (every blocking rule's
// pairs, blocks beyond cfg's caps skipped, each pair once), sampled
// evenly down to at most maxPairs (0: all). Errors are those of Train
// for bad records. The order of recs does not matter.
func SamplePairs(recs []Record, cfg Config, maxPairs int) (*PairSample, error) {
	if cfg.Rules == nil {
		cfg = withDefaultRules(cfg)
	}
	ps, err := prepareAll(recs, cfg)
	if err != nil {
		return nil, err
	}
	var all []uint64
	for ri := range blockRules {
		all = append(all, blockedPairs(ps, ri, cfg)...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	all = dedupeU64(all)
	step := 1
	if maxPairs > 0 && len(all) > maxPairs {
		step = (len(all) + maxPairs - 1) / maxPairs
	}
	vs := make([]vector, 0, len(all)/step+1)
	for k := 0; k < len(all); k += step {
		i, j := int(all[k]>>32), int(all[k]&0xffffffff)
		vs = append(vs, compare(ps[i], ps[j]))
	}
	sort.Slice(vs, func(a, b int) bool { return lessVec(&vs[a], &vs[b]) })
	s := &PairSample{}
	for i := range vs {
		if n := len(s.vs); n > 0 && s.vs[n-1].lv == vs[i].lv {
			s.vs[n-1].n++
			continue
		}
		s.vs = append(s.vs, vcount{vs[i].lv, 1})
	}
	return s, nil
}

// Len returns the number of pairs in the sample.
func (s *PairSample) Len() int {
	n := 0.0
	for _, v := range s.vs {
		n += v.n
	}
	return int(n)
}

// HeldOut is how well a model's mixture describes a PairSample.
type HeldOut struct {
	// Pairs is the number of pairs scored.
	Pairs int `json:"pairs"`
	// LogLikelihood is the mean log-likelihood, in nats per pair, of the
	// pairs' comparison vectors under the model's mixture (0 without
	// pairs). Higher is better.
	LogLikelihood float64 `json:"log_likelihood"`
	// MatchFraction is the mixture's λ: the share of matches among the
	// pairs that maximises the likelihood under the model's m and u.
	MatchFraction float64 `json:"match_fraction"`
}

// HeldOut scores the sample under m's mixture (see PairSample). It is
// deterministic: the same model and sample give the same bits.
func (m *Model) HeldOut(s *PairSample) HeldOut {
	var mn, un [numComp][maxLevels]float64
	for c := comp(0); c < numComp; c++ {
		L := len(specs[c].levels)
		sm, su := 0.0, 0.0
		for l := 1; l < L; l++ {
			sm += m.m[c][l]
			su += m.u[c][l]
		}
		for l := 1; l < L; l++ {
			mn[c][l] = math.Log(m.m[c][l] / sm)
			un[c][l] = math.Log(m.u[c][l] / su)
		}
	}
	lm := make([]float64, len(s.vs))
	lu := make([]float64, len(s.vs))
	total := 0.0
	for i, v := range s.vs {
		for c := comp(0); c < numComp; c++ {
			if l := v.lv[c]; l != 0 {
				lm[i] += mn[c][l]
				lu[i] += un[c][l]
			}
		}
		total += v.n
	}
	h := HeldOut{Pairs: int(total)}
	if total == 0 {
		return h
	}
	// λ by EM with the components fixed: the log-likelihood is concave
	// in λ, so this climbs to its maximum.
	lambda := 0.1
	for range 500 {
		post := 0.0
		for i, v := range s.vs {
			a := math.Log(lambda) + lm[i]
			b := math.Log1p(-lambda) + lu[i]
			post += v.n / (1 + math.Exp(b-a))
		}
		next := math.Min(math.Max(post/total, 1e-9), 1-1e-9)
		done := math.Abs(next-lambda) < 1e-12
		lambda = next
		if done {
			break
		}
	}
	ll := 0.0
	for i, v := range s.vs {
		a := math.Log(lambda) + lm[i]
		b := math.Log1p(-lambda) + lu[i]
		hi := math.Max(a, b)
		ll += v.n * (hi + math.Log(math.Exp(a-hi)+math.Exp(b-hi)))
	}
	h.LogLikelihood, h.MatchFraction = ll/total, lambda
	return h
}

// Weight returns the match weight m gives the pair a, b — the weight an
// Index scoring with m gives it (prior, term frequencies and vetoes
// included). It is symmetric. Errors: a record with an empty ID or an
// unknown field kind.
func (m *Model) Weight(a, b Record) (float64, error) {
	for _, r := range []Record{a, b} {
		if r.ID == "" {
			return 0, ErrEmptyID
		}
		if err := checkKinds(r); err != nil {
			return 0, err
		}
	}
	cfg := m.cfg
	if cfg.Rules == nil {
		cfg = withDefaultRules(cfg)
	}
	pa := prepare(a, cfg.Rules, cfg.Region, cfg.DateOrder)
	pb := prepare(b, cfg.Rules, cfg.Region, cfg.DateOrder)
	if pb.id < pa.id {
		pa, pb = pb, pa
	}
	_, w := m.score(pa, pb)
	if math.IsNaN(w) {
		return 0, fmt.Errorf("identity: pair %s, %s scores NaN", pa.id, pb.id)
	}
	return w, nil
}

func withDefaultRules(cfg Config) Config {
	cfg.Rules = profile.DefaultRules()
	return cfg
}
