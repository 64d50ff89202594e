package catalog

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"ucv/profile"
)

// Survivorship policies (issue 15 §5; docs/decisions/0045-survivorship.md).

// Survivorship is the policy that chooses one trait's value among the
// values its sources wrote (profile.Candidate): the golden record's
// rule for the trait. Its JSON is the body of PUT
// /v1/admin/survivorship/{trait}; the name is the trait's key, or
// SurvivorshipDefault for every trait without a policy of its own.
// Without any, every trait keeps the value written last (most_recent).
type Survivorship struct {
	// Policy is one of profile.Policies.
	Policy string `json:"policy"`
	// Sources, for source_priority only (and required by it), are
	// source names (an edge write key's label, an import's --source),
	// preferred first; a source not listed ranks after every listed one.
	Sources     []string `json:"sources,omitempty"`
	Description string   `json:"description,omitempty"`
}

// Limits of survivorship policies.
const (
	// SurvivorshipDefault names the policy of every trait without one.
	SurvivorshipDefault = "default"
	// MaxPrioritySources bounds a source_priority list.
	MaxPrioritySources = 64
	maxSourceBytes     = 128
)

// checkTraitKey checks a survivorship name: a trait key.
func checkTraitKey(name string) error {
	if name == "" || len(name) > maxTraitKeyBytes || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) }) {
		return &Error{Kind: KindSurvivorship, Name: name, Field: "name",
			Message: fmt.Sprintf("must be a trait key of 1 to %d bytes without control characters, or %q", maxTraitKeyBytes, SurvivorshipDefault)}
	}
	return nil
}

// Check validates a survivorship policy on its own.
func (s Survivorship) Check(name string) error {
	e := func(field, msg string) error {
		return &Error{Kind: KindSurvivorship, Name: name, Field: field, Message: msg}
	}
	if err := checkTraitKey(name); err != nil {
		return err
	}
	if !slices.Contains(profile.Policies, s.Policy) {
		return e("policy", "must be one of "+strings.Join(profile.Policies, "|"))
	}
	switch {
	case s.Policy == profile.PolicySourcePriority && len(s.Sources) == 0:
		return e("sources", "is required by source_priority: list source names, preferred first")
	case s.Policy != profile.PolicySourcePriority && len(s.Sources) > 0:
		return e("sources", "is used by source_priority only: leave it out")
	case len(s.Sources) > MaxPrioritySources:
		return e("sources", fmt.Sprintf("lists more than %d sources", MaxPrioritySources))
	}
	for i, src := range s.Sources {
		if strings.TrimSpace(src) == "" || len(src) > maxSourceBytes || strings.ContainsRune(src, 0) {
			return e("sources", fmt.Sprintf("entries must be source names of 1 to %d bytes", maxSourceBytes))
		}
		if slices.Contains(s.Sources[:i], src) {
			return e("sources", fmt.Sprintf("lists %q twice", src))
		}
	}
	if len(s.Description) > MaxDescriptionBytes {
		return e("description", fmt.Sprintf("is longer than %d bytes", MaxDescriptionBytes))
	}
	return nil
}

// compileSurvivorship checks and indexes the survivorship policies.
func (comp *Compiled) compileSurvivorship(c Catalog) error {
	if len(c.Survivorship) > MaxDefinitions {
		return &Error{Field: "definitions", Message: fmt.Sprintf("more than %d of one kind", MaxDefinitions)}
	}
	for _, name := range sortedNames(c.Survivorship) {
		s := c.Survivorship[name]
		if err := s.Check(name); err != nil {
			return err
		}
		pol := profile.Policy{Name: s.Policy, Sources: s.Sources}
		if name == SurvivorshipDefault {
			comp.surviveDefault = pol
			continue
		}
		if comp.survive == nil {
			comp.survive = map[string]profile.Policy{}
		}
		comp.survive[name] = pol
	}
	return nil
}

// PolicyFor returns trait's survivorship policy: its own, else the
// default, else most_recent (profile.Survivor).
func (c *Compiled) PolicyFor(trait string) profile.Policy {
	if c == nil {
		return profile.Policy{Name: profile.PolicyMostRecent}
	}
	if p, ok := c.survive[trait]; ok {
		return p
	}
	if c.surviveDefault.Name != "" {
		return c.surviveDefault
	}
	return profile.Policy{Name: profile.PolicyMostRecent}
}

// Survives reports whether any trait has a policy other than
// most_recent: only then can Survive change a profile.
func (c *Compiled) Survives() bool {
	if c == nil {
		return false
	}
	if c.surviveDefault.Name != "" && c.surviveDefault.Name != profile.PolicyMostRecent {
		return true
	}
	for _, p := range c.survive {
		if p.Name != profile.PolicyMostRecent {
			return true
		}
	}
	return false
}

// Survive returns p with its golden record's traits (profile.Survive
// under the catalog's policies): p itself when no policy changes
// anything. Renderings (views, evaluations) read its result, so the hub
// and every edge that hold the same state show the same values.
func (c *Compiled) Survive(p *profile.Profile) *profile.Profile {
	if !c.Survives() {
		return p
	}
	return p.Survive(c)
}

// Winners explains each trait's value under the catalog's policies
// (profile.Profile.Winners).
func (c *Compiled) Winners(p *profile.Profile) []profile.Winner {
	if c == nil {
		return p.Winners(nil)
	}
	return p.Winners(c)
}
