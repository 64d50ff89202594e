package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/profile"
)

// offerCatalog has an audience and four offers: two at checkout that
// split the population, one that needs marketing consent, one elsewhere.
func offerCatalog(t *testing.T) (Catalog, *Compiled) {
	t.Helper()
	c := mustWith(t, Catalog{}, "buyers", Audience{Expression: `count("Order Completed", "lifetime") >= 1`})
	for name, body := range map[string]string{
		"welcome": `{"placement":"checkout","eligibility":"!(\"buyers\" in audiences)","priority":1,"payload":{"code":"HELLO"}}`,
		"loyal": `{"placement":"checkout","eligibility":"\"buyers\" in audiences",
			"priority":"double(count(\"Order Completed\", \"30d\")) * 10.0","cap":{"max":2,"window":"24h"},"payload":{"code":"LOYAL"}}`,
		"news":  `{"placement":"checkout","priority":5,"consent":"marketing","payload":"sign up"}`,
		"other": `{"placement":"home","priority":100}`,
	} {
		o, err := ParseDefinition(KindOffer, name, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		c = mustWith(t, c, name, o)
	}
	comp, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, comp
}

// deliver applies a message at node as an edge would.
func deliver(p *profile.Profile, m *profile.Message, node crdt.ReplicaID, comp *Compiled) {
	if m.Identifiers == nil {
		m.Identifiers = []profile.Identifier{{Type: profile.UserID, Value: "u1"}}
		m.UserID = "u1"
	}
	clk := crdt.NewClock(node, func() time.Time { return t0 }, time.Second, p.Version)
	p.Apply(m, m.Identifiers, profile.Source{Node: node, Capture: comp.Capture}, clk.Now())
}

func shown(id, offer string, at time.Time) *profile.Message {
	return &profile.Message{Kind: profile.Track, MessageID: id, Event: OfferShownEvent,
		Properties: map[string]any{OfferIDProperty: offer}, Timestamp: at}
}

func ids(d Decision) []string {
	var out []string
	for _, o := range d.Offers {
		out = append(out, fmt.Sprintf("%s=%g", o.ID, o.Score))
	}
	return out
}

func TestDecide(t *testing.T) {
	_, comp := offerCatalog(t)
	if got := comp.Capture(OfferShownEvent); !slices.Equal(got, []string{OfferIDProperty}) {
		t.Fatalf("Capture(Offer Shown) = %v", got)
	}
	// An unknown visitor: the offers for an empty profile.
	if got := ids(comp.Decide(nil, t0, "checkout", 3, false)); !slices.Equal(got, []string{"welcome=1"}) {
		t.Errorf("unknown visitor: %v, want welcome", got)
	}
	if got := ids(comp.Decide(nil, t0, "nowhere", 3, false)); got != nil {
		t.Errorf("unknown placement: %v", got)
	}

	p := profile.New("A")
	deliver(p, order{id: "o1", event: "Order Completed", at: t0.Add(-time.Hour)}.message(), 1, comp)
	deliver(p, order{id: "o2", event: "Order Completed", at: t0.Add(-48 * time.Hour)}.message(), 1, comp)
	if got := ids(comp.Decide(p, t0, "checkout", 3, false)); !slices.Equal(got, []string{"loyal=20"}) {
		t.Errorf("buyer without consent: %v, want loyal=20", got)
	}
	// Consent: granted (in the app's letter case) admits the offer.
	deliver(p, &profile.Message{Kind: profile.Identify, MessageID: "c1", Timestamp: t0.Add(-time.Minute), Consent: map[string]bool{"Marketing": true}}, 1, comp)
	d := comp.Decide(p, t0, "checkout", 3, false)
	if got := ids(d); !slices.Equal(got, []string{"loyal=20", "news=5"}) {
		t.Errorf("with consent: %v", got)
	}
	if string(d.Offers[0].Payload) != `{"code":"LOYAL"}` {
		t.Errorf("payload = %s", d.Offers[0].Payload)
	}
	if got := ids(comp.Decide(p, t0, "checkout", 1, false)); !slices.Equal(got, []string{"loyal=20"}) {
		t.Errorf("limit 1: %v", got)
	}
	// Consent withdrawn blocks it again.
	deliver(p, &profile.Message{Kind: profile.Identify, MessageID: "c2", Timestamp: t0.Add(-time.Second), Consent: map[string]bool{"Marketing": false}}, 1, comp)
	if got := ids(comp.Decide(p, t0, "checkout", 3, false)); !slices.Equal(got, []string{"loyal=20"}) {
		t.Errorf("consent withdrawn: %v", got)
	}

	// Caps: an impression older than the window does not count; two
	// within it reach cap.max; as they age out, the offer returns.
	deliver(p, shown("s0", "loyal", t0.Add(-25*time.Hour)), 1, comp)
	deliver(p, shown("s1", "loyal", t0.Add(-2*time.Hour)), 1, comp)
	if got := ids(comp.Decide(p, t0, "checkout", 3, false)); !slices.Equal(got, []string{"loyal=20"}) {
		t.Errorf("one impression of two: %v", got)
	}
	deliver(p, shown("s2", "loyal", t0.Add(-time.Hour)), 1, comp)
	if got := ids(comp.Decide(p, t0, "checkout", 3, false)); got != nil {
		t.Errorf("cap reached: %v, want none", got)
	}
	if got := ids(comp.Decide(p, t0.Add(22*time.Hour+time.Second), "checkout", 3, false)); !slices.Equal(got, []string{"loyal=20"}) {
		t.Errorf("after the first impression aged out: %v", got)
	}
}

// The same impression reported at two replicas counts once after they
// merge; distinct impressions at each add up.
func TestDecideCapAcrossReplicas(t *testing.T) {
	_, comp := offerCatalog(t)
	a, b := profile.New("A"), profile.New("A")
	for _, p := range []*profile.Profile{a, b} {
		deliver(p, order{id: "o1", event: "Order Completed", at: t0.Add(-time.Hour)}.message(), 1, comp)
	}
	deliver(a, shown("same", "loyal", t0.Add(-time.Minute)), 1, comp)
	deliver(b, shown("same", "loyal", t0.Add(-time.Minute)), 2, comp)
	a.Merge(b)
	if got := ids(comp.Decide(a, t0, "checkout", 3, false)); !slices.Equal(got, []string{"loyal=10"}) {
		t.Errorf("one impression at two replicas: %v, want loyal still eligible", got)
	}
	deliver(b, shown("other", "loyal", t0.Add(-time.Minute)), 2, comp)
	a.Merge(b)
	if got := ids(comp.Decide(a, t0, "checkout", 3, false)); got != nil {
		t.Errorf("two impressions: %v, want capped", got)
	}
}

func TestDecideExplain(t *testing.T) {
	_, comp := offerCatalog(t)
	p := profile.New("A")
	deliver(p, order{id: "o1", event: "Order Completed", at: t0.Add(-time.Hour)}.message(), 1, comp)
	deliver(p, shown("s1", "loyal", t0.Add(-time.Minute)), 1, comp)
	deliver(p, shown("s2", "loyal", t0.Add(-time.Minute)), 1, comp)
	d := comp.Decide(p, t0, "checkout", 3, true)
	if d.Offers != nil {
		t.Errorf("offers = %v, want none", ids(d))
	}
	b, err := json.Marshal(d.Explain)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"offer": "loyal", "eligible": false, "reason": ReasonCap,
			"reads": []any{map[string]any{"name": "audiences", "value": []any{"buyers"}}},
			"cap":   map[string]any{"max": 2.0, "window": "24h", "shown": 2.0}, "score": 10.0,
			"priority_reads": []any{map[string]any{"name": `count("Order Completed", "30d")`, "value": 1.0}}},
		{"offer": "news", "eligible": false, "reason": ReasonConsent, "reads": []any{},
			"consent": map[string]any{"category": "marketing", "granted": false}, "score": 5.0},
		{"offer": "welcome", "eligible": false, "reason": ReasonExpression,
			"reads": []any{map[string]any{"name": "audiences", "value": []any{"buyers"}}}, "score": 1.0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("explain (-want +got):\n%s", diff)
	}
	// Explaining decides the same.
	for _, at := range []time.Time{t0, t0.Add(25 * time.Hour)} {
		plain, ex := comp.Decide(p, at, "checkout", 3, false), comp.Decide(p, at, "checkout", 3, true)
		if !slices.Equal(ids(plain), ids(ex)) {
			t.Errorf("at %v: Decide %v, with explain %v", at, ids(plain), ids(ex))
		}
	}
}

// Bad offers are refused naming the field, and the catalog is unchanged.
func TestOfferErrors(t *testing.T) {
	c, _ := offerCatalog(t)
	before, _ := c.Marshal()
	for _, tc := range []struct{ name, body, field, msg string }{
		{"bad", `{"placement":"p","eligibility":"count(\"x\", "}`, "eligibility", "Syntax error"},
		{"bad", `{"placement":"p","eligibility":"traits.vip"}`, "eligibility", "must be bool"},
		{"bad", `{"placement":"p","eligibility":"\"nope\" in audiences"}`, "eligibility", "unknown audience"},
		{"bad", `{"placement":"p","eligibility":"computed.nope > 1"}`, "eligibility", "computed.nope"},
		{"bad", `{"placement":"p","priority":"true"}`, "priority", "must be a number"},
		{"bad", `{"placement":"p","priority":"traits.score"}`, "priority", "convert it"},
		{"bad", `{"placement":"p","priority":"("}`, "priority", "Syntax error"},
		{"bad", `{"placement":"p","priority":""}`, "priority", "non-empty"},
		{"bad", `{"placement":"p","priority":[1]}`, "priority", "must be a number"},
		{"bad", `{"placement":"p","consent":"newsletters"}`, "consent", "not a known consent category"},
		{"bad", `{"placement":"p","cap":{"max":-1,"window":"24h"}}`, "cap.max", "must be from 1"},
		{"bad", `{"placement":"p","cap":{"max":1,"window":"-1h"}}`, "cap.window", ""},
		{"bad", `{"placement":"p","cap":{"max":1}}`, "cap.window", ""},
		{"bad", `{"placement":"","priority":1}`, "placement", "required"},
		{"bad", `{"placement":"p","payload":"` + strings.Repeat("x", MaxOfferPayloadBytes) + `"}`, "payload", "longer"},
		{"Bad", `{"placement":"p"}`, "name", ""},
		{"bad", `{"placement":"p","colour":"red"}`, "colour", "not a known field"},
	} {
		def, err := ParseDefinition(KindOffer, tc.name, []byte(tc.body))
		if err == nil {
			_, _, err = c.With(tc.name, def, c.Version+1)
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(ce.Message, tc.msg) {
			t.Errorf("%s: %v, want an error on %s containing %q", tc.body, err, tc.field, tc.msg)
		}
	}
	after, _ := c.Marshal()
	if string(before) != string(after) {
		t.Error("a refused offer changed the catalog")
	}
	// Removing an audience an offer reads is refused too.
	if _, _, err := c.Without(KindAudience, "buyers", c.Version+1); err == nil {
		t.Error("removing an audience an offer reads succeeded")
	}
}

// rankAgrees checks that Rank, filtered by placement and cut to the
// limit, answers what Decide does, and that the answer holds until
// Rank's Next.
func rankAgrees(t *testing.T, comp *Compiled, p *profile.Profile, now time.Time) {
	t.Helper()
	res := comp.Evaluate(p, now)
	ranked, next := comp.Rank(p, now, res.Audiences)
	for _, placement := range []string{"checkout", "home"} {
		for _, limit := range []int{1, 3, 50} {
			var got []string
			for _, o := range ranked {
				if _, _, ok := comp.OfferAt([]byte(o.ID), placement); ok && len(got) < limit {
					got = append(got, fmt.Sprintf("%s=%g", o.ID, o.Score))
				}
			}
			want := ids(comp.Decide(p, now, placement, limit, false))
			if !slices.Equal(got, want) {
				t.Fatalf("at %v %s limit %d: Rank %v, Decide %v", now, placement, limit, got, want)
			}
			if !next.IsZero() {
				if later := ids(comp.Decide(p, next.Add(-time.Millisecond), placement, limit, false)); !slices.Equal(later, want) {
					t.Fatalf("at %v %s: %v, but just before Next (%v) %v", now, placement, want, next, later)
				}
			}
		}
	}
}

func TestRank(t *testing.T) {
	_, comp := offerCatalog(t)
	p := profile.New("A")
	rankAgrees(t, comp, p, t0)
	deliver(p, order{id: "o1", event: "Order Completed", at: t0.Add(-time.Hour)}.message(), 1, comp)
	rankAgrees(t, comp, p, t0)
	deliver(p, &profile.Message{Kind: profile.Identify, MessageID: "c1", Timestamp: t0.Add(-time.Minute), Consent: map[string]bool{"marketing": true}}, 1, comp)
	rankAgrees(t, comp, p, t0)
	deliver(p, shown("s1", "loyal", t0.Add(-3*time.Hour)), 1, comp)
	deliver(p, shown("s2", "loyal", t0.Add(-2*time.Hour)), 1, comp)
	deliver(p, shown("s3", "loyal", t0.Add(time.Hour)), 1, comp) // future-dated
	rankAgrees(t, comp, p, t0)
	// Capped now; the first impression leaves the window 21h later, and
	// Next says so no later than that.
	res := comp.Evaluate(p, t0)
	if got, next := comp.Rank(p, t0, res.Audiences); len(got) != 2 || next.IsZero() || next.After(t0.Add(21*time.Hour)) {
		t.Fatalf("Rank = %v, next %v; want other and news and a next change by %v", got, next, t0.Add(21*time.Hour))
	}
	for _, at := range []time.Duration{time.Hour, 21 * time.Hour, 22 * time.Hour, 30 * 24 * time.Hour} {
		rankAgrees(t, comp, p, t0.Add(at))
	}
}

// Whatever the events, consent and moment, Rank filtered and cut is
// Decide's answer, and it holds until Rank's Next.
func TestRankIsDecide(t *testing.T) {
	_, comp := offerCatalog(t)
	rapid.Check(t, func(rt *rapid.T) {
		p := profile.New("A")
		n := rapid.IntRange(0, 12).Draw(rt, "n")
		for i := range n {
			at := t0.Add(time.Duration(rapid.IntRange(-72, 6).Draw(rt, "hours")) * time.Hour)
			node := crdt.ReplicaID(rapid.IntRange(1, 2).Draw(rt, "node"))
			switch rapid.IntRange(0, 2).Draw(rt, "kind") {
			case 0:
				deliver(p, order{id: fmt.Sprintf("o%d", i), event: "Order Completed", at: at}.message(), node, comp)
			case 1:
				offer := rapid.SampledFrom([]string{"loyal", "news", "welcome", "gone"}).Draw(rt, "offer")
				id := rapid.SampledFrom([]string{"s1", "s2", "s3", fmt.Sprintf("s%d", 10+i)}).Draw(rt, "msg")
				deliver(p, shown(id, offer, at), node, comp)
			case 2:
				deliver(p, &profile.Message{Kind: profile.Identify, MessageID: fmt.Sprintf("c%d", i), Timestamp: at,
					Consent: map[string]bool{rapid.SampledFrom([]string{"marketing", "Marketing"}).Draw(rt, "key"): rapid.Bool().Draw(rt, "granted")}}, node, comp)
			}
		}
		now := t0.Add(time.Duration(rapid.IntRange(-24, 48).Draw(rt, "now")) * time.Hour)
		res := comp.Evaluate(p, now)
		ranked, next := comp.Rank(p, now, res.Audiences)
		for _, placement := range []string{"checkout", "home"} {
			limit := rapid.IntRange(1, 4).Draw(rt, "limit")
			var got []string
			for _, o := range ranked {
				if _, _, ok := comp.OfferAt([]byte(o.ID), placement); ok && len(got) < limit {
					got = append(got, fmt.Sprintf("%s=%g", o.ID, o.Score))
				}
			}
			want := ids(comp.Decide(p, now, placement, limit, false))
			if !slices.Equal(got, want) {
				rt.Fatalf("at %v %s limit %d: Rank %v, Decide %v", now, placement, limit, got, want)
			}
			if !next.IsZero() {
				if later := ids(comp.Decide(p, next.Add(-time.Millisecond), placement, limit, false)); !slices.Equal(later, want) {
					rt.Fatalf("%s: %v at %v but %v just before Next %v", placement, want, now, later, next)
				}
			}
		}
	})
}

// A priority may compute with a numeric computed trait without
// converting it (its kind is known, as for audiences).
func TestOfferPriorityOverComputed(t *testing.T) {
	c := mustWith(t, Catalog{}, "orders_30d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "30d"})
	o, err := ParseDefinition(KindOffer, "more", []byte(`{"placement":"p","priority":"computed.orders_30d * 2","eligibility":"computed.orders_30d >= 1"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, comp, err := c.With("more", o, c.Version+1)
	if err != nil {
		t.Fatal(err)
	}
	p := profile.New("A")
	deliver(p, order{id: "o1", event: "Order Completed", at: t0.Add(-time.Hour)}.message(), 1, comp)
	deliver(p, order{id: "o2", event: "Order Completed", at: t0.Add(-2 * time.Hour)}.message(), 1, comp)
	if got := ids(comp.Decide(p, t0, "p", 3, false)); !slices.Equal(got, []string{"more=4"}) {
		t.Fatalf("Decide = %v, want more=4", got)
	}
}
