package identity

// String metrics. They work on bytes: every value reaching them has been
// normalized (folded to lower-case ASCII where a folding exists), and for
// the rare remaining multi-byte runes a byte-level distance is a slightly
// pessimistic but still monotone stand-in. They allocate nothing for
// strings up to 64 bytes, because pair scoring runs them millions of times.

const smallLen = 64

// JaroWinkler returns the Jaro-Winkler similarity of a and b in [0, 1]
// with the standard prefix scale 0.1 and a common prefix of at most 4.
// Two empty strings are identical (1); one empty string gives 0.
func JaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	j := jaro(a, b)
	if j <= 0.7 {
		return j
	}
	l := 0
	for l < 4 && l < len(a) && l < len(b) && a[l] == b[l] {
		l++
	}
	return j + float64(l)*0.1*(1-j)
}

func jaro(a, b string) float64 {
	la, lb := len(a), len(b)
	if la == 0 || lb == 0 {
		return 0
	}
	if la > lb {
		a, b, la, lb = b, a, lb, la
	}
	win := lb/2 - 1
	if win < 0 {
		win = 0
	}
	var ma, mb [smallLen]bool
	var fa, fb []bool
	if lb <= smallLen {
		fa, fb = ma[:la], mb[:lb]
	} else {
		fa, fb = make([]bool, la), make([]bool, lb)
	}
	m := 0
	for i := 0; i < la; i++ {
		lo, hi := i-win, i+win+1
		if lo < 0 {
			lo = 0
		}
		if hi > lb {
			hi = lb
		}
		for k := lo; k < hi; k++ {
			if !fb[k] && a[i] == b[k] {
				fa[i], fb[k] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	t, k := 0, 0
	for i := 0; i < la; i++ {
		if !fa[i] {
			continue
		}
		for !fb[k] {
			k++
		}
		if a[i] != b[k] {
			t++
		}
		k++
	}
	fm := float64(m)
	return (fm/float64(la) + fm/float64(lb) + (fm-float64(t)/2)/fm) / 3
}

// Levenshtein returns the edit distance (insertions, deletions,
// substitutions) between a and b.
func Levenshtein(a, b string) int { return editDistance(a, b, false, -1) }

// Damerau returns the optimal-string-alignment distance between a and b:
// Levenshtein plus the transposition of two adjacent bytes as one edit
// (so 1989 and 1998 are one edit apart).
func Damerau(a, b string) int { return editDistance(a, b, true, -1) }

// damerauWithin reports whether Damerau(a, b) <= k, stopping early once
// the distance must exceed k.
func damerauWithin(a, b string, k int) bool {
	d := len(a) - len(b)
	if d < 0 {
		d = -d
	}
	if d > k {
		return false
	}
	if k == 1 {
		return damerauWithin1(a, b)
	}
	return editDistance(a, b, true, k) <= k
}

// boundedDamerau returns Damerau(a, b) when it is at most k, else k+1.
func boundedDamerau(a, b string, k int) int {
	d := len(a) - len(b)
	if d < 0 {
		d = -d
	}
	if d > k {
		return k + 1
	}
	if r := editDistance(a, b, true, k); r <= k {
		return r
	}
	return k + 1
}

// editDistance computes the distance with three rolling rows. When limit
// >= 0 it returns limit+1 as soon as every cell of a row exceeds limit.
func editDistance(a, b string, transpose bool, limit int) int {
	if a == b {
		return 0
	}
	if len(a) == 0 {
		return len(b)
	}
	if len(b) == 0 {
		return len(a)
	}
	if limit >= 0 {
		return bandedDistance(a, b, transpose, limit)
	}
	n := len(b) + 1
	var s0, s1, s2 [smallLen + 1]int
	var pp, p, c []int
	if n <= smallLen+1 {
		pp, p, c = s0[:n], s1[:n], s2[:n]
	} else {
		pp, p, c = make([]int, n), make([]int, n), make([]int, n)
	}
	for j := range p {
		p[j] = j
	}
	for i := 1; i <= len(a); i++ {
		c[0] = i
		rowMin := c[0]
		for j := 1; j < n; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := p[j] + 1
			if x := c[j-1] + 1; x < v {
				v = x
			}
			if x := p[j-1] + cost; x < v {
				v = x
			}
			if transpose && i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				if x := pp[j-2] + 1; x < v {
					v = x
				}
			}
			c[j] = v
			if v < rowMin {
				rowMin = v
			}
		}
		if limit >= 0 && rowMin > limit {
			return limit + 1
		}
		pp, p, c = p, c, pp
	}
	return p[n-1]
}

// Soundex returns the American Soundex code of a lower-case ASCII name
// ("robert" → "r163"), or "" when it has no letters. Blocking uses it so
// that spelling variants of a surname share a block.
func Soundex(s string) string {
	var out [4]byte
	n := 0
	var last byte
	for i := 0; i < len(s) && n < 4; i++ {
		ch := s[i]
		if ch < 'a' || ch > 'z' {
			continue
		}
		code := soundexCode[ch-'a']
		if n == 0 {
			out[0] = ch
			n = 1
			last = code
			continue
		}
		if code == '0' {
			if ch != 'h' && ch != 'w' {
				last = 0
			}
			continue
		}
		if code != last {
			out[n] = code
			n++
		}
		last = code
	}
	if n == 0 {
		return ""
	}
	for n < 4 {
		out[n] = '0'
		n++
	}
	return string(out[:])
}

// abcdefghijklmnopqrstuvwxyz
const soundexCode = "01230120022455012623010202"
