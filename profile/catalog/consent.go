package catalog

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"ucv/profile"
)

// Consent purposes and retention policies (issue 12 §5, §6;
// docs/decisions/0041-consent-and-retention.md).

// ConsentPurpose is a consent category (a key of Segment's
// context.consent.categoryPreferences, matched ignoring letter case) and
// what needs it: a person who has not granted it is left out of what it
// lists when data is used for that purpose. Its JSON is the body of PUT
// /v1/admin/consent-purposes/{name}; the name is the category.
type ConsentPurpose struct {
	// Traits are keys of personal data: profile traits, and computed
	// values (user-defined computed traits, model scores such as
	// p_alive), withheld from a lookup for the purpose.
	Traits []string `json:"traits,omitempty"`
	// Audiences are withheld from a lookup for the purpose.
	Audiences []string `json:"audiences,omitempty"`
	// Offers are decided only for people who granted the purpose,
	// asked or not (as an offer's own consent field).
	Offers []string `json:"offers,omitempty"`
	// Destinations (hub webhook destinations, edge forwarding targets)
	// receive only people who granted the purpose.
	Destinations []string `json:"destinations,omitempty"`
	// Recommendations withholds the recommendation scores from a
	// lookup for the purpose.
	Recommendations bool   `json:"recommendations,omitempty"`
	Description     string `json:"description,omitempty"`
}

// Retention is the catalog's retention policy (one, named
// RetentionPolicyName). Zero days switch a rule off.
type Retention struct {
	// EventsDays: events older than this leave timelines, ledgers and
	// computed-trait windows.
	EventsDays int `json:"events_days,omitempty"`
	// InactiveDays: a profile with no event for this long is erased.
	InactiveDays int `json:"inactive_days,omitempty"`
	// AnonymousDays: a profile with only anonymous identifiers
	// (anonymous_id, device_id: no user_id, email or phone) and no
	// event for this long is erased. At most InactiveDays when both
	// are set.
	AnonymousDays int    `json:"anonymous_days,omitempty"`
	Description   string `json:"description,omitempty"`
}

// Limits of consent purposes and retention policies.
const (
	// RetentionPolicyName is the one retention policy's name.
	RetentionPolicyName = "default"
	// MaxRetentionDays bounds every retention period (10 years).
	MaxRetentionDays = 3650
	// MaxPurposeEntries bounds each list of a consent purpose.
	MaxPurposeEntries = 1000
	maxTraitKeyBytes  = 200
)

// Check validates a consent purpose on its own; Compile checks that the
// audiences and offers it names exist.
func (cp ConsentPurpose) Check(name string) error {
	e := func(field, msg string) error {
		return &Error{Kind: KindPurpose, Name: name, Field: field, Message: msg}
	}
	if err := CheckName(KindPurpose, name); err != nil {
		return err
	}
	for field, list := range map[string][]string{"traits": cp.Traits, "audiences": cp.Audiences, "offers": cp.Offers, "destinations": cp.Destinations} {
		if len(list) > MaxPurposeEntries {
			return e(field, fmt.Sprintf("lists more than %d entries", MaxPurposeEntries))
		}
		for _, v := range list {
			if field == "traits" {
				if strings.TrimSpace(v) == "" || len(v) > maxTraitKeyBytes {
					return e(field, fmt.Sprintf("entries must be trait keys of 1 to %d bytes", maxTraitKeyBytes))
				}
				continue
			}
			if !namePattern.MatchString(v) {
				return e(field, "entries must be names matching [a-z][a-z0-9_]{0,63}")
			}
		}
	}
	if len(cp.Description) > MaxDescriptionBytes {
		return e("description", fmt.Sprintf("is longer than %d bytes", MaxDescriptionBytes))
	}
	return nil
}

// Check validates a retention policy.
func (r Retention) Check(name string) error {
	e := func(field, msg string) error {
		return &Error{Kind: KindRetention, Name: name, Field: field, Message: msg}
	}
	if name != RetentionPolicyName {
		return e("name", fmt.Sprintf("must be %q: the catalog holds one retention policy", RetentionPolicyName))
	}
	for field, d := range map[string]int{"events_days": r.EventsDays, "inactive_days": r.InactiveDays, "anonymous_days": r.AnonymousDays} {
		if d < 0 || d > MaxRetentionDays {
			return e(field, fmt.Sprintf("must be from 1 to %d days, or 0 (off)", MaxRetentionDays))
		}
	}
	if r.EventsDays == 0 && r.InactiveDays == 0 && r.AnonymousDays == 0 {
		return e("events_days", "a policy needs at least one of events_days, inactive_days, anonymous_days")
	}
	if r.InactiveDays > 0 && r.AnonymousDays > r.InactiveDays {
		return e("anonymous_days", "must be at most inactive_days: anonymous-only profiles have the shorter TTL")
	}
	if len(r.Description) > MaxDescriptionBytes {
		return e("description", fmt.Sprintf("is longer than %d bytes", MaxDescriptionBytes))
	}
	return nil
}

// purpose is one consent purpose compiled.
type purpose struct {
	name            string
	traits          map[string]bool
	audiences       map[string]bool
	recommendations bool
}

// compileConsent checks consent purposes against the catalog and
// indexes them; it runs before compileOffers, which reads offerNeeds.
func (comp *Compiled) compileConsent(c Catalog) error {
	if len(c.ConsentPurposes) > MaxDefinitions {
		return &Error{Field: "definitions", Message: fmt.Sprintf("more than %d of one kind", MaxDefinitions)}
	}
	for _, name := range sortedNames(c.ConsentPurposes) {
		cp := c.ConsentPurposes[name]
		if err := cp.Check(name); err != nil {
			return err
		}
		pu := &purpose{name: name, traits: map[string]bool{}, audiences: map[string]bool{}, recommendations: cp.Recommendations}
		for _, t := range cp.Traits {
			pu.traits[t] = true
		}
		for _, a := range cp.Audiences {
			if _, ok := c.Audiences[a]; !ok {
				return &Error{Kind: KindPurpose, Name: name, Field: "audiences", Message: fmt.Sprintf("audience %q is not defined", a)}
			}
			pu.audiences[a] = true
		}
		for _, o := range cp.Offers {
			if _, ok := c.Offers[o]; !ok {
				return &Error{Kind: KindPurpose, Name: name, Field: "offers", Message: fmt.Sprintf("offer %q is not defined", o)}
			}
			if comp.offerNeeds == nil {
				comp.offerNeeds = map[string][]string{}
			}
			comp.offerNeeds[o] = append(comp.offerNeeds[o], name)
		}
		for _, d := range cp.Destinations {
			if comp.destNeeds == nil {
				comp.destNeeds = map[string][]string{}
			}
			comp.destNeeds[d] = append(comp.destNeeds[d], name)
		}
		if comp.purposes == nil {
			comp.purposes = map[string]*purpose{}
		}
		comp.purposes[name] = pu
	}
	for name, r := range c.Retention {
		if err := r.Check(name); err != nil {
			return err
		}
		comp.retention = &r
	}
	return nil
}

// KnownPurpose reports whether category names a consent purpose: one the
// catalog defines, or one of the built-in ConsentPurposes (ignoring
// letter case either way).
func (c *Compiled) KnownPurpose(category string) bool {
	l := strings.ToLower(category)
	if slices.Contains(ConsentPurposes, l) {
		return true
	}
	if c == nil {
		return false
	}
	_, ok := c.purposes[l]
	return ok
}

// WithConsentDefault returns c with the consent default set: whether a
// profile that has stated nothing about a category counts as granting
// it (an edge's --consent-default; denied when never set). The digest
// changes with it, so renderings made under the other default are
// redone.
func (c *Compiled) WithConsentDefault(granted bool) *Compiled {
	if c == nil || c.consentDefault == granted {
		return c
	}
	n := *c
	n.consentDefault = granted
	n.digest = c.digest ^ 0x9e3779b97f4a7c15 // a fixed mix: same flag, same digest
	return &n
}

// ConsentDefault reports the default WithConsentDefault set.
func (c *Compiled) ConsentDefault() bool { return c != nil && c.consentDefault }

// Consented reports whether p granted category (ignoring letter case):
// its latest statement for it, or the consent default when it has none.
// A nil or erased profile has none.
func (c *Compiled) Consented(p *profile.Profile, category string) bool {
	if p == nil || p.Erased.Set {
		return c.ConsentDefault()
	}
	granted, known := p.ConsentState(category)
	if !known {
		return c.ConsentDefault()
	}
	return granted
}

// consentedMap is Consented over the map an evaluation reads.
func (c *Compiled) consentedMap(consent map[string]bool, category string) bool {
	granted, known := true, false
	for k, v := range consent {
		if strings.EqualFold(k, category) {
			known = true
			granted = granted && v
		}
	}
	if !known {
		return c.ConsentDefault()
	}
	return granted
}

// Withheld is what a lookup for a purpose leaves out of one profile's
// answer: nothing when the person granted the purpose (or the catalog
// marks nothing under it).
type Withheld struct {
	purpose *purpose
}

// Any reports whether anything is withheld.
func (w Withheld) Any() bool { return w.purpose != nil }

// Trait reports whether trait (or computed value) key is withheld.
func (w Withheld) Trait(key string) bool { return w.purpose != nil && w.purpose.traits[key] }

// Audience reports whether audience name is withheld.
func (w Withheld) Audience(name string) bool { return w.purpose != nil && w.purpose.audiences[name] }

// Recommendations reports whether recommendation scores are withheld.
func (w Withheld) Recommendations() bool { return w.purpose != nil && w.purpose.recommendations }

// Withhold returns what a lookup of p for purpose category leaves out:
// the traits, computed values, audiences and recommendations the
// catalog marks under that purpose, when p has not granted it
// (Consented). Offers are not here: Decide honours consent itself.
// category must be known (KnownPurpose); a built-in one the catalog
// does not define marks nothing.
func (c *Compiled) Withhold(p *profile.Profile, category string) Withheld {
	if c == nil {
		return Withheld{}
	}
	pu := c.purposes[strings.ToLower(category)]
	if pu == nil || c.Consented(p, category) {
		return Withheld{}
	}
	return Withheld{purpose: pu}
}

// DestinationPurposes returns the consent purposes that list destination
// name (sorted): a person is sent to it only if they granted every one.
func (c *Compiled) DestinationPurposes(name string) []string {
	if c == nil {
		return nil
	}
	return c.destNeeds[name]
}

// RetentionPolicy returns the catalog's retention policy, if it has one.
func (c *Compiled) RetentionPolicy() (Retention, bool) {
	if c == nil || c.retention == nil {
		return Retention{}, false
	}
	return *c.retention, true
}

// evalClock is the catalog's evaluation clock for retention: now rounded
// down to NowGranularity (the hour), so every replica draws the lines at
// the same moments.
func evalClock(now time.Time) time.Time { return now.Truncate(NowGranularity) }

const day = 24 * time.Hour

// RetentionCutoff returns the event time (ms) before which events leave
// timelines, ledgers and windows as of now: the evaluation clock minus
// the policy's events_days. ok is false when there is no such rule.
// Owners of stored profiles pass it to profile.Profile.Prune when they
// rewrite a profile.
func (c *Compiled) RetentionCutoff(now time.Time) (ms int64, ok bool) {
	r, has := c.RetentionPolicy()
	if !has || r.EventsDays == 0 {
		return 0, false
	}
	return evalClock(now).Add(-time.Duration(r.EventsDays) * day).UnixMilli(), true
}

// noteRetention notes, in an evaluation's Next, the first moment an
// event the profile holds leaves retention (the hour after its age
// passes events_days), so the owner of a stored profile re-renders it
// then and prunes it (profile.Profile.Prune) as it does.
func (c *Compiled) noteRetention(p *profile.Profile, in *input) {
	if c.retention == nil || c.retention.EventsDays == 0 {
		return
	}
	keep := time.Duration(c.retention.EventsDays) * day
	first := int64(math.MaxInt64)
	for _, e := range p.Ledger.Entries {
		if e.Time >= 0 && e.Time < first {
			first = e.Time
		}
	}
	for _, it := range p.Timeline.Items {
		first = min(first, it.Time)
	}
	if first == math.MaxInt64 {
		return
	}
	leave := evalClock(time.UnixMilli(first).Add(keep)).Add(NowGranularity).UnixMilli()
	if leave <= in.nowMs { // held but already out: leaves at the next hour
		leave = evalClock(in.now).Add(NowGranularity).UnixMilli()
	}
	in.note(leave)
}

// Expiry reasons Expired gives.
const (
	ExpiredInactive  = "inactive"
	ExpiredAnonymous = "anonymous"
)

// Expired reports whether retention policy erases p as of now, and why:
// ExpiredAnonymous when p has only anonymous identifiers (no user_id,
// email or phone) and no event for AnonymousDays; ExpiredInactive when
// it has had no event for InactiveDays. Activity is the last event time
// (the first, else the profile's version time, when it has none). Time
// is the evaluation clock (now rounded down to the hour), so every
// replica agrees. It is a pure function: the hub's privacy machinery
// calls it to raise system-initiated erase requests. An erased or nil
// profile has expired already: false.
func Expired(p *profile.Profile, policy Retention, now time.Time) (bool, string) {
	if p == nil || p.Erased.Set {
		return false, ""
	}
	var last int64
	switch {
	case p.LastSeen.Set:
		last = p.LastSeen.V
	case p.FirstSeen.Set:
		last = p.FirstSeen.V
	default:
		last = p.Version.Wall
	}
	idle := evalClock(now).Sub(time.UnixMilli(last))
	if policy.AnonymousDays > 0 && idle >= time.Duration(policy.AnonymousDays)*day && anonymousOnly(p) {
		return true, ExpiredAnonymous
	}
	if policy.InactiveDays > 0 && idle >= time.Duration(policy.InactiveDays)*day {
		return true, ExpiredInactive
	}
	return false, ""
}

// anonymousOnly reports whether p has no identifier naming a known
// person: no user_id, email or phone.
func anonymousOnly(p *profile.Profile) bool {
	for _, id := range p.IdentityList() {
		switch id.Type {
		case profile.UserID, profile.Email, profile.Phone:
			return false
		}
	}
	return true
}
