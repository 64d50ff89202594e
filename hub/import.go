package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"ucv/crdt/codec"
	"ucv/hub/identity"
	"ucv/profile"
)

// Import of source records (docs/decisions/0044-import.md): a record of
// a source system (a CRM, a loyalty file) keyed by (source, ID) becomes
// one fragment of the identity graph, like an edge's profile. Its
// fragment ID is derived from the key (ImportFragmentID), it holds the
// identifier record:{source}/{id} (RecordIdentifier) besides the
// record's own identifiers, and its mapped fields as traits, so the
// engine resolves it as it resolves edge profiles. Importing a record
// again with the same values changes nothing; with changed values,
// updates the fragment.

// CmdImport applies a batch of source records (Import).
const CmdImport CmdType = 32

// RecordIDType is the identifier type every imported record holds:
// record:{source}/{id}.
const RecordIDType profile.IDType = "record"

// Import limits.
const (
	// MaxImportRecords bounds the records of one import command.
	MaxImportRecords = 10_000
	// MaxImportValueBytes bounds one field value of a record.
	MaxImportValueBytes = 1024
)

// Import is a batch of records of one source. Traits and Types name the
// trait names and identifier types the source's mapping writes: a
// record without a value for one of them has it removed from its
// fragment (the import owns them); other traits and identifiers of the
// fragment are left alone.
type Import struct {
	Source  string
	Traits  []string
	Types   []string
	Records []ImportRecord
}

// ImportRecord is one source record as the hub stores it (see
// ImportRecordOf).
type ImportRecord struct {
	// ID is the record's ID in its source.
	ID string
	// Traits are the record's trait values by name, sorted by name;
	// "address.street", "address.city", … are the keys of the address
	// trait object.
	Traits []ImportTrait
	// Identifiers are normalized, sorted and without duplicates.
	Identifiers []profile.Identifier
}

// ImportTrait is one trait value of an ImportRecord.
type ImportTrait struct{ Name, Value string }

// ImportFieldError is a field of a source record that cannot be
// imported. Reason never holds the value.
type ImportFieldError struct {
	Column string
	Reason string
}

func (e ImportFieldError) Error() string { return e.Column + ": " + e.Reason }

// ImportFragmentID returns the fragment ID of record id of source: "r"
// and 25 hex digits of SHA-256(source NUL id). Lower-case, so it sorts
// after edges' ULIDs: a cluster holding an edge profile keeps the edge's
// ID as its canonical ID.
func ImportFragmentID(source, id string) string {
	var in [128]byte // most keys fit: no allocation for the input
	sum := sha256.Sum256(append(append(append(in[:0], source...), 0), id...))
	var out [27]byte
	out[0] = 'r'
	hex.Encode(out[1:], sum[:13]) // 26 digits, the first 25 kept
	return string(out[:26])
}

// RecordIdentifier returns the identifier record:{source}/{id}.
func RecordIdentifier(source, id string) profile.Identifier {
	return profile.Identifier{Type: RecordIDType, Value: source + "/" + id}
}

// ValidSource checks a source name: 1–64 bytes of a-z, 0-9, '_', '-', '.'.
func ValidSource(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%w: source name must be 1-64 bytes", ErrInvalid)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("%w: source name may hold only a-z, 0-9, '_', '-', '.'", ErrInvalid)
		}
	}
	return nil
}

// validRecordID checks a source record ID.
func validRecordID(source, id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return fmt.Errorf("record ID is empty")
	case id != strings.TrimSpace(id):
		return fmt.Errorf("record ID has leading or trailing space")
	case !utf8.ValidString(id):
		return fmt.Errorf("record ID is not valid UTF-8")
	case len(source)+1+len(id) > profile.MaxIDValueBytes:
		return fmt.Errorf("record ID longer than %d bytes", profile.MaxIDValueBytes-len(source)-1)
	}
	return nil
}

// ImportColumn maps a source column to a field kind (identity.ParseKind).
type ImportColumn struct {
	Name string
	Kind identity.Kind
}

// importTrait says where a kind's values go: a top-level trait, a key of
// the address object, or an identifier.
func importTrait(k identity.Kind) string {
	switch k {
	case identity.FullName:
		return "name"
	case identity.FirstName:
		return "firstName"
	case identity.LastName:
		return "lastName"
	case identity.BirthDate:
		return "birthday"
	case identity.Gender:
		return "gender"
	case identity.Address, identity.AddressLine, identity.StreetNumber:
		return "address.street"
	case identity.City:
		return "address.city"
	case identity.State:
		return "address.state"
	case identity.Postcode:
		return "address.postalCode"
	case identity.Country:
		return "address.country"
	case identity.Email, identity.Phone, identity.ID:
		return ""
	}
	// Every other kind (middle names, national IDs, organisation
	// names…) is a trait named by the kind, which recordOf reads back
	// as that kind (kindTraits).
	return string(k)
}

// ImportShape returns the trait names and identifier types a mapping
// writes (Import.Traits, Import.Types), sorted. Errors name the column
// whose name is not a valid identifier type for kind id.
func ImportShape(cols []ImportColumn) (traits, types []string, err error) {
	for _, c := range cols {
		switch c.Kind {
		case identity.Email:
			types = append(types, string(profile.Email))
		case identity.Phone:
			types = append(types, string(profile.Phone))
		case identity.ID:
			t, terr := profile.NormalizeType(c.Name)
			if terr != nil {
				return nil, nil, fmt.Errorf("%w: column %s: %w", ErrInvalid, c.Name, terr)
			}
			if t == RecordIDType {
				return nil, nil, fmt.Errorf("%w: column %s: identifier type %q is the import's own", ErrInvalid, c.Name, RecordIDType)
			}
			types = append(types, string(t))
		default:
			name, _, _ := strings.Cut(importTrait(c.Kind), ".")
			traits = append(traits, name)
		}
	}
	slices.Sort(traits)
	slices.Sort(types)
	return slices.Compact(traits), slices.Compact(types), nil
}

// ImportRecordOf builds the stored form of one source record from its
// values (values[i] is column cols[i]'s; empty is missing): e-mail and
// phone normalized as edges normalize them (phones without a country
// code in region), birth dates read as order says, Kind ID columns as
// identifiers typed by the column name. A record with any bad field is
// refused whole: the errors name every bad column and why, never the
// value.
func ImportRecordOf(source, id string, cols []ImportColumn, values []string, region string, order identity.DateOrder) (ImportRecord, []ImportFieldError) {
	rec := ImportRecord{ID: id}
	var errs []ImportFieldError
	if err := validRecordID(source, id); err != nil {
		errs = append(errs, ImportFieldError{Column: "(id)", Reason: err.Error()})
	}
	if len(values) != len(cols) {
		return rec, append(errs, ImportFieldError{Column: "(row)", Reason: fmt.Sprintf("%d values for %d columns", len(values), len(cols))})
	}
	opts := profile.NormalizeOptions{DefaultRegion: region}
	// The record's traits by name, a name once (a few per record: a
	// slice searched in order, sorted by name at the end).
	traits := make([]ImportTrait, 0, len(cols))
	for i, c := range cols {
		v := strings.TrimSpace(values[i])
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			errs = append(errs, ImportFieldError{c.Name, "not valid UTF-8"})
			continue
		}
		if len(v) > MaxImportValueBytes {
			errs = append(errs, ImportFieldError{c.Name, fmt.Sprintf("longer than %d bytes", MaxImportValueBytes)})
			continue
		}
		var t profile.IDType
		switch c.Kind {
		case identity.Email:
			t = profile.Email
		case identity.Phone:
			t = profile.Phone
		case identity.ID:
			nt, err := profile.NormalizeType(c.Name)
			if err != nil {
				errs = append(errs, ImportFieldError{c.Name, err.Error()})
				continue
			}
			t = nt
		case identity.BirthDate:
			ds := identity.ParseBirthDate(v, order)
			if len(ds) == 0 {
				errs = append(errs, ImportFieldError{c.Name, "not a date (YYYY-MM-DD, YYYYMMDD, M/D/YYYY or D/M/YYYY)"})
				continue
			}
			if len(ds) == 1 {
				v = ds[0][:4] + "-" + ds[0][4:6] + "-" + ds[0][6:]
			}
		}
		if t != "" {
			if t == profile.Email {
				v = identity.EmailAddress(v) // `"Ann Lee" <ann@example.com>`, as resolution reads it
			}
			var nv string
			var err error
			if t == profile.Phone {
				// NormalizeValue's (v is valid UTF-8), memoized: the
				// hub's resolution reads the same value again.
				nv, err = identity.NormalizePhone(v, region)
			} else {
				nv, err = profile.NormalizeValue(t, v, opts)
			}
			if err != nil {
				errs = append(errs, ImportFieldError{c.Name, err.Error()})
				continue
			}
			rec.Identifiers = append(rec.Identifiers, profile.Identifier{Type: t, Value: nv})
			continue
		}
		name := importTrait(c.Kind)
		at := slices.IndexFunc(traits, func(t ImportTrait) bool { return t.Name == name })
		if at < 0 {
			traits = append(traits, ImportTrait{name, v})
			continue
		}
		old := traits[at].Value
		if c.Kind == identity.StreetNumber {
			v, old = old, v // the number leads the street
		}
		traits[at].Value = old + " " + v
	}
	if len(errs) > 0 {
		return ImportRecord{ID: id}, errs
	}
	slices.SortFunc(traits, func(a, b ImportTrait) int { return strings.Compare(a.Name, b.Name) })
	if len(traits) > 0 {
		rec.Traits = traits
	}
	slices.SortFunc(rec.Identifiers, compareKeys)
	rec.Identifiers = slices.Compact(rec.Identifiers)
	return rec, nil
}

// compareKeys is strings.Compare(a.Key(), b.Key()) without building
// the keys (type, ':', value).
func compareKeys(a, b profile.Identifier) int {
	if a.Type == b.Type {
		return strings.Compare(a.Value, b.Value)
	}
	// The types differ, so "type:" decides: at the first byte where
	// they differ, or at the colon after the shorter one.
	at, bt := string(a.Type), string(b.Type)
	for i := 0; ; i++ {
		ac, bc := byte(':'), byte(':')
		if i < len(at) {
			ac = at[i]
		}
		if i < len(bt) {
			bc = bt[i]
		}
		if ac != bc {
			if ac < bc {
				return -1
			}
			return 1
		}
		if i >= len(at) || i >= len(bt) {
			// One type and a colon match the other's prefix: the
			// shorter's value then meets the longer's next bytes.
			return strings.Compare(a.Key(), b.Key())
		}
	}
}

// kindTraits are the identity kinds recordOf reads from traits named by
// the kind (importTrait's default): every kind that has no Segment trait
// of its own.
var kindTraits = sync.OnceValue(func() []identity.Kind {
	covered := map[identity.Kind]bool{identity.Email: true, identity.Phone: true, identity.ID: true,
		identity.Address: true, identity.AddressLine: true, identity.StreetNumber: true}
	for _, t := range traitKinds {
		covered[t.kind] = true
	}
	for _, t := range addressKinds {
		covered[t.kind] = true
	}
	var out []identity.Kind
	for _, k := range identity.Kinds() {
		if !covered[k] {
			out = append(out, k)
		}
	}
	return out
})

// appendKindTraits appends to fields the traits of p named by a kind
// (kindTraits): an imported middle name, national ID, organisation
// name… The result depends only on p.
func appendKindTraits(fields []identity.Field, p *profile.Profile) []identity.Field {
	for _, k := range kindTraits() {
		if s, ok := traitString(p, string(k)); ok {
			fields = append(fields, identity.Field{Kind: k, Name: string(k), Value: s})
		}
	}
	return fields
}

// MarshalImport encodes a CmdImport entry.
func MarshalImport(im *Import) ([]byte, error) {
	if err := ValidSource(im.Source); err != nil {
		return nil, err
	}
	if len(im.Records) > MaxImportRecords {
		return nil, fmt.Errorf("%w: %d records, limit %d", ErrInvalid, len(im.Records), MaxImportRecords)
	}
	return frame(CmdImport, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(4), enc.EncodeString(im.Source), encodeStrings(enc, im.Traits),
			encodeStrings(enc, im.Types), enc.EncodeArrayLen(len(im.Records))); err != nil {
			return err
		}
		for i := range im.Records {
			r := &im.Records[i]
			if err := first(enc.EncodeArrayLen(3), enc.EncodeString(r.ID), enc.EncodeArrayLen(2*len(r.Traits))); err != nil {
				return err
			}
			for _, t := range r.Traits {
				if err := first(enc.EncodeString(t.Name), enc.EncodeString(t.Value)); err != nil {
					return err
				}
			}
			if err := enc.EncodeArrayLen(2 * len(r.Identifiers)); err != nil {
				return err
			}
			for _, id := range r.Identifiers {
				if err := first(enc.EncodeString(string(id.Type)), enc.EncodeString(id.Value)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// UnmarshalImport decodes a CmdImport entry. Errors wrap ErrMalformed.
// The result does not alias b: the records' strings point into one
// private copy of it (one allocation instead of one per string), which
// lives as long as any of them; Source, Traits and Types — what a
// fragment's state may keep — are copies of their own, so the state
// never holds on to a whole entry.
func UnmarshalImport(b []byte) (*Import, error) {
	if _, err := bodyOf(b, CmdImport); err != nil {
		return nil, err
	}
	d := codec.NewSharingDecoder(bytes.Clone(b[1:]))
	im := &Import{}
	var err error
	err = func() error {
		if err := d.ExpectArray(4); err != nil {
			return err
		}
		if im.Source, err = decodeName(d); err != nil {
			return err
		}
		if im.Traits, err = decodeStrings(d); err != nil {
			return err
		}
		if im.Types, err = decodeStrings(d); err != nil {
			return err
		}
		n, err := d.ArrayLen(4)
		if err != nil {
			return err
		}
		if n > MaxImportRecords {
			return fmt.Errorf("%d records, limit %d", n, MaxImportRecords)
		}
		im.Records = make([]ImportRecord, n)
		for i := range im.Records {
			r := &im.Records[i]
			if err := d.ExpectArray(3); err != nil {
				return err
			}
			if r.ID, err = decodeName(d); err != nil {
				return err
			}
			pairs, err := decodeStrings(d)
			if err != nil {
				return err
			}
			if len(pairs)%2 != 0 {
				return fmt.Errorf("record %d: odd trait list", i)
			}
			if len(pairs) > 0 {
				r.Traits = make([]ImportTrait, 0, len(pairs)/2)
			}
			for j := 0; j < len(pairs); j += 2 {
				r.Traits = append(r.Traits, ImportTrait{pairs[j], pairs[j+1]})
			}
			if pairs, err = decodeStrings(d); err != nil {
				return err
			}
			if len(pairs)%2 != 0 {
				return fmt.Errorf("record %d: odd identifier list", i)
			}
			if len(pairs) > 0 {
				r.Identifiers = make([]profile.Identifier, 0, len(pairs)/2)
			}
			for j := 0; j < len(pairs); j += 2 {
				r.Identifiers = append(r.Identifiers, profile.Identifier{Type: profile.IDType(pairs[j]), Value: pairs[j+1]})
			}
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	im.Source = strings.Clone(im.Source)
	for i := range im.Traits {
		im.Traits[i] = strings.Clone(im.Traits[i])
	}
	for i := range im.Types {
		im.Types[i] = strings.Clone(im.Types[i])
	}
	return im, nil
}
