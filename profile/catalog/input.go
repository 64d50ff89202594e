package catalog

import (
	"time"

	"ucv/profile"
)

// input is one profile's evaluation as expressions read it (expr.Input).
// Values are built on first use and shared by every audience of the
// evaluation; time-dependent reads note when their answer next changes.
type input struct {
	c     *Compiled
	p     *profile.Profile
	now   time.Time
	nowMs int64
	next  int64 // ms; math.MaxInt64 = never
	acc   []acc
	user  []Value
	in    []string // audiences the profile is in so far (dependency order)

	traits     map[string]any
	computed   map[string]any
	identities []map[string]string
	consent    map[string]bool
}

// note records that something read can change at ms.
func (in *input) note(ms int64) {
	if ms > in.nowMs && ms < in.next {
		in.next = ms
	}
}

func (in *input) Traits() map[string]any {
	if in.traits == nil {
		in.traits = profile.Normalize(in.c.Survive(in.p).TraitValues()).(map[string]any)
	}
	return in.traits
}

// Computed returns the built-in computed values (without the
// time-dependent days_since_last_seen: use days_since(last_seen)) and
// the user-defined ones that have a value. Money is a map of currency
// to the amount as a number.
func (in *input) Computed() map[string]any {
	if in.computed != nil {
		return in.computed
	}
	m := make(map[string]any, len(in.user)+8)
	in.computed = m
	for _, v := range in.user {
		if v.Value != nil {
			m[v.Name] = v.Value
		}
	}
	if !in.c.builtins {
		return m // no audience reads a built-in value
	}
	for k, v := range in.p.Builtins() {
		m[k] = v
	}
	for _, v := range in.user { // user-defined values win (names never collide)
		if v.Value != nil {
			m[v.Name] = v.Value
		}
	}
	return m
}

func (in *input) Identities() []map[string]string {
	if in.identities == nil {
		ids := in.p.IdentityList()
		in.identities = make([]map[string]string, len(ids))
		for i, id := range ids {
			in.identities[i] = map[string]string{"type": string(id.Type), "value": id.Value}
		}
	}
	return in.identities
}

func (in *input) Consent() map[string]bool {
	if in.consent == nil {
		in.consent = map[string]bool{}
		for _, k := range in.p.Consent.Keys() {
			b, _ := in.p.Consent.Get(k)
			in.consent[k] = len(b) == 1 && b[0] == 0xc3
		}
	}
	return in.consent
}

func (in *input) Audiences() []string { return in.in }

func (in *input) FirstSeen() time.Time {
	if !in.p.FirstSeen.Set {
		return time.Unix(0, 0).UTC()
	}
	return time.UnixMilli(in.p.FirstSeen.V).UTC()
}

func (in *input) LastSeen() time.Time {
	if !in.p.LastSeen.Set {
		return time.Unix(0, 0).UTC()
	}
	return time.UnixMilli(in.p.LastSeen.V).UTC()
}

// Now is the evaluation's time rounded down to NowGranularity: an
// expression reading now directly changes its answer only on those
// boundaries, so the next one is exactly when to evaluate it again, and
// every node evaluating at any moment within the same hour agrees.
func (in *input) Now() time.Time {
	t := in.now.Truncate(NowGranularity)
	in.note(t.Add(NowGranularity).UnixMilli())
	return t
}

func (in *input) call(fn, event, path string, window time.Duration) *acc {
	a := in.c.calls[callKey{fn: fn, event: event, path: path, window: window}]
	if a == nil {
		return nil
	}
	return &in.acc[a.slot]
}

func (in *input) Count(event string, window time.Duration) int64 {
	if a := in.call("count", event, "", window); a != nil {
		return a.count
	}
	return 0
}

func (in *input) Exists(event string, window time.Duration) bool {
	if a := in.call("exists_event", event, "", window); a != nil {
		return a.count > 0
	}
	return false
}

func (in *input) Sum(event, path string, window time.Duration) float64 {
	if a := in.call("sum", event, path, window); a != nil {
		return round(a.sum)
	}
	return 0
}

// DaysSince is whole days from t to now (floor); it next changes when
// another day has passed.
func (in *input) DaysSince(t time.Time) int64 {
	const day = 24 * time.Hour / time.Millisecond
	ms := t.UnixMilli()
	d := in.nowMs - ms
	days := d / int64(day)
	if d < 0 && d%int64(day) != 0 {
		days-- // floor
	}
	in.note(ms + (days+1)*int64(day))
	return days
}
