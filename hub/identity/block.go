package identity

import (
	"slices"

	"ucv/profile"
)

// blockRule is one blocking rule: records that share one of its keys are
// compared. excludes lists the comparisons whose fields make the key:
// pairs found by this rule agree on them by construction, so EM must not
// learn their m probabilities from this rule (as Splink does).
type blockRule struct {
	name     string
	excludes []comp
	// keys emits the rule's keys, each the concatenation of up to three
	// parts (hashed without building the string).
	keys func(p *prep, k *keySink)
	// identifier marks the rule whose keys are deterministic identifiers;
	// its blocks also drive generic-value suppression.
	identifier bool
}

// blockRules are the blocking rules, in a fixed order. Each key is exact
// on a few fields, so a true pair is lost only if it has errors in the
// fields of every rule.
var blockRules = []blockRule{
	{name: "birth_date", excludes: []comp{cDOB}, keys: func(p *prep, k *keySink) {
		for _, d := range p.dob {
			if len(d) == 8 {
				md, dm := d[4:6], d[6:8]
				if dm < md {
					md, dm = dm, md
				}
				k.emit(d[:4], md, dm) // day/month order-free
			}
		}
	}},
	{name: "birth_date+initial", excludes: []comp{cDOB}, keys: func(p *prep, k *keySink) {
		// Common dates (1 January, placeholders) overflow the birth_date
		// rule's cap; an initial of either name splits them.
		for _, d := range p.dob {
			if p.first != "" {
				k.emit(d, "|", p.first[:1])
			}
			if p.last != "" {
				k.emit(d, "|", p.last[:1])
			}
		}
	}},
	{name: "last_name+first_initial", excludes: []comp{cLast, cFirst}, keys: func(p *prep, k *keySink) {
		if p.last != "" && p.first != "" {
			k.emit(p.last, "|", p.first[:1])
			k.emit(p.first, "|", p.last[:1]) // swapped first/last
		}
	}},
	{name: "first_name+last_soundex", excludes: []comp{cFirst, cLast}, keys: func(p *prep, k *keySink) {
		if p.first != "" && p.last != "" {
			k.emit(canonicalFirst(p.first), "|", Soundex(p.last))
		}
	}},
	{name: "postcode+street_number", excludes: []comp{cPostcode, cStreetNo}, keys: func(p *prep, k *keySink) {
		if p.postcode != "" && p.streetNo != "" {
			k.emit(p.postcode, "|", p.streetNo)
		}
	}},
	{name: "address", excludes: []comp{cAddress, cStreetNo}, keys: func(p *prep, k *keySink) {
		if p.addr != "" && p.streetNo != "" {
			k.emit(p.addr, "|", p.streetNo)
		}
	}},
	{name: "last_name+postcode", excludes: []comp{cLast, cPostcode}, keys: func(p *prep, k *keySink) {
		if p.last != "" && p.postcode != "" {
			k.emit(p.last, "|", p.postcode)
		}
	}},
	{name: "first_name+birth_year", excludes: []comp{cFirst}, keys: func(p *prep, k *keySink) {
		if f := givenOrLone(p); f != "" {
			for _, d := range p.dob {
				if len(d) == 8 {
					k.emit(canonicalFirst(f), "|", d[:4])
				}
			}
		}
	}},
	{name: "last_name+birth_year", excludes: []comp{cLast}, keys: func(p *prep, k *keySink) {
		if l := familyOrLone(p); l != "" {
			for _, d := range p.dob {
				if len(d) == 8 {
					k.emit(l, "|", d[:4])
				}
			}
		}
	}},
	{name: "postcode+name", excludes: []comp{cPostcode, cFirst, cLast}, keys: func(p *prep, k *keySink) {
		if p.postcode != "" {
			// either name part, so a name typed into the wrong field still meets
			if p.first != "" {
				k.emit(p.postcode, "|", canonicalFirst(p.first))
			}
			if p.last != "" {
				k.emit(p.postcode, "|", p.last)
			}
		}
	}},
	{name: "postcode", excludes: []comp{cPostcode}, keys: func(p *prep, k *keySink) {
		// A postcode alone: the pairs whose names and birth dates are
		// all mistyped still meet here (historical_50k's blocking recall
		// 0.80 → 0.84, decision 0060); a large one (a city's central
		// code, a building of flats) exceeds BlockCap and yields none.
		if p.postcode != "" {
			k.emit(p.postcode, "", "")
		}
	}},
	{name: "city+name", excludes: []comp{cCity, cFirst, cLast}, keys: func(p *prep, k *keySink) {
		if p.city != "" {
			if p.first != "" {
				k.emit(p.city, "|", canonicalFirst(p.first))
			}
			// The family name by its Soundex, and a lone name as one:
			// a vowel mistyped, or a surname written alone in the
			// given-name column, still meets in the place (decision 0073).
			if f := familyKey(p); f != "" {
				k.emit(p.city, "|", f)
			}
		}
	}},
	{name: "first_name+last_tail", excludes: []comp{cFirst}, keys: func(p *prep, k *keySink) {
		// The surname without its first letter: a typo there changes
		// its initial and its Soundex, which every other name rule keys on.
		if p.first != "" && len(p.last) >= 4 {
			k.emit(canonicalFirst(p.first), "|", p.last[1:])
		}
	}},
	{name: "first_name+outward", excludes: []comp{cFirst}, keys: func(p *prep, k *keySink) {
		if p.first != "" && p.pcOutLen > 0 {
			k.emit(canonicalFirst(p.first), "|", p.outward())
		}
	}},
	{name: "family_soundex+outward", excludes: []comp{cFirst, cLast, cPostcode}, keys: func(p *prep, k *keySink) {
		// The same within a postcode district (UK "PR26" of "PR26 7XX"):
		// the inward part mistyped or moved next door.
		if f := familyKey(p); f != "" && p.pcOutLen > 0 {
			k.emit(p.outward(), "|", f)
		}
	}},
	{name: "name+occupation", excludes: []comp{cFirst, cLast, cOccupation}, keys: func(p *prep, k *keySink) {
		if o := p.occupation; o != "" {
			if p.first != "" {
				k.emit(canonicalFirst(p.first), "|", o)
			}
			if p.last != "" {
				k.emit(p.last, "|", o)
			}
		}
	}},
	{name: "national_id", excludes: []comp{cNationalID}, keys: func(p *prep, k *keySink) {
		for _, v := range p.nid {
			k.emit(v, "", "")
		}
	}},
	{name: "passport", excludes: []comp{cPassport}, keys: func(p *prep, k *keySink) {
		for _, v := range p.passport {
			k.emit(v, "", "")
		}
	}},
	{name: "drivers_license", excludes: []comp{cLicense}, keys: func(p *prep, k *keySink) {
		for _, v := range p.lic {
			k.emit(v, "", "")
		}
	}},
	{name: "organisation", excludes: []comp{cLast}, keys: func(p *prep, k *keySink) {
		// An organisation's name alone: two records of one company that
		// share no place (a support ticket with the company's name and
		// e-mail) still meet. A generic name ("acme") many hold exceeds
		// BlockCap and yields none.
		if p.org != "" {
			k.emit(p.last, "", "")
		}
	}},
	{name: "phone_digits", excludes: []comp{cPhone}, keys: func(p *prep, k *keySink) {
		// A phone the default region cannot read is no identifier: its
		// last seven digits still bring together the records that write
		// it (the comparison reads them too).
		for _, ph := range p.phones {
			if len(ph) >= 7 && ph[0] != '+' {
				k.emit(ph[len(ph)-7:], "", "")
			}
		}
	}},
	{name: "identifier", excludes: []comp{cEmail, cPhone}, identifier: true, keys: func(p *prep, k *keySink) {
		for _, id := range p.ids {
			k.emit(string(id.Type), ":", id.Value)
		}
	}},
}

// identifierRule is the index of the identifier rule in blockRules.
var identifierRule = func() int {
	for i, r := range blockRules {
		if r.identifier {
			return i
		}
	}
	panic("identity: no identifier blocking rule")
}()

// identifierKey is the identifier rule's key of id: where the index
// finds the records that hold it.
func identifierKey(id profile.Identifier) blockKey {
	return hashKeyOf(identifierRule, string(id.Type), ":", id.Value)
}

// blockKey is a blocking key: the rule number in the top byte and a
// 56-bit hash of the key text below it. A collision only adds a candidate pair, which scoring then
// rejects, so it cannot merge anything by itself.
type blockKey uint64

// blockKeys returns p's keys (rule, key) sorted and deduplicated. The
// index does not keep them (entry): they are recomputed when needed.
func blockKeys(p *prep) []blockKey {
	k := &keySink{out: make([]blockKey, 0, 32)}
	for ri := range blockRules {
		k.rule = ri
		blockRules[ri].keys(p, k)
	}
	out := k.out
	slices.Sort(out)
	w := 0
	for i, k := range out {
		if i > 0 && out[w-1] == k {
			continue
		}
		out[w] = k
		w++
	}
	return out[:w]
}

// keySink collects the keys a rule emits.
type keySink struct {
	rule int
	out  []blockKey
}

// emit adds the key a+b+c of the current rule: hashKey(rule, a+b+c),
// without the concatenation.
func (k *keySink) emit(a, b, c string) {
	k.out = append(k.out, hashKeyOf(k.rule, a, b, c))
}

// hashKey is FNV-1a (64 bits) of the rule byte, a zero byte and s,
// computed inline (hash/fnv's would allocate), cut to 56 bits under the
// rule. TestHashKeyIsFNV1a checks it against hash/fnv.
func hashKey(rule int, s string) blockKey { return hashKeyOf(rule, s, "", "") }

// hashKeyOf is hashKey(rule, a+b+c): FNV-1a reads bytes one by one, so
// the parts are hashed in turn.
func hashKeyOf(rule int, a, b, c string) blockKey {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	h ^= uint64(byte(rule))
	h *= prime64
	h *= prime64 // ^= 0
	for i := 0; i < len(a); i++ {
		h ^= uint64(a[i])
		h *= prime64
	}
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= prime64
	}
	for i := 0; i < len(c); i++ {
		h ^= uint64(c[i])
		h *= prime64
	}
	return blockKey(h&(1<<56-1) | uint64(rule)<<56)
}

// rule returns the number of the rule that made k.
func (k blockKey) rule() int { return int(k >> 56) }

// ruleKeys returns p's keys of one rule.
func ruleKeys(p *prep, rule int) []blockKey {
	k := &keySink{rule: rule}
	blockRules[rule].keys(p, k)
	return k.out
}

// givenOrLone returns p's given name, or its family name when that is the
// only name part it holds: a lone name may stand in either field (a
// surname written in the given-name column, decision 0073), so the
// name+year rules key it both ways.
func givenOrLone(p *prep) string {
	if p.first == "" {
		return p.last
	}
	return p.first
}

// familyKey is the key of p's family (or lone) name for the place
// rules: its Soundex, or the name itself where Soundex reads no Latin
// letter (Cyrillic, Han, kana: "иван", "王"), so such names keep an
// exact key.
func familyKey(p *prep) string {
	l := familyOrLone(p)
	if sx := Soundex(l); sx != "" {
		return sx
	}
	return l
}

// familyOrLone returns p's family name, or its given name when that is
// the only name part it holds.
func familyOrLone(p *prep) string {
	if p.last == "" {
		return p.first
	}
	return p.last
}
