package identity

import (
	"fmt"
	"math"
	"testing"
)

// ruleEstimate is the prior the best blocking rule's EM gives (what
// Train used before blockedPrior).
func ruleEstimate(m *Model) float64 {
	best := 0.0
	for _, r := range m.Report().Rules {
		best = math.Max(best, r.ExpectedMatches)
	}
	n := float64(m.Report().Records)
	return best / (n * (n - 1) / 2)
}

// TestBlockedPriorNearTruth: on synthetic records with known truth the
// trained prior lies within a factor 1.5 of the true share of matching
// pairs, and no farther from it than the best rule's estimate.
func TestBlockedPriorNearTruth(t *testing.T) {
	recs, truth := synth(42, 3000)
	per := map[int]int{}
	for _, p := range truth {
		per[p]++
	}
	pairs := 0
	for _, k := range per {
		pairs += k * (k - 1) / 2
	}
	n := float64(len(recs))
	want := float64(pairs) / (n * (n - 1) / 2)
	m := testModel(t)
	got, rule := m.Report().Prior, ruleEstimate(m)
	t.Logf("prior %.3g, rule estimate %.3g, truth %.3g", got, rule, want)
	if r := got / want; r < 1/1.5 || r > 1.5 {
		t.Errorf("prior %.3g is %.2f× the true %.3g", got, r, want)
	}
	if math.Abs(math.Log(got/want)) > math.Abs(math.Log(rule/want))+0.05 {
		t.Errorf("prior %.3g farther from the true %.3g than the rule estimate %.3g", got, want, rule)
	}
}

// TestBlockedPriorIgnoresHouseholds: a file of households (four people
// of one surname at one address, one record each) and a few duplicated
// people. EM on the address block reads every household pair as a match;
// the prior counts only what the model expects to match, far below.
func TestBlockedPriorIgnoresHouseholds(t *testing.T) {
	var recs []Record
	given := []string{"anna", "boris", "clara", "dmitri"}
	for h := range 300 {
		last := fmt.Sprintf("%s%c%c", lastNames[h%len(lastNames)], 'a'+h%26, 'a'+h/26%26)
		addr := fmt.Sprintf("%d Oak Street, Springfield, IL %05d", 10+h, 62000+h)
		for i, g := range given {
			id := fmt.Sprintf("h%03d-%d", h, i)
			recs = append(recs, rec(id, "first_name", g, "last_name", last, "address", addr,
				"birth_date", fmt.Sprintf("19%02d-%02d-%02d", 40+i*15+h%10, 1+h%12, 1+i*5+h%5)))
			if h%10 == 0 && i == 0 { // a duplicate of one member
				recs = append(recs, rec(id+"-dup", "first_name", g, "last_name", last, "address", addr,
					"birth_date", fmt.Sprintf("19%02d-%02d-%02d", 40+h%10, 1+h%12, 1+h%5)))
			}
		}
	}
	m, err := Train(recs, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	n := float64(len(recs))
	want := 30 / (n * (n - 1) / 2)
	got, rule := m.Report().Prior, ruleEstimate(m)
	t.Logf("prior %.3g, rule estimate %.3g, truth %.3g", got, rule, want)
	if got > 2*want {
		t.Errorf("prior %.3g is %.1f× the true %.3g: household pairs counted as matches", got, got/want, want)
	}
	if rule < 4*want {
		t.Fatalf("rule estimate %.3g: the test no longer has EM read households as matches", rule)
	}
}
