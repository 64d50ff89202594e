package identity

import "testing"

// TestContradictionCountsAMoveOnce: a person who moved and changed jobs
// disagrees on street, number, city, postcode, state and occupation;
// the contradiction the merge guard weighs is the strongest location
// disagreement alone, not their sum — while a different birth date
// still adds to it.
func TestContradictionCountsAMoveOnce(t *testing.T) {
	a := rec("a", "first_name", "mary", "last_name", "okafor", "birth_date", "1961-04-09",
		"street_number", "12", "address_line", "elm street", "city", "springfield", "state", "il", "postcode", "62701", "occupation", "nurse")
	b := rec("b", "first_name", "mary", "last_name", "okafor", "birth_date", "1961-04-09",
		"street_number", "88", "address_line", "harbour road", "city", "portland", "state", "or", "postcode", "97201", "occupation", "teacher")
	c := rec("c", "first_name", "mary", "last_name", "okafor", "birth_date", "1972-11-30",
		"street_number", "88", "address_line", "harbour road", "city", "portland", "state", "or", "postcode", "97201")
	ix := resolveSmall(t, a, b, c)
	e, err := ix.Explain("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	strongest, sum, locs := 0.0, 0.0, 0
	for _, l := range e.Levels {
		switch l.Comparison {
		case "address", "street_number", "city", "state", "postcode":
			if l.Weight < 0 {
				strongest, sum, locs = min(strongest, l.Weight), sum+l.Weight, locs+1
			}
		case "occupation":
			if l.Weight >= 0 {
				t.Errorf("different occupations weigh %v, want below 0", l.Weight)
			}
		}
	}
	if locs < 3 || sum >= strongest {
		t.Fatalf("the move disagrees on %d location fields (sum %v, strongest %v); the test needs several", locs, sum, strongest)
	}
	got := ix.contradiction(ix.byID["a"], ix.byID["b"])
	if got != strongest {
		t.Errorf("contradiction of a move = %v, want the strongest location disagreement %v (their sum is %v)", got, strongest, sum)
	}
	eb, err := ix.Explain("b", "c")
	if err != nil {
		t.Fatal(err)
	}
	dob := 0.0
	for _, l := range eb.Levels {
		if l.Comparison == "birth_date" {
			dob = l.Weight
		}
	}
	if got := ix.contradiction(ix.byID["b"], ix.byID["c"]); dob >= 0 || got != dob {
		t.Errorf("contradiction with another birth date = %v, want the date's weight %v", got, dob)
	}
}
