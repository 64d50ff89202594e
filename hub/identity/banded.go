package identity

// bandedDistance is editDistance with a limit k >= 0: it returns the
// distance when it is at most k, and k+1 otherwise — the only answer
// the bounded callers (damerauWithin, boundedDamerau) distinguish.
//
// Every cell (i, j) with |i-j| > k of the dynamic programme holds a
// value of at least |i-j| > k, so only the diagonal band |i-j| <= k is
// computed, and every value is capped at k+1 (capping commutes with the
// min-plus recurrence, so capped cells inside the band are exact up to
// k). That makes a bounded distance O(len·(2k+1)) instead of
// O(len(a)·len(b)): 3 cells per row instead of 16 for an e-mail at k=1.
// TestBandedDistanceEqualsFull checks it against the full programme.
func bandedDistance(a, b string, transpose bool, k int) int {
	la, lb := len(a), len(b)
	K := k + 1
	if la-lb > k || lb-la > k {
		return K
	}
	if la <= smallLen && lb <= smallLen && bagDistance(a, b) > k {
		return K
	}
	if k >= 250 {
		return min(editDistance(a, b, transpose, -1), K) // cells are bytes below
	}
	n := lb + 1
	// Cells hold at most K, so bytes do; small arrays keep the zeroing
	// Go does on entry cheaper than the band itself.
	var s0, s1, s2 [smallLen + 2]uint8
	var pp, p, c []uint8
	if n+1 <= smallLen+2 {
		pp, p, c = s0[:n+1], s1[:n+1], s2[:n+1]
	} else {
		pp, p, c = make([]uint8, n+1), make([]uint8, n+1), make([]uint8, n+1)
	}
	K8 := uint8(K)
	// Row 0: p[j] = j inside the band, K just past it (read by row 1).
	for j := 0; j <= k && j < n; j++ {
		p[j] = uint8(j)
	}
	if k+1 < n {
		p[k+1] = K8
	}
	for i := 1; i <= la; i++ {
		lo, hi := i-k, i+k
		if lo < 1 {
			lo = 1
		}
		if hi > n-1 {
			hi = n - 1
		}
		rowMin := K8
		if lo == 1 {
			c[0] = uint8(min(i, K))
			rowMin = c[0]
		} else {
			c[lo-1] = K8
		}
		ai := a[i-1]
		for j := lo; j <= hi; j++ {
			cost := uint8(1)
			if ai == b[j-1] {
				cost = 0
			}
			v := p[j] + 1
			if x := c[j-1] + 1; x < v {
				v = x
			}
			if x := p[j-1] + cost; x < v {
				v = x
			}
			if transpose && i > 1 && j > 1 && ai == b[j-2] && a[i-2] == b[j-1] {
				if x := pp[j-2] + 1; x < v {
					v = x
				}
			}
			if v > K8 {
				v = K8
			}
			c[j] = v
			if v < rowMin {
				rowMin = v
			}
		}
		if hi+1 < n {
			c[hi+1] = K8
		}
		if rowMin > K8-1 {
			return K
		}
		pp, p, c = p, c, pp
	}
	return int(p[n-1])
}

// bagDistance is max(|A∖B|, |B∖A|) over the multisets of a's and b's
// bytes: a lower bound of the edit distance (a substitution, insertion
// or deletion moves each side by at most one, a transposition by none),
// so a bag distance over the limit settles a bounded distance in one
// linear pass. a and b are at most 64 bytes (counts fit an int8).
func bagDistance(a, b string) int {
	var cnt [256]int8
	for i := 0; i < len(a); i++ {
		cnt[a[i]]++
	}
	for i := 0; i < len(b); i++ {
		cnt[b[i]]--
	}
	pos, neg := 0, 0
	for i := 0; i < len(a); i++ {
		if c := cnt[a[i]]; c > 0 {
			pos += int(c)
			cnt[a[i]] = 0
		}
	}
	for i := 0; i < len(b); i++ {
		if c := cnt[b[i]]; c < 0 {
			neg -= int(c)
			cnt[b[i]] = 0
		}
	}
	return max(pos, neg)
}
