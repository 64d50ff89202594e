package identity

import (
	"fmt"
	"testing"
)

// TestCorroboratedMerge: one person seen in sparse sources — five
// records with the full name and a birth date, four with a shortened
// given name and a postcode, and one record with all of it that
// matches every record of both sides. The two clusters then have four
// direct matches across them (the bridge and each postcode record),
// while the twenty others — a name alone, "Eben" or "E." against
// "Ebenezer" — hold the mean cross-pair probability near 0.2, under
// ClusterMinProbability. Several direct matches are not a weak chain:
// the clusters merge. A namesake born 41 years later stays apart.
func TestCorroboratedMerge(t *testing.T) {
	var recs []Record
	for i := range 5 {
		recs = append(recs, rec(fmt.Sprintf("dob%d", i), "first_name", "Ebenezer", "last_name", "Thistlewood", "birth_date", "1750-03-04"))
	}
	recs = append(recs,
		rec("pc0", "first_name", "Eben", "last_name", "Thistlewood", "postcode", "LN1 2AB"),
		rec("pc1", "first_name", "E", "last_name", "Thistlewood", "postcode", "LN1 2AB"),
		rec("pc2", "first_name", "Eben", "last_name", "Thistlewood", "postcode", "LN1 2AB"),
		rec("pc3", "first_name", "E", "last_name", "Thistlewood", "postcode", "LN1 2AB"),
		rec("both", "first_name", "Ebenezer", "last_name", "Thistlewood", "birth_date", "1750-03-04", "postcode", "LN1 2AB"),
		rec("other", "first_name", "Ebenezer", "last_name", "Thistlewood", "birth_date", "1791-11-20", "postcode", "YO1 7HH"))
	ix := resolveSmall(t, recs...)
	for _, r := range recs[:len(recs)-1] {
		if !sameCluster(t, ix, "both", r.ID) {
			t.Errorf("%s apart from the record that bridges both sides", r.ID)
		}
		if sameCluster(t, ix, "other", r.ID) {
			t.Errorf("%s merged with a namesake born 41 years later", r.ID)
		}
	}
	// The case this test is for: the mean cross-pair probability of the
	// two sides, the bridge on the birth-date side, is below the
	// threshold, so the mean alone would refuse the merge.
	sum, n, matches := 0.0, 0, 0
	for _, a := range []string{"dob0", "dob1", "dob2", "dob3", "dob4", "both"} {
		for _, b := range []string{"pc0", "pc1", "pc2", "pc3"} {
			w := ix.pairWeight(ix.byID[a], ix.byID[b])
			sum += Probability(w)
			n++
			if w >= ix.cfg.MatchWeight {
				matches++
			}
		}
	}
	if mean := sum / float64(n); mean >= ix.cfg.ClusterMinProbability || !corroborated(matches, n) {
		t.Fatalf("mean cross-pair probability %.3f, %d of %d cross pairs match: the test no longer exercises corroboration", mean, matches, n)
	}
}

func TestCorroborated(t *testing.T) {
	for _, c := range []struct {
		matches, n int
		want       bool
	}{
		{2, 4, false}, // two matches are a pair of links, not corroboration
		{3, 20, true},
		{3, 21, false}, // 3/21 < 15 %
		{6, 40, true},
		{0, 1, false},
	} {
		if got := corroborated(c.matches, c.n); got != c.want {
			t.Errorf("corroborated(%d, %d) = %v, want %v", c.matches, c.n, got, c.want)
		}
	}
}

// TestDirectlyMatched: a person's cluster of ten sparse records — the
// full name and a birth date, and one with the postcode and occupation
// as well — and a record with a shortened given name, the postcode and
// the occupation. It matches the one record with them on its own; against the nine others it
// is a name alone ("Eben" against "Ebenezer"), which holds the mean
// cross-pair probability under ClusterMinProbability, and one match is
// not corroboration. Every record of the joining side matches directly,
// so it joins (decision 0072). The same record with a phone other than
// the one the cluster holds stays apart: a rare name and a postcode are
// a match, but its own phone says it may be someone else.
func TestDirectlyMatched(t *testing.T) {
	var person []Record
	for i := range 9 {
		person = append(person, rec(fmt.Sprintf("dob%d", i), "first_name", "Ebenezer", "last_name", "Thistlewood", "birth_date", "1750-03-04"))
	}
	person = append(person, rec("both", "first_name", "Ebenezer", "last_name", "Thistlewood", "birth_date", "1750-03-04", "postcode", "LN1 2AB", "occupation", "clockmaker", "phone", "+44 1522 500100"))
	pc := rec("pc", "first_name", "Eben", "last_name", "Thistlewood", "postcode", "LN1 2AB", "occupation", "clockmaker")
	ix := resolveSmall(t, append(append([]Record(nil), person...), pc)...)
	for _, r := range append(person, pc) {
		if !sameCluster(t, ix, "both", r.ID) {
			t.Errorf("%s apart from its person's cluster", r.ID)
		}
	}
	// The case this test is for: the mean and corroboration both refuse.
	sum, n, matches := 0.0, 0, 0
	for _, r := range person {
		w := ix.pairWeight(ix.byID["pc"], ix.byID[r.ID])
		sum += Probability(w)
		n++
		if w >= ix.cfg.MatchWeight {
			matches++
		}
	}
	if mean := sum / float64(n); mean >= ix.cfg.ClusterMinProbability || corroborated(matches, n) || matches == 0 {
		t.Fatalf("mean cross-pair probability %.3f, %d of %d cross pairs match: the test no longer exercises direct matches", mean, matches, n)
	}

	pc.Fields = append(pc.Fields, Field{Kind: Phone, Name: "phone", Value: "+44 1522 699201"})
	ix = resolveSmall(t, append(append([]Record(nil), person...), pc)...)
	if sameCluster(t, ix, "both", "pc") {
		t.Error("a record whose own phone differs from the cluster's merged on a name and a postcode")
	}
	if w := ix.pairWeight(ix.byID["pc"], ix.byID["both"]); w < ix.cfg.MatchWeight {
		t.Fatalf("with its phone the record scores %.2f against the cluster's: no longer a direct match, the test no longer exercises the phone", w)
	}
	if !sameCluster(t, ix, "both", "dob0") {
		t.Error("the person's own records apart")
	}
}
