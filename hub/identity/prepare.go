package identity

import (
	"strings"

	"ucv/profile"
)

// prep is a record normalized for comparison. It is built once per record
// and never changed, so it may be shared by any number of pair scores.
type prep struct {
	id                  string
	first, middle, last string
	dob                 []string // 8-digit candidates
	gender              string
	emails, phones      []string // normalized, including blocked values' absence
	addr                string   // normalized tokens without the street number
	streetNo            string
	city, state         string
	postcode, pcOut     string
	country             string
	nid, passport, lic  []string
	ids                 []profile.Identifier // deterministic identifiers, priority order
}

// prepare normalizes r. It never fails: values that do not normalize are
// treated as missing.
func prepare(r Record, rules *profile.Rules, region string, order DateOrder) *prep {
	p := &prep{id: r.ID}
	var first, middle, last, full, addr []string
	for _, f := range r.Fields {
		v := strings.TrimSpace(f.Value)
		if v == "" {
			continue
		}
		switch f.Kind {
		case FullName:
			full = append(full, v)
		case FirstName:
			first = append(first, v)
		case MiddleName:
			middle = append(middle, v)
		case LastName:
			last = append(last, v)
		case BirthDate:
			for _, d := range ParseBirthDate(v, order) {
				p.dob = appendUnique(p.dob, d)
			}
		case Gender:
			if p.gender == "" {
				p.gender = NormalizeGender(v)
			}
		case Address, AddressLine:
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
				p.postcode, p.pcOut = normalizePostcode(v)
			}
		case Country:
			if p.country == "" {
				p.country = normalizePlace(v)
			}
		case NationalID:
			p.nid = appendUnique(p.nid, NormalizeCode(v))
		case Passport:
			p.passport = appendUnique(p.passport, NormalizeCode(v))
		case DriversLicense:
			p.lic = appendUnique(p.lic, NormalizeCode(v))
		}
	}
	p.first = NormalizeName(strings.Join(first, " "))
	p.middle = NormalizeName(strings.Join(middle, " "))
	p.last = NormalizeName(strings.Join(last, " "))
	for _, fn := range full {
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
