package identity

import "sort"

// This file measures how often one person's records disagree completely
// on a field the vetoes of entity.go trust (the given name, the birth
// date, a document number without issuer), from pairs that something
// stronger vouches for: pairs holding the same document number, and
// pairs with the same given name, surname and birth date. A data set
// whose own anchored pairs disagree on a field that often (FEBRL, which
// replaces whole values) cannot read that field's disagreement as two
// people, so its veto is waived there and the weights decide
// (docs/decisions/0042-entity-centric-matching.md, "Vetoes the data
// contradicts").

// FieldNoise counts anchored pairs that had a field on both sides
// (Pairs) and those among them that disagreed completely (Different).
type FieldNoise struct {
	Pairs     int
	Different int
}

// Rate is Different / Pairs, 0 without pairs.
func (f FieldNoise) Rate() float64 {
	if f.Pairs == 0 {
		return 0
	}
	return float64(f.Different) / float64(f.Pairs)
}

// noisy reports whether the field disagrees among anchored pairs often
// enough, on enough pairs, that its disagreement does not veto.
func (f FieldNoise) noisy() bool {
	return f.Pairs >= minNoisePairs && f.Rate() >= minNoiseRate
}

// Noise is what training measured of the vetoed fields.
type Noise struct {
	// GivenName and BirthDate over pairs sharing a document number;
	// Document (bare numbers of one kind, issuers compatible) over pairs
	// with the same given name, surname and birth date.
	GivenName, BirthDate, Document FieldNoise
}

const (
	// minNoiseRate is the share of anchored pairs that must disagree
	// completely on a field before its veto is waived: well above what
	// typing errors (which the levels below "different" absorb) and
	// namesakes leave, well below FEBRL's replaced values (≈ 4–10 %).
	minNoiseRate = 0.02
	// minNoisePairs anchored pairs are needed to trust the rate.
	minNoisePairs = 50
	// maxAnchorGroup: an anchor value held by more records is a
	// placeholder or a household's, not one person's; it is skipped.
	maxAnchorGroup = 4
)

// waived returns the vetoes the noise measured waives.
func (n Noise) waived() vetoSet {
	var s vetoSet
	if n.GivenName.noisy() {
		s |= waiveGivenName
	}
	if n.BirthDate.noisy() {
		s |= waiveBirthDate
	}
	if n.Document.noisy() {
		s |= waiveDocument
	}
	return s
}

// measureNoise computes Noise over ps (sorted by ID).
func measureNoise(ps []*prep) Noise {
	var n Noise
	byDoc := map[string][]int{}
	byPerson := map[string][]int{}
	for i, p := range ps {
		for k, ds := range [...][]doc{p.nidDocs, p.passDocs, p.licDocs} {
			for _, d := range ds {
				key := string(rune('0'+k)) + "|" + d.issuer + "|" + d.num
				byDoc[key] = append(byDoc[key], i)
			}
		}
		if p.first != "" && p.last != "" && len(p.dob) == 1 {
			key := p.first + "|" + p.last + "|" + p.dob[0]
			byPerson[key] = append(byPerson[key], i)
		}
	}
	seen := map[[2]int]bool{}
	eachPair(byDoc, func(i, j int) {
		if seen[[2]int{i, j}] {
			return
		}
		seen[[2]int{i, j}] = true
		a, b := ps[i], ps[j]
		if len(a.first) >= 2 && len(b.first) >= 2 {
			n.GivenName.Pairs++
			if firstLevel(a.first, b.first) == 6 && !namesAgree(a, b) {
				n.GivenName.Different++
			}
		}
		if len(a.dob) > 0 && len(b.dob) > 0 {
			n.BirthDate.Pairs++
			if dobLevelOf(a, b) == 5 {
				n.BirthDate.Different++
			}
		}
	})
	eachPair(byPerson, func(i, j int) {
		a, b := ps[i], ps[j]
		for _, d := range [...]struct {
			as, bs []doc
			typo   int
		}{{a.nidDocs, b.nidDocs, 2}, {a.passDocs, b.passDocs, 1}, {a.licDocs, b.licDocs, 1}} {
			if len(d.as) == 0 || len(d.bs) == 0 || issuerConflict(d.as, d.bs) {
				continue
			}
			n.Document.Pairs++
			if docsConflict(d.as, d.bs, d.typo) {
				n.Document.Different++
			}
		}
	})
	return n
}

// eachPair calls fn(i, j), i < j, for the pairs within each group of at
// most maxAnchorGroup members, in a fixed order.
func eachPair(groups map[string][]int, fn func(i, j int)) {
	keys := make([]string, 0, len(groups))
	for k, g := range groups {
		if len(g) >= 2 && len(g) <= maxAnchorGroup {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		for x := range g {
			for y := x + 1; y < len(g); y++ {
				fn(g[x], g[y])
			}
		}
	}
}
