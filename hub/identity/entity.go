package identity

import (
	"net/mail"
	"strings"
	"unicode"
)

// This file holds the entity-centric rules of
// docs/decisions/0042-entity-centric-matching.md: what makes two records
// certainly different entities (vetoes), and the parsers that turn
// customer-file formats (issuer-prefixed documents, generational
// suffixes, organisation names, display-name e-mails, one-line
// addresses) into comparable values.

// veto says why two records can never be one entity; vetoNone when
// nothing conflicts.
type veto uint8

const (
	vetoNone veto = iota
	vetoOrgPerson
	vetoOrgName
	vetoNationalID
	vetoPassport
	vetoLicense
	vetoBirthDate
	vetoGeneration
	vetoGivenName
	vetoSexAndNames
	vetoNames
)

// String names the conflict; it never includes a compared value.
func (v veto) String() string {
	return [...]string{"", "organisation vs person", "different organisations", "different national ids",
		"different passports", "different driver's licences", "different birth dates", "different generations",
		"different given names", "different sex and names", "different names"}[v]
}

// vetoSet holds the vetoes a model waives because its training data
// showed the field they trust to be noisy (reliability.go).
type vetoSet uint8

const (
	// waiveDocument: a conflict between bare document numbers (no
	// issuer on one side) does not veto; same-issuer conflicts still do.
	waiveDocument vetoSet = 1 << iota
	// waiveBirthDate: clearly different birth dates do not veto.
	waiveBirthDate
	// waiveGivenName: different given names at one household do not
	// veto.
	waiveGivenName
)

// doc is one personal document: its optional issuer (country, or
// country-state for licences) and its normalized number.
type doc struct{ issuer, num string }

// parseDoc reads a document value with an optional issuer prefix,
// "US:123-45-6789" or "US-CA:D1234567": up to 6 letters, digits or
// dashes before a colon. Without a prefix the issuer is unknown.
func parseDoc(s string) doc {
	s = strings.TrimSpace(s)
	if before, after, ok := strings.Cut(s, ":"); ok && len(before) >= 2 && len(before) <= 6 && strings.TrimSpace(after) != "" {
		iss := true
		for _, r := range before {
			if !(r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-')) {
				iss = false
				break
			}
		}
		if iss {
			return doc{issuer: strings.ToLower(before), num: NormalizeCode(after)}
		}
	}
	return doc{num: NormalizeCode(s)}
}

// docsConflict reports whether two records' documents of one kind say
// "different people": some pair of documents of compatible issuers
// (equal, or one unknown) exists, and none of those pairs agrees up to
// tolerance typing errors (maxTypo edits).
func docsConflict(as, bs []doc, maxTypo int) bool {
	compatible := false
	for _, a := range as {
		for _, b := range bs {
			if a.issuer != "" && b.issuer != "" && a.issuer != b.issuer {
				continue
			}
			compatible = true
			if a.num == b.num || boundedDamerau(a.num, b.num, maxTypo) <= maxTypo {
				return false
			}
		}
	}
	return compatible
}

func appendDoc(ds []doc, d doc) []doc {
	if d.num == "" {
		return ds
	}
	for _, x := range ds {
		if x == d {
			return ds
		}
	}
	return append(ds, d)
}

// generations maps generational suffixes to a canonical form. "II" is
// read as "Jr" (its usual meaning in customer files); "I" and "V" are
// not recognised because they are also initials.
var generations = map[string]string{
	"jr": "jr", "junior": "jr", "ii": "jr", "2nd": "jr",
	"sr": "sr", "senior": "sr",
	"iii": "iii", "3rd": "iii", "iv": "iv", "4th": "iv",
}

// NormalizeGeneration returns the canonical generational suffix of s
// ("Jr." → "jr", "II" → "jr", "Senior" → "sr", "III" → "iii") or "".
func NormalizeGeneration(s string) string {
	return generations[strings.Trim(fold(strings.TrimSpace(s)), ".,;'\"() ")]
}

// nameGeneration returns the generational suffix written in a name
// ("John Smith Jr.", "Smith III, John"), or "".
func nameGeneration(s string) string {
	for _, t := range strings.Fields(fold(s)) {
		if g := generations[strings.Trim(t, ".,;'\"()")]; g != "" {
			return g
		}
	}
	return ""
}

// orgLegalForms are legal-form words dropped from organisation names
// (English, German, French, Spanish, Italian, Dutch, Nordic and
// Australian forms), written after dots are removed ("S.A.R.L." →
// "sarl").
var orgLegalForms = map[string]bool{
	"inc": true, "incorporated": true, "llc": true, "llp": true, "lp": true, "ltd": true, "limited": true,
	"plc": true, "corp": true, "corporation": true, "co": true, "company": true, "pty": true, "pl": true,
	"gmbh": true, "ag": true, "kg": true, "ohg": true, "ug": true, "ev": true, "sa": true, "sarl": true, "sas": true,
	"sasu": true, "eurl": true, "sl": true, "slu": true, "srl": true, "spa": true, "snc": true, "bv": true,
	"nv": true, "vof": true, "ab": true, "as": true, "asa": true, "oy": true, "oyj": true, "aps": true,
	"kk": true, "pvt": true, "pte": true, "the": true, "cv": true, "de": false,
}

// NormalizeOrgName folds an organisation name, spells "&" and "+" as
// "and", drops punctuation and legal forms, and returns the remaining
// words space-separated: "ACME, Inc.", "Acme Inc" and "acme" are equal,
// as are "Smith & Sons Ltd" and "Smith and Sons". A name made only of
// legal forms is kept as its words.
func NormalizeOrgName(s string) string {
	s = fold(strings.TrimSpace(s))
	s = orgPunct.Replace(s)
	ts := tokens(s)
	out := ts[:0:0]
	for _, t := range ts {
		if !orgLegalForms[t] {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		out = ts
	}
	return strings.Join(out, " ")
}

// orgPunct spells "&" and "+" as "and" and drops dots and apostrophes
// in organisation names ("S.A.R.L." → "sarl"). A Replacer is safe for
// concurrent use.
var orgPunct = strings.NewReplacer("&", " and ", "+", " and ", ".", "", "'", "")

// orgEndings are the legal forms that, ending a name, mark it as an
// organisation's wherever it is written ("Bryant Bakery Corp." in a
// full-name column). The short forms that are also words or name parts
// in some language ("co", "sa", "ag", "as", …) are not among them;
// "co", "company" and "group" count only after two words or more (a
// Victorian photographer's surname was "Company").
var orgEndings = map[string]bool{
	"inc": true, "incorporated": true, "llc": true, "llp": true, "ltd": true, "limited": true,
	"plc": true, "corp": true, "corporation": true, "gmbh": true, "pty": true,
	"sarl": true, "srl": true, "spa": true, "bv": true, "oyj": true, "pvt": true, "pte": true,
}

// orgActivities are words that, ending a name of two words or more,
// name a business's trade rather than a person: "Romero Accounting",
// "Acme Landscaping", "Golden Gate Veterinary Clinic". The trades of
// small businesses (the kind of words the US Census Bureau's NAICS
// industry titles use: accounting, construction, dental, real estate,
// …), leaving out trade words that are common surnames ("Baker",
// "Cook", "Carpenter", "Law" — historical_50k's "…, doctor of law"
// showed the last). Not checked against a surname list: a rare surname
// among them turns a two-word person's name into an organisation's.
var orgActivities = map[string]bool{
	"accounting": true, "accountants": true, "architects": true, "architecture": true, "auto": true,
	"automotive": true, "bakery": true, "bank": true, "barbershop": true, "bistro": true,
	"boutique": true, "builders": true, "cafe": true, "catering": true, "cleaners": true,
	"cleaning": true, "clinic": true, "construction": true, "consulting": true, "contractors": true,
	"dental": true, "dentistry": true, "design": true, "designs": true, "electric": true,
	"electrical": true, "engineering": true, "enterprises": true, "fitness": true, "florist": true,
	"flowers": true, "foods": true, "furniture": true, "garage": true, "hardware": true,
	"healthcare": true, "hvac": true, "insurance": true, "interiors": true, "landscaping": true,
	"logistics": true, "market": true, "marketing": true, "media": true,
	"motors": true, "office": true, "painting": true, "pharmacy": true, "photography": true,
	"plumbing": true, "printing": true, "properties": true, "realty": true, "restaurant": true,
	"roofing": true, "salon": true, "services": true, "solutions": true, "studio": true,
	"studios": true, "supply": true, "systems": true, "technologies": true, "transport": true,
	"trucking": true, "veterinary": true,
}

// OrgInName reports whether a value written where a person's name was
// expected is an organisation's name: it ends with a legal form
// ("Acme LLC", "Evergreen Realty Co.", "Smith & Sons", "Walker
// Cleaning Services Group") or, after another word, with a trade
// ("Romero Accounting", "Joe's Plumbing"; orgActivities).
func OrgInName(s string) bool {
	// Most names end in a word that is no legal form: say so from the
	// last word alone, before folding and splitting the whole name.
	if !orgLastWord(s) {
		return false
	}
	ts := tokens(orgPunct.Replace(fold(s)))
	n := len(ts)
	if n < 2 {
		return false
	}
	last := ts[n-1]
	switch {
	case orgEndings[last], orgActivities[last]:
		return true
	case (last == "co" || last == "company" || last == "group") && n >= 3:
		return true
	case (last == "sons" || last == "co" || last == "company") && ts[n-2] == "and" && n >= 3:
		return true
	}
	return false
}

// orgLastWord reports whether the last word of s, dots and commas
// dropped, could end an organisation's name (OrgInName's cheap first
// test).
func orgLastWord(s string) bool {
	last := s
	if i := strings.LastIndexAny(strings.TrimRight(s, " ,.&"), " ,&"); i >= 0 {
		last = s[i+1:]
	}
	last = strings.ToLower(strings.Map(func(r rune) rune {
		if r == '.' || r == ',' || r == ' ' {
			return -1
		}
		return r
	}, last))
	return orgEndings[last] || orgActivities[last] || last == "co" || last == "company" || last == "group" || last == "sons"
}

// orgsSimilar reports whether two normalized organisation names can be
// one organisation: equal, close by Jaro-Winkler, or one's words all
// among the other's ("acme" and "acme holdings").
func orgsSimilar(a, b string) bool {
	if a == b {
		return true
	}
	if JaroWinkler(strings.ReplaceAll(a, " ", ""), strings.ReplaceAll(b, " ", "")) >= 0.92 {
		return true
	}
	return tokenOverlap(a, b) >= 1
}

// EmailAddress returns the address of an e-mail written in display-name
// form (`"Ann Lee" <ann@example.com>`, `Ann Lee <ann@example.com>`) or
// s unchanged.
func EmailAddress(s string) string {
	if !strings.ContainsAny(s, "<\"") {
		return s
	}
	if a, err := mail.ParseAddress(strings.TrimSpace(s)); err == nil {
		return a.Address
	}
	return s
}

// emailDisplayName returns the display name of an e-mail written in
// display-name form (`"Ann Lee" <ann@example.com>`), "" otherwise or
// when the name is itself an address.
func emailDisplayName(s string) string {
	if !strings.ContainsAny(s, "<\"") {
		return ""
	}
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || strings.Contains(a.Name, "@") {
		return ""
	}
	return strings.TrimSpace(a.Name)
}

// oneLine is a one-line address split into fields.
type oneLine struct {
	street, city, state, postcode string
}

// unitSegment reports whether a segment of a one-line address is a
// unit: a designator ("Apt 4", "Unit 4E", "Suite 200", "#4E") and a
// number.
func unitSegment(seg string) bool {
	if strings.HasPrefix(seg, "#") {
		return hasDigit(seg)
	}
	f := strings.Fields(strings.ToLower(seg))
	if len(f) != 2 || !hasDigit(f[1]) {
		return false
	}
	w := strings.TrimSuffix(f[0], ".")
	if x, ok := addressAbbrev[w]; ok {
		w = x // "apt" → "apartment"
	}
	return unitWords[w] || w == "flat" || w == "room" || w == "rm"
}

// splitOneLine splits "12 Main St Apt 4, Springfield, IL 62704" into
// street ("12 Main St Apt 4" — the unit stays in the street, where
// NormalizeAddress spells "Apt" as "apartment"), city, state and
// postcode. Segments are
// separated by commas (or newlines); the postcode is the run of tokens
// holding digits at the end of the last segments, a short all-letter
// token before it in the same segment is the state, and the segment
// after the street is the city. A value without commas is all street.
func splitOneLine(s string) oneLine {
	segs := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ';' })
	for i := range segs {
		segs[i] = strings.TrimSpace(segs[i])
	}
	segs = dropEmpty(segs)
	if len(segs) < 2 {
		return oneLine{street: s}
	}
	out := oneLine{street: segs[0]}
	rest := segs[1:]
	// A unit written as its own segment ("12 Main St, Apt 4, …", "Flat
	// 2, 10 Downing Street, …") belongs to the street, after it, not to
	// the city.
	if len(rest) > 1 && unitSegment(segs[0]) && !unitSegment(rest[0]) {
		out.street = rest[0] + " " + segs[0]
		rest = rest[1:]
	}
	for len(rest) > 1 && unitSegment(rest[0]) {
		out.street += " " + rest[0]
		rest = rest[1:]
	}
	// Postcode and state from the last segment(s).
	last := strings.Fields(rest[len(rest)-1])
	var pc []string
	for len(last) > 0 && hasDigit(last[len(last)-1]) {
		pc = append([]string{last[len(last)-1]}, pc...)
		last = last[:len(last)-1]
	}
	// UK style "SW1A 1AA": the outward code has letters and digits too.
	out.postcode = strings.Join(pc, " ")
	if out.postcode != "" && len(last) > 0 && len(rest) > 1 && len(last) == 1 && len(last[0]) <= 3 {
		out.state = last[0]
		last = nil
	}
	rest[len(rest)-1] = strings.Join(last, " ")
	rest = dropEmpty(rest)
	switch len(rest) {
	case 0:
	case 1:
		ts := strings.Fields(rest[0])
		if out.state == "" && len(ts) > 1 && len(ts[len(ts)-1]) == 2 && out.postcode != "" {
			out.state = ts[len(ts)-1]
			ts = ts[:len(ts)-1]
		}
		out.city = strings.Join(ts, " ")
	default:
		out.city = rest[0]
		if out.state == "" {
			out.state = rest[1]
		}
	}
	return out
}

func dropEmpty(s []string) []string {
	w := 0
	for _, x := range s {
		if x != "" {
			s[w] = x
			w++
		}
	}
	return s[:w]
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

// vetoOf decides whether two prepared records conflict, with no veto
// waived (Model.vetoOf applies the model's waivers). It is symmetric and
// cheaper than compare.
func vetoOf(a, b *prep) veto { return vetoWith(a, b, nil, dobUnknown, 0) }

// vetoWith is vetoOf reusing the levels compare already computed for
// the pair when v is not nil (the birth date, the address and, unless a
// name was compared crosswise, the given and family names): the same
// functions of the same arguments, so the same answer (a pair's veto is
// about a quarter of its cost otherwise). Without v, dob is the pair's
// dobLevelOf when the caller has it, else dobUnknown. The vetoes in
// waive are not applied (Model.waived).
func vetoWith(a, b *prep, v *vector, dob uint8, waive vetoSet) veto {
	ao, bo := a.org != "", b.org != ""
	switch {
	case ao && bo:
		if !orgsSimilar(a.org, b.org) {
			return vetoOrgName
		}
	case ao && b.person || bo && a.person:
		return vetoOrgPerson
	}
	if a.gen != "" && b.gen != "" && a.gen != b.gen {
		return vetoGeneration
	}
	docAgree := docsAgree(a.nidDocs, b.nidDocs, 2) || docsAgree(a.passDocs, b.passDocs, 1) || docsAgree(a.licDocs, b.licDocs, 1)
	for _, d := range [...]struct {
		as, bs []doc
		typo   int
		v      veto
	}{{a.nidDocs, b.nidDocs, 2, vetoNationalID}, {a.passDocs, b.passDocs, 1, vetoPassport}, {a.licDocs, b.licDocs, 1, vetoLicense}} {
		if len(d.as) == 0 || len(d.bs) == 0 || !docsConflict(d.as, d.bs, d.typo) {
			continue
		}
		// A document conflict is absolute when both sides name the same
		// issuer (a verified identifier); a bare number is overruled only
		// as a mistyped number (mistypedDoc).
		if issuerConflict(d.as, d.bs) || waive&waiveDocument == 0 && !mistypedDoc(a, b, v, dob) {
			return d.v
		}
	}
	if waive&waiveBirthDate == 0 && !docAgree && len(a.dob) > 0 && len(b.dob) > 0 && pairDOBLevel(a, b, v, dob) == 5 {
		return vetoBirthDate
	}
	if waive&waiveGivenName == 0 && !docAgree && givenNamesConflict(a, b, v) {
		return vetoGivenName
	}
	if waive&waiveGivenName == 0 && !docAgree && sexAndNamesDiffer(a, b, v) {
		return vetoSexAndNames
	}
	if waive&waiveGivenName == 0 && !docAgree && wholeNameDiffers(a, b, v) {
		return vetoNames
	}
	return vetoNone
}

// sexAndNamesDiffer reports whether a and b give different sexes (male
// and female) and their given or their family names differ (both
// differing only when the crosswise reading differs too), while they
// share an e-mail or a phone: two people on one contact point (Enrique
// Ramírez and Verónica Vásquez on one landline; Võ Minh and Võ Hương,
// both written family name first, on the family e-mail), not one
// person. Decision 0085.
func sexAndNamesDiffer(a, b *prep, v *vector) bool {
	if a.gender == 0 || b.gender == 0 || a.gender == b.gender || a.gender == 'x' || b.gender == 'x' {
		return false
	}
	if a.first == "" || b.first == "" || a.last == "" || b.last == "" {
		return false
	}
	if !sharesEmailOrPhone(a, b) {
		return false
	}
	var fl, ll uint8
	if v != nil && !v.aSwap && !v.bSwap {
		fl, ll = v.lv[cFirst], v.lv[cLast]
	} else {
		fl, ll = firstLevel(a.first, b.first), nameLevel(a.last, b.last)
	}
	fd, ld := fl == levelDifferent(cFirst), ll == levelDifferent(cLast)
	if !fd && !ld {
		return false
	}
	if fd && ld && (firstLevel(a.first, b.last) != levelDifferent(cFirst) || firstLevel(a.last, b.first) != levelDifferent(cFirst)) {
		return false // the same name written crosswise
	}
	return true
}

// givenNamesConflict: two persons with the same or similar family name
// who share a contact point or address and whose given names are
// clearly different (not equal, nicknames, initials or
// similar spellings) are different people — the twins, the spouses
// sharing an address — unless the names read crosswise agree (given and
// family name swapped), one's given name is the other's middle name
// (someone who goes by their middle name) or a personal document agrees
// exactly.
func givenNamesConflict(a, b *prep, v *vector) bool {
	af, bf := a.first, b.first
	if len(af) < 2 || len(bf) < 2 || a.last == "" || b.last == "" || nameTitles[af] || nameTitles[bf] {
		return false
	}
	// Levels of the names as written: compare's unless it read one
	// side crosswise.
	straight := v != nil && !v.aSwap && !v.bSwap
	var fl uint8
	if straight {
		fl = v.lv[cFirst]
	} else {
		fl = firstLevel(af, bf)
	}
	// Names that differ only as spellings do (Michael / Michelle, Luis /
	// Lucía, Daniel / Danielle) are two people when both records give
	// a sex and the sexes differ: a brother and sister, a couple.
	sexes := a.gender != 0 && b.gender != 0 && a.gender != b.gender
	if fl != 6 && !(sexes && (fl == 3 || fl == 4)) {
		return false
	}
	// The household case: a shared (or similar) family name. Different
	// given and family names are left to the weights (a maiden name, a
	// transcription).
	if straight && v.lv[cLast] > 3 || !straight && nameLevel(a.last, b.last) > 3 {
		return false
	}
	// Only where the records share household evidence — a contact point
	// or a street address — which is what would otherwise glue them.
	if !sharesContact(a, b, v) {
		return false
	}
	if closeOrVariant(af, b.last) && closeOrVariant(a.last, bf) {
		return false // the same name written crosswise
	}
	if SurnameVariants(af, bf) {
		return false // family names in the given-name field (Huỳnh Thanh, Hoàng Thanh)
	}
	if goesByMiddle(a, b) || goesByMiddle(b, a) {
		return false
	}
	// Spelling variants of a nickname ("Thonas" for Thomas, so Tom) —
	// unless the two give different sexes (Daniel / Danielle).
	if !sexes && (variantClose(af, bf) || variantClose(bf, af)) {
		return false
	}
	return true
}

// sharesEmailOrPhone reports whether a and b share an e-mail or a phone,
// a phone the default region cannot read included (by its digits).
// sharesIdentifier (index.go) asks about every identifier type, as
// normalized identifiers only.
func sharesEmailOrPhone(a, b *prep) bool {
	return common(a.emails, b.emails) != "" || common(a.phones, b.phones) != ""
}

// sharesContact reports whether a and b share an e-mail, a phone or a
// street address (same street and number or postcode).
func sharesContact(a, b *prep, v *vector) bool {
	if sharesEmailOrPhone(a, b) {
		return true
	}
	if a.addr == "" || b.addr == "" {
		// No street on one side: a postcode both give is all that
		// places them.
		return (a.addr == "") != (b.addr == "") && a.postcode != "" && a.postcode == b.postcode
	}
	if pairAddressLevel(a, b, v) > 2 && !sameBesideUnitWord(a.addr, b.addr) {
		return false
	}
	return a.streetNo != "" && a.streetNo == b.streetNo || a.postcode != "" && a.postcode == b.postcode
}

// variantClose reports whether b is a misspelling of a — within
// nameEdits of it: two edits from six letters on, one below (Liam and
// Niamh, Luis and Lucía are two people) — or within one edit of one of
// a's nickname variants: of four letters or more ("Thonas" for Thomas,
// so Tom), or shorter when b is no known name ("Sma" for Samantha, so
// Sam; but not Pam for Patricia, so Pat).
func variantClose(a, b string) bool {
	if damerauWithin(a, b, nameEdits(a, b)) {
		return true
	}
	// A short variant (Sam, Ted, Pat) counts only for a b that is no
	// name of its own and that only a transposition or an extra letter
	// makes of it: "Sma", "Tde", "Paat" are typos of it; Anna (Ann with
	// a letter more) is a name of its own, and a letter changed in so
	// short a name makes another name as often as not (Jen and Jun).
	short := len(b) >= 3 && len(nicknames[b]) == 0
	for _, g := range nicknames[a] {
		for _, n := range nicknameMembers[g] {
			if len(n) > 3 && damerauWithin(n, b, 1) || short && shortTypo(n, b) {
				return true
			}
		}
	}
	return false
}

// shortTypo reports whether b is n with two adjacent letters swapped or
// one letter added: "sma" or "saam" for "sam", not "sim" or "sa".
func shortTypo(n, b string) bool {
	switch len(b) {
	case len(n):
		for i := 0; i+1 < len(n); i++ {
			if n[i] != b[i] {
				return n[i] == b[i+1] && n[i+1] == b[i] && n[i+2:] == b[i+2:]
			}
		}
		return false
	case len(n) + 1:
		return damerauWithin(n, b, 1)
	}
	return false
}

// docsAgree reports whether some pair of documents agrees up to maxTypo
// edits.
func docsAgree(as, bs []doc, maxTypo int) bool {
	for _, x := range as {
		for _, y := range bs {
			if x.num == y.num || boundedDamerau(x.num, y.num, maxTypo) <= maxTypo {
				return true
			}
		}
	}
	return false
}

// issuerConflict reports whether both sides hold a document of one
// named issuer and no such pair agrees exactly.
func issuerConflict(as, bs []doc) bool {
	same := false
	for _, x := range as {
		for _, y := range bs {
			if x.issuer != "" && x.issuer == y.issuer {
				if x.num == y.num {
					return false
				}
				same = true
			}
		}
	}
	return same
}

// mistypedDoc: a bare document number that disagrees is read as a typing
// error only when the address agrees, the name or the birth date agrees
// too, and the birth dates do not clearly differ — a namesake elsewhere,
// or a father and son at one address, keep their veto.
func mistypedDoc(a, b *prep, v *vector, dob uint8) bool {
	if !addressAgrees(a, b, v) {
		return false
	}
	if len(a.dob) > 0 && len(b.dob) > 0 {
		switch pairDOBLevel(a, b, v, dob) {
		case 5:
			return false
		case 1, 2, 3:
			return true
		}
	}
	return namesAgree(a, b)
}

// namesAgree: first and last names equal, nicknames or close (possibly
// swapped).
func namesAgree(a, b *prep) bool {
	if a.first == "" || a.last == "" || b.first == "" || b.last == "" {
		return false
	}
	ok := func(af, al, bf, bl string) bool { return firstLevel(af, bf) <= 4 && nameLevel(al, bl) <= 3 }
	return ok(a.first, a.last, b.first, b.last) || ok(a.last, a.first, b.first, b.last) || ok(a.first, a.last, b.last, b.first)
}

// addressAgrees: same postcode or street address up to two edits, or
// half the street's words and the street number or city, or the same
// street number and city.
func addressAgrees(a, b *prep, v *vector) bool {
	if a.postcode != "" && a.postcode == b.postcode {
		return true
	}
	al := pairAddressLevel(a, b, v)
	if al == 1 || al == 2 {
		return true
	}
	sameNo := a.streetNo != "" && a.streetNo == b.streetNo
	sameCity := a.city != "" && b.city != "" && placeLevel(a.city, b.city) <= 2
	return (al == 3 && (sameNo || sameCity)) || (sameNo && sameCity)
}

// dobUnknown stands for a birth-date level not computed yet.
const dobUnknown = 255

// pairDOBLevel is dobLevel(a.dob, b.dob): compare's when v holds it, or
// dob when known.
func pairDOBLevel(a, b *prep, v *vector, dob uint8) uint8 {
	switch {
	case v != nil:
		return v.lv[cDOB]
	case dob != dobUnknown:
		return dob
	}
	return dobLevelOf(a, b)
}

// pairAddressLevel is addressLevel(a.addr, b.addr), compare's when v
// holds it.
func pairAddressLevel(a, b *prep, v *vector) uint8 {
	if v != nil {
		return v.lv[cAddress]
	}
	return addressLevel(a.addr, b.addr)
}

// wholeNameDiffers reports whether a and b, on one e-mail or phone, differ in
// both given and family name, read straight and crosswise, with no
// birth date agreeing: two people — a step-parent, an in-law on the
// family's e-mail — not one person's maiden name (the given name would
// agree), a transcription (close spellings) or someone who goes by a
// middle name. Records whose names were garbled but whose birth dates
// agree (FEBRL's) are left to the weights. Decision 0091.
func wholeNameDiffers(a, b *prep, v *vector) bool {
	af, bf := a.first, b.first
	if len(af) < 2 || len(bf) < 2 || len(a.last) < 2 || len(b.last) < 2 || nameTitles[af] || nameTitles[bf] {
		return false
	}
	if !sharesEmailOrPhone(a, b) {
		return false
	}
	if nameLevel(a.last, b.last) <= 3 || firstLevel(af, bf) != levelDifferent(cFirst) ||
		firstLevel(af, b.last) != levelDifferent(cFirst) || firstLevel(a.last, bf) != levelDifferent(cFirst) {
		return false
	}
	if l := pairDOBLevel(a, b, v, dobUnknown); l >= 1 && l <= 3 {
		return false
	}
	if goesByMiddle(a, b) || goesByMiddle(b, a) || variantClose(af, bf) || variantClose(bf, af) {
		return false
	}
	return true
}

// goesByMiddle reports whether b could be a, written under the middle name
// a gives: b's given name is a's middle name (or one of a's middle
// names), and b's own middle name, if any, could be a's given name — the
// same name or its initial. "Jeff Philip Simmons" may go by Philip, but
// not as "Philip E. Simmons".
func goesByMiddle(a, b *prep) bool {
	if a.middle == "" || b.first == "" || !(b.first == a.middle || strings.Contains(a.middle, b.first)) {
		return false
	}
	m := b.middle
	return m == "" || m == a.first || len(m) == 1 && a.first != "" && m[0] == a.first[0] || strings.Contains(m, a.first)
}

// unitWords are the unit designators an address may write before a unit
// ("Apt 4E", "Unit 4E", "#4E", "Suite 4E").
var unitWords = map[string]bool{"apartment": true, "unit": true, "suite": true, "ste": true, "no": true}

// sameBesideUnitWord reports whether two normalized addresses are the
// same once unit designators are dropped: "6098 prospect street 4e" and
// "6098 prospect street unit 4e" (a "#" is dropped by tokenizing). The
// household vetoes read that as one address; the weights still see
// the two spellings (NormalizeAddress keeps them, decision 0042).
func sameBesideUnitWord(a, b string) bool {
	var ta, tb [16]string
	na, nb := splitInto(a, ta[:]), splitInto(b, tb[:])
	i, j, same := 0, 0, 0
	for {
		for i < na && unitWords[ta[i]] {
			i++
		}
		for j < nb && unitWords[tb[j]] {
			j++
		}
		if i == na || j == nb {
			return i == na && j == nb && same > 0
		}
		if ta[i] != tb[j] {
			return false
		}
		i, j, same = i+1, j+1, same+1
	}
}

// closeOrVariant reports whether two name parts are close spellings
// (nameSim ≥ 0.8) or one family name in two romanisations or spellings
// (SurnameVariants: Huỳnh and Hoàng).
func closeOrVariant(a, b string) bool { return nameSim(a, b) >= 0.8 || SurnameVariants(a, b) }
