package identity

import (
	"strings"

	"ucv/profile"
)

// prep is a record normalized for comparison. It is built once per record
// and never changed, so it may be shared by any number of pair scores.
// A hub keeps one per person: the fields most records leave empty live
// in *rare, shared (noRare) by every record without them
// (docs/decisions/0057-hub-memory-per-person.md).
type prep struct {
	id string
	// idPrefix is id's first 8 bytes, big-endian, zero-padded: idLess
	// orders most pairs without reading the ID's bytes.
	idPrefix       uint64
	first, last    string
	dob            []string // 8-digit candidates
	emails, phones []string // normalized, including blocked values' absence
	addr           string   // normalized tokens without the street number
	streetNo       string
	city, state    string
	postcode       string
	country        string
	ids            []profile.Identifier // deterministic identifiers, priority order
	// person: whether the record describes a person (has a person's
	// name, birth date or gender; entity.go).
	person bool
	// gender in one byte, and the postcode's outward part as its length:
	// with person they fill one word where two strings took four.
	gender   sex
	pcOutLen uint8
	// lastCut is where the second of two surnames begins in last
	// ("gutierrezperez": 9), 0 when the surname is one (compoundCut).
	lastCut uint8
	*rare
	// Precomputed comparison inputs (pairfast.go), derived from the
	// fields above and immutable with them: per dob its dobKey, per ids
	// entry its hash.
	dobKeys []dobKey
	idHash  []uint64
}

// sex is a normalized gender (NormalizeGender: "m", "f" or "x") as its
// one byte, 0 for none.
type sex byte

func sexOf(s string) sex {
	if s == "" {
		return 0
	}
	return sex(s[0])
}

// String returns the gender as NormalizeGender wrote it.
func (g sex) String() string {
	if g == 0 {
		return ""
	}
	return string(rune(g))
}

// outward returns the postcode's outward part (UK "SW1A 1AA" → "sw1a"),
// "" when the written code had none.
func (p *prep) outward() string { return p.postcode[:p.pcOutLen] }

// setPostcode stores the normalized postcode of raw value v and the
// length of its outward part, which normalizePostcode takes from the
// same folded characters (a prefix of the code; kept only if so).
func (p *prep) setPostcode(v string) {
	code, out := normalizePostcode(v)
	p.postcode, p.pcOutLen = code, 0
	if len(out) < 256 && strings.HasPrefix(code, out) {
		p.pcOutLen = uint8(len(out))
	}
}

// rare holds the fields of a prep that most records leave empty: a
// middle name, documents, a generational suffix, an organisation name.
// Only prepare writes one, before the prep is shared.
type rare struct {
	middle             string
	nid, passport, lic []string
	// Entity-centric fields (entity.go): documents with their issuers,
	// generational suffix, organisation name.
	nidDocs, passDocs, licDocs []doc
	gen                        string
	org                        string
	occupation                 string
}

// noRare is the rare fields of every record that has none. Never
// written (TestNoRareStaysEmpty).
var noRare rare

// empty reports whether r holds nothing.
func (r *rare) empty() bool {
	return r.middle == "" && len(r.nid) == 0 && len(r.passport) == 0 && len(r.lic) == 0 &&
		len(r.nidDocs) == 0 && len(r.passDocs) == 0 && len(r.licDocs) == 0 && r.gen == "" && r.org == "" && r.occupation == ""
}

// lastOf returns the last value of the first non-empty list, or "".
func lastOf(lists ...[]string) string {
	for _, l := range lists {
		if len(l) > 0 {
			return l[len(l)-1]
		}
	}
	return ""
}

// prepare normalizes r. It never fails: values that do not normalize are
// treated as missing.
func prepare(r Record, rules *profile.Rules, region string, order DateOrder) *prep {
	p := &prep{id: r.ID, idPrefix: idPrefixOf(r.ID), rare: &rare{}}
	var first, middle, last, full, addr []string
	var lineCity, lineState, linePC []string
	for _, f := range r.Fields {
		v := strings.TrimSpace(f.Value)
		if v == "" {
			continue
		}
		switch f.Kind {
		case FullName:
			full = append(full, v)
			if p.gen == "" {
				p.gen = nameGeneration(v)
			}
		case FirstName:
			first = append(first, v)
		case MiddleName:
			middle = append(middle, v)
		case LastName:
			if g := nameGeneration(v); g != "" && p.gen == "" {
				p.gen = g
			}
			last = append(last, stripGeneration(v))
		case Generation:
			if g := NormalizeGeneration(v); g != "" {
				p.gen = g
			}
		case Occupation:
			if p.occupation == "" {
				p.occupation = normalizePlace(v)
			}
		case OrgName:
			if p.org == "" {
				p.org = NormalizeOrgName(v)
			}
		case BirthDate:
			for _, d := range ParseBirthDate(v, order) {
				p.dob = appendUnique(p.dob, d)
			}
		case Gender:
			if p.gender == 0 {
				p.gender = sexOf(NormalizeGender(v))
			}
		case Address:
			ol := splitOneLine(v)
			addr = append(addr, ol.street)
			if ol.city != "" {
				lineCity = append(lineCity, ol.city)
			}
			if ol.state != "" {
				lineState = append(lineState, ol.state)
			}
			if ol.postcode != "" {
				linePC = append(linePC, ol.postcode)
			}
		case AddressLine:
			addr = append(addr, v)
		case StreetNumber:
			if p.streetNo == "" {
				p.streetNo = NormalizeCode(v)
			}
		case City:
			if p.city == "" {
				p.city = normalizePlace(v)
			}
		case State:
			if p.state == "" {
				p.state = normalizePlace(v)
			}
		case Postcode:
			if p.postcode == "" {
				p.setPostcode(v)
			}
		case Country:
			if p.country == "" {
				p.country = normalizePlace(v)
			}
		case NationalID:
			d := parseDoc(v)
			p.nid = appendUnique(p.nid, d.num)
			p.nidDocs = appendDoc(p.nidDocs, d)
		case Passport:
			d := parseDoc(v)
			p.passport = appendUnique(p.passport, d.num)
			p.passDocs = appendDoc(p.passDocs, d)
		case DriversLicense:
			d := parseDoc(v)
			p.lic = appendUnique(p.lic, d.num)
			p.licDocs = appendDoc(p.licDocs, d)
		}
	}
	// Fields of a one-line address fill only what separate fields left
	// empty.
	if p.city == "" && len(lineCity) > 0 {
		p.city = normalizePlace(lineCity[0])
	}
	if p.state == "" && len(lineState) > 0 {
		p.state = normalizePlace(lineState[0])
	}
	if p.postcode == "" && len(linePC) > 0 {
		p.setPostcode(linePC[0])
	}
	if g := nameGeneration(strings.Join(first, " ")); g != "" && p.gen == "" {
		p.gen = g
	}
	if tail := lastOf(last, first); p.org == "" && tail != "" && orgLastWord(tail) {
		// An organisation written in the name columns is an
		// organisation's record, not a person's. (The columns are
		// joined only when their last word could end one.)
		if n := strings.Join(append(append([]string(nil), first...), last...), " "); OrgInName(n) {
			p.org = NormalizeOrgName(n)
			first, middle, last = nil, nil, nil
		}
	}
	p.first = NormalizeName(strings.Join(first, " "))
	p.middle = NormalizeName(strings.Join(middle, " "))
	p.last = NormalizeName(strings.Join(last, " "))
	if len(last) == 1 {
		p.lastCut = compoundCut(last[0], p.last)
	}
	for _, fn := range full {
		if OrgInName(fn) {
			if p.org == "" && p.first == "" && p.last == "" {
				p.org = NormalizeOrgName(fn)
			}
			continue
		}
		f, m, l := SplitFullName(fn)
		if p.first == "" {
			p.first = f
		}
		if p.middle == "" {
			p.middle = NormalizeName(m)
		}
		if p.last == "" {
			p.last = l
		}
	}
	if p.first == "" && p.last == "" && p.org == "" {
		// A record without a name whose e-mail is written with one
		// (`"Ann Lee" <ann@example.com>`, a web order) is that name's:
		// the sending system knew its holder by it.
		for _, f := range r.Fields {
			if f.Kind != Email {
				continue
			}
			if n := emailDisplayName(f.Value); n != "" {
				if g := nameGeneration(n); g != "" && p.gen == "" {
					p.gen = g
				}
				f, m, l := SplitFullName(n)
				p.first, p.middle, p.last = f, NormalizeName(m), l
				break
			}
		}
	}
	p.person = p.first != "" || p.last != "" || p.middle != "" || len(p.dob) > 0 || p.gender != 0
	if p.org != "" && p.last == "" && p.first == "" {
		// An organisation compares and blocks by its name as a surname.
		p.last = strings.ReplaceAll(p.org, " ", "")
	}
	a := NormalizeAddress(strings.Join(addr, " "))
	if ts := strings.Fields(a); len(ts) > 1 && allDigits(ts[0]) {
		if p.streetNo == "" {
			p.streetNo = ts[0]
		}
		a = strings.Join(ts[1:], " ")
	}
	p.addr = a
	p.ids = r.Identifiers(rules, region)
	for _, id := range p.ids {
		switch id.Type {
		case profile.Email:
			p.emails = append(p.emails, id.Value)
		case profile.Phone:
			p.phones = append(p.phones, id.Value)
		}
	}
	// A phone the default region cannot read ("020 7946 0958" under US)
	// is still compared by its digits: its last seven digits can meet
	// the same number written with its country code.
	for _, f := range r.Fields {
		if f.Kind != Phone || strings.TrimSpace(f.Value) == "" {
			continue
		}
		if _, err := NormalizePhone(f.Value, region); err == nil { // memoized: Identifiers read it too
			continue
		}
		if d := digitsOf(f.Value); len(d) >= 7 && len(d) <= 15 {
			p.phones = appendUnique(p.phones, d)
		}
	}
	if p.rare.empty() {
		p.rare = &noRare
	}
	p.precompute()
	return p
}

func appendUnique(s []string, v string) []string {
	if v == "" {
		return s
	}
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// stripGeneration removes a generational suffix from a surname field
// ("Smith Jr." → "Smith").
func stripGeneration(s string) string {
	ts := strings.Fields(s)
	out := ts[:0]
	for _, t := range ts {
		if generations[strings.Trim(fold(t), ".,;'\"()")] == "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return s
	}
	return strings.Join(out, " ")
}

func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// idPrefixOf returns id's first 8 bytes as a big-endian number, short
// IDs padded with zero bytes. Where two IDs' prefixes differ, they
// compare as the IDs do (a zero pad sorts first, like a shorter string).
func idPrefixOf(id string) uint64 {
	var x uint64
	for i := range 8 {
		x <<= 8
		if i < len(id) {
			x |= uint64(id[i])
		}
	}
	return x
}

// idLess reports a.id < b.id.
func idLess(a, b *prep) bool {
	if a.idPrefix != b.idPrefix {
		return a.idPrefix < b.idPrefix
	}
	return a.id < b.id
}
