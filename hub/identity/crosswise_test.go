package identity

import (
	"fmt"
	"math"
	"testing"
)

// TestCrosswiseNameWeighsItsCommonerReading checks decision 0076: when
// two records hold both name parts and are compared crosswise ("Kimberly
// Reed" and "Reed Kimberly"), a part weighs what its frequency says
// where it is commoner. "reed", a common surname that no record holds as
// a given name, must not weigh as a rare given name; a straight pair is
// unchanged.
func TestCrosswiseNameWeighsItsCommonerReading(t *testing.T) {
	var recs []Record
	// Sixty people surnamed Reed, each on two records, and sixty others.
	for i := range 120 {
		last := "reed"
		if i >= 60 {
			last = fmt.Sprintf("family%c%c", 'a'+i%26, 'a'+i/26)
		}
		first := fmt.Sprintf("given%c%c", 'a'+i%26, 'a'+i/26)
		for j := range 2 {
			recs = append(recs, rec(fmt.Sprintf("p%03d-%d", i, j), "first_name", first, "last_name", last,
				"birth_date", fmt.Sprintf("19%02d-%02d-%02d", 20+i%70, 1+i%12, 1+j+i%20), "city", "ely"))
		}
	}
	m, err := Train(recs, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	surname, ok := m.tfWeightOf(cLast, "reed")
	if !ok {
		t.Fatal("no surname table")
	}
	asGiven, _ := m.tfWeightOf(cFirst, "reed")
	if asGiven < surname+2 {
		t.Fatalf("test data: reed weighs %.2f as a given name and %.2f as a surname; want it rare as a given name", asGiven, surname)
	}

	straight := rec("x1", "first_name", "kimberly", "last_name", "reed")
	crossed := rec("x2", "first_name", "reed", "last_name", "kimberly")
	same := rec("x3", "first_name", "kimberly", "last_name", "reed")
	wc, err := m.Weight(straight, crossed)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := m.Weight(straight, same)
	if err != nil {
		t.Fatal(err)
	}
	if wc > ws+1e-9 {
		t.Errorf("Kimberly Reed ~ Reed Kimberly weighs %+.2f, ~ Kimberly Reed %+.2f; want the crosswise reading to weigh no more than the straight one", wc, ws)
	}

	// One part exact, the other close: the exact part is the surname.
	typo := rec("x4", "first_name", "reed", "last_name", "kimberlyy")
	cfg := withDefaultRules(m.cfg)
	pre := func(r Record) *prep { return prepare(r, cfg.Rules, cfg.Region, cfg.DateOrder) }
	a, b := pre(straight), pre(typo)
	v := m.compare(a, b)
	if !v.crossed || v.lv[cFirst] != 1 {
		t.Fatalf("Kimberly Reed ~ Reed Kimberlyy: crossed %v, given-name level %d; want a crosswise exact match", v.crossed, v.lv[cFirst])
	}
	if got := m.levelWeight(cFirst, a, &v); math.Abs(got-math.Min(surname, asGiven)) > 1e-9 || got > surname {
		t.Errorf("the crosswise exact part reed weighs %+.2f; want the surname's %+.2f, not the given name's %+.2f", got, surname, asGiven)
	}
	// A straight comparison keeps its own table.
	a2, b2 := pre(rec("y1", "first_name", "reed", "last_name", "familyzz")), pre(rec("y2", "first_name", "reed", "last_name", "familyzz"))
	v2 := m.compare(a2, b2)
	if got := m.levelWeight(cFirst, a2, &v2); got != asGiven {
		t.Errorf("straight given name reed weighs %+.2f, want its given-name weight %+.2f", got, asGiven)
	}
}

// TestCrosswiseNicknameJudgedAsGivenName checks that a pair read
// crosswise compares its given names as given names, whichever record is
// written family name first: "John Hill" and "Hill Jack" agree on the
// surname exactly and on the given name as nicknames, not on "hill" as a
// given name with "john" and "jack" two different surnames.
func TestCrosswiseNicknameJudgedAsGivenName(t *testing.T) {
	m := testModel(t)
	cfg := withDefaultRules(m.cfg)
	pre := func(r Record) *prep { return prepare(r, cfg.Rules, cfg.Region, cfg.DateOrder) }
	straight := rec("a", "first_name", "John", "last_name", "Hill")
	turned := rec("b", "first_name", "Hill", "last_name", "Jack")
	for _, pair := range [][2]Record{{straight, turned}, {turned, straight}} {
		v := m.compare(pre(pair[0]), pre(pair[1]))
		if !v.crossed {
			t.Fatalf("%s ~ %s: not read crosswise", pair[0].ID, pair[1].ID)
		}
		if v.lv[cFirst] != 2 || v.lv[cLast] != 1 {
			t.Errorf("%s ~ %s: given-name level %q, surname level %q; want nickname and exact", pair[0].ID, pair[1].ID,
				specs[cFirst].levels[v.lv[cFirst]], specs[cLast].levels[v.lv[cLast]])
		}
	}
}

// TestCrosswiseRomanisation: a name written family name first in one
// record and given name first in another, the family name in two
// romanisations ("Huang Jing" and "Jing Wong"), is read crosswise — the
// given names equal, the family names variants of one another — not as
// two different names.
func TestCrosswiseRomanisation(t *testing.T) {
	m := testModel(t)
	cfg := withDefaultRules(m.cfg)
	pre := func(r Record) *prep { return prepare(r, cfg.Rules, cfg.Region, cfg.DateOrder) }
	if !SurnameVariants("huang", "wong") {
		t.Fatal("test data: huang and wong are not in the variants table")
	}
	v := m.compare(pre(rec("a", "first_name", "Huang", "last_name", "Jing")), pre(rec("b", "first_name", "Jing", "last_name", "Wong")))
	if !v.crossed || v.lv[cFirst] != 1 || v.lv[cLast] != 2 {
		t.Errorf("Huang Jing ~ Jing Wong: crossed %v, given-name level %q, surname level %q; want crosswise, exact, close",
			v.crossed, specs[cFirst].levels[v.lv[cFirst]], specs[cLast].levels[v.lv[cLast]])
	}
}
