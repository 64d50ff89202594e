package profile

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// IDType names a kind of identifier. The built-in types are listed below;
// any other lower-case name (from Segment's context.externalIds) is a
// custom type.
type IDType string

// Built-in identifier types.
const (
	UserID      IDType = "user_id"
	AnonymousID IDType = "anonymous_id"
	Email       IDType = "email"
	Phone       IDType = "phone"
	DeviceID    IDType = "device_id"
)

// Limits on identifiers.
const (
	MaxIDTypeBytes  = 64
	MaxIDValueBytes = 512
)

// Identifier is a normalized (type, value) pair. Construct it with
// NewIdentifier so the value is in canonical form; the zero value is invalid.
type Identifier struct {
	Type  IDType `msgpack:"t" json:"type"`
	Value string `msgpack:"v" json:"value"`
}

// Key is the identifier's index key, "type:value". Type names never contain
// ':' so the key splits unambiguously at the first colon.
func (i Identifier) Key() string { return string(i.Type) + ":" + i.Value }

// CompareKeys orders a and b as their keys compare (strings.Compare of
// a.Key() and b.Key()) without building the keys: sorting a message's
// identifiers built two strings a comparison.
func CompareKeys(a, b Identifier) int {
	at, bt := string(a.Type), string(b.Type)
	n := min(len(at), len(bt))
	if c := strings.Compare(at[:n], bt[:n]); c != 0 {
		return c
	}
	switch {
	case len(at) == len(bt):
		return strings.Compare(a.Value, b.Value) // both go on with ':'
	case len(at) < len(bt):
		return cmp.Compare(':', bt[n]) // a goes on with ':', never in a type
	default:
		return cmp.Compare(at[n], ':')
	}
}

// String is the same as Key. It exists for debugging output that never
// reaches logs; use LogValue (through slog) for anything logged.
func (i Identifier) String() string { return i.Key() }

// IsPII reports whether values of this type identify a person directly
// (e-mail, phone) and must never appear raw in logs, metrics or errors.
// Conservatively, custom types count as PII too.
func (t IDType) IsPII() bool {
	switch t {
	case UserID, AnonymousID, DeviceID:
		return false
	}
	return true
}

// LogValue renders the identifier with its value replaced by a short hash
// when the type is personal data, so log lines can be correlated without
// revealing the e-mail or phone number.
func (i Identifier) LogValue() slog.Value {
	v := i.Value
	if i.Type.IsPII() {
		v = Redact(v)
	}
	return slog.GroupValue(slog.String("type", string(i.Type)), slog.String("value", v))
}

// Redact returns a short, stable, non-reversible stand-in for a personal
// value: "h:" and the first 12 hex digits of its SHA-256.
func Redact(s string) string {
	sum := sha256.Sum256([]byte("ucv-redact:" + s))
	return "h:" + hex.EncodeToString(sum[:6])
}

// ParseKey splits an index key "type:value" back into an Identifier without
// normalizing it.
func ParseKey(key string) (Identifier, bool) {
	t, v, ok := strings.Cut(key, ":")
	if !ok || t == "" || v == "" {
		return Identifier{}, false
	}
	return Identifier{Type: IDType(t), Value: v}, true
}

// NormalizeOptions control identifier normalization.
type NormalizeOptions struct {
	// DefaultRegion is the ISO 3166-1 alpha-2 region used to read phone
	// numbers written without a country code ("US", "GB", …).
	DefaultRegion string
}

// DefaultNormalizeOptions returns options with DefaultRegion "US".
func DefaultNormalizeOptions() NormalizeOptions { return NormalizeOptions{DefaultRegion: "US"} }

// NewIdentifier validates and normalizes a raw (type, value) pair. The field
// argument is the JSON path the value came from; it names the field in the
// returned *FieldError. The error message never contains the raw value.
func NewIdentifier(field string, typ IDType, raw string, opts NormalizeOptions) (Identifier, error) {
	t, err := NormalizeType(string(typ))
	if err != nil {
		return Identifier{}, &FieldError{Field: field, Reason: err.Error()}
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return Identifier{}, &FieldError{Field: field, Reason: reasonNUL}
	}
	v, err := NormalizeValue(t, raw, opts)
	if err != nil {
		return Identifier{}, &FieldError{Field: field, Reason: err.Error(), Err: err}
	}
	return Identifier{Type: t, Value: v}, nil
}

// NormalizeType canonicalizes an identifier type name: trimmed, lower-case,
// 1–64 bytes of [a-z0-9_.-]. Segment spellings userId, anonymousId and
// deviceId map to the built-in types.
func NormalizeType(s string) (IDType, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "userid", "user_id":
		return UserID, nil
	case "anonymousid", "anonymous_id":
		return AnonymousID, nil
	case "deviceid", "device_id":
		return DeviceID, nil
	case "email", "e-mail", "email_address":
		return Email, nil
	case "phone", "phone_number":
		return Phone, nil
	}
	if s == "" {
		return "", fmt.Errorf("identifier type is empty")
	}
	if len(s) > MaxIDTypeBytes {
		return "", fmt.Errorf("identifier type longer than %d bytes", MaxIDTypeBytes)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return "", fmt.Errorf("identifier type may hold only a-z, 0-9, '_', '-', '.'")
		}
	}
	return IDType(s), nil
}

// NormalizeValue returns the canonical form of an identifier value of type
// t: e-mail trimmed and lower-cased, phone in E.164, anything else trimmed.
// Errors never include the value.
func NormalizeValue(t IDType, raw string, opts NormalizeOptions) (string, error) {
	if !utf8.ValidString(raw) {
		return "", fmt.Errorf("value is not valid UTF-8")
	}
	switch t {
	case Email:
		return NormalizeEmail(raw)
	case Phone:
		return NormalizePhone(raw, opts.DefaultRegion)
	}
	v := strings.TrimSpace(raw)
	if v == "" {
		return "", fmt.Errorf("value is empty")
	}
	if len(v) > MaxIDValueBytes {
		return "", fmt.Errorf("value longer than %d bytes", MaxIDValueBytes)
	}
	return v, nil
}

// NormalizeEmail trims and lower-cases an e-mail address and checks that it
// is a single bare addr-spec (no display name).
func NormalizeEmail(raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	if v == "" {
		return "", fmt.Errorf("e-mail is empty")
	}
	if len(v) > 254 {
		return "", fmt.Errorf("e-mail longer than 254 bytes")
	}
	if !bareAddrSpec(v) {
		a, err := mail.ParseAddress(v)
		if err != nil || a.Address != v || a.Name != "" {
			return "", fmt.Errorf("not a valid e-mail address")
		}
	}
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 || !strings.Contains(v[at+1:], ".") {
		return "", fmt.Errorf("not a valid e-mail address")
	}
	return v, nil
}

// bareAddrSpec reports whether v is an ASCII addr-spec in dot-atom form
// on both sides of its one '@' (RFC 5322 atext runs joined by single
// dots), with no upper-case letter. mail.ParseAddress reads every such
// string back unchanged and without a display name
// (TestBareAddrSpecAgreesWithParser), so NormalizeEmail skips the parser
// — five allocations and most of its time — for the common case; every
// other form (display names, quoted local parts, comments, domain
// literals, UTF-8) still goes through it.
func bareAddrSpec(v string) bool {
	at := -1
	prev := byte('.') // a part may not start with a dot
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '@':
			if at >= 0 || prev == '.' {
				return false
			}
			at, prev = i, '.'
			continue
		case c == '.':
			if prev == '.' {
				return false
			}
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
		prev = c
	}
	return at > 0 && prev != '.'
}

// NormalizePhone parses a phone number (national numbers read in region,
// an ISO 3166-1 alpha-2 code) and returns it in E.164 form.
func NormalizePhone(raw, region string) (string, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return "", fmt.Errorf("phone is empty")
	}
	if len(v) > 64 {
		return "", fmt.Errorf("phone longer than 64 bytes")
	}
	// Already in E.164 form, or written with spaces, hyphens, dots or
	// parentheses between the digits: formatting n gives e back.
	if e := compactE164(v); e != "" {
		if n, ok := parseE164(e); ok {
			if !validPhone(n) {
				return "", fmt.Errorf("not a valid phone number")
			}
			return e, nil
		}
	}
	n, err := phonenumbers.Parse(v, strings.ToUpper(region))
	if err != nil {
		return "", fmt.Errorf("not a parseable phone number")
	}
	if !validPhone(n) {
		return "", fmt.Errorf("not a valid phone number")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// validPhone is phonenumbers.IsValidNumber(n), answered first for the
// main region of n's country code (the US for +1, the UK for +44).
// IsValidNumber finds the number's region — for a code shared by
// several regions, the first, the main one, is tried first and taken
// when the number's type is known there — and then validates the number
// for that region, testing the same patterns twice; a number valid for
// the main region is valid, so that one test decides it. Anything else
// is IsValidNumber's answer. Equal by construction when the main region
// has no leading-digits rule (none has in libphonenumber's metadata);
// TestValidPhoneIsIsValidNumber checks it on every region's example
// numbers and on random digits.
func validPhone(n *phonenumbers.PhoneNumber) bool {
	if main := phonenumbers.GetRegionCodeForCountryCode(int(n.GetCountryCode())); main != phonenumbers.UNKNOWN_REGION &&
		phonenumbers.IsValidNumberForRegion(n, main) {
		return true
	}
	return phonenumbers.IsValidNumber(n)
}
