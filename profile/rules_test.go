package profile

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func loadRules(t *testing.T, file string) *Rules {
	t.Helper()
	r, err := LoadRules(strings.NewReader(file))
	if err != nil {
		t.Fatalf("LoadRules(%s): %v", file, err)
	}
	return r
}

// A rules file changes only what it names: a file naming only email
// leaves user_id (and every other type) at its documented default.
func TestLoadRulesKeepsUnlistedDefaults(t *testing.T) {
	def := DefaultRules()
	r := loadRules(t, `{"rules":[{"type":"email","limit":2}]}`)
	for _, typ := range []IDType{UserID, Phone, DeviceID, AnonymousID, "crm_id"} {
		got, want := r.For(typ), def.For(typ)
		if got.Limit != want.Limit || got.Priority != want.Priority {
			t.Errorf("%s: limit %d priority %d, want the defaults %d and %d", typ, got.Limit, got.Priority, want.Limit, want.Priority)
		}
	}
	if e := r.For(Email); e.Limit != 2 || e.Priority != 2 {
		t.Errorf("email: limit %d priority %d, want 2 (the file's) and 2 (the default)", e.Limit, e.Priority)
	}
	// Lists the file does not name keep theirs: email's placeholders,
	// phone's, and the ones that apply to every type.
	for _, id := range []Identifier{{Email, "test@test.com"}, {Phone, "+15555555555"}, {UserID, "guest"}, {UserID, "undefined"}} {
		if !r.Blocked(id) {
			t.Errorf("Blocked(%s %s) = false, want the default block kept", id.Type, id.Value)
		}
	}
}

func TestLoadRulesChanges(t *testing.T) {
	for _, tt := range []struct {
		name  string
		file  string
		check func(t *testing.T, r *Rules)
	}{
		{"empty file is the defaults", `{}`, func(t *testing.T, r *Rules) {
			def := DefaultRules()
			for _, typ := range []IDType{UserID, Email, Phone, DeviceID, AnonymousID, "crm_id"} {
				if r.Limit(typ) != def.Limit(typ) || r.Priority(typ) != def.Priority(typ) {
					t.Errorf("%s: %d/%d, want %d/%d", typ, r.Limit(typ), r.Priority(typ), def.Limit(typ), def.Priority(typ))
				}
			}
		}},
		{"a present list replaces the type's", `{"rules":[{"type":"email","blocked":["ops@example.com"]}]}`, func(t *testing.T, r *Rules) {
			if r.Blocked(Identifier{Email, "test@test.com"}) || !r.Blocked(Identifier{Email, "ops@example.com"}) {
				t.Error("email's blocked list was not replaced")
			}
			if r.Limit(Email) != 5 {
				t.Errorf("email limit = %d, want the default 5", r.Limit(Email))
			}
		}},
		{"an empty list clears", `{"rules":[{"type":"phone","blocked":[]}]}`, func(t *testing.T, r *Rules) {
			if r.Blocked(Identifier{Phone, "+15555555555"}) {
				t.Error("phone's blocked list was not cleared")
			}
		}},
		{"a custom type starts from default", `{"rules":[{"type":"crm_id","limit":3}]}`, func(t *testing.T, r *Rules) {
			if r.Limit("crm_id") != 3 || r.Priority("crm_id") != 6 || r.Limit("loyalty") != 100 {
				t.Errorf("crm_id %d/%d loyalty %d, want 3/6 and 100", r.Limit("crm_id"), r.Priority("crm_id"), r.Limit("loyalty"))
			}
		}},
		{"default changes custom types only", `{"default":{"limit":7},"rules":[{"type":"crm_id","priority":9}]}`, func(t *testing.T, r *Rules) {
			if r.Limit("loyalty") != 7 || r.Limit("crm_id") != 7 || r.Priority("crm_id") != 9 || r.Limit(UserID) != 1 {
				t.Errorf("loyalty %d crm_id %d/%d user_id %d, want 7, 7/9, 1", r.Limit("loyalty"), r.Limit("crm_id"), r.Priority("crm_id"), r.Limit(UserID))
			}
		}},
		{"Segment spelling of a type", `{"rules":[{"type":"userId","limit":2}]}`, func(t *testing.T, r *Rules) {
			if r.Limit(UserID) != 2 || r.Priority(UserID) != 1 {
				t.Errorf("user_id %d/%d, want 2/1", r.Limit(UserID), r.Priority(UserID))
			}
		}},
		{"global lists replaced when present", `{"blocked":[]}`, func(t *testing.T, r *Rules) {
			if r.Blocked(Identifier{UserID, "guest"}) {
				t.Error("global blocked list was not cleared")
			}
			if !r.Blocked(Identifier{UserID, "undefined"}) {
				t.Error("global patterns, not named, were dropped")
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, loadRules(t, tt.file)) })
	}
}

// Errors name the field as the file spells it.
func TestLoadRulesErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct{ file, field string }{
		{`{"rules":[{"type":"crm","limit":-1}]}`, "rules[0].limit"},
		{`{"rules":[{"type":"email"},{"type":"crm","blocked_patterns":["("]}]}`, "rules[1].blocked_patterns[0]"},
		{`{"rules":[{"type":"email","priority":-2}]}`, "rules[0].priority"},
		{`{"rules":[{"type":"email"},{"type":"e-mail"}]}`, "rules[1].type"},
		{`{"rules":[{"type":""}]}`, "rules[0].type"},
		{`{"default":{"limit":-1}}`, "default.limit"},
		{`{"blocked_patterns":["("]}`, "blocked_patterns[0]"},
	} {
		_, err := LoadRules(strings.NewReader(tt.file))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("LoadRules(%s) = %v, want a FieldError for %s", tt.file, err, tt.field)
		}
	}
}

// The example rules file the README shows does what the README says.
func TestReadmeRulesExample(t *testing.T) {
	f, err := os.Open("testdata/rules-example.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := LoadRules(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		typ             IDType
		limit, priority int
	}{
		{Email, 2, 2}, {"loyalty_id", 1, 2}, {UserID, 1, 1}, {Phone, 5, 3}, {DeviceID, 20, 4}, {AnonymousID, 1000, 5}, {"crm_id", 100, 6},
	} {
		if got := r.For(tt.typ); got.Limit != tt.limit || got.Priority != tt.priority {
			t.Errorf("%s: limit %d priority %d, want %d and %d", tt.typ, got.Limit, got.Priority, tt.limit, tt.priority)
		}
	}
	for _, tt := range []struct {
		id      Identifier
		blocked bool
	}{
		{Identifier{Email, "info@example.com"}, true},
		{Identifier{Email, "test@test.com"}, false}, // email's list replaced
		{Identifier{Phone, "+15555555555"}, true},   // phone's list kept
		{Identifier{DeviceID, "kiosk-7"}, true},     // the added pattern
		{Identifier{UserID, "guest"}, true},         // the global list kept
		{Identifier{UserID, "u-7"}, false},
	} {
		if got := r.Blocked(tt.id); got != tt.blocked {
			t.Errorf("Blocked(%s %s) = %v, want %v", tt.id.Type, tt.id.Value, got, tt.blocked)
		}
	}
}

// TestKnownPatternsMatchTheirRegexps: each hand-written matcher of a
// default blocked pattern matches exactly the strings its regular
// expression matches, on strings built from the characters that matter
// (digits, '+', the words' letters in both cases, ASCII and other white
// space, runes that fold to Latin letters, invalid UTF-8).
func TestKnownPatternsMatchTheirRegexps(t *testing.T) {
	pieces := []string{"0", "00", "+", "1", "null", "NULL", "Null", "undefined", "UnDeFiNeD", "none", "NONE",
		"n", "u", "l", "o", "e", "d", "f", "i", "N", "L", " ", "\t", "\n", "\f", "\r", "\v", "\u00a0", "\u2003",
		"\u212a", "\u017f", "\u0130", "\u0131", "\xff", "\x00", "é", "-"}
	for _, p := range DefaultRulesFile().BlockedPatterns {
		if knownPatterns[p] == nil {
			t.Errorf("default pattern %q has no matcher", p)
		}
	}
	for p, m := range knownPatterns {
		re := regexp.MustCompile(p)
		rapid.Check(t, func(t *rapid.T) {
			parts := rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 5).Draw(t, "parts")
			v := strings.Join(parts, "")
			if got, want := m(v), re.MatchString(v); got != want {
				t.Fatalf("pattern %q on %q: matcher %v, regexp %v", p, v, got, want)
			}
		})
		for _, v := range pieces {
			if m(v) != re.MatchString(v) {
				t.Errorf("pattern %q on %q: matcher %v", p, v, m(v))
			}
		}
	}
}

// BenchmarkBlocked: the default rules' verdict on an ordinary
// identifier (blocked by nothing: every pattern is tried).
func BenchmarkBlocked(b *testing.B) {
	r := DefaultRules()
	ids := []Identifier{{UserID, "u12345"}, {Email, "pat.smith@example.org"}, {AnonymousID, "7f9c2ba4-e88f-4a1c-9d2a-0c3e1b5f6a70"}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if r.Blocked(ids[i%len(ids)]) {
			b.Fatal("blocked")
		}
	}
}
