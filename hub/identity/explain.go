package identity

import (
	"fmt"
	"log/slog"
	"math"
	"strings"

	"ucv/profile"
)

// Explanation says why two records do or do not look like one person:
// every comparison that had data on both sides, its level and weight.
// Values are the normalized compared values — personal data meant for the
// steward who asked; LogValue leaves them out.
type Explanation struct {
	A, B        string
	Weight      float64 // total match weight, prior included
	Probability float64
	PriorWeight float64
	// Swapped is true when first and last name were compared crosswise.
	Swapped bool
	// Veto, when set, says why the two can never be one entity ("different
	// birth dates", "organisation vs person"…); Weight is then clamped
	// below the review band. It never holds a compared value.
	Veto   string
	Levels []Level
	// Identifiers are the non-generic identifiers the two share.
	Identifiers []profile.Identifier
}

// Level is one comparison's outcome.
type Level struct {
	Comparison string  `json:"comparison"`
	Level      string  `json:"level"`
	Weight     float64 `json:"weight"`
	A          string  `json:"a"`
	B          string  `json:"b"`
}

// LogValue renders the explanation without any compared value.
func (e Explanation) LogValue() slog.Value {
	parts := make([]string, len(e.Levels))
	for i, l := range e.Levels {
		parts[i] = fmt.Sprintf("%s=%s(%+.1f)", l.Comparison, l.Level, l.Weight)
	}
	return slog.GroupValue(slog.String("a", e.A), slog.String("b", e.B),
		slog.Float64("weight", e.Weight), slog.String("levels", strings.Join(parts, " ")))
}

// String is a one-line human-readable summary without values.
func (e Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s ~ %s: weight %+.2f (p=%.4f, prior %+.2f)", e.A, e.B, e.Weight, e.Probability, e.PriorWeight)
	if e.Veto != "" {
		fmt.Fprintf(&b, "; veto: %s", e.Veto)
	}
	for _, id := range e.Identifiers {
		fmt.Fprintf(&b, "; shared %s", id.Type)
	}
	for _, l := range e.Levels {
		fmt.Fprintf(&b, "; %s %s %+.2f", l.Comparison, l.Level, l.Weight)
	}
	return b.String()
}

// Explain compares two indexed records and explains the result.
func (ix *Index) Explain(a, b string) (Explanation, error) {
	na, ok := ix.byID[a]
	if !ok {
		return Explanation{}, fmt.Errorf("%w: %s", ErrNotFound, a)
	}
	nb, ok := ix.byID[b]
	if !ok {
		return Explanation{}, fmt.Errorf("%w: %s", ErrNotFound, b)
	}
	pa, pb := ix.ents[na].p, ix.ents[nb].p
	if pb.id < pa.id {
		pa, pb = pb, pa
	}
	e := ix.m.explain(pa, pb)
	e.Identifiers = ix.sharedLive(pa, pb)
	return e, nil
}

func (m *Model) explain(pa, pb *prep) Explanation {
	v, w := m.score(pa, pb)
	e := Explanation{A: pa.id, B: pb.id, Weight: w, Probability: Probability(w), PriorWeight: m.priorWeight, Swapped: v.aSwap || v.bSwap}
	if v.veto != vetoNone {
		e.Veto = v.veto.String()
	}
	for c := comp(0); c < numComp; c++ {
		l := v.lv[c]
		if l == 0 {
			continue
		}
		va, vb := compValue(c, pa), compValue(c, pb)
		if c == cFirst || c == cLast {
			if v.aSwap {
				va = compValue(cFirst+cLast-c, pa)
			}
			if v.bSwap {
				vb = compValue(cFirst+cLast-c, pb)
			}
		}
		e.Levels = append(e.Levels, Level{
			Comparison: specs[c].name, Level: specs[c].levels[l],
			Weight: m.levelWeight(c, pa, &v), A: va, B: vb,
		})
	}
	// The weight is not the plain sum of the levels where comparisons
	// depend on each other (model.go, evidence) or nothing personal
	// agrees: say by how much, so the levels and adjustments add up.
	if v.veto == vetoNone {
		sum := 0.0
		for _, l := range e.Levels {
			sum += l.Weight
		}
		ev := m.evidence(pa, &v, false)
		if d := ev - sum; math.Abs(d) > 1e-9 {
			e.Levels = append(e.Levels, Level{Comparison: "adjustment", Level: "dependent agreements counted once", Weight: d})
		}
		if d := w - m.priorWeight - ev; math.Abs(d) > 1e-9 {
			e.Levels = append(e.Levels, Level{Comparison: "adjustment", Level: "nothing personal agrees", Weight: d})
		}
	}
	return e
}

func compValue(c comp, p *prep) string {
	switch c {
	case cFirst:
		return p.first
	case cLast:
		return p.last
	case cMiddle:
		return p.middle
	case cDOB:
		return strings.Join(p.dob, "|")
	case cGender:
		return p.gender.String()
	case cEmail:
		return strings.Join(p.emails, "|")
	case cPhone:
		return strings.Join(p.phones, "|")
	case cAddress:
		return p.addr
	case cStreetNo:
		return p.streetNo
	case cCity:
		return p.city
	case cState:
		return p.state
	case cPostcode:
		return p.postcode
	case cCountry:
		return p.country
	case cNationalID:
		return strings.Join(p.nid, "|")
	case cPassport:
		return strings.Join(p.passport, "|")
	case cLicense:
		return strings.Join(p.lic, "|")
	case cOccupation:
		return p.occupation
	}
	return ""
}

// Weights describes the trained model: per comparison and level the match
// weight log2(m/u). For operators and the decision record.
func (m *Model) Weights() []Level {
	var out []Level
	for c := comp(0); c < numComp; c++ {
		for l := 1; l < len(specs[c].levels); l++ {
			out = append(out, Level{Comparison: specs[c].name, Level: specs[c].levels[l], Weight: m.w[c][l],
				A: fmt.Sprintf("m=%.4g", m.m[c][l]), B: fmt.Sprintf("u=%.4g", m.u[c][l])})
		}
	}
	return out
}

// PriorWeight returns log2 of the prior odds that two records match.
func (m *Model) PriorWeight() float64 { return m.priorWeight }
