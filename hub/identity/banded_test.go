package identity

import (
	"testing"

	"pgregory.net/rapid"
)

// TestBandedDistanceEqualsFull: the banded, capped programme answers
// exactly what the full one does, up to the limit (and "over" beyond).
func TestBandedDistanceEqualsFull(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// A small alphabet makes near-equal strings (the interesting case) common.
		str := rapid.StringOfN(rapid.RuneFrom([]rune("abc1")), 0, 20, -1)
		a, b := str.Draw(t, "a"), str.Draw(t, "b")
		if rapid.Bool().Draw(t, "derive") && len(a) > 0 {
			// b is a with a few edits.
			bs := []byte(a)
			for range rapid.IntRange(1, 3).Draw(t, "edits") {
				i := rapid.IntRange(0, len(bs)-1).Draw(t, "at")
				switch rapid.IntRange(0, 3).Draw(t, "op") {
				case 0:
					bs[i] = 'x'
				case 1:
					bs = append(bs[:i:i], bs[i+1:]...)
				case 2:
					bs = append(bs[:i:i], append([]byte{'y'}, bs[i:]...)...)
				case 3:
					if i+1 < len(bs) {
						bs[i], bs[i+1] = bs[i+1], bs[i]
					}
				}
				if len(bs) == 0 {
					break
				}
			}
			b = string(bs)
		}
		k := rapid.IntRange(0, 4).Draw(t, "k")
		for _, tr := range []bool{false, true} {
			full := editDistance(a, b, tr, -1)
			want := min(full, k+1)
			if got := min(editDistance(a, b, tr, k), k+1); got != want {
				t.Fatalf("editDistance(%q, %q, %v, %d) = %d, full %d", a, b, tr, k, got, full)
			}
		}
	})
}
