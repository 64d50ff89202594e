package identity

import (
	"slices"
	"testing"
)

// TestCustomerNamePools: the realistic pools make namesakes about as
// rare as FEBRL's real name frequencies do (two persons share a full
// name with probability ≈ 1.65e-5 there: decision 0092), the dense
// pools ten times as common; both are deterministic.
func TestCustomerNamePools(t *testing.T) {
	rate := func(np NamePools) float64 {
		d := GenerateCustomersWith(CustomersSeed, 3000, np)
		st := d.Stats()
		n := float64(st.Persons)
		// persons sharing a name, over the person pairs: a lower bound
		// of the pair rate's order, enough to tell the pools apart
		return float64(st.SharedNamePersons) / n
	}
	dense, real := rate(NamesDense), rate(NamesRealistic)
	t.Logf("persons sharing their full name: dense %.3f, realistic %.3f", dense, real)
	if dense < 0.5 {
		t.Errorf("dense pools: %.3f of persons share their name, want most", dense)
	}
	if real > 0.2 || real*3 > dense {
		t.Errorf("realistic pools: %.3f of persons share their name, want few (a third of the dense pools' at most)", real)
	}
	a, b := GenerateCustomersWith(7, 200, NamesRealistic), GenerateCustomersWith(7, 200, NamesRealistic)
	if !slices.EqualFunc(a.Rows, b.Rows, func(x, y CustomerRow) bool { return slices.Equal(x.Columns, y.Columns) }) {
		t.Error("realistic pools: one seed gave two data sets")
	}
	// The dense pools are the published set's: GenerateCustomers.
	c := GenerateCustomers(7, 200)
	d := GenerateCustomersWith(7, 200, NamesDense)
	if !slices.EqualFunc(c.Rows, d.Rows, func(x, y CustomerRow) bool { return slices.Equal(x.Columns, y.Columns) }) {
		t.Error("GenerateCustomers is not the dense pools' set")
	}
}

// TestSpellings: a tail name is also written without its diacritics, the
// umlaut transcribed and plain.
func TestSpellings(t *testing.T) {
	for name, want := range map[string][]string{
		"Grünberg": {"Grünberg", "Gruenberg", "Grunberg"},
		"Peña":     {"Peña", "Pena"},
		"Ashford":  {"Ashford"},
	} {
		if got := spellings(name); !slices.Equal(got, want) {
			t.Errorf("spellings(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestZipfDraw: earlier ranks are drawn more often, every rank can be
// drawn, and the draws depend on the seed only.
func TestZipfDraw(t *testing.T) {
	z := newZipf(10, 4)
	r := crng{s: 1}
	count := make([]int, 10)
	for range 100000 {
		count[z.draw(&r)]++
	}
	for i := 1; i < 10; i++ {
		if count[i] == 0 || count[i] >= count[i-1] {
			t.Fatalf("draw counts %v: want every rank drawn, fewer at each later rank", count)
		}
	}
	// rank 0 weighs 1/4 and rank 9 1/13 of the scale: about 3.25 times
	if q := float64(count[0]) / float64(count[9]); q < 2.9 || q > 3.6 {
		t.Errorf("rank 0 / rank 9 = %.2f, want ≈ 3.25", q)
	}
}
