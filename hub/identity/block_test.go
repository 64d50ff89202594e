package identity

import (
	"slices"
	"testing"
)

// TestBlockingFindsFirstLetterAndSparseVariants checks the rules added
// for historical_50k's pairs that no other rule brought together
// (docs/decisions/0069-blocking-sparse-records.md): each pair shares a
// key of exactly the named rule and of no rule before it was added.
func TestBlockingFindsFirstLetterAndSparseVariants(t *testing.T) {
	older := map[string]bool{"first_name+last_tail": true, "first_name+outward": true, "name+occupation": true}
	cases := []blockingCase{
		{"first_name+last_tail", // a typo in the surname's first letter
			rec("a", "first_name", "charles", "last_name", "hamilton", "gender", "male"),
			rec("b", "first_name", "charles", "last_name", "namilton", "occupation", "tennis player")},
		{"first_name+outward", // surname mistyped, postcodes differ in the inward part
			rec("a", "first_name", "henrietta", "last_name", "lawes", "postcode", "RG2 9JG"),
			rec("b", "first_name", "henrietta", "last_name", "oawes", "postcode", "RG2 9JF")},
		{"name+occupation", // a nickname and a surname typo, no date or place
			rec("a", "first_name", "charles", "last_name", "namilton", "occupation", "tennis player"),
			rec("b", "first_name", "chas", "last_name", "hamilton", "occupation", "Tennis player")},
	}
	checkBlockingCases(t, cases, older)
}

// TestBlockingFindsLoneAndMistypedFamilyNames checks decision 0073's keys
// with historical_50k's own pairs: a surname written alone in the
// given-name column meets its person's full records by birth year, and a
// family name mistyped past its initial (or a lone name) meets by its
// Soundex in a shared place or postcode district. Each pair shares a key
// of the named rule and of no rule but those 0073 added or widened
// (city+name keyed the family name exactly before).
func TestBlockingFindsLoneAndMistypedFamilyNames(t *testing.T) {
	allowed := map[string]bool{"first_name+birth_year": true, "last_name+birth_year": true,
		"city+name": true, "family_soundex+outward": true}
	cases := []blockingCase{
		{"last_name+birth_year", // the surname alone, in the given-name column
			rec("a", "first_name", "allerton", "birth_date", "1586-01-07", "gender", "male"),
			rec("b", "first_name", "isaac", "last_name", "allerton", "birth_date", "1586-01-01", "city", "yorkshire")},
		{"first_name+birth_year", // the given name alone, in the surname column
			rec("a", "last_name", "isaac", "birth_date", "1586-01-07"),
			rec("b", "first_name", "isaac", "last_name", "allerton", "birth_date", "1586-01-01")},
		{"city+name", // a vowel mistyped, other given names
			rec("a", "first_name", "sean", "last_name", "joscelin", "city", "north devon"),
			rec("b", "first_name", "jean", "last_name", "joscelyn", "city", "north devon", "postcode", "EX33 1PP")},
		{"city+name", // a lone name against a longer spelling
			rec("a", "first_name", "green", "city", "brandeston", "birth_date", "1856-05-15"),
			rec("b", "first_name", "alan", "last_name", "greene", "city", "brandeston", "birth_date", "1856-04-15")},
		{"city+name", // a surname Soundex cannot read keeps its exact key
			rec("a", "first_name", "Олег", "last_name", "Иванов", "city", "Omsk"),
			rec("b", "first_name", "Oleg", "last_name", "Иванов", "city", "Omsk", "postcode", "644001")},
		{"family_soundex+outward", // a lone surname, the postcodes one letter apart
			rec("a", "first_name", "lockwood", "postcode", "PR26 7XY"),
			rec("b", "first_name", "henry", "last_name", "lockwood", "postcode", "PR26 7XX", "city", "south ribble")},
	}
	checkBlockingCases(t, cases, allowed)
}

// blockingCase is a pair of records and the blocking rule meant to bring
// them together.
type blockingCase struct {
	rule string
	a, b Record
}

// checkBlockingCases asserts that each pair shares a key of its rule and
// shares keys only under the rules in allowed (else the case would pass
// without the rule it tests).
func checkBlockingCases(t *testing.T, cases []blockingCase, allowed map[string]bool) {
	t.Helper()
	cfg := withDefaultRules(DefaultConfig())
	for _, c := range cases {
		pa := prepare(c.a, cfg.Rules, cfg.Region, cfg.DateOrder)
		pb := prepare(c.b, cfg.Rules, cfg.Region, cfg.DateOrder)
		shared := map[string]bool{}
		for ri, r := range blockRules {
			for _, x := range ruleKeys(pa, ri) {
				if slices.Contains(ruleKeys(pb, ri), x) {
					shared[r.name] = true
				}
			}
		}
		if !shared[c.rule] {
			t.Errorf("%s: the pair shares no key of the rule (shared: %v)", c.rule, shared)
		}
		for name := range shared {
			if !allowed[name] {
				t.Errorf("%s: the pair already meets under %s; the case does not test the rule", c.rule, name)
			}
		}
	}
}

// TestBlockingFindsOrganisationsAndUnreadablePhones checks the two rules
// for the customers set's records that no other rule brought together:
// one company's records sharing only its name and a phone the default
// region cannot read (no identifier, so no identifier key), and two
// records whose only common value is such a phone. Each pair shares a
// key of the named rule and of no other. The company's two records then
// resolve to one.
func TestBlockingFindsOrganisationsAndUnreadablePhones(t *testing.T) {
	plumbingA := rec("a", "org_name", "Hernandez Plumbing L.L.C.", "phone", "555 9028 472",
		"address_line", "5750 Main Drive", "city", "Fairview", "state", "TX", "postcode", "75003")
	plumbingB := rec("b", "org_name", "Hernandez Plumbing LLC", "email", "sales@hernandezplumbing.com", "phone", "555 9028 472")
	cases := []blockingCase{
		{"organisation", rec("a", "org_name", "Hernandez Plumbing L.L.C.", "postcode", "75003"),
			rec("b", "org_name", "Hernandez Plumbing LLC", "email", "sales@hernandezplumbing.com")},
		{"phone_digits", rec("a", "first_name", "Ann", "last_name", "Lee", "phone", "555 9028 472"),
			rec("b", "email", "orders@example.com", "phone", "(555) 902-8472")},
	}
	checkBlockingCases(t, cases, map[string]bool{"organisation": true, "phone_digits": true})
	ix := resolveSmall(t, plumbingA, plumbingB)
	if !sameCluster(t, ix, "a", "b") {
		t.Error("one company's two records, same name and phone, stayed apart")
	}
}
