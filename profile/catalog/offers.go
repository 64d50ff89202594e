package catalog

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"ucv/profile"
	"ucv/profile/expr"
)

// Offer is a next-best-action decision's candidate (issue 11, item 4):
// shown at a placement to the profiles its eligibility expression
// admits, ranked by priority, capped per profile, subject to consent.
// Its JSON is the body of PUT /v1/admin/offers/{id}.
type Offer struct {
	// Placement names where the app shows it ("checkout").
	Placement string `json:"placement"`
	// Eligibility is a CEL expression over the audience environment
	// (profile/expr); empty admits everyone.
	Eligibility string `json:"eligibility,omitempty"`
	// Priority ranks eligible offers: a JSON number, or a string holding
	// a CEL expression of type double or int. Absent: 0.
	Priority json.RawMessage `json:"priority,omitempty"`
	// Cap limits how often one profile is shown it.
	Cap *OfferCap `json:"cap,omitempty"`
	// Consent names a consent category the profile must have granted:
	// one of ConsentPurposes or a consent purpose the catalog defines
	// (any letter case). Purposes that list the offer add theirs.
	Consent string `json:"consent,omitempty"`
	// Payload is returned to the app as is.
	Payload     json.RawMessage `json:"payload,omitempty"`
	Description string          `json:"description,omitempty"`
}

// OfferCap is a frequency cap: at most Max impressions (track "Offer
// Shown" events with properties.offer_id) within Window.
type OfferCap struct {
	Max    int    `json:"max"`
	Window string `json:"window"`
}

// Impressions: the app reports that it showed an offer as a track event
// named OfferShownEvent whose property OfferIDProperty is the offer's
// id. Each is one entry of the profile's ledger (keyed by messageId), so
// it counts once across replicas.
const (
	OfferShownEvent = "Offer Shown"
	OfferIDProperty = "offer_id"
)

// Limits of an offer's fields.
const (
	MaxPlacementBytes    = 64
	MaxOfferPayloadBytes = 16 << 10
	MaxOfferCap          = 1_000_000
)

// ConsentPurposes are the built-in consent categories: the purposes
// common consent-management platforms group cookies and messages into.
// They are always known (a lookup may ask for them, an offer may require
// them) besides the consent purposes a catalog defines (consent.go,
// decision 0041); an offer naming neither is refused, so a typo cannot
// silently hide an offer from everyone. A profile's consent (Segment's
// context.consent.categoryPreferences) is matched ignoring letter case.
var ConsentPurposes = []string{"advertising", "analytics", "functional", "marketing", "necessary", "personalization"}

// Check validates one offer's fields on its own; expressions are checked
// by Compile.
func (o Offer) Check(name string) error {
	e := func(field, msg string) error { return &Error{Kind: KindOffer, Name: name, Field: field, Message: msg} }
	if err := CheckName(KindOffer, name); err != nil {
		return err
	}
	if strings.TrimSpace(o.Placement) == "" {
		return e("placement", "is required")
	}
	if len(o.Placement) > MaxPlacementBytes {
		return e("placement", fmt.Sprintf("is longer than %d bytes", MaxPlacementBytes))
	}
	if len(o.Eligibility) > MaxExpressionBytes {
		return e("eligibility", fmt.Sprintf("is longer than %d bytes", MaxExpressionBytes))
	}
	if _, _, err := o.priority(); err != nil {
		return e("priority", err.Error())
	}
	if o.Cap != nil {
		if o.Cap.Max < 1 || o.Cap.Max > MaxOfferCap {
			return e("cap.max", fmt.Sprintf("must be from 1 to %d", MaxOfferCap))
		}
		if w, err := ParseWindow(o.Cap.Window); err != nil || w == 0 {
			return e("cap.window", "must be a window of at most 400 days (\"24h\", \"7d\")")
		}
	}
	if o.Consent != "" && !namePattern.MatchString(strings.ToLower(o.Consent)) {
		return e("consent", "must be a consent category: a name matching [a-z][a-z0-9_]{0,63} in any letter case")
	}
	if len(o.Payload) > MaxOfferPayloadBytes {
		return e("payload", fmt.Sprintf("is longer than %d bytes", MaxOfferPayloadBytes))
	}
	if len(o.Description) > MaxDescriptionBytes {
		return e("description", fmt.Sprintf("is longer than %d bytes", MaxDescriptionBytes))
	}
	return nil
}

// priority reads Priority: a constant, or an expression's text.
func (o Offer) priority() (float64, string, error) {
	raw := bytes.TrimSpace(o.Priority)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || strings.TrimSpace(s) == "" {
			return 0, "", fmt.Errorf("must be a number or a non-empty CEL expression")
		}
		if len(s) > MaxExpressionBytes {
			return 0, "", fmt.Errorf("is longer than %d bytes", MaxExpressionBytes)
		}
		return 0, s, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, "", fmt.Errorf("must be a number or a string holding a CEL expression of type int or double")
	}
	return f, "", nil
}

// offer is one compiled offer.
type offer struct {
	id       string
	def      Offer
	elig     *expr.Program // nil: everyone
	prio     *expr.Program // nil: the constant prioC
	prioC    float64
	capMs    int64 // cap window in ms; 0: no cap
	consent  string
	needs    []string // consent purposes that list it (besides consent)
	audience bool     // an expression reads audiences
}

// offerSet is a catalog's offers compiled.
type offerSet struct {
	byPlacement map[string][]*offer // by id
	byID        map[string]*offer
}

// compileOffers checks and compiles every offer against the catalog:
// eligibility and priority expressions in the audience environment,
// known as audiences' are (they may read any audience), their event calls folded in the same
// pass over the ledger as the audiences', and the offer_id of "Offer
// Shown" events captured so caps can count them.
func (comp *Compiled) compileOffers(c Catalog, known expr.Known) error {
	if len(c.Offers) == 0 {
		return nil
	}
	if len(c.Offers) > MaxDefinitions {
		return &Error{Field: "definitions", Message: fmt.Sprintf("more than %d of one kind", MaxDefinitions)}
	}
	set := &offerSet{byPlacement: map[string][]*offer{}, byID: map[string]*offer{}}
	for _, id := range sortedNames(c.Offers) {
		def := c.Offers[id]
		if err := def.Check(id); err != nil {
			return err
		}
		o := &offer{id: id, def: def, consent: strings.ToLower(def.Consent), needs: comp.offerNeeds[id]}
		if o.consent != "" && !comp.KnownPurpose(o.consent) {
			known := slices.Concat(ConsentPurposes, sortedNames(c.ConsentPurposes))
			slices.Sort(known)
			return &Error{Kind: KindOffer, Name: id, Field: "consent",
				Message: fmt.Sprintf("is not a known consent category (define it: PUT /v1/admin/consent-purposes/%s; known: %s)", o.consent, strings.Join(slices.Compact(known), ", "))}
		}
		// Named "offers/…", apart from audiences, so an offer may read
		// an audience of its own name.
		if strings.TrimSpace(def.Eligibility) != "" {
			p, err := expr.Compile("offers/"+id, def.Eligibility, known)
			if err != nil {
				return &Error{Kind: KindOffer, Name: id, Field: "eligibility", Message: err.Error()}
			}
			if err := comp.offerReads(c, id, "eligibility", p); err != nil {
				return err
			}
			o.elig = p
		}
		f, text, _ := def.priority()
		o.prioC = f
		if text != "" {
			p, err := expr.CompileNumber("offers/"+id+"/priority", text, known)
			if err != nil {
				return &Error{Kind: KindOffer, Name: id, Field: "priority", Message: err.Error()}
			}
			if err := comp.offerReads(c, id, "priority", p); err != nil {
				return err
			}
			o.prio = p
		}
		o.audience = o.elig != nil && len(o.elig.Deps()) > 0 || o.prio != nil && len(o.prio.Deps()) > 0
		if def.Cap != nil {
			w, _ := ParseWindow(def.Cap.Window)
			o.capMs = w.Milliseconds()
		}
		set.byID[id] = o
		set.byPlacement[def.Placement] = append(set.byPlacement[def.Placement], o)
	}
	comp.capture[OfferShownEvent] = append(comp.capture[OfferShownEvent], OfferIDProperty)
	comp.offers = set
	return nil
}

// offerReads checks the computed values an offer's expression reads and
// adds its event calls to the ledger pass, as Compile does for
// audiences.
func (comp *Compiled) offerReads(c Catalog, id, field string, p *expr.Program) error {
	keys, all := p.ComputedKeys()
	for _, k := range keys {
		if _, ok := c.ComputedTraits[k]; !ok && !slices.Contains(reserved, k) {
			return &Error{Kind: KindOffer, Name: id, Field: field,
				Message: fmt.Sprintf("computed.%s is neither a built-in computed value nor a defined computed trait (define it first: PUT /v1/admin/computed-traits/%s)", k, k)}
		}
	}
	comp.builtins = comp.builtins || all || slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(reserved, k) })
	for _, call := range p.Calls() {
		k := callKey{fn: call.Func, event: call.Event, path: call.Path, window: call.Window}
		if comp.calls[k] != nil || call.Func == expr.FuncDaysSince {
			continue
		}
		agg := "count"
		if call.Func == "sum" {
			agg = "sum"
			comp.capture[call.Event] = append(comp.capture[call.Event], call.Path)
		}
		ag := &aggregate{agg: agg, event: call.Event, path: call.Path, window: call.Window.Milliseconds(), slot: len(comp.traits) + len(comp.calls)}
		comp.calls[k] = ag
		comp.byEvent[call.Event] = append(comp.byEvent[call.Event], ag)
	}
	return nil
}

// Decided is one offer chosen for a profile.
type Decided struct {
	ID      string          `json:"id"`
	Score   float64         `json:"score"`
	Payload json.RawMessage `json:"payload"`
}

// OfferExplanation says why an offer was or was not eligible: the
// values its eligibility expression read, the consent it requires and
// whether the profile granted it, and the impressions counted against
// its cap.
type OfferExplanation struct {
	Offer    string      `json:"offer"`
	Eligible bool        `json:"eligible"`
	Reason   string      `json:"reason"`
	Reads    []expr.Read `json:"reads"`
	Error    string      `json:"error,omitempty"`
	Consent  *struct {
		Category string `json:"category"`
		Granted  bool   `json:"granted"`
	} `json:"consent,omitempty"`
	Cap *struct {
		Max    int    `json:"max"`
		Window string `json:"window"`
		Shown  int64  `json:"shown"`
	} `json:"cap,omitempty"`
	// Score is the priority, when the offer got that far.
	Score         *float64    `json:"score,omitempty"`
	PriorityReads []expr.Read `json:"priority_reads,omitempty"`
}

// Reasons an explanation gives.
const (
	ReasonEligible   = "eligible"
	ReasonExpression = "eligibility is false"
	ReasonError      = "eligibility could not be evaluated"
	ReasonConsent    = "consent not granted"
	ReasonCap        = "cap reached"
	ReasonPriority   = "priority could not be evaluated"
)

// Decision is a profile's offers at a placement.
type Decision struct {
	// Offers are the eligible offers, highest score first (ties by id),
	// at most the limit asked for.
	Offers []Decided
	// Explain, when asked for, explains every offer at the placement,
	// sorted by id.
	Explain []OfferExplanation
}

// Decide chooses p's offers at placement as of now: those whose
// eligibility is true, whose consent category p granted (if one is
// named), and that p was shown fewer than cap.max times within the cap
// window (OfferShownEvent events in the ledger, each message once);
// ranked by priority, ties by id; at most limit (limit < 1: none). A nil
// or erased profile is decided as an empty one (an unknown visitor).
// Like Evaluate it is a pure function of the profile, the catalog and
// now; an expression that fails to evaluate leaves its offer out.
func (c *Compiled) Decide(p *profile.Profile, now time.Time, placement string, limit int, explain bool) Decision {
	if c == nil || c.offers == nil {
		return Decision{}
	}
	d, _ := c.decide(p, now, c.offers.byPlacement[placement], nil, false, limit, explain)
	return d
}

// HasOffers reports whether the catalog holds any offer.
func (c *Compiled) HasOffers() bool { return c != nil && c.offers != nil }

// Rank decides p's offers at every placement at once, for storing beside
// its view (edge/store): every eligible offer, highest score first (ties
// by id), without payloads; audiences are p's memberships as Evaluate
// found them as of now (so they are not evaluated again). Next is the
// first moment after now at which the answer can change without a new
// event (an impression leaves a cap window, an event a window, …); zero
// when none can. Filtered by placement and cut to a limit, the list is
// what Decide answers for that placement.
func (c *Compiled) Rank(p *profile.Profile, now time.Time, audiences []string) (offers []Decided, next time.Time) {
	if c == nil || c.offers == nil {
		return nil, time.Time{}
	}
	all := make([]*offer, 0, len(c.offers.byID))
	for _, id := range sortedNames(c.offers.byID) {
		all = append(all, c.offers.byID[id])
	}
	d, nextMs := c.decide(p, now, all, audiences, true, len(all), false)
	for i := range d.Offers {
		d.Offers[i].Payload = nil
	}
	if nextMs != math.MaxInt64 {
		next = time.UnixMilli(nextMs).UTC()
	}
	return d.Offers, next
}

// OfferAt returns offer id's name (id as a string, without allocating)
// and payload if it is at placement.
func (c *Compiled) OfferAt(id []byte, placement string) (string, json.RawMessage, bool) {
	if c == nil || c.offers == nil {
		return "", nil, false
	}
	o := c.offers.byID[string(id)]
	if o == nil || o.def.Placement != placement {
		return "", nil, false
	}
	return o.id, o.def.Payload, true
}

// decide decides offers for p; audiences, when known (haveAuds), are
// p's memberships, else they are evaluated when an offer reads them. It
// returns the moment (ms) the answer can next change.
func (c *Compiled) decide(p *profile.Profile, now time.Time, offers []*offer, audiences []string, haveAuds bool, limit int, explain bool) (Decision, int64) {
	var d Decision
	if len(offers) == 0 {
		return d, math.MaxInt64
	}
	if p == nil || p.Erased.Set {
		p, haveAuds = profile.New(""), false
	}
	in := &input{c: c, p: p, now: now, nowMs: now.UnixMilli(), next: math.MaxInt64}
	in.acc = make([]acc, len(c.traits)+len(c.calls))
	c.fold(p, in)
	in.user = make([]Value, len(c.traits))
	for i, t := range c.traits {
		in.user[i] = Value{Name: t.name, Value: in.acc[t.slot].result(t.agg)}
	}
	sess := expr.NewSession(in)
	switch {
	case haveAuds:
		in.in = audiences
	case slices.ContainsFunc(offers, func(o *offer) bool { return o.audience }):
		for _, prog := range c.auds { // in dependency order, as evaluate
			if ok, err := prog.EvalSession(sess); ok && err == nil {
				in.in = append(in.in, prog.Name())
			}
		}
	}
	shown := c.impressions(p, in)
	for _, o := range offers {
		var ex OfferExplanation
		ok, score := c.decideOne(o, in, sess, shown[o.id], explain, &ex)
		if ok {
			d.Offers = append(d.Offers, Decided{ID: o.id, Score: score, Payload: o.def.Payload})
		}
		if explain {
			d.Explain = append(d.Explain, ex)
		}
	}
	slices.SortFunc(d.Offers, func(a, b Decided) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(a.ID, b.ID))
	})
	if len(d.Offers) > max(limit, 0) {
		d.Offers = d.Offers[:max(limit, 0)]
	}
	return d, in.next
}

// decideOne decides one offer: consent, then cap, then eligibility, then
// priority; with explain it fills ex and evaluates every step.
func (c *Compiled) decideOne(o *offer, in *input, sess *expr.Session, shown int64, explain bool, ex *OfferExplanation) (bool, float64) {
	ok := true
	reason := ""
	fail := func(r string) {
		if ok {
			ok, reason = false, r
		}
	}
	if o.consent != "" {
		granted := c.consentedMap(in.Consent(), o.consent)
		if !granted {
			fail(ReasonConsent)
		}
		if explain {
			ex.Consent = &struct {
				Category string `json:"category"`
				Granted  bool   `json:"granted"`
			}{o.def.Consent, granted}
		}
	}
	for _, cat := range o.needs {
		granted := c.consentedMap(in.Consent(), cat)
		if !granted {
			fail(ReasonConsent)
		}
		if explain && (ex.Consent == nil || ex.Consent.Granted && !granted) {
			ex.Consent = &struct {
				Category string `json:"category"`
				Granted  bool   `json:"granted"`
			}{cat, granted}
		}
	}
	if o.capMs > 0 {
		if shown >= int64(o.def.Cap.Max) {
			fail(ReasonCap)
		}
		if explain {
			ex.Cap = &struct {
				Max    int    `json:"max"`
				Window string `json:"window"`
				Shown  int64  `json:"shown"`
			}{o.def.Cap.Max, o.def.Cap.Window, shown}
		}
	}
	if !ok && !explain {
		return false, 0
	}
	if o.elig != nil {
		var el bool
		var err error
		if explain {
			el, ex.Reads, err = o.elig.Explain(in)
		} else {
			el, err = o.elig.EvalSession(sess)
		}
		switch {
		case err != nil:
			fail(ReasonError)
			ex.Error = err.Error()
		case !el:
			fail(ReasonExpression)
		}
	}
	score, prioErr := o.prioC, false
	if o.prio != nil && (ok || explain) {
		var err error
		if explain {
			score, ex.PriorityReads, err = o.prio.ExplainNumber(in)
		} else {
			score, err = o.prio.NumberSession(sess)
		}
		if err != nil {
			prioErr = true
			fail(ReasonPriority)
			if ex.Error == "" {
				ex.Error = err.Error()
			}
		}
	}
	if explain {
		ex.Offer, ex.Eligible, ex.Reason = o.id, ok, reason
		if ok {
			ex.Reason = ReasonEligible
		}
		if ex.Reads == nil {
			ex.Reads = []expr.Read{}
		}
		if !prioErr {
			s := score
			ex.Score = &s
		}
	}
	return ok, score
}

// impressions counts, per offer with a cap, the OfferShownEvent events
// within its cap window before now, from the profile's ledger: each
// message once, however many replicas saw it. It notes when each count
// can change.
func (c *Compiled) impressions(p *profile.Profile, in *input) map[string]int64 {
	var shown map[string]int64
	nowMs := in.nowMs
	p.LedgerEvents(func(e *profile.LedgerEvent) {
		if string(e.Event) != OfferShownEvent || string(e.Kind) != string(profile.Track) {
			return
		}
		v, ok := e.Prop(OfferIDProperty)
		if !ok {
			return
		}
		id, _ := decode(v).(string)
		o := c.offers.byID[id]
		if o == nil || o.capMs == 0 || e.Time <= nowMs-o.capMs {
			return
		}
		if e.Time > nowMs { // not yet: it counts when its time comes
			in.note(e.Time)
			return
		}
		in.note(e.Time + o.capMs) // it leaves the cap window then
		if shown == nil {
			shown = map[string]int64{}
		}
		shown[id]++
	})
	return shown
}
