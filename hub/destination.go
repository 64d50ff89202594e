package hub

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"ucv/profile/catalog"
	"ucv/profile/jsonbody"
)

// Destinations are the hub's third kind of definition, beside computed
// traits and audiences: where to deliver transitions and identity
// changes (docs/decisions/0036-webhooks.md). They are defined and
// removed by the same commands (CmdDefine, CmdUndefine with kind
// KindDestination) but kept beside the catalog.Catalog, not in it: the
// catalog is what edges receive, and destinations — with their secrets —
// never leave the hub.

// KindDestination is the kind of definition of a destination, as the
// admin API's path names it.
const KindDestination = "destinations"

// Event types a destination may ask for.
const (
	EventEntered   = "audience.entered"
	EventExited    = "audience.exited"
	EventMerged    = "profile.merged"
	EventUnmerged  = "profile.unmerged"
	EventErased    = "profile.erased"
	TypeWebhook    = "webhook"
	minSecretBytes = 16
)

// EventTypes are the event types a destination may ask for, sorted.
// Nothing emits profile.erased yet (erasure at the hub is issue 12).
var EventTypes = []string{EventEntered, EventExited, EventMerged, EventUnmerged, EventErased}

// Limits on destinations.
const (
	// MaxDestinations bounds the destinations of one hub.
	MaxDestinations = 100
	// DefaultMaxAttempts is a destination's max_attempts when it gives
	// none.
	DefaultMaxAttempts = 20
	// MaxAttemptsLimit is the largest max_attempts.
	MaxAttemptsLimit = 100
	maxURLBytes      = 2048
	maxSecretBytes   = 1024
	maxConsentBytes  = 100
)

// Destination is a webhook receiver and what to send it.
type Destination struct {
	// Type is "webhook", the only type so far.
	Type string `json:"type"`
	// URL is https, or http to a loopback host (127.0.0.0/8, ::1,
	// localhost).
	URL string `json:"url"`
	// Secret signs every request (webhook.Sign); at least 16 bytes.
	// Never returned by the API. An update without one keeps the
	// current one.
	Secret string `json:"secret,omitempty"`
	// Events are the event types to send (EventTypes), sorted.
	Events []string `json:"events"`
	// Audiences, when set, limits audience events to these audiences
	// (which must exist), sorted.
	Audiences []string `json:"audiences,omitempty"`
	// Consent, when set, is a consent category: a person who has not
	// granted it (context.consent.categoryPreferences) is not sent.
	Consent string `json:"consent,omitempty"`
	// MaxAttempts is how many attempts a delivery gets before it goes to
	// the dead-letter list: 1..100, DefaultMaxAttempts when 0.
	MaxAttempts int `json:"max_attempts"`
}

func destErr(name, field, msg string) error {
	return &catalog.Error{Kind: KindDestination, Name: name, Field: field, Message: msg}
}

// ParseDestination decodes an API body strictly (unknown fields
// refused), checks it on its own and returns it in canonical form
// (events and audiences sorted, max_attempts set). A missing secret is
// accepted here; the state machine takes the current one or refuses
// it. Errors are *catalog.Error naming the field.
func ParseDestination(name string, body []byte) (Destination, error) {
	if err := catalog.CheckName(KindDestination, name); err != nil {
		return Destination{}, err
	}
	var d Destination
	if err := jsonbody.Decode(body, &d); err != nil {
		var je *jsonbody.Error
		errors.As(err, &je)
		return d, destErr(name, je.Field, je.Message)
	}
	return d, d.check(name)
}

// check validates d on its own and makes it canonical.
func (d *Destination) check(name string) error {
	if d.Type != TypeWebhook {
		return destErr(name, "type", `must be "webhook"`)
	}
	if err := checkURL(d.URL); err != nil {
		return destErr(name, "url", err.Error())
	}
	if d.Secret != "" && len(d.Secret) < minSecretBytes {
		return destErr(name, "secret", fmt.Sprintf("must be at least %d bytes", minSecretBytes))
	}
	if len(d.Secret) > maxSecretBytes {
		return destErr(name, "secret", fmt.Sprintf("is longer than %d bytes", maxSecretBytes))
	}
	if len(d.Events) == 0 {
		return destErr(name, "events", "must list at least one of "+strings.Join(EventTypes, ", "))
	}
	for i, e := range d.Events {
		if !slices.Contains(EventTypes, e) {
			return destErr(name, fmt.Sprintf("events[%d]", i), "must be one of "+strings.Join(EventTypes, ", "))
		}
	}
	d.Events = sortedUnique(d.Events)
	for i, a := range d.Audiences {
		if err := catalog.CheckName(catalog.KindAudience, a); err != nil {
			return destErr(name, fmt.Sprintf("audiences[%d]", i), "must be an audience's name")
		}
	}
	d.Audiences = sortedUnique(d.Audiences)
	if len(d.Audiences) == 0 {
		d.Audiences = nil
	}
	if len(d.Consent) > maxConsentBytes || strings.TrimSpace(d.Consent) != d.Consent {
		return destErr(name, "consent", fmt.Sprintf("must be a consent category of at most %d bytes, without surrounding spaces", maxConsentBytes))
	}
	switch {
	case d.MaxAttempts == 0:
		d.MaxAttempts = DefaultMaxAttempts
	case d.MaxAttempts < 1 || d.MaxAttempts > MaxAttemptsLimit:
		return destErr(name, "max_attempts", fmt.Sprintf("must be 1..%d", MaxAttemptsLimit))
	}
	return nil
}

func sortedUnique(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// checkURL accepts an absolute https URL, or http to a loopback host,
// without credentials or a fragment.
func checkURL(s string) error {
	if s == "" {
		return fmt.Errorf("is required")
	}
	if len(s) > maxURLBytes {
		return fmt.Errorf("is longer than %d bytes", maxURLBytes)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("must be an absolute http(s) URL")
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("must not carry credentials (the secret signs every request)")
	case u.Fragment != "":
		return fmt.Errorf("must not have a fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("must be https (plain http only to a loopback host)")
	}
	return fmt.Errorf("must be an absolute http(s) URL")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// wants reports whether d takes an event of type typ about audience aud
// ("" for profile events).
func (d *Destination) wants(typ, aud string) bool {
	if !slices.Contains(d.Events, typ) {
		return false
	}
	return aud == "" || len(d.Audiences) == 0 || slices.Contains(d.Audiences, aud)
}
