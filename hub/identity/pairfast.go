package identity

import "hash/maphash"

// This file holds per-record precomputation for the pair comparisons
// (docs/decisions/0049-resolution-throughput.md): values derived once in
// prepare that let the comparison of each candidate pair skip work,
// with the same results as the comparison from the raw fields.

// dobKey is one birth-date candidate's precomputed comparison inputs.
type dobKey struct {
	// day is dayNumber of the date when it has 8 bytes, else 0.
	day int
	// digits: the date is 8 ASCII digits, and hist counts each digit.
	digits bool
	hist   [10]int8
}

// idSeed seeds the identifier hashes. They only filter comparisons
// (equal identifiers hash equal), so the seed may differ between
// processes.
var idSeed = maphash.MakeSeed()

// precompute fills p's derived comparison inputs from its fields.
func (p *prep) precompute() {
	if len(p.dob) > 0 {
		p.dobKeys = make([]dobKey, len(p.dob))
		for i, d := range p.dob {
			k := &p.dobKeys[i]
			if len(d) != 8 {
				continue
			}
			k.day = dayNumber(d)
			k.digits = true
			for j := 0; j < 8; j++ {
				c := d[j]
				if c < '0' || c > '9' {
					k.digits = false
					break
				}
				k.hist[c-'0']++
			}
		}
	}
	if len(p.ids) > 0 {
		p.idHash = make([]uint64, len(p.ids))
		for i, id := range p.ids {
			var h maphash.Hash
			h.SetSeed(idSeed)
			h.WriteString(string(id.Type))
			h.WriteByte(0)
			h.WriteString(id.Value)
			p.idHash[i] = h.Sum64()
		}
	}
}

// dobLevelOf is dobLevel(a.dob, b.dob), from the precomputed keys when
// both records have them.
func dobLevelOf(a, b *prep) uint8 {
	if len(a.dob) == 0 || len(b.dob) == 0 {
		return 0
	}
	if len(a.dobKeys) != len(a.dob) || len(b.dobKeys) != len(b.dob) {
		return dobLevel(a.dob, b.dob)
	}
	best := uint8(5)
	for i, x := range a.dob {
		for j, y := range b.dob {
			if l := dobPairKeyed(x, y, &a.dobKeys[i], &b.dobKeys[j]); l < best {
				best = l
			}
		}
	}
	return best
}

// dobPairKeyed is dobPair(a, b) with a's and b's keys: the bag
// distance of two digit strings comes from their digit counts (above 2
// it settles boundedDamerau(a, b, 2) as 3, as bandedDistance's own bag
// check would), and day numbers are precomputed.
func dobPairKeyed(a, b string, ka, kb *dobKey) uint8 {
	if a == b {
		return 1
	}
	eight := len(a) == 8 && len(b) == 8
	if eight && a[:4] == b[:4] && a[4:6] == b[6:8] && a[6:8] == b[4:6] {
		return 2
	}
	var d int
	switch {
	case eight:
		d = sameLenDamerau2(a, b)
	case ka.digits && kb.digits && digitBag(&ka.hist, &kb.hist) > 2:
		d = 3
	default:
		d = boundedDamerau(a, b, 2)
	}
	if d <= 1 {
		return 3
	} else if d == 2 {
		return 4
	}
	if eight && ka.day > 0 && kb.day > 0 && abs(ka.day-kb.day) <= 366 {
		return 4
	}
	return 5
}

// digitBag is bagDistance of two digit strings from their digit counts.
func digitBag(a, b *[10]int8) int {
	pos, neg := 0, 0
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > 0 {
			pos += d
		} else {
			neg -= d
		}
	}
	return max(pos, neg)
}

// sameLenDamerau2 is boundedDamerau(a, b, 2) for two different strings
// of one length, from where they differ: with two edits and no change
// of length, the edits are two substitutions (up to two mismatched
// positions), a substitution and a transposition of two adjacent
// mismatches, two such transpositions (up to four), or a deletion and an
// insertion (the mismatches run from the first to the last mismatched
// position, one string shifted by one against the other).
// TestSameLenDamerau2 checks it against boundedDamerau.
func sameLenDamerau2(a, b string) int {
	var mis [4]int
	h, f, l := 0, -1, -1
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			if h < len(mis) {
				mis[h] = i
			}
			h++
			if f < 0 {
				f = i
			}
			l = i
		}
	}
	swapped := func(i int) bool { return a[i] == b[i+1] && a[i+1] == b[i] }
	switch h {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		if mis[1] == mis[0]+1 && swapped(mis[0]) {
			return 1
		}
		return 2
	case 3:
		if mis[1] == mis[0]+1 && swapped(mis[0]) || mis[2] == mis[1]+1 && swapped(mis[1]) {
			return 2
		}
	case 4:
		if mis[1] == mis[0]+1 && swapped(mis[0]) && mis[3] == mis[2]+1 && swapped(mis[2]) {
			return 2
		}
	}
	if a[f+1:l+1] == b[f:l] || a[f:l] == b[f+1:l+1] {
		return 2
	}
	return 3
}

// damerauWithin1 is damerauWithin(a, b, 1) without the dynamic
// programme: one edit is a substitution or an adjacent transposition
// (same length: at most one mismatch, or two adjacent swapped ones) or
// an insertion (lengths one apart: the longer is the shorter with one
// byte added where they first differ). TestDamerauWithin1 checks it
// against the programme.
func damerauWithin1(a, b string) bool {
	switch len(a) - len(b) {
	case 0:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		if i >= len(a)-1 {
			return true // equal, or one mismatch at the end
		}
		if a[i+1:] == b[i+1:] {
			return true // one substitution
		}
		return a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	case 1:
		a, b = b, a
		fallthrough
	case -1:
		// b is the longer.
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:]
	}
	return false
}

// weightBound returns an upper bound of the weight m.score gives the
// pair whose levels v holds in part: those cheapLevels fills and, when
// names is set, those nameLevels fills. For the levels not computed (the
// names unless names, the address and the city) it takes the largest
// weight any of their levels can carry. It mirrors Model.weightOf and
// evidence: every term it leaves out (the full-name and
// e-mail-local-part reductions, the clamps) only lowers the weight; the
// location terms are bounded as evidence nests them (non-positive ones
// summed, the positive ones as the larger of street and area).
// TestWeightBoundIsUpperBound checks it against score.
func (m *Model) weightBound(a *prep, v *vector, names bool) float64 {
	w := m.priorWeight
	var neg, street, area float64
	for c := comp(0); c < numComp; c++ {
		var lw float64
		switch {
		case (c == cFirst || c == cLast) && !names:
			lw = m.maxLevelWeight(c, a.first, a.last)
		case c == cAddress:
			lw = m.maxLevelWeight(c, a.addr, a.addr)
		case c == cCity:
			lw = m.maxLevelWeight(c, a.city, a.city)
		default:
			lw = m.levelWeight(c, a, v)
		}
		switch {
		case !isLocation(c):
			w += lw
		case lw <= 0:
			neg += lw
		case c == cAddress || c == cStreetNo:
			street += lw
		default:
			area = max(area, lw)
		}
	}
	return w + neg + max(street, area)
}

// maxLevelWeight is the largest weight comparison c can contribute
// (0 when missing), its exact level weighted by the frequency of x or y,
// the values tfValue can name for it.
func (m *Model) maxLevelWeight(c comp, x, y string) float64 {
	best := 0.0
	for l := 1; l < len(specs[c].levels); l++ {
		best = max(best, m.w[c][l])
	}
	if m.tf[c] != nil {
		for _, s := range [2]string{x, y} {
			if tw, ok := m.tfWeightOf(c, s); ok {
				best = max(best, tw)
			}
		}
	}
	return best
}
