package identity

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestOccupationWeighs: an occupation both records give adds weight, a
// rarer one more (term frequencies), a different one takes weight away,
// and one side's occupation alone changes nothing.
func TestOccupationWeighs(t *testing.T) {
	var recs []Record
	base := []string{"first_name", "thomas", "last_name", "clifford", "city", "devon"}
	// A training set of 600 people (one name each), two records apiece,
	// where "cricketer" is common and "astronomer" rare.
	jobs := []string{"cricketer", "cricketer", "cricketer", "painter", "politician", "writer"}
	for i := range 600 {
		job := jobs[i%len(jobs)]
		if i%50 == 0 {
			job = "astronomer"
		}
		for _, id := range []string{"a", "b"} { // two records of each person
			recs = append(recs, rec(id+strconv.Itoa(i), "first_name", word(i, 1), "last_name", word(i, 2),
				"birth_date", fmt.Sprintf("%d-%02d-%02d", 1900+i%60, 1+i%12, 1+i/12%28), "occupation", job))
		}
	}
	m, err := Train(recs, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	w := func(a, b []string) float64 {
		t.Helper()
		x, err := m.Weight(rec("x", append(append([]string(nil), base...), a...)...), rec("y", append(append([]string(nil), base...), b...)...))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	none := w(nil, nil)
	one := w([]string{"occupation", "Cricketer"}, nil)
	common := w([]string{"occupation", "Cricketer"}, []string{"occupation", " cricketer"})
	rare := w([]string{"occupation", "Astronomer"}, []string{"occupation", "astronomer"})
	diff := w([]string{"occupation", "cricketer"}, []string{"occupation", "painter"})
	if one != none {
		t.Errorf("one side's occupation: %.2f, want %.2f as with none", one, none)
	}
	if !(common > none) {
		t.Errorf("same occupation %.2f, not above none %.2f", common, none)
	}
	if !(rare > common) {
		t.Errorf("same rare occupation %.2f, not above a common one %.2f", rare, common)
	}
	if !(diff < none) {
		t.Errorf("different occupations %.2f, not below none %.2f", diff, none)
	}
}

// TestModelBeforeOccupation: a model encoded before the occupation
// comparison existed (the hub's test model, 16 comparisons) decodes,
// gives occupation no weight at any level, and re-encodes to its bytes.
func TestModelBeforeOccupation(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "historical_50k_first1000.model"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.known() != cOccupation {
		t.Fatalf("known comparisons %d, want %d", m.known(), cOccupation)
	}
	for l := 1; l < len(specs[cOccupation].levels); l++ {
		if m.w[cOccupation][l] != 0 {
			t.Errorf("occupation level %d weighs %v, want 0", l, m.w[cOccupation][l])
		}
	}
	a := rec("a", "first_name", "irwin", "last_name", "bevan", "city", "wales")
	bb := rec("b", "first_name", "irwin", "last_name", "bevan", "city", "wales")
	plain, err := m.Weight(a, bb)
	if err != nil {
		t.Fatal(err)
	}
	a.Fields = append(a.Fields, Field{Kind: Occupation, Value: "poet"})
	bb.Fields = append(bb.Fields, Field{Kind: Occupation, Value: "banker"})
	if got, err := m.Weight(a, bb); err != nil || got != plain {
		t.Errorf("different occupations under the older model: %v, %v; want %v", got, err, plain)
	}
	again, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Errorf("re-encoding changed the model's bytes (%d → %d)", len(b), len(again))
	}
	fresh, err := Untrained(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if fresh.known() != numComp || fresh.w[cOccupation][1] <= 0 {
		t.Errorf("a model fitted now: %d comparisons, occupation exact %v; want %d and a positive weight", fresh.known(), fresh.w[cOccupation][1], numComp)
	}
}

// word is a pseudo-name for person i: five letters from a multiplicative
// hash, so different people's names are not near each other.
func word(i, salt int) string {
	x := uint64(i*2+salt)*0x9e3779b97f4a7c15 + 12345
	b := make([]byte, 5)
	for k := range b {
		b[k] = 'a' + byte(x%26)
		x /= 26
	}
	return string(b)
}
