package identity

import "testing"

// TestBlockingFindsFirstLetterAndSparseVariants checks the rules added
// for historical_50k's pairs that no other rule brought together
// (docs/decisions/0069-blocking-sparse-records.md): each pair shares a
// key of exactly the named rule and of no rule before it was added.
func TestBlockingFindsFirstLetterAndSparseVariants(t *testing.T) {
	cfg := DefaultConfig()
	older := map[string]bool{"first_name+last_tail": true, "first_name+outward": true, "name+occupation": true}
	cases := []struct {
		rule string
		a, b Record
	}{
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
	for _, c := range cases {
		pa := prepare(c.a, cfg.Rules, cfg.Region, cfg.DateOrder)
		pb := prepare(c.b, cfg.Rules, cfg.Region, cfg.DateOrder)
		shared := map[string]bool{}
		for ri, r := range blockRules {
			ka, kb := ruleKeys(pa, ri), ruleKeys(pb, ri)
			for _, x := range ka {
				for _, y := range kb {
					if x == y {
						shared[r.name] = true
					}
				}
			}
		}
		if !shared[c.rule] {
			t.Errorf("%s: the pair shares no key of the rule (shared: %v)", c.rule, shared)
		}
		for name := range shared {
			if !older[name] {
				t.Errorf("%s: the pair already meets under %s; the case does not test the rule", c.rule, name)
			}
		}
	}
}
