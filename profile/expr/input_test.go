package expr

import (
	"math"
	"strings"
	"time"
)

// event is one event of a profile in the tests' Input.
type event struct {
	name  string
	at    time.Time
	props map[string]any
}

// profile is a plain-data Input: the tests' profiles. reads counts the
// calls of each method so tests can check laziness.
type profile struct {
	traits     map[string]any
	computed   map[string]any
	identities []map[string]string
	consent    map[string]bool
	audiences  []string
	first      time.Time
	last       time.Time
	now        time.Time
	events     []event
	reads      map[string]int
}

var _ Input = (*profile)(nil)

func (p *profile) note(what string) {
	if p.reads != nil {
		p.reads[what]++
	}
}

func (p *profile) Traits() map[string]any          { p.note("traits"); return p.traits }
func (p *profile) Computed() map[string]any        { p.note("computed"); return p.computed }
func (p *profile) Identities() []map[string]string { p.note("identities"); return p.identities }
func (p *profile) Consent() map[string]bool        { p.note("consent"); return p.consent }
func (p *profile) Audiences() []string             { p.note("audiences"); return p.audiences }
func (p *profile) FirstSeen() time.Time            { p.note("first_seen"); return p.first }
func (p *profile) LastSeen() time.Time             { p.note("last_seen"); return p.last }
func (p *profile) Now() time.Time                  { p.note("now"); return p.now }

// within reports whether e is named name and inside window before now.
func (p *profile) within(e event, name string, window time.Duration) bool {
	return e.name == name && !e.at.After(p.now) && (window == 0 || p.now.Sub(e.at) < window)
}

func (p *profile) Count(name string, window time.Duration) int64 {
	p.note("count")
	var n int64
	for _, e := range p.events {
		if p.within(e, name, window) {
			n++
		}
	}
	return n
}

func (p *profile) Sum(name, path string, window time.Duration) float64 {
	p.note("sum")
	var s float64
	for _, e := range p.events {
		if !p.within(e, name, window) {
			continue
		}
		var v any = e.props
		for _, seg := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[seg]
		}
		if f, ok := v.(float64); ok {
			s += f
		}
	}
	return s
}

func (p *profile) Exists(name string, window time.Duration) bool {
	p.note("exists_event")
	return p.Count(name, window) > 0
}

func (p *profile) DaysSince(t time.Time) int64 {
	p.note("days_since")
	return int64(math.Floor(p.now.Sub(t).Hours() / 24))
}
