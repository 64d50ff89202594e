package catalog

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"ucv/crdt/codec"
	"ucv/profile"
	"ucv/profile/expr"
)

// NowGranularity is the resolution of `now` in expressions: it is the
// evaluation time rounded down to the hour, so an audience that reads
// now directly changes only on the hour — a moment known in advance,
// like every other time-driven change (windows, days_since), on which
// every node agrees.
const NowGranularity = time.Hour

// Compiled is a validated catalog ready to evaluate. It is immutable
// and safe for concurrent use.
type Compiled struct {
	cat     Catalog
	digest  uint64
	traits  []*aggregate           // user-defined computed traits, by name
	calls   map[callKey]*aggregate // audience function calls
	byEvent map[string][]*aggregate
	auds    []*expr.Program // in dependency order
	reads   []readSet       // auds[i]'s inputs (incremental.go)
	capture map[string][]string
	offers  *offerSet // nil: none (offers.go)
	// builtins is set when some audience may read a built-in computed
	// value: only then does an evaluation compute them (a second pass
	// over the ledger).
	builtins bool
	// values are the fitted value models (model_value.go).
	values valueModels
	// Consent and retention (consent.go): purposes by name, the
	// purposes each offer and destination needs, the consent default,
	// the retention policy (nil: none).
	purposes       map[string]*purpose
	offerNeeds     map[string][]string
	destNeeds      map[string][]string
	consentDefault bool
	retention      *Retention
	// Survivorship (survivorship.go): policies by trait, and the
	// default (Name "" when none).
	survive        map[string]profile.Policy
	surviveDefault profile.Policy
}

// callKey names one audience function call with literal arguments.
type callKey struct {
	fn, event, path string
	window          time.Duration
}

// aggregate is one computed trait or audience function call, evaluated
// in the single pass over a profile's ledger.
type aggregate struct {
	name   string // the trait's name; "" for a call
	agg    string
	event  string
	path   string
	window int64 // ms; 0 = lifetime
	slot   int   // index into the evaluation's accumulators
}

// Compile validates a whole catalog: every definition on its own, every
// audience expression against the others (known names, no cycles, cost
// limit). The error is an *Error naming the definition and field.
func Compile(c Catalog) (*Compiled, error) {
	comp := &Compiled{cat: c, calls: map[callKey]*aggregate{}, byEvent: map[string][]*aggregate{}, capture: map[string][]string{}}
	if len(c.ComputedTraits) > MaxDefinitions || len(c.Audiences) > MaxDefinitions {
		return nil, &Error{Field: "definitions", Message: fmt.Sprintf("more than %d of one kind", MaxDefinitions)}
	}
	slot := 0
	for _, name := range sortedNames(c.ComputedTraits) {
		t := c.ComputedTraits[name]
		if err := t.Check(name); err != nil {
			return nil, err
		}
		w, _ := ParseWindow(t.Window)
		a := &aggregate{name: name, agg: t.Aggregate, event: t.Event, path: t.Property, window: w.Milliseconds(), slot: slot}
		slot++
		comp.traits = append(comp.traits, a)
		comp.byEvent[t.Event] = append(comp.byEvent[t.Event], a)
		if t.Property != "" {
			comp.capture[t.Event] = append(comp.capture[t.Event], t.Property)
		}
	}
	names := sortedNames(c.Audiences)
	progs := make([]*expr.Program, 0, len(names))
	kinds := map[string]string{"order_count": "number", "distinct_channels": "number", "top_category": "string",
		"p_alive": "number", "expected_orders_90d": "number"}
	for n, t := range c.ComputedTraits {
		switch t.Aggregate {
		case "count", "unique_count", "sum", "avg", "min", "max":
			kinds[n] = "number"
		}
	}
	for _, name := range names {
		a := c.Audiences[name]
		if err := a.Check(name); err != nil {
			return nil, err
		}
		p, err := expr.Compile(name, a.Expression, expr.Known{Audiences: names, Computed: kinds})
		if err != nil {
			return nil, &Error{Kind: KindAudience, Name: name, Field: "expression", Message: err.Error()}
		}
		progs = append(progs, p)
		keys, all := p.ComputedKeys()
		for _, k := range keys {
			if _, ok := c.ComputedTraits[k]; !ok && !slices.Contains(reserved, k) {
				return nil, &Error{Kind: KindAudience, Name: name, Field: "expression",
					Message: fmt.Sprintf("computed.%s is neither a built-in computed value nor a defined computed trait (define it first: PUT /v1/admin/computed-traits/%s)", k, k)}
			}
		}
		comp.builtins = comp.builtins || all || slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(reserved, k) })
		for _, call := range p.Calls() {
			k := callKey{fn: call.Func, event: call.Event, path: call.Path, window: call.Window}
			if comp.calls[k] != nil {
				continue
			}
			agg := "count"
			if call.Func == "sum" {
				agg = "sum"
				comp.capture[call.Event] = append(comp.capture[call.Event], call.Path)
			}
			ag := &aggregate{agg: agg, event: call.Event, path: call.Path, window: call.Window.Milliseconds(), slot: slot}
			slot++
			comp.calls[k] = ag
			comp.byEvent[call.Event] = append(comp.byEvent[call.Event], ag)
		}
	}
	if err := comp.compileConsent(c); err != nil {
		return nil, err
	}
	if err := comp.compileSurvivorship(c); err != nil {
		return nil, err
	}
	if err := comp.compileOffers(c, expr.Known{Audiences: names, Computed: kinds}); err != nil {
		return nil, err
	}
	for _, name := range sortedNames(c.Models) {
		if err := c.Models[name].Check(name); err != nil {
			return nil, err
		}
	}
	vm, err := parseValueModels(c.Models)
	if err != nil {
		return nil, err
	}
	comp.values = vm
	ordered, err := expr.Order(progs)
	if err != nil {
		return nil, &Error{Kind: KindAudience, Field: "expression", Message: err.Error()}
	}
	comp.auds = ordered
	for _, p := range ordered {
		comp.reads = append(comp.reads, newReadSet(p, c))
	}
	for ev, paths := range comp.capture {
		slices.Sort(paths)
		comp.capture[ev] = slices.Compact(paths)
	}
	// The recommendations model changes no evaluation (only an edge's
	// /recommendations reads it): it is left out of the digest, so a
	// refit re-renders no stored view and re-evaluates no audience.
	dc := c.withVersion(0)
	if _, ok := dc.Models[ModelRecommendations]; ok {
		dc.Models = maps.Clone(dc.Models)
		delete(dc.Models, ModelRecommendations)
	}
	b, err := dc.Marshal()
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write(b)
	comp.digest = h.Sum64()
	return comp, nil
}

func (c Catalog) withVersion(v uint64) Catalog { c.Version = v; return c }

// Catalog returns the definitions compiled.
func (c *Compiled) Catalog() Catalog { return c.cat }

// Digest identifies the definitions (not the version): two catalogs with
// equal definitions have equal digests. A stored rendering made with one
// digest is stale under another.
func (c *Compiled) Digest() uint64 {
	if c == nil {
		return 0
	}
	return c.digest
}

// Empty reports whether there is nothing to evaluate.
func (c *Compiled) Empty() bool {
	return c == nil || len(c.traits) == 0 && len(c.auds) == 0 && c.values.empty() &&
		(c.retention == nil || c.retention.EventsDays == 0) // retention sets Next
}

// Capture returns the property paths of event that definitions read:
// pass it as profile.Source.Capture so ingest keeps their values.
func (c *Compiled) Capture(event string) []string {
	if c == nil {
		return nil
	}
	return c.capture[event]
}

// Audiences returns the audience names, sorted.
func (c *Compiled) Audiences() []string { return sortedNames(c.cat.Audiences) }

// Value is one user-defined computed trait's value: nil when it has
// none (an average of no events), else int64, float64, string or bool.
type Value = profile.ComputedValue

// Result is a profile's evaluation as of a moment.
type Result struct {
	// Computed holds the user-defined computed traits, sorted by name,
	// then the values of the fitted value models (p_alive,
	// expected_orders_90d, predicted_value_365d with a "clv" model; rfm
	// with an "rfm" model).
	Computed []Value
	// Audiences are the audiences the profile is in, sorted.
	Audiences []string
	// Next is the first moment after now at which some value or
	// membership can change without a new event (a windowed event ages
	// out, a day passes for days_since, NowGranularity for `now`); zero
	// when none can.
	Next time.Time
	// Errors holds, by audience, the evaluation error that kept the
	// profile out of it (a missing trait, a type mismatch at run time).
	Errors map[string]error
}

// Evaluate computes a profile's user-defined computed traits and
// audience memberships as of now. It is a pure function of the
// profile's state, the catalog and now. A nil or empty catalog gives an
// empty result. An erased profile is in no audience.
func (c *Compiled) Evaluate(p *profile.Profile, now time.Time) Result {
	r, _ := c.evaluate(p, now, false)
	return r
}

// Explanation says why a profile is or is not in one audience: the
// values of everything its expression read.
type Explanation struct {
	Audience string      `json:"audience"`
	Member   bool        `json:"member"`
	Reads    []expr.Read `json:"reads"`
	Error    string      `json:"error,omitempty"`
}

// Explain evaluates as Evaluate does and explains every audience.
func (c *Compiled) Explain(p *profile.Profile, now time.Time) (Result, []Explanation) {
	return c.evaluate(p, now, true)
}

func (c *Compiled) evaluate(p *profile.Profile, now time.Time, explain bool) (Result, []Explanation) {
	var r Result
	if c.Empty() {
		return r, nil
	}
	in := c.computeValues(p, now, &r)
	var exps []Explanation
	sess := expr.NewSession(in)
	for _, prog := range c.auds {
		if p.Erased.Set {
			if explain {
				exps = append(exps, Explanation{Audience: prog.Name(), Reads: []expr.Read{}, Error: "the profile is erased"})
			}
			continue
		}
		var ok bool
		var err error
		var reads []expr.Read
		if explain {
			ok, reads, err = prog.Explain(in)
		} else {
			ok, err = prog.EvalSession(sess)
		}
		if err != nil {
			ok = false
			if r.Errors == nil {
				r.Errors = map[string]error{}
			}
			r.Errors[prog.Name()] = err
		}
		if ok {
			in.in = append(in.in, prog.Name())
		}
		if explain {
			e := Explanation{Audience: prog.Name(), Member: ok, Reads: reads}
			if e.Reads == nil {
				e.Reads = []expr.Read{}
			}
			if err != nil {
				e.Error = err.Error()
			}
			exps = append(exps, e)
		}
	}
	r.Audiences = slices.Clone(in.in)
	slices.Sort(r.Audiences)
	if in.next != math.MaxInt64 {
		r.Next = time.UnixMilli(in.next).UTC()
	}
	slices.SortFunc(exps, func(a, b Explanation) int { return strings.Compare(a.Audience, b.Audience) })
	return r, exps
}

// computeValues folds p's ledger and sets r.Computed (the user-defined
// traits and the models' values), returning the input the audiences
// read. An erased profile's ledger is not read.
func (c *Compiled) computeValues(p *profile.Profile, now time.Time, r *Result) *input {
	in := &input{p: p, now: now, nowMs: now.UnixMilli(), next: math.MaxInt64}
	in.acc = make([]acc, len(c.traits)+len(c.calls))
	if !p.Erased.Set {
		c.fold(p, in)
		c.noteRetention(p, in)
	}
	r.Computed = make([]Value, len(c.traits))
	for i, t := range c.traits {
		r.Computed[i] = Value{Name: t.name, Value: in.acc[t.slot].result(t.agg)}
	}
	r.Computed = c.values.score(p, in, r.Computed)
	in.c, in.user = c, r.Computed
	return in
}

// fold makes the one pass over the profile's ledger that every
// computed trait and audience function reads. Events before the
// retention cutoff are left out whether or not the profile has been
// pruned yet, so every replica computes the same windows.
func (c *Compiled) fold(p *profile.Profile, in *input) {
	cut, retain := c.RetentionCutoff(in.now)
	p.LedgerEvents(func(e *profile.LedgerEvent) {
		if string(e.Kind) != string(profile.Track) {
			return
		}
		if retain {
			if e.Time < cut {
				return
			}
			// It leaves on the first hour at which the cutoff passes it.
			in.note(evalClock(time.UnixMilli(e.Time).Add(time.Duration(c.retention.EventsDays) * day)).Add(NowGranularity).UnixMilli())
		}
		aggs := c.byEvent[string(e.Event)]
		for _, a := range aggs {
			if a.window > 0 {
				if e.Time > in.nowMs { // not yet: it enters when its time comes
					in.note(e.Time)
					continue
				}
				if e.Time <= in.nowMs-a.window {
					continue
				}
				in.note(e.Time + a.window) // it leaves the window then
			}
			in.acc[a.slot].add(a, e)
		}
	})
}

// acc accumulates one aggregate.
type acc struct {
	count    int64
	n        int64 // numeric values seen
	sum      float64
	min, max float64
	first    []byte
	firstT   int64
	last     []byte
	lastT    int64
	seen     bool
	freq     map[string]int64
}

func (a *acc) add(g *aggregate, e *profile.LedgerEvent) {
	if g.agg == "count" {
		a.count++
		return
	}
	v, ok := e.Prop(g.path)
	if !ok {
		return
	}
	switch g.agg {
	case "sum", "avg", "min", "max":
		f, ok := number(v)
		if !ok {
			return
		}
		if a.n == 0 || f < a.min {
			a.min = f
		}
		if a.n == 0 || f > a.max {
			a.max = f
		}
		a.n++
		a.sum += f
	case "first", "last":
		// Ties in time go to the smaller encoded value, so every replica
		// picks the same one whatever order the ledger is read in.
		if !a.seen || e.Time < a.firstT || e.Time == a.firstT && string(v) < string(a.first) {
			a.first, a.firstT = v, e.Time
		}
		if !a.seen || e.Time > a.lastT || e.Time == a.lastT && string(v) < string(a.last) {
			a.last, a.lastT = v, e.Time
		}
		a.seen = true
	case "most_frequent", "unique_count":
		if a.freq == nil {
			a.freq = map[string]int64{}
		}
		a.freq[string(v)]++
	}
}

// result is the aggregate's value (see Value).
func (a *acc) result(agg string) any {
	switch agg {
	case "count":
		return a.count
	case "sum":
		return round(a.sum)
	case "avg":
		if a.n == 0 {
			return nil
		}
		return round(a.sum / float64(a.n))
	case "min", "max":
		if a.n == 0 {
			return nil
		}
		if agg == "min" {
			return a.min
		}
		return a.max
	case "first", "last":
		if !a.seen {
			return nil
		}
		if agg == "first" {
			return decode(a.first)
		}
		return decode(a.last)
	case "unique_count":
		return int64(len(a.freq))
	case "most_frequent":
		var best string
		var bestN int64
		for k, n := range a.freq { // ties go to the smaller encoding
			if n > bestN || n == bestN && k < best {
				best, bestN = k, n
			}
		}
		if bestN == 0 {
			return nil
		}
		return decode([]byte(best))
	}
	return nil
}

// round keeps six decimals, so sums of prices read as prices
// (19.99 + 5.01 = 25, not 25.000000000000004).
func round(f float64) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e12 {
		return f
	}
	return math.Round(f*1e6) / 1e6
}

// number reads a captured value as a number: a msgpack number, or a
// string holding one (amounts often travel as strings). Numbers are
// read in place (this runs for every event a numeric aggregate visits).
func number(b []byte) (float64, bool) {
	if len(b) > 0 {
		c := b[0]
		switch {
		case c <= 0x7f:
			return float64(c), len(b) == 1
		case c >= 0xe0:
			return float64(int8(c)), len(b) == 1
		case c == 0xcb && len(b) == 9:
			f := math.Float64frombits(binary.BigEndian.Uint64(b[1:]))
			return f, !math.IsNaN(f) && !math.IsInf(f, 0)
		case c == 0xd0 && len(b) == 2:
			return float64(int8(b[1])), true
		case c == 0xd1 && len(b) == 3:
			return float64(int16(binary.BigEndian.Uint16(b[1:]))), true
		case c == 0xd2 && len(b) == 5:
			return float64(int32(binary.BigEndian.Uint32(b[1:]))), true
		case c == 0xd3 && len(b) == 9:
			return float64(int64(binary.BigEndian.Uint64(b[1:]))), true
		case c == 0xcc && len(b) == 2:
			return float64(b[1]), true
		case c == 0xcd && len(b) == 3:
			return float64(binary.BigEndian.Uint16(b[1:])), true
		case c == 0xce && len(b) == 5:
			return float64(binary.BigEndian.Uint32(b[1:])), true
		}
	}
	v := decode(b)
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// decode reads a captured msgpack value as int64, float64, string or
// bool (nil when it cannot).
func decode(b []byte) any {
	v, err := codec.UnmarshalValue(b)
	if err != nil {
		return nil
	}
	return profile.Normalize(v)
}
