package catalog

import (
	"math"
	"slices"
	"time"

	"ucv/crdt"
	"ucv/profile"
	"ucv/profile/expr"
)

// Incremental evaluation. An event changes a few of a profile's inputs
// (its event's aggregates, last_seen, perhaps traits); most audiences
// read none of them and keep their answer. Reevaluate evaluates only the
// audiences whose inputs changed (or that read an audience whose answer
// changed), and takes the others' memberships from the previous
// evaluation. Time is not an input here: the previous evaluation's Next
// still covers the audiences skipped, and the caller uses Reevaluate only
// while that moment has not come (a view that is stale by time or by
// catalog is evaluated in full).

// Change says what changed in a profile since an evaluation.
type Change struct {
	Traits, Identities, Consent bool
	FirstSeen, LastSeen         bool
	// Orders: an order arrived (order_count, revenue, averages,
	// last_order_at). Channels: a new channel.
	Orders, Channels bool
	// Events are the track event names of the messages added.
	Events []string
}

// Add merges o into c.
func (c *Change) Add(o Change) {
	c.Traits = c.Traits || o.Traits
	c.Identities = c.Identities || o.Identities
	c.Consent = c.Consent || o.Consent
	c.FirstSeen = c.FirstSeen || o.FirstSeen
	c.LastSeen = c.LastSeen || o.LastSeen
	c.Orders = c.Orders || o.Orders
	c.Channels = c.Channels || o.Channels
	for _, e := range o.Events {
		if !slices.Contains(c.Events, e) {
			c.Events = append(c.Events, e)
		}
	}
}

// ChangeOf describes what delta d (a Profile.Apply result) changed, given
// the profile's first and last seen before it.
func ChangeOf(d *profile.Profile, firstBefore crdt.Min, lastBefore crdt.Max) Change {
	c := Change{
		Traits:     len(d.Traits.M) > 0,
		Identities: d.Identities.Len() > 0,
		Consent:    len(d.Consent.M) > 0,
		FirstSeen:  d.FirstSeen.Set && (!firstBefore.Set || d.FirstSeen.V < firstBefore.V),
		LastSeen:   d.LastSeen.Set && (!lastBefore.Set || d.LastSeen.V > lastBefore.V),
		Orders:     d.LastOrder.Set,
		Channels:   d.Channels.Len() > 0,
	}
	d.LedgerEvents(func(e *profile.LedgerEvent) {
		if string(e.Kind) == string(profile.Track) && !slices.Contains(c.Events, string(e.Event)) {
			c.Events = append(c.Events, string(e.Event))
		}
	})
	return c
}

// readSet is what one audience's answer depends on, besides time.
type readSet struct {
	now, traits, identities, consent, firstSeen, lastSeen bool
	builtins                                              []string // built-in computed keys read
	allComputed                                           bool     // reads computed as a whole
	events                                                map[string]bool
	deps                                                  []string
}

func newReadSet(p *expr.Program, c Catalog) readSet {
	rs := readSet{events: map[string]bool{}, deps: p.Deps()}
	for _, v := range p.Vars() {
		switch v {
		case "now":
			rs.now = true
		case "traits":
			rs.traits = true
		case "identities":
			rs.identities = true
		case "consent":
			rs.consent = true
		case "first_seen":
			rs.firstSeen = true
		case "last_seen":
			rs.lastSeen = true
		}
	}
	keys, all := p.ComputedKeys()
	rs.allComputed = all
	for _, k := range keys {
		if slices.Contains(reserved, k) {
			rs.builtins = append(rs.builtins, k)
		} else if t, ok := c.ComputedTraits[k]; ok {
			rs.events[t.Event] = true
		}
	}
	for _, call := range p.Calls() {
		if call.Event != "" {
			rs.events[call.Event] = true
		}
	}
	return rs
}

// affected reports whether an audience reading rs may answer differently
// after ch, given the audiences whose answers already changed.
func (rs readSet) affected(ch Change, changed map[string]bool) bool {
	switch {
	case rs.now,
		rs.traits && ch.Traits, rs.identities && ch.Identities, rs.consent && ch.Consent,
		rs.firstSeen && ch.FirstSeen, rs.lastSeen && ch.LastSeen:
		return true
	case rs.allComputed && (len(ch.Events) > 0 || ch.Orders || ch.Channels):
		return true
	}
	for _, e := range ch.Events {
		if rs.events[e] {
			return true
		}
	}
	for _, k := range rs.builtins {
		switch k {
		case "event_counts", "top_category":
			if len(ch.Events) > 0 {
				return true
			}
		case "distinct_channels":
			if ch.Channels {
				return true
			}
		default: // order_count, revenue, averages, last_order_at, value models
			if ch.Orders {
				return true
			}
		}
	}
	for _, d := range rs.deps {
		if changed[d] {
			return true
		}
	}
	return false
}

// Reevaluate is Evaluate after a known change: the computed traits in
// full, and only the audiences ch may affect; the others keep their
// membership in prev (the previous evaluation's audiences, sorted: as
// Result.Audiences are). Next
// is the earlier of prevNext (which covers the audiences skipped) and
// what this evaluation found. The result equals Evaluate's as long as
// prev and prevNext come from an evaluation of the profile before ch under
// the same catalog, and now is before prevNext (or prevNext is zero).
func (c *Compiled) Reevaluate(p *profile.Profile, now time.Time, prev []string, prevNext time.Time, ch Change) Result {
	if c.Empty() || p.Erased.Set {
		return c.Evaluate(p, now)
	}
	var r Result
	in := c.computeValues(p, now, &r)
	sess := expr.NewSession(in)
	var changed map[string]bool
	for i, prog := range c.auds {
		name := prog.Name()
		_, was := slices.BinarySearch(prev, name)
		is := was
		if c.reads[i].affected(ch, changed) {
			ok, err := prog.EvalSession(sess)
			if err != nil {
				ok = false
				if r.Errors == nil {
					r.Errors = map[string]error{}
				}
				r.Errors[name] = err
			}
			is = ok
		}
		if is != was {
			if changed == nil {
				changed = map[string]bool{}
			}
			changed[name] = true
		}
		if is {
			in.in = append(in.in, name)
		}
	}
	r.Audiences = slices.Clone(in.in)
	slices.Sort(r.Audiences)
	if !prevNext.IsZero() {
		in.note(prevNext.UnixMilli())
	}
	if in.next != math.MaxInt64 {
		r.Next = time.UnixMilli(in.next).UTC()
	}
	return r
}
