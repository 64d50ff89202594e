package profile

import (
	"errors"
	"net/mail"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"ucv/crdt"
)

func cTS() crdt.Timestamp { return crdt.Timestamp{Wall: t0.UnixMilli(), Node: 1} }

func TestNormalize(t *testing.T) {
	tests := []struct {
		typ     IDType
		in      string
		region  string
		want    string
		wantErr bool
	}{
		{Email, "  Ann.Lee@Example.COM ", "", "ann.lee@example.com", false},
		{Email, "ann+tag@example.co.uk", "", "ann+tag@example.co.uk", false},
		{Email, "Ann <ann@example.com>", "", "", true},
		{Email, "ann@localhost", "", "", true},
		{Email, "", "", "", true},
		{Phone, "(415) 555-2671", "US", "+14155552671", false},
		{Phone, "+44 20 7946 0958", "US", "+442079460958", false},
		{Phone, "020 7946 0958", "GB", "+442079460958", false},
		{Phone, "555-1234", "US", "", true},
		{Phone, "not a phone", "US", "", true},
		{UserID, "  u1 ", "", "u1", false},
		{UserID, "   ", "", "", true},
		{DeviceID, strings.Repeat("d", MaxIDValueBytes+1), "", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizeValue(tt.typ, tt.in, NormalizeOptions{DefaultRegion: tt.region})
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeValue(%s, %q) = %q, %v; want %q err=%v", tt.typ, tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNormalizeType(t *testing.T) {
	for in, want := range map[string]IDType{"userId": UserID, "anonymousId": AnonymousID, "E-mail": Email, "GA_Client_ID": "ga_client_id"} {
		if got, err := NormalizeType(in); err != nil || got != want {
			t.Errorf("NormalizeType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "has:colon", "spa ce", strings.Repeat("x", 65)} {
		if _, err := NormalizeType(bad); err == nil {
			t.Errorf("NormalizeType(%q) accepted", bad)
		}
	}
}

func TestNewIdentifierErrorNamesField(t *testing.T) {
	_, err := NewIdentifier("batch[2].traits.email", Email, "ann at example", DefaultNormalizeOptions())
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "batch[2].traits.email" || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want FieldError for batch[2].traits.email", err)
	}
	if strings.Contains(err.Error(), "ann at example") {
		t.Fatalf("error %q echoes the value", err)
	}
}

func TestRules(t *testing.T) {
	r := DefaultRules()
	for _, tt := range []struct {
		id      Identifier
		blocked bool
	}{
		{Identifier{UserID, "anonymous"}, true},
		{Identifier{UserID, "NULL"}, true},
		{Identifier{UserID, "undefined"}, true},
		{Identifier{Phone, "+10000000000"}, true},
		{Identifier{DeviceID, "0000000000"}, true},
		{Identifier{Email, "test@test.com"}, true},
		{Identifier{UserID, "u-123"}, false},
		{Identifier{Email, "ann@example.com"}, false},
	} {
		if got := r.Blocked(tt.id); got != tt.blocked {
			t.Errorf("Blocked(%s) = %v, want %v", tt.id.Type, got, tt.blocked)
		}
	}
	if r.Limit(UserID) != 1 || r.Limit(Email) != 5 || r.Limit("crm_id") != 100 {
		t.Errorf("limits = %d %d %d", r.Limit(UserID), r.Limit(Email), r.Limit("crm_id"))
	}
	ids := []Identifier{{AnonymousID, "a"}, {DeviceID, "d"}, {UserID, "u"}, {Email, "e@x.io"}}
	r.SortByPriority(ids)
	if ids[0].Type != UserID || ids[3].Type != AnonymousID {
		t.Errorf("SortByPriority = %v", ids)
	}

	custom, err := LoadRules(strings.NewReader(`{"rules":[{"type":"device_id","limit":1,"priority":9,"blocked_patterns":["^kiosk-"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !custom.Blocked(Identifier{DeviceID, "kiosk-7"}) || custom.Limit(DeviceID) != 1 {
		t.Error("custom rules not applied")
	}
	for _, bad := range []string{
		`{"rules":[{"type":"x","limit":-1}]}`,
		`{"rules":[{"type":"x","blocked_patterns":["("]}]}`,
		`{"rules":[{"type":"x"},{"type":"x"}]}`,
		`{"rulez":[]}`,
	} {
		if _, err := LoadRules(strings.NewReader(bad)); err == nil {
			t.Errorf("LoadRules(%s) accepted", bad)
		}
	}
}

// TestNormalizeIdempotent: normalizing a normalized identifier changes
// nothing. The edge's lookup relies on it: a request naming an indexed
// key verbatim is served that key's profile without normalizing it
// again (edge/api lookupCached).
func TestNormalizeIdempotent(t *testing.T) {
	opts := DefaultNormalizeOptions()
	rapid.Check(t, func(rt *rapid.T) {
		typ := rapid.SampledFrom([]IDType{Email, Phone, UserID, AnonymousID, DeviceID, "Crm_ID", " loyalty "}).Draw(rt, "type")
		raw := rapid.OneOf(
			rapid.String(),
			rapid.StringMatching(`[ \t]{0,2}[A-Za-z0-9._%+-]{1,12}@[A-Za-z0-9-]{1,8}(\.[A-Za-z]{2,4}){1,2}[ \t]{0,2}`),
			rapid.StringMatching(`\+?[0-9 ()-]{3,18}`),
			rapid.StringMatching(`[ \t]{0,2}[A-Za-z0-9:_.-]{1,20}[ \t]{0,2}`),
		).Draw(rt, "raw")
		id, err := NewIdentifier("id", typ, raw, opts)
		if err != nil {
			return
		}
		again, err := NewIdentifier("id", id.Type, id.Value, opts)
		if err != nil || again != id {
			rt.Fatalf("normalized %q as %q, then %q: %v", raw, id.Key(), again.Key(), err)
		}
	})
}

// TestBareAddrSpecAgreesWithParser: whatever bareAddrSpec accepts,
// mail.ParseAddress reads back unchanged with no display name — so
// NormalizeEmail's shortcut never accepts what the parser would refuse or
// change. Strings drawn from the characters that matter in addresses.
func TestBareAddrSpecAgreesWithParser(t *testing.T) {
	accepted := 0
	rapid.Check(t, func(t *rapid.T) {
		chars := rapid.SampledFrom([]rune("ab.z09@-_+'!#~\"<> ()[]é,;:\\AZ"))
		atext := rapid.StringOfN(rapid.SampledFrom([]rune("abz09-_+'!#~.")), 1, 8, -1)
		v := rapid.OneOf(rapid.StringOfN(chars, 0, 24, -1),
			rapid.Custom(func(t *rapid.T) string { return atext.Draw(t, "local") + "@" + atext.Draw(t, "domain") })).Draw(t, "v")
		if !bareAddrSpec(v) {
			return
		}
		accepted++
		a, err := mail.ParseAddress(v)
		if err != nil || a.Address != v || a.Name != "" {
			t.Fatalf("bareAddrSpec(%q) but ParseAddress = %+v, %v", v, a, err)
		}
	})
	if accepted < 10 {
		t.Errorf("only %d generated strings were bare addr-specs: the property was hardly checked", accepted)
	}
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"ann@example.com", true},
		{"o'neil+tag@mail.example.co.uk", true},
		{"a@b", true}, // the parser's call; NormalizeEmail then wants a dot in the domain
		{".ann@example.com", false},
		{"ann.@example.com", false},
		{"an..n@example.com", false},
		{"ann@example.com.", false},
		{"ann@@example.com", false},
		{"@example.com", false},
		{"ann@", false},
		{"Ann@example.com", false},
		{`"ann lee"@example.com`, false},
		{"ann lee <ann@example.com>", false},
		{"zoë@example.com", false},
	} {
		if got := bareAddrSpec(c.v); got != c.want {
			t.Errorf("bareAddrSpec(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}

// FuzzNormalizeEmail: the shortcut and the parser agree on every input:
// NormalizeEmail's answer is the one it gave with the parser alone.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ann@example.com", " Ann@Example.com ", `"Ann Lee" <ann@example.com>`, "a..b@c.d", "x@y", "o'neil+t@m.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := NormalizeEmail(raw)
		want, werr := normalizeEmailParser(raw)
		if got != want || (err == nil) != (werr == nil) {
			t.Fatalf("NormalizeEmail(%q) = %q, %v; with the parser alone %q, %v", raw, got, err, want, werr)
		}
	})
}

// normalizeEmailParser is NormalizeEmail without the shortcut.
func normalizeEmailParser(raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	if v == "" || len(v) > 254 {
		return "", errors.New("refused")
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" {
		return "", errors.New("refused")
	}
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 || !strings.Contains(v[at+1:], ".") {
		return "", errors.New("refused")
	}
	return v, nil
}

// CompareKeys orders identifiers exactly as their keys compare, including
// types that are prefixes of one another and values that hold ':'.
func TestCompareKeysAgreesWithKeys(t *testing.T) {
	typ := rapid.StringMatching(`[a-z0-9_.-]{0,6}`)
	val := rapid.StringMatching(`[a-z0-9:_.-]{0,6}`)
	rapid.Check(t, func(t *rapid.T) {
		a := Identifier{Type: IDType(typ.Draw(t, "at")), Value: val.Draw(t, "av")}
		b := Identifier{Type: IDType(typ.Draw(t, "bt")), Value: val.Draw(t, "bv")}
		if got, want := CompareKeys(a, b), strings.Compare(a.Key(), b.Key()); got != want {
			t.Fatalf("CompareKeys(%q, %q) = %d, keys compare %d", a.Key(), b.Key(), got, want)
		}
	})
}
