package identity

import (
	"math"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.9611},
		{"dwayne", "duane", 0.84},
		{"dixon", "dicksonx", 0.8133},
		{"same", "same", 1},
		{"", "", 1},
		{"abc", "", 0},
		{"abc", "xyz", 0},
	}
	for _, tt := range tests {
		if got := JaroWinkler(tt.a, tt.b); math.Abs(got-tt.want) > 1e-3 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.want)
		}
		if got, rev := JaroWinkler(tt.a, tt.b), JaroWinkler(tt.b, tt.a); got != rev {
			t.Errorf("JaroWinkler not symmetric for %q, %q: %v vs %v", tt.a, tt.b, got, rev)
		}
	}
}

func TestEditDistances(t *testing.T) {
	tests := []struct {
		a, b         string
		lev, damerau int
	}{
		{"", "", 0, 0},
		{"abc", "", 3, 3},
		{"kitten", "sitting", 3, 3},
		{"1989", "1998", 2, 1}, // transposed year digits
		{"ca", "abc", 3, 3},    // OSA, not unrestricted Damerau
		{"smith", "smyth", 1, 1},
	}
	for _, tt := range tests {
		if got := Levenshtein(tt.a, tt.b); got != tt.lev {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.lev)
		}
		if got := Damerau(tt.a, tt.b); got != tt.damerau {
			t.Errorf("Damerau(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.damerau)
		}
		for k := 0; k <= 4; k++ {
			if got, want := damerauWithin(tt.a, tt.b, k), tt.damerau <= k; got != want {
				t.Errorf("damerauWithin(%q, %q, %d) = %v, want %v", tt.a, tt.b, k, got, want)
			}
		}
	}
}

func TestSoundex(t *testing.T) {
	tests := map[string]string{
		"robert": "r163", "rupert": "r163", "ashcraft": "a261", "tymczak": "t522",
		"pfister": "p236", "honeyman": "h555", "": "", "x": "x000",
	}
	for in, want := range tests {
		if got := Soundex(in); got != want {
			t.Errorf("Soundex(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkJaroWinkler(b *testing.B) {
	for i := 0; i < b.N; i++ {
		JaroWinkler("harrington", "harringtom")
	}
}
