package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"ucv/crdt"

	"ucv/crdt/codec"
)

// Money is an amount in one currency.
type Money struct {
	Amount     string `json:"amount"`      // decimal text, e.g. "123.45"
	MinorUnits int64  `json:"minor_units"` // exact
}

func money(cur string, minor int64) Money {
	exp := CurrencyExponent(cur)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
		minor = -minor
	}
	return Money{Amount: s, MinorUnits: minor}
}

// Computed holds traits derived from the profile's events.
type Computed struct {
	OrderCount        int64            `json:"order_count"`
	LifetimeRevenue   map[string]Money `json:"lifetime_revenue"`
	AverageOrderValue map[string]Money `json:"average_order_value"`
	LastOrderAt       *time.Time       `json:"last_order_at"`
	TopCategory       string           `json:"top_category,omitempty"`
	DistinctChannels  int              `json:"distinct_channels"`
	EventCounts       map[string]int64 `json:"event_counts"`
	// User are the user-defined computed traits (profile/catalog),
	// rendered as members of the computed object after the built-in
	// ones: "computed":{…,"orders_30d":2}. Set by the owner of the
	// catalog (View.SetEvaluation); empty otherwise.
	User []ComputedValue `json:"-"`
	// DaysSinceLastSeen depends on the reading time. It is the last field
	// so that a stored rendering without it can be completed on read
	// (see ViewPrefix).
	DaysSinceLastSeen *int `json:"days_since_last_seen,omitempty"`
}

// ComputedValue is one user-defined computed trait's value: nil (no
// value), int64, float64, string or bool.
type ComputedValue struct {
	Name  string
	Value any
}

// MarshalJSON renders the computed object with the user-defined values
// among its members (see Computed.User).
func (c Computed) MarshalJSON() ([]byte, error) { return c.appendJSON(nil), nil }

// Computed derives the computed traits as of now.
func (p *Profile) Computed(now time.Time) Computed {
	t := p.tally()
	c := Computed{
		OrderCount:        t.orders,
		LifetimeRevenue:   make(map[string]Money, len(t.revenue)),
		AverageOrderValue: make(map[string]Money, len(t.revenue)),
		EventCounts:       make(map[string]int64, len(t.events)),
	}
	for cur, v := range t.revenue {
		c.LifetimeRevenue[cur] = money(cur, *v)
		if n := t.ordersCur[cur]; n != nil && *n > 0 {
			c.AverageOrderValue[cur] = money(cur, roundDiv(*v, *n))
		}
	}
	for name, v := range t.events {
		c.EventCounts[name] = *v
	}
	var topN int64
	for name, v := range t.cats { // ties go to the smallest name
		if *v > topN || *v == topN && *v > 0 && name < c.TopCategory {
			topN, c.TopCategory = *v, name
		}
	}
	if p.LastOrder.Set {
		t := time.UnixMilli(p.LastOrder.V).UTC()
		c.LastOrderAt = &t
	}
	if p.LastSeen.Set {
		d := int(now.Sub(time.UnixMilli(p.LastSeen.V)) / (24 * time.Hour))
		c.DaysSinceLastSeen = &d
	}
	for _, ch := range p.Channels.Elems() {
		if strings.HasPrefix(ch, "channel:") {
			c.DistinctChannels++
		}
	}
	return c
}

// Builtins returns the built-in computed values as expressions read
// them (profile/catalog): order_count, distinct_channels and
// top_category, lifetime_revenue and average_order_value as maps of
// currency to the amount as a number, event_counts, and last_order_at
// when there was an order. It is Computed without the rendering
// (no decimal strings), and without the time-dependent
// days_since_last_seen.
func (p *Profile) Builtins() map[string]any {
	t := p.tally()
	m := make(map[string]any, 8)
	m["order_count"] = t.orders
	rev := make(map[string]any, len(t.revenue))
	avg := make(map[string]any, len(t.revenue))
	for cur, v := range t.revenue {
		scale := 1.0
		for range CurrencyExponent(cur) {
			scale *= 10
		}
		rev[cur] = float64(*v) / scale
		if n := t.ordersCur[cur]; n != nil && *n > 0 {
			avg[cur] = float64(roundDiv(*v, *n)) / scale
		}
	}
	m["lifetime_revenue"], m["average_order_value"] = rev, avg
	counts := make(map[string]any, len(t.events))
	for name, v := range t.events {
		counts[name] = *v
	}
	m["event_counts"] = counts
	var top string
	var topN int64
	for name, v := range t.cats { // ties go to the smallest name, as in Computed
		if *v > topN || *v == topN && *v > 0 && name < top {
			topN, top = *v, name
		}
	}
	m["top_category"] = top
	var ch int64
	for _, c := range p.Channels.Elems() {
		if strings.HasPrefix(c, "channel:") {
			ch++
		}
	}
	m["distinct_channels"] = ch
	if p.LastOrder.Set {
		m["last_order_at"] = time.UnixMilli(p.LastOrder.V).UTC()
	}
	return m
}

func roundDiv(a, b int64) int64 {
	if (a < 0) != (b < 0) {
		return (a - b/2) / b
	}
	return (a + b/2) / b
}

// View is the JSON shape of a profile served by the lookup API.
type View struct {
	ID         string          `json:"id"`
	Version    string          `json:"version"`
	Traits     json.RawMessage `json:"traits"` // rendered straight from the stored msgpack
	Identities []Identifier    `json:"identities"`
	Consent    map[string]bool `json:"consent"`
	FirstSeen  *time.Time      `json:"first_seen"`
	LastSeen   *time.Time      `json:"last_seen"`
	Channels   []string        `json:"channels"`
	Sources    []string        `json:"sources"`
	MergedFrom []string        `json:"merged_from"`
	Erased     bool            `json:"erased,omitempty"`
	// Audiences are the audiences the profile is in, sorted (never
	// null). Set by the owner of the catalog (SetEvaluation).
	Audiences []string `json:"audiences"`
	// Computed is the last field: see ViewPrefix.
	Computed Computed `json:"computed"`
}

// View renders the profile for the API as of now.
func (p *Profile) View(now time.Time) View {
	v := View{
		ID:         p.ID,
		Version:    p.Version.String(),
		Traits:     p.TraitsJSON(),
		Identities: p.IdentityList(),
		Computed:   p.Computed(now),
		Consent:    map[string]bool{},
		Channels:   []string{},
		Sources:    []string{},
		MergedFrom: p.Merges.Keys(),
		Erased:     p.Erased.Set,
		Audiences:  []string{},
	}
	for _, k := range p.Consent.Keys() {
		b, _ := p.Consent.Get(k)
		v.Consent[k] = len(b) == 1 && b[0] == 0xc3
	}
	if p.FirstSeen.Set {
		t := time.UnixMilli(p.FirstSeen.V).UTC()
		v.FirstSeen = &t
	}
	if p.LastSeen.Set {
		t := time.UnixMilli(p.LastSeen.V).UTC()
		v.LastSeen = &t
	}
	for _, c := range p.Channels.Elems() {
		if s, ok := strings.CutPrefix(c, "channel:"); ok {
			v.Channels = append(v.Channels, s)
		} else if s, ok := strings.CutPrefix(c, "source:"); ok {
			v.Sources = append(v.Sources, s)
		}
	}
	sort.Strings(v.Channels)
	return v
}

// SetEvaluation adds a catalog's evaluation to the view: the
// user-defined computed traits and the audiences (sorted).
func (v *View) SetEvaluation(values []ComputedValue, audiences []string) {
	v.Computed.User = values
	v.Audiences = audiences
	if v.Audiences == nil {
		v.Audiences = []string{}
	}
}

// TraitsJSON renders the live traits as a JSON object, keys sorted,
// transcoding each stored msgpack value without decoding it to Go values.
func (p *Profile) TraitsJSON() json.RawMessage {
	out := []byte{'{'}
	for _, k := range p.Traits.Keys() {
		b, _ := p.Traits.Get(k)
		mark := len(out)
		if mark > 1 {
			out = append(out, ',')
		}
		out = codec.AppendJSONString(out, k)
		out = append(out, ':')
		var err error
		if out, _, err = codec.AppendJSON(out, b); err != nil {
			out = out[:mark] // a value that cannot be rendered is left out
		}
	}
	return append(out, '}')
}

// TraitValues decodes the live traits.
func (p *Profile) TraitValues() map[string]any {
	out := make(map[string]any, p.Traits.Len())
	for _, k := range p.Traits.Keys() {
		b, _ := p.Traits.Get(k)
		if val, err := codec.UnmarshalValue(b); err == nil {
			out[k] = val
		}
	}
	return out
}

// ViewPrefix renders the JSON view without its one time-dependent field
// and without the closing braces of "computed" and of the view, so that a
// reader can complete it in constant time:
//
//	prefix + `,"days_since_last_seen":N}` + [`,"extra":…`] + `}`
//
// The prefix always ends inside the "computed" object after at least one
// field, so the leading comma is always right.
func (p *Profile) ViewPrefix() ([]byte, error) {
	return p.ViewPrefixWith(nil, nil)
}

// ViewPrefixWith is ViewPrefix with a catalog's evaluation (see
// View.SetEvaluation).
func (p *Profile) ViewPrefixWith(values []ComputedValue, audiences []string) ([]byte, error) {
	v := p.View(time.Time{})
	v.SetEvaluation(values, audiences)
	v.Computed.DaysSinceLastSeen = nil
	b := v.appendJSON(make([]byte, 0, 1024+len(v.Traits)))
	if !bytes.HasSuffix(b, []byte("}}")) {
		return nil, fmt.Errorf("profile: view rendering does not end in computed")
	}
	return b[:len(b)-2], nil
}

// appendJSON renders v exactly as encoding/json would (a test holds it to
// that), without reflection and without re-validating the raw traits.
func (v View) appendJSON(b []byte) []byte {
	str := codec.AppendJSONString
	strs := func(b []byte, ss []string) []byte {
		if ss == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, s := range ss {
			if i > 0 {
				b = append(b, ',')
			}
			b = str(b, s)
		}
		return append(b, ']')
	}
	tm := appendTime
	b = append(b, `{"id":`...)
	b = str(b, v.ID)
	b = append(b, `,"version":`...)
	b = str(b, v.Version)
	b = append(b, `,"traits":`...)
	if v.Traits == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, v.Traits...)
	}
	b = append(b, `,"identities":`...)
	if v.Identities == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, id := range v.Identities {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = str(b, string(id.Type))
			b = append(b, `,"value":`...)
			b = str(b, id.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"consent":{`...)
	for i, k := range crdt.SortedKeys(v.Consent) {
		if i > 0 {
			b = append(b, ',')
		}
		b = str(b, k)
		b = append(b, ':')
		b = strconv.AppendBool(b, v.Consent[k])
	}
	b = append(b, `},"first_seen":`...)
	b = tm(b, v.FirstSeen)
	b = append(b, `,"last_seen":`...)
	b = tm(b, v.LastSeen)
	b = append(b, `,"channels":`...)
	b = strs(b, v.Channels)
	b = append(b, `,"sources":`...)
	b = strs(b, v.Sources)
	b = append(b, `,"merged_from":`...)
	b = strs(b, v.MergedFrom)
	if v.Erased {
		b = append(b, `,"erased":true`...)
	}
	b = append(b, `,"audiences":`...)
	if v.Audiences == nil {
		b = append(b, "null"...)
	} else {
		b = strs(b, v.Audiences)
	}
	b = append(b, `,"computed":`...)
	b = v.Computed.appendJSON(b)
	return append(b, '}')
}

// appendTime renders a time as encoding/json does (RFC 3339 with
// nanoseconds), or null.
func appendTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSON renders the computed object.
func (c Computed) appendJSON(b []byte) []byte {
	str := codec.AppendJSONString
	tm := appendTime
	money := func(b []byte, m map[string]Money) []byte {
		b = append(b, '{')
		for i, k := range crdt.SortedKeys(m) {
			if i > 0 {
				b = append(b, ',')
			}
			b = str(b, k)
			b = append(b, `:{"amount":`...)
			b = str(b, m[k].Amount)
			b = append(b, `,"minor_units":`...)
			b = strconv.AppendInt(b, m[k].MinorUnits, 10)
			b = append(b, '}')
		}
		return append(b, '}')
	}
	b = append(b, `{"order_count":`...)
	b = strconv.AppendInt(b, c.OrderCount, 10)
	b = append(b, `,"lifetime_revenue":`...)
	b = money(b, c.LifetimeRevenue)
	b = append(b, `,"average_order_value":`...)
	b = money(b, c.AverageOrderValue)
	b = append(b, `,"last_order_at":`...)
	b = tm(b, c.LastOrderAt)
	if c.TopCategory != "" {
		b = append(b, `,"top_category":`...)
		b = str(b, c.TopCategory)
	}
	b = append(b, `,"distinct_channels":`...)
	b = strconv.AppendInt(b, int64(c.DistinctChannels), 10)
	b = append(b, `,"event_counts":{`...)
	for i, k := range crdt.SortedKeys(c.EventCounts) {
		if i > 0 {
			b = append(b, ',')
		}
		b = str(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, c.EventCounts[k], 10)
	}
	b = append(b, '}')
	for _, u := range c.User {
		b = append(b, ',')
		b = str(b, u.Name)
		b = append(b, ':')
		b = appendValueJSON(b, u.Value)
	}
	if c.DaysSinceLastSeen != nil {
		b = append(b, `,"days_since_last_seen":`...)
		b = strconv.AppendInt(b, int64(*c.DaysSinceLastSeen), 10)
	}
	return append(b, '}')
}

// appendValueJSON renders a computed value: null, a number, a string
// or a boolean (non-finite numbers as null).
func appendValueJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case string:
		return codec.AppendJSONString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, "null"...)
		}
	}
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}
