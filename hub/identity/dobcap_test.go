package identity

import (
	"fmt"
	"math"
	"testing"
)

// TestDOBNearMissNotLearnedAsMatch checks decision 0075: where blocked
// pairs are full of people born within a year of each other who share
// everything else (a household, or this test's pairs), EM would learn
// the birth date's "2 edits or within a year" level as evidence for a
// match; its trained m stays at most its prior, the other agreeing
// levels take the rest, and "different" is left to capDisagreement.
func TestDOBNearMissNotLearnedAsMatch(t *testing.T) {
	var recs []Record
	for i := range 300 {
		last := fmt.Sprintf("fam%c%c%c", 'a'+i%26, 'a'+(i/26)%26, 'a'+i/676)
		street := fmt.Sprintf("%d elm street", 10+i)
		recs = append(recs,
			rec(fmt.Sprintf("a%03d", i), "first_name", "ann", "last_name", last, "birth_date", fmt.Sprintf("19%02d-03-04", 40+i%50),
				"address", street, "city", "ely", "postcode", fmt.Sprintf("%05d", 10000+i)),
			rec(fmt.Sprintf("b%03d", i), "first_name", "ann", "last_name", last, "birth_date", fmt.Sprintf("19%02d-11-21", 40+i%50),
				"address", street, "city", "ely", "postcode", fmt.Sprintf("%05d", 10000+i)))
	}
	m, err := Train(recs, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	prior := specs[cDOB].m[dobNearMiss]
	if got := m.m[cDOB][dobNearMiss]; got > prior*maxDOBNearMiss+1e-12 {
		t.Errorf("birth date %q: trained m %.4f, above its prior %.4f", specs[cDOB].levels[dobNearMiss], got, prior)
	}
	if w := m.w[cDOB][dobNearMiss]; w > 0 {
		t.Errorf("birth date %q weighs %+.2f: a match by this level alone", specs[cDOB].levels[dobNearMiss], w)
	}
	sum := 0.0
	for l := 1; l < len(specs[cDOB].levels); l++ {
		sum += m.m[cDOB][l]
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("birth date m sums to %.6f, want 1", sum)
	}
}

// TestCapLevel: the capped level holds its limit, the other agreeing
// levels grow in proportion, "different" is untouched and the sum kept.
func TestCapLevel(t *testing.T) {
	if l := specs[cDOB].levels[dobNearMiss]; l != "2 edits or within a year" {
		t.Fatalf("dobNearMiss is the level %q; the cap is meant for \"2 edits or within a year\"", l)
	}
	var m [maxLevels]float64
	copy(m[:], []float64{0, 0.5, 0.1, 0.1, 0.25, 0.05})
	capLevel(&m, cDOB, dobNearMiss, 1)
	limit := specs[cDOB].m[dobNearMiss]
	if m[dobNearMiss] != limit || m[5] != 0.05 {
		t.Fatalf("m = %v; want level 4 at %v and level 5 at 0.05", m[:6], limit)
	}
	if r := m[1] / m[2]; math.Abs(r-5) > 1e-9 {
		t.Errorf("exact / swapped = %.3f, want the 5 they were", r)
	}
	if s := m[1] + m[2] + m[3] + m[4] + m[5]; math.Abs(s-1) > 1e-9 {
		t.Errorf("sum %.9f, want 1", s)
	}
}
