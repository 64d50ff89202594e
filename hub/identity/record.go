package identity

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"ucv/profile"
)

// Kind says what a field holds. The set is closed: ParseKind rejects other
// names with ErrUnknownKind.
type Kind string

// The field kinds.
const (
	FullName       Kind = "full_name"   // "Dr Ann-Marie O'Neil Jr", "O'Neil, Ann-Marie"
	FirstName      Kind = "first_name"  // given name
	MiddleName     Kind = "middle_name" // middle names or initials
	LastName       Kind = "last_name"   // surname
	BirthDate      Kind = "birth_date"  // YYYYMMDD, YYYY-MM-DD, M/D/YYYY or D/M/YYYY
	Gender         Kind = "gender"      // m/male/f/female/…
	Email          Kind = "email"       // deterministic identifier
	Phone          Kind = "phone"       // deterministic identifier
	Address        Kind = "address"     // one free-text address line
	AddressLine    Kind = "address_line"
	StreetNumber   Kind = "street_number"
	City           Kind = "city"
	State          Kind = "state"
	Postcode       Kind = "postcode"
	Country        Kind = "country"
	NationalID     Kind = "national_id"     // SSN, NI number… compared with typo tolerance; "US:123-45-6789" names the issuer
	Passport       Kind = "passport"        // "GB:123456789" names the issuing country
	DriversLicense Kind = "drivers_license" // "US-CA:D1234567" names the issuing country and state
	ID             Kind = "id"              // any exact-match identifier (CRM id, loyalty number…)
	// OrgName is an organisation's name ("ACME, Inc."). A record with one
	// is an organisation: it never merges with a person's record.
	OrgName Kind = "org_name"
	// Generation is a generational suffix: Jr/Junior/II, Sr/Senior,
	// III, IV. Different generations never merge (also parsed from
	// full_name, first_name and last_name).
	Generation Kind = "generation"
	// Occupation is a person's occupation or job title ("Painter",
	// "software engineer"), compared exactly and weighted by how common
	// the value is.
	Occupation Kind = "occupation"
)

// Kinds lists every Kind in a fixed order.
func Kinds() []Kind {
	return []Kind{FullName, FirstName, MiddleName, LastName, BirthDate, Gender, Email, Phone,
		Address, AddressLine, StreetNumber, City, State, Postcode, Country, NationalID,
		Passport, DriversLicense, ID, OrgName, Generation, Occupation}
}

// ParseKind returns the Kind named s (trimmed, case-insensitive) or an
// error matching ErrUnknownKind.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	for _, x := range Kinds() {
		if x == k {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w %q", ErrUnknownKind, s)
}

// Field is one raw value of a record. Several fields may share a Kind
// (address_1 and address_2 are both AddressLine; a CRM and a web-shop
// e-mail are both Email).
type Field struct {
	Kind Kind
	// Name is the source column. For Kind ID it is also the identifier
	// type (normalized by profile.NormalizeType), so ids from different
	// schemes never collide; other kinds ignore it.
	Name  string
	Value string
}

// Record is one source row. Empty values count as missing.
type Record struct {
	// ID is unique within an index and orders all tie-breaks, which is
	// what makes results independent of input order.
	ID     string
	Fields []Field
}

// LogValue renders only the record ID and the kinds present, never the
// values.
func (r Record) LogValue() slog.Value {
	kinds := make([]string, 0, len(r.Fields))
	for _, f := range r.Fields {
		if strings.TrimSpace(f.Value) != "" {
			kinds = append(kinds, string(f.Kind))
		}
	}
	return slog.GroupValue(slog.String("id", r.ID), slog.String("kinds", strings.Join(kinds, ",")))
}

// Identifiers returns the record's deterministic identifiers (e-mail,
// phone, Kind ID fields) normalized as the edge normalizes them, without
// blocked values, sorted by rules priority and deduplicated. Values that
// do not normalize are left out.
func (r Record) Identifiers(rules *profile.Rules, region string) []profile.Identifier {
	var out []profile.Identifier
	opts := profile.NormalizeOptions{DefaultRegion: region}
	for _, f := range r.Fields {
		var t profile.IDType
		switch f.Kind {
		case Email:
			t = profile.Email
		case Phone:
			t = profile.Phone
		case ID:
			nt, err := profile.NormalizeType(f.Name)
			if err != nil {
				nt = "id"
			}
			t = nt
		default:
			continue
		}
		if strings.TrimSpace(f.Value) == "" {
			continue
		}
		raw := f.Value
		if t == profile.Email {
			raw = EmailAddress(raw) // `"Ann Lee" <ann@example.com>`
		}
		var v string
		var err error
		if t == profile.Phone && utf8.ValidString(raw) {
			v, err = NormalizePhone(raw, region) // NormalizeValue's, memoized
		} else {
			v, err = profile.NormalizeValue(t, raw, opts)
		}
		if err != nil {
			continue
		}
		id := profile.Identifier{Type: t, Value: v}
		if rules.Blocked(id) {
			continue
		}
		out = append(out, id)
	}
	rules.SortByPriority(out)
	// dedupe (sorted, so equal keys are adjacent)
	w := 0
	for i, id := range out {
		if i > 0 && out[w-1] == id {
			continue
		}
		out[w] = id
		w++
	}
	return out[:w]
}
