package profile

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Rule is the identity rule for one identifier type, as in Segment Unify's
// identity resolution settings.
type Rule struct {
	// Type is the identifier type the rule applies to.
	Type IDType `json:"type"`
	// Limit is the most values of this type one profile may hold. An event
	// that would push a profile past it leaves the identifier out of the
	// link (the event itself is still stored). 0 means unlimited.
	Limit int `json:"limit"`
	// Priority orders types when a conflict must drop one: 1 is the
	// highest; on a breach the identifier with the largest number goes.
	Priority int `json:"priority"`
	// Blocked lists normalized values that are never used for linking.
	Blocked []string `json:"blocked,omitempty"`
	// BlockedPatterns lists RE2 regular expressions; a normalized value
	// matching any of them is never used for linking.
	BlockedPatterns []string `json:"blocked_patterns,omitempty"`

	blocked map[string]bool
	// matchers test BlockedPatterns in order: the regular expression's
	// MatchString, or for a pattern of DefaultRulesFile an equivalent
	// function (knownPatterns).
	matchers []func(string) bool
}

// Rules is a compiled set of identity rules. It is immutable after Compile
// and safe for concurrent use.
type Rules struct {
	byType map[IDType]*Rule
	// Default applies to types without a rule of their own (custom types).
	def Rule
	// Global blocked values and patterns apply to every type.
	global Rule
}

// RulesFile is a complete set of rules: every type without an entry in
// Rules gets Default. LoadRules reads a rules file as changes to
// DefaultRulesFile instead (see there); Compile takes a RulesFile as is.
type RulesFile struct {
	// Rules per identifier type.
	Rules []Rule `json:"rules"`
	// Default is the rule for types not listed (its Type is ignored).
	Default *Rule `json:"default,omitempty"`
	// Blocked and BlockedPatterns apply to values of every type.
	Blocked         []string `json:"blocked,omitempty"`
	BlockedPatterns []string `json:"blocked_patterns,omitempty"`
}

// DefaultRulesFile returns Segment-like defaults: user_id limit 1 (priority
// 1), email 5 (2), phone 5 (3), device_id 20 (4), anonymous_id 1000 (5),
// custom types 100 (6), and the placeholder values apps send when they
// have no real identifier.
func DefaultRulesFile() RulesFile {
	return RulesFile{
		Rules: []Rule{
			{Type: UserID, Limit: 1, Priority: 1},
			{Type: Email, Limit: 5, Priority: 2, Blocked: []string{
				"test@test.com", "none@none.com", "noemail@noemail.com", "no@email.com",
				"email@example.com", "test@example.com", "null@null.com", "a@a.com",
			}},
			{Type: Phone, Limit: 5, Priority: 3, Blocked: []string{
				"+10000000000", "+11111111111", "+11234567890", "+15555555555",
			}},
			{Type: DeviceID, Limit: 20, Priority: 4},
			{Type: AnonymousID, Limit: 1000, Priority: 5},
		},
		Default: &Rule{Limit: 100, Priority: 6},
		Blocked: []string{
			"anonymous", "null", "nil", "none", "undefined", "unknown", "n/a", "na",
			"test", "0", "-1", "[object object]", "true", "false", "guest",
		},
		BlockedPatterns: []string{`^0+$`, `^\+?0+$`, `^(?i)(null|undefined|none)$`, `^\s*$`},
	}
}

// DefaultRules returns the compiled DefaultRulesFile.
func DefaultRules() *Rules {
	r, err := DefaultRulesFile().Compile()
	if err != nil {
		panic(fmt.Sprintf("profile: default rules do not compile: %v", err)) // programming error
	}
	return r
}

// ruleChange is one rule of a rules file: the fields it names replace
// those of the rule it changes; the fields it leaves out keep their
// value. A list that is present replaces the list it changes (`[]`
// clears it); an absent or null list keeps it.
type ruleChange struct {
	Type            IDType   `json:"type"`
	Limit           *int     `json:"limit"`
	Priority        *int     `json:"priority"`
	Blocked         []string `json:"blocked"`
	BlockedPatterns []string `json:"blocked_patterns"`
}

// apply returns base with c's fields in place of base's.
func (c *ruleChange) apply(base Rule) Rule {
	if c.Limit != nil {
		base.Limit = *c.Limit
	}
	if c.Priority != nil {
		base.Priority = *c.Priority
	}
	if c.Blocked != nil {
		base.Blocked = c.Blocked
	}
	if c.BlockedPatterns != nil {
		base.BlockedPatterns = c.BlockedPatterns
	}
	return base
}

// rulesChange is the JSON shape of a rules file (see LoadRules).
type rulesChange struct {
	Rules           []ruleChange `json:"rules"`
	Default         *ruleChange  `json:"default"`
	Blocked         []string     `json:"blocked"`
	BlockedPatterns []string     `json:"blocked_patterns"`
}

// LoadRules reads a JSON rules file: changes to DefaultRulesFile, so a
// file states only what differs from the documented defaults.
//
//   - Each entry of "rules" changes the rule of its "type": the fields it
//     names ("limit", "priority", "blocked", "blocked_patterns") replace
//     the default rule's, the others keep their default. A type without
//     a default rule of its own (a custom type such as crm_id) starts
//     from "default".
//   - Types the file does not list keep their default rule: a file that
//     names only email leaves user_id at limit 1.
//   - "default" changes the rule of custom types the same way.
//   - Top-level "blocked" and "blocked_patterns", when present, replace
//     the default lists that apply to every type; absent, they keep them.
//
// A list replaces the default list it names (`[]` clears it). Unknown
// fields, a type named twice, a negative limit or priority and an
// invalid pattern are *FieldErrors naming the field.
func LoadRules(r io.Reader) (*Rules, error) {
	var c rulesChange
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("profile: read rules: %w", err)
	}
	f, err := c.onDefaults()
	if err != nil {
		return nil, err
	}
	return f.Compile()
}

// onDefaults applies c to DefaultRulesFile.
func (c *rulesChange) onDefaults() (RulesFile, error) {
	f := DefaultRulesFile()
	def := *f.Default
	if c.Default != nil {
		def = c.Default.apply(def)
	}
	if err := check(def, "default", ""); err != nil {
		return RulesFile{}, err
	}
	f.Default = &def
	at := make(map[IDType]int, len(f.Rules)) // type → index in f.Rules
	for i, r := range f.Rules {
		at[r.Type] = i
	}
	named := map[IDType]bool{}
	for i, rc := range c.Rules {
		t, err := NormalizeType(string(rc.Type))
		if err != nil {
			return RulesFile{}, &FieldError{Field: fmt.Sprintf("rules[%d].type", i), Reason: err.Error()}
		}
		if named[t] {
			return RulesFile{}, &FieldError{Field: fmt.Sprintf("rules[%d].type", i), Reason: "duplicate rule for " + string(t)}
		}
		named[t] = true
		j, ok := at[t]
		base := def
		if ok {
			base = f.Rules[j]
		}
		r := rc.apply(base)
		r.Type = t
		if err := check(r, fmt.Sprintf("rules[%d]", i), t); err != nil {
			return RulesFile{}, err
		}
		if ok {
			f.Rules[j] = r
		} else {
			at[t] = len(f.Rules)
			f.Rules = append(f.Rules, r)
		}
	}
	if c.Blocked != nil {
		f.Blocked = c.Blocked
	}
	if c.BlockedPatterns != nil {
		f.BlockedPatterns = c.BlockedPatterns
	}
	return f, check(Rule{Blocked: f.Blocked, BlockedPatterns: f.BlockedPatterns}, "", "")
}

// check validates r, naming fields under path as the file spells them
// (Compile would name them by their place among the defaults).
func check(r Rule, path string, t IDType) error {
	return r.compile(path, t)
}

// Compile validates the file and builds Rules.
func (f RulesFile) Compile() (*Rules, error) {
	rs := &Rules{byType: map[IDType]*Rule{}}
	for i, r := range f.Rules {
		t, err := NormalizeType(string(r.Type))
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("rules[%d].type", i), Reason: err.Error()}
		}
		if _, dup := rs.byType[t]; dup {
			return nil, &FieldError{Field: fmt.Sprintf("rules[%d].type", i), Reason: "duplicate rule for " + string(t)}
		}
		r.Type = t
		if err := r.compile(fmt.Sprintf("rules[%d]", i), t); err != nil {
			return nil, err
		}
		rs.byType[t] = &r
	}
	def := Rule{Limit: 100, Priority: 6}
	if f.Default != nil {
		def = *f.Default
	}
	if err := def.compile("default", ""); err != nil {
		return nil, err
	}
	rs.def = def
	g := Rule{Blocked: f.Blocked, BlockedPatterns: f.BlockedPatterns}
	if err := g.compile("", ""); err != nil {
		return nil, err
	}
	rs.global = g
	return rs, nil
}

func (r *Rule) compile(path string, t IDType) error {
	at := func(f string) string {
		if path == "" {
			return f
		}
		return path + "." + f
	}
	if r.Limit < 0 {
		return &FieldError{Field: at("limit"), Reason: "must be >= 0"}
	}
	if r.Priority < 0 {
		return &FieldError{Field: at("priority"), Reason: "must be >= 0"}
	}
	r.blocked = make(map[string]bool, len(r.Blocked))
	for _, b := range r.Blocked {
		// Blocked values are compared in normalized form; a value that does
		// not normalize under t is compared trimmed and lower-cased.
		v := strings.ToLower(strings.TrimSpace(b))
		if t != "" {
			if n, err := NormalizeValue(t, b, DefaultNormalizeOptions()); err == nil {
				v = n
			}
		}
		r.blocked[v] = true
	}
	r.matchers = nil
	for i, p := range r.BlockedPatterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return &FieldError{Field: at(fmt.Sprintf("blocked_patterns[%d]", i)), Reason: "invalid regular expression", Err: err}
		}
		m := knownPatterns[p]
		if m == nil {
			m = re.MatchString
		}
		r.matchers = append(r.matchers, m)
	}
	return nil
}

func (r *Rule) blocks(v string) bool {
	if len(r.blocked) > 0 && (r.blocked[v] || r.blocked[strings.ToLower(v)]) {
		return true
	}
	for _, m := range r.matchers {
		if m(v) {
			return true
		}
	}
	return false
}

// knownPatterns holds, for each pattern of DefaultRulesFile, a function
// that matches exactly the strings the regular expression matches: the
// applier tests every identifier of every event against the blocked
// patterns, and four regular expressions cost ~240 ns an identifier
// where these cost a few. TestKnownPatternsMatchTheirRegexps holds each
// to its regular expression.
var knownPatterns = map[string]func(string) bool{
	`^0+$`:    onlyZeros,
	`^\+?0+$`: func(v string) bool { return onlyZeros(strings.TrimPrefix(v, "+")) },
	`^(?i)(null|undefined|none)$`: func(v string) bool {
		return strings.EqualFold(v, "null") || strings.EqualFold(v, "undefined") || strings.EqualFold(v, "none")
	},
	`^\s*$`: func(v string) bool { return strings.Trim(v, "\t\n\f\r ") == "" },
}

// onlyZeros reports whether v is one or more '0's.
func onlyZeros(v string) bool { return v != "" && strings.Trim(v, "0") == "" }

// For returns the rule that applies to type t.
func (rs *Rules) For(t IDType) Rule {
	if r, ok := rs.byType[t]; ok {
		return *r
	}
	d := rs.def
	d.Type = t
	return d
}

// Blocked reports whether id must never be used for linking.
func (rs *Rules) Blocked(id Identifier) bool {
	if rs.global.blocks(id.Value) {
		return true
	}
	if r, ok := rs.byType[id.Type]; ok {
		return r.blocks(id.Value)
	}
	return rs.def.blocks(id.Value)
}

// Limit returns the most values of type t one profile may hold (0 = no limit).
func (rs *Rules) Limit(t IDType) int { return rs.For(t).Limit }

// Priority returns the priority of type t (1 is highest).
func (rs *Rules) Priority(t IDType) int { return rs.For(t).Priority }

// SortByPriority orders ids from highest priority (smallest number) to
// lowest, ties broken by key, so the result is deterministic.
func (rs *Rules) SortByPriority(ids []Identifier) {
	slices.SortStableFunc(ids, func(a, b Identifier) int {
		if c := cmp.Compare(rs.Priority(a.Type), rs.Priority(b.Type)); c != 0 {
			return c
		}
		return CompareKeys(a, b)
	})
}
