package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/profile"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// order is one generated event: what the model aggregates.
type order struct {
	id    string
	event string
	at    time.Time
	total any // json.Number, string or missing (nil)
	store string
}

func (o order) message() *profile.Message {
	props := map[string]any{"currency": "EUR"}
	if o.total != nil {
		props["total"] = o.total
	}
	if o.store != "" {
		props["store"] = o.store
	}
	return &profile.Message{Kind: profile.Track, MessageID: o.id, UserID: "u1", Event: o.event, Properties: props,
		Timestamp: o.at, Identifiers: []profile.Identifier{{Type: profile.UserID, Value: "u1"}}}
}

// apply applies o to p at node as an edge would, capturing what comp reads.
func apply(p *profile.Profile, o order, node crdt.ReplicaID, comp *Compiled) {
	m := o.message()
	clk := crdt.NewClock(node, func() time.Time { return t0 }, time.Second, p.Version)
	p.Apply(m, m.Identifiers, profile.Source{Node: node, Capture: comp.Capture}, clk.Now())
}

func genOrders(t *rapid.T) []order {
	n := rapid.IntRange(0, 25).Draw(t, "n")
	out := make([]order, n)
	for i := range out {
		// Times over 500 days before t0, and a few just after it (a till
		// whose clock runs ahead): the window edges are crossed both ways.
		sec := rapid.Int64Range(-500*86400, 3600).Draw(t, "at")
		at := t0.Add(time.Duration(sec) * time.Second)
		if rapid.Bool().Draw(t, "edge") { // exactly on a window's edge
			at = t0.Add(-rapid.SampledFrom([]time.Duration{time.Hour, 24 * time.Hour, 720 * time.Hour, 9600 * time.Hour}).Draw(t, "w"))
		}
		// Distinct times (ms apart), so first and last have one answer.
		at = at.Add(time.Duration(i) * time.Millisecond)
		o := order{id: fmt.Sprintf("m%d", i), event: rapid.SampledFrom([]string{"Order Completed", "Product Viewed"}).Draw(t, "event"), at: at}
		switch rapid.IntRange(0, 3).Draw(t, "total") {
		case 0:
		case 1:
			o.total = json.Number(fmt.Sprintf("%d.%02d", rapid.IntRange(0, 500).Draw(t, "eur"), rapid.IntRange(0, 99).Draw(t, "cent")))
		case 2:
			o.total = fmt.Sprint(rapid.IntRange(1, 9).Draw(t, "s"))
		case 3:
			o.total = json.Number(fmt.Sprint(rapid.IntRange(-5, 5).Draw(t, "i")))
		}
		o.store = rapid.SampledFrom([]string{"", "a", "b", "c"}).Draw(t, "store")
		out[i] = o
	}
	return out
}

// model computes a trait directly from the distinct orders.
func model(orders []order, tr ComputedTrait, now time.Time) any {
	w, _ := ParseWindow(tr.Window)
	var in []order
	for _, o := range orders {
		if o.event != tr.Event {
			continue
		}
		if w > 0 && (o.at.After(now) || !o.at.After(now.Add(-w))) {
			continue
		}
		in = append(in, o)
	}
	val := func(o order) (any, bool) {
		var v any
		switch tr.Property {
		case "total":
			v = o.total
		case "store":
			if o.store != "" {
				v = o.store
			}
		}
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return i, true
			}
			f, _ := x.Float64()
			return f, true
		case string:
			return x, true
		}
		return nil, false
	}
	num := func(v any) (float64, bool) {
		switch x := v.(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		case string:
			var f float64
			_, err := fmt.Sscan(x, &f)
			return f, err == nil
		}
		return 0, false
	}
	switch tr.Aggregate {
	case "count":
		return int64(len(in))
	case "sum", "avg", "min", "max":
		var xs []float64
		for _, o := range in {
			if v, ok := val(o); ok {
				if f, ok := num(v); ok {
					xs = append(xs, f)
				}
			}
		}
		if tr.Aggregate == "sum" {
			s := 0.0
			for _, x := range xs {
				s += x
			}
			return math.Round(s*1e6) / 1e6
		}
		if len(xs) == 0 {
			return nil
		}
		switch tr.Aggregate {
		case "avg":
			s := 0.0
			for _, x := range xs {
				s += x
			}
			return math.Round(s/float64(len(xs))*1e6) / 1e6
		case "min":
			return slices.Min(xs)
		default:
			return slices.Max(xs)
		}
	case "first", "last", "most_frequent", "unique_count":
		type tv struct {
			at time.Time
			v  any
		}
		var vs []tv
		for _, o := range in {
			if v, ok := val(o); ok {
				vs = append(vs, tv{o.at, v})
			}
		}
		if tr.Aggregate == "unique_count" {
			seen := map[string]bool{}
			for _, x := range vs {
				seen[fmt.Sprintf("%T:%v", x.v, x.v)] = true
			}
			return int64(len(seen))
		}
		if len(vs) == 0 {
			return nil
		}
		switch tr.Aggregate {
		case "first":
			return slices.MinFunc(vs, func(a, b tv) int { return a.at.Compare(b.at) }).v
		case "last":
			return slices.MaxFunc(vs, func(a, b tv) int { return a.at.Compare(b.at) }).v
		}
		return "most_frequent" // checked separately (ties)
	}
	return nil
}

func genTrait(t *rapid.T) ComputedTrait {
	tr := ComputedTrait{Event: "Order Completed", Aggregate: rapid.SampledFrom(Aggregates).Draw(t, "agg"),
		Window: rapid.SampledFrom([]string{"", "1h", "24h", "720h", "30d", "9600h", "400d"}).Draw(t, "window")}
	if tr.Aggregate != "count" {
		tr.Property = rapid.SampledFrom([]string{"total", "store"}).Draw(t, "prop")
	}
	return tr
}

// Computed traits equal a direct computation from the distinct events,
// at any moment: events arrive in any order, late, twice, at two
// replicas that then merge; windows up to 400 days are exact; values
// move as time passes without new events, and never before Next.
func TestComputedTraitsExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := genTrait(t)
		c, comp, err := Catalog{}.With("x", tr, 1)
		if err != nil {
			t.Fatal(err)
		}
		_ = c
		orders := genOrders(t)
		// Two replicas each get a random subset (every order at least
		// once), in shuffled order, with redeliveries.
		a, b := profile.New("P"), profile.New("P")
		for _, o := range rapid.Permutation(orders).Draw(t, "orderA") {
			switch rapid.IntRange(0, 2).Draw(t, "where") {
			case 0:
				apply(a, o, 1, comp)
			case 1:
				apply(b, o, 2, comp)
			default:
				apply(a, o, 1, comp)
				apply(b, o, 2, comp)
				apply(b, o, 2, comp)
			}
		}
		a.Merge(b)
		now := t0
		res := comp.Evaluate(a, now)
		check := func(res Result, at time.Time) {
			got := res.Computed[0].Value
			want := model(orders, tr, at)
			if tr.Aggregate == "most_frequent" {
				if (got == nil) != (model(orders, ComputedTrait{Event: tr.Event, Aggregate: "unique_count", Property: tr.Property, Window: tr.Window}, at) == int64(0)) {
					t.Fatalf("most_frequent at %v = %v", at, got)
				}
				return
			}
			if fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", want, want) {
				t.Fatalf("%+v at %v: got %T %v, want %T %v", tr, at, got, got, want, want)
			}
		}
		check(res, now)
		// Later, with no new event.
		later := now.Add(time.Duration(rapid.Int64Range(0, 410*86400).Draw(t, "later")) * time.Second)
		res2 := comp.Evaluate(a, later)
		check(res2, later)
		if !res.Next.IsZero() && later.Before(res.Next) && fmt.Sprint(res2.Computed) != fmt.Sprint(res.Computed) {
			t.Fatalf("value changed at %v, before Next %v", later, res.Next)
		}
		if res.Next.IsZero() && fmt.Sprint(res2.Computed) != fmt.Sprint(res.Computed) {
			t.Fatalf("value changed at %v with no Next", later)
		}
		if !res.Next.IsZero() && !res.Next.After(now) {
			t.Fatalf("Next %v not after now %v", res.Next, now)
		}
	})
}

// The same message at two tills counts once, and a merged profile
// counts it once.
func TestComputedTraitExactlyOnce(t *testing.T) {
	_, comp, err := Catalog{}.With("orders_30d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "720h"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	o := order{id: "same", event: "Order Completed", at: t0.Add(-time.Hour), total: json.Number("10")}
	a, b := profile.New("A"), profile.New("A")
	apply(a, o, 1, comp)
	apply(b, o, 2, comp)
	a.Merge(b)
	if got := comp.Evaluate(a, t0).Computed[0].Value; got != int64(1) {
		t.Fatalf("orders_30d = %v, want 1", got)
	}
	if got := comp.Evaluate(a, t0.Add(30*24*time.Hour)).Computed[0].Value; got != int64(0) {
		t.Fatalf("after 30 days orders_30d = %v, want 0", got)
	}
}

func TestDefinitionErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tr    ComputedTrait
		field string
	}{
		{"Bad", ComputedTrait{Event: "e", Aggregate: "count"}, "name"},
		{"order_count", ComputedTrait{Event: "e", Aggregate: "count"}, "name"},
		{strings.Repeat("a", 65), ComputedTrait{Event: "e", Aggregate: "count"}, "name"},
		{"x", ComputedTrait{Aggregate: "count"}, "event"},
		{"x", ComputedTrait{Event: "e", Aggregate: "median", Property: "p"}, "aggregate"},
		{"x", ComputedTrait{Event: "e", Aggregate: "count", Property: "p"}, "property"},
		{"x", ComputedTrait{Event: "e", Aggregate: "sum"}, "property"},
		{"x", ComputedTrait{Event: "e", Aggregate: "sum", Property: "a..b"}, "property"},
		{"x", ComputedTrait{Event: "e", Aggregate: "count", Window: "401d"}, "window"},
		{"x", ComputedTrait{Event: "e", Aggregate: "count", Window: "9601h"}, "window"},
		{"x", ComputedTrait{Event: "e", Aggregate: "count", Window: "-1h"}, "window"},
		{"x", ComputedTrait{Event: "e", Aggregate: "count", Window: "soon"}, "window"},
	} {
		base := Catalog{Version: 3}
		got, _, err := base.With(tc.name, tc.tr, 4)
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s %+v: error %v, want one naming %q", tc.name, tc.tr, err, tc.field)
		}
		if got.Version != 3 || len(got.ComputedTraits) != 0 {
			t.Errorf("%s: a refused definition changed the catalog: %+v", tc.name, got)
		}
	}
	if _, err := ParseDefinition(KindComputedTrait, "x", []byte(`{"event":"e","aggregate":"count","colour":"red"}`)); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field: %v", err)
	}
	if _, _, err := (Catalog{}).Without(KindAudience, "nope", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Without unknown: %v", err)
	}
}

// Marshal is deterministic and Unmarshal inverts it; the digest ignores
// the version.
func TestEncoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := Catalog{Version: rapid.Uint64().Draw(t, "v")}
		for range rapid.IntRange(0, 5).Draw(t, "n") {
			name := rapid.StringMatching(`[a-z][a-z0-9_]{0,8}`).Draw(t, "name")
			tr := genTrait(t)
			tr.Description = rapid.String().Draw(t, "desc")
			if n, _, err := c.With(name, tr, c.Version); err == nil {
				c = n
			}
		}
		b1, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Unmarshal(b1)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := back.Marshal()
		if string(b1) != string(b2) || back.Version != c.Version || len(back.ComputedTraits) != len(c.ComputedTraits) {
			t.Fatalf("round trip changed the catalog")
		}
		c1, err1 := Compile(c)
		c2, err2 := Compile(Catalog{Version: c.Version + 1, Definitions: c.Definitions})
		if err1 != nil || err2 != nil || c1.Digest() != c2.Digest() {
			t.Fatalf("digest depends on the version: %v %v", err1, err2)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	c, _, _ := Catalog{}.With("orders_30d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "720h"}, 7)
	b, _ := c.Marshal()
	f.Add(b)
	f.Add([]byte{'C'})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Unmarshal(b)
		if err != nil {
			return
		}
		b2, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Unmarshal(b2)
		if err != nil || c2.Version != c.Version || len(c2.ComputedTraits) != len(c.ComputedTraits) || len(c2.Audiences) != len(c.Audiences) {
			t.Fatalf("re-decode: %v", err)
		}
		_, _ = Compile(c) // never panics
	})
}

func TestParseFile(t *testing.T) {
	_, comp, err := ParseFile([]byte(`{"computed_traits":{"orders_30d":{"event":"Order Completed","aggregate":"count","window":"30d"}}}`))
	if err != nil || len(comp.traits) != 1 {
		t.Fatalf("ParseFile: %v", err)
	}
	if _, _, err := ParseFile([]byte(`{"computed_traits":{"Bad":{"event":"e","aggregate":"count"}}}`)); err == nil {
		t.Fatal("a bad name loaded")
	}
	if _, _, err := ParseFile([]byte(`{"segments":{}}`)); err == nil {
		t.Fatal("an unknown kind loaded")
	}
}

func mustWith(t testing.TB, c Catalog, name string, def any) Catalog {
	t.Helper()
	n, _, err := c.With(name, def, c.Version+1)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// Memberships follow events and time: two orders make a repeat buyer,
// which a VIP audience builds on; as the orders age out of 30 days the
// profile leaves both, and 31 days after its last event it enters
// "lapsed" — with no new event, at the moments Next announces.
func TestAudiencesOverTime(t *testing.T) {
	c := mustWith(t, Catalog{}, "orders_30d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "30d"})
	c = mustWith(t, c, "repeat_buyers", Audience{Expression: `computed.orders_30d >= 2`})
	c = mustWith(t, c, "vip", Audience{Expression: `"repeat_buyers" in audiences && sum("Order Completed", "total", "400d") > 100.0`})
	c = mustWith(t, c, "lapsed", Audience{Expression: `days_since(last_seen) > 30`})
	c = mustWith(t, c, "gold", Audience{Expression: `"plan" in traits && traits.plan == "gold"`})
	comp, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	p := profile.New("P")
	apply(p, order{id: "o1", event: "Order Completed", at: t0.Add(-10 * 24 * time.Hour), total: json.Number("80")}, 1, comp)
	apply(p, order{id: "o2", event: "Order Completed", at: t0.Add(-9 * 24 * time.Hour), total: json.Number("30.5")}, 1, comp)
	r := comp.Evaluate(p, t0)
	if strings.Join(r.Audiences, ",") != "repeat_buyers,vip" {
		t.Fatalf("at t0: %v (errors %v)", r.Audiences, r.Errors)
	}
	// days_since(last_seen) next changes a day on (before o1 leaves the
	// window); without the lapsed audience, Next is when o1 leaves.
	if want := t0.Add(24 * time.Hour); !r.Next.Equal(want) {
		t.Fatalf("Next = %v, want %v (days_since ticks)", r.Next, want)
	}
	noLapsed, _, err := c.Without(KindAudience, "lapsed", c.Version+1)
	if err != nil {
		t.Fatal(err)
	}
	comp2, _ := Compile(noLapsed)
	if r2, want := comp2.Evaluate(p, t0), t0.Add(20*24*time.Hour); !r2.Next.Equal(want) {
		t.Fatalf("Next = %v, want %v (o1 leaves the window)", r2.Next, want)
	}
	r = comp.Evaluate(p, t0.Add(20*24*time.Hour))
	if len(r.Audiences) != 0 {
		t.Fatalf("after o1 aged out: %v", r.Audiences)
	}
	r = comp.Evaluate(p, t0.Add(22*24*time.Hour))
	if strings.Join(r.Audiences, ",") != "lapsed" {
		t.Fatalf("31 days after the last event: %v", r.Audiences)
	}
	// Explain shows what each expression read.
	_, exps := comp.Explain(p, t0)
	for _, e := range exps {
		if e.Audience == "repeat_buyers" {
			if !e.Member || len(e.Reads) != 1 || e.Reads[0].Name != "computed.orders_30d" || e.Reads[0].Value != int64(2) {
				t.Fatalf("explain repeat_buyers: %+v", e)
			}
		}
		if e.Audience == "gold" && (e.Member || len(e.Reads) == 0) {
			t.Fatalf("explain gold: %+v", e)
		}
	}
	// An erased profile is in nothing.
	p.Erase([]byte("salt"), crdt.Timestamp{Wall: t0.UnixMilli() + 1})
	if r := comp.Evaluate(p, t0); len(r.Audiences) != 0 {
		t.Fatalf("erased profile in %v", r.Audiences)
	}
}

// Every bad audience is refused naming the problem, and the catalog is
// unchanged.
func TestAudienceErrors(t *testing.T) {
	base := mustWith(t, Catalog{}, "orders_30d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "30d"})
	base = mustWith(t, base, "a", Audience{Expression: `computed.orders_30d >= 1`})
	for _, tc := range []struct {
		name, expr, field, want string
	}{
		{"b", `trait.plan == "gold"`, "expression", "trait"},
		{"b", `counted("Order Completed", "30d") > 1`, "expression", "counted"},
		{"b", `count(1, "30d") > 1`, "expression", "line 1"},
		{"b", `traits.plan + 1 == "a"`, "expression", "line 1"},
		{"b", `count("Order Completed", "401d") > 1`, "expression", "400"},
		{"b", `"nope" in audiences`, "expression", "nope"},
		{"B", `true`, "name", "[a-z]"},
		{"b", `identities.exists(i, identities.exists(j, traits.all(k, i.value == j.value)))`, "expression", "cost"},
		{"b", `computed.orders_30d`, "expression", "bool"},
		{"b", `computed.orders_30d >= "2"`, "expression", "number"},
		{"b", `"Books" == computed.order_count`, "expression", "number"},
		{"b", `computed.top_category == 3`, "expression", "string"},
		{"b", ``, "expression", "required"},
	} {
		got, _, err := base.With(tc.name, Audience{Expression: tc.expr}, base.Version+1)
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(ce.Message+ce.Name, tc.want) {
			t.Errorf("%s %q: %v, want an error on %s mentioning %q", tc.name, tc.expr, err, tc.field, tc.want)
		}
		if got.Version != base.Version || len(got.Audiences) != 1 {
			t.Errorf("%q changed the catalog", tc.expr)
		}
	}
	// A cycle: a reads b, then b reads a.
	c := mustWith(t, base, "b", Audience{Expression: `"a" in audiences`})
	if _, _, err := c.With("a", Audience{Expression: `"b" in audiences`}, c.Version+1); err == nil || !strings.Contains(err.Error(), "→") {
		t.Errorf("cycle: %v", err)
	}
	// Removing what another reads is a conflict: an audience, or a
	// computed trait.
	var ce *Error
	if _, _, err := c.Without(KindAudience, "a", c.Version+1); !errors.As(err, &ce) || !ce.Conflict {
		t.Errorf("removing a read audience: %v", err)
	}
	if _, _, err := c.Without(KindComputedTrait, "orders_30d", c.Version+1); !errors.As(err, &ce) || !ce.Conflict || !strings.Contains(ce.Message, "orders_30d") {
		t.Errorf("removing a read computed trait: %v", err)
	}
	// An unknown computed trait is refused at definition.
	if _, _, err := c.With("d", Audience{Expression: `computed.orders_31d > 1`}, c.Version+1); !errors.As(err, &ce) || ce.Field != "expression" || !strings.Contains(ce.Message, "orders_31d") {
		t.Errorf("unknown computed trait: %v", err)
	}
}

// Reevaluate after any change equals a full evaluation, as long as the
// previous evaluation's Next has not come.
func TestReevaluateEqualsEvaluate(t *testing.T) {
	all := map[string]string{
		"buyers":   `computed.orders_7d >= 1`,
		"big":      `sum("Order Completed", "total", "30d") > 50.0`,
		"viewers":  `count("Product Viewed", "24h") >= 2`,
		"quiet":    `days_since(last_seen) >= 1`,
		"gold":     `"plan" in traits && traits.plan == "gold"`,
		"mailable": `"email" in consent && consent.email`,
		"emailed":  `identities.exists(i, i.type == "email")`,
		"loyal":    `"buyers" in audiences && computed.order_count >= 2`,
		"new":      `now - first_seen < duration("48h")`,
		"omni":     `computed.distinct_channels >= 2`,
		"counts":   `computed.size() >= 8 || "viewers" in audiences`,
		"alive":    `has(computed.p_alive) && computed.p_alive > 0.6`,
		"champs":   `has(computed.rfm) && computed.rfm.segment == "Champions"`,
	}
	names := []string{"buyers", "big", "viewers", "quiet", "gold", "mailable", "emailed", "loyal", "new", "omni", "counts", "alive", "champs"}
	rapid.Check(t, func(t *rapid.T) {
		c := Catalog{}
		c, _, _ = c.With("orders_7d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "7d"}, 1)
		if rapid.Bool().Draw(t, "models") { // the value models (model_value_test.go)
			var err error
			for name, m := range map[string]Model{ModelCLV: testCLVModel(), ModelRFM: testRFMModel()} {
				if c, _, err = c.With(name, m, 1); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, n := range names {
			if rapid.Bool().Draw(t, "has-"+n) {
				if n2, _, err := c.With(n, Audience{Expression: all[n]}, 1); err == nil {
					c = n2
				}
			}
		}
		comp, err := Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		p := profile.New("P")
		clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
		k := 0
		msg := func() *profile.Message {
			k++
			at := t0.Add(-time.Duration(rapid.IntRange(0, 10*24).Draw(t, "hoursAgo")) * time.Hour)
			id := []profile.Identifier{{Type: profile.UserID, Value: "u"}}
			switch rapid.IntRange(0, 4).Draw(t, "kind") {
			case 0:
				tr := map[string]any{"plan": rapid.SampledFrom([]string{"gold", "free"}).Draw(t, "plan")}
				if rapid.Bool().Draw(t, "email") {
					tr["email"] = "a@example.com"
					id = append(id, profile.Identifier{Type: profile.Email, Value: "a@example.com"})
				}
				return &profile.Message{Kind: profile.Identify, MessageID: fmt.Sprint(k), Timestamp: at, Traits: tr, Identifiers: id,
					Consent: map[string]bool{"email": rapid.Bool().Draw(t, "consent")}}
			case 1, 2:
				return &profile.Message{Kind: profile.Track, MessageID: fmt.Sprint(k), Timestamp: at, Event: "Order Completed", Identifiers: id,
					Channel: rapid.SampledFrom([]string{"web", "pos"}).Draw(t, "ch"), Properties: map[string]any{"total": json.Number(fmt.Sprint(rapid.IntRange(1, 40).Draw(t, "total")))}}
			default:
				return &profile.Message{Kind: profile.Track, MessageID: fmt.Sprint(k), Timestamp: at, Event: "Product Viewed", Identifiers: id,
					Channel: rapid.SampledFrom([]string{"web", "app"}).Draw(t, "ch")}
			}
		}
		for range rapid.IntRange(0, 6).Draw(t, "before") {
			m := msg()
			p.Apply(m, m.Identifiers, profile.Source{Node: 1, Capture: comp.Capture}, clk.Now())
		}
		now := t0
		prev := comp.Evaluate(p, now)
		var ch Change
		for range rapid.IntRange(1, 4).Draw(t, "after") {
			m := msg()
			first, last := p.FirstSeen, p.LastSeen
			d := p.Apply(m, m.Identifiers, profile.Source{Node: 1, Capture: comp.Capture}, clk.Now())
			ch.Add(ChangeOf(d, first, last))
		}
		later := now
		if !prev.Next.IsZero() {
			later = now.Add(time.Duration(rapid.Int64Range(0, prev.Next.Sub(now).Milliseconds()-1).Draw(t, "later")) * time.Millisecond)
		}
		got := comp.Reevaluate(p, later, prev.Audiences, prev.Next, ch)
		want := comp.Evaluate(p, later)
		if fmt.Sprint(got.Audiences) != fmt.Sprint(want.Audiences) || fmt.Sprint(got.Computed) != fmt.Sprint(want.Computed) {
			t.Fatalf("Reevaluate %v %v\nEvaluate %v %v (change %+v)", got.Audiences, got.Computed, want.Audiences, want.Computed, ch)
		}
		if !want.Next.IsZero() && (got.Next.IsZero() || got.Next.After(want.Next)) {
			t.Fatalf("Reevaluate's Next %v is after Evaluate's %v", got.Next, want.Next)
		}
	})
}

// Offers and models round-trip through the encoding; a catalog without
// them keeps the first version's bytes (array of 3).
func TestOffersAndModelsEncoding(t *testing.T) {
	c := mustWith(t, Catalog{}, "orders_30d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "30d"})
	b, _ := c.Marshal()
	if b[1] != 0x93 { // fixarray of 3
		t.Fatalf("a catalog without offers or models starts %x", b[:2])
	}
	o, err := ParseDefinition(KindOffer, "free_shipping", []byte(`{"placement":"checkout","priority":2,"cap":{"max":3,"window":"24h"},"payload":{"code":"SHIP"}}`))
	if err != nil {
		t.Fatal(err)
	}
	c = mustWith(t, c, "free_shipping", o)
	const rfm = `{"customers":5,"recency_days":[9,5,3,1],"frequency":[1,2,3,4]}`
	m, err := ParseDefinition(KindModel, ModelRFM, []byte(rfm))
	if err != nil {
		t.Fatal(err)
	}
	c = mustWith(t, c, ModelRFM, m)
	b, err = c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := back.Marshal()
	if string(b) != string(b2) || back.Offers["free_shipping"].Cap.Max != 3 || string(back.Models[ModelRFM]) != rfm {
		t.Fatalf("round trip: %+v", back)
	}
	for _, bad := range []struct{ kind, name, body, field string }{
		{KindOffer, "x", `{"priority":1}`, "placement"},
		{KindOffer, "x", `{"placement":"p","cap":{"max":0,"window":"1h"}}`, "cap.max"},
		{KindOffer, "x", `{"placement":"p","cap":{"max":1,"window":"500d"}}`, "cap.window"},
		{KindModel, "nope", `{}`, "name"},
		{KindModel, ModelCLV, `[1]`, "body"},
	} {
		_, err := ParseDefinition(bad.kind, bad.name, []byte(bad.body))
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != bad.field {
			t.Errorf("%s %s %s: %v, want an error on %s", bad.kind, bad.name, bad.body, err, bad.field)
		}
	}
}

// A window's error says what is wrong with it — "500d" is a duration,
// only too long — and computed traits and audience functions read
// windows alike ("lifetime" included); an offer's cap still needs one.
func TestWindowMessagesSayWhatIsWrong(t *testing.T) {
	for w, want := range map[string]string{
		"500d":  `"500d" is longer than 400 days`,
		"9601h": `"9601h" is longer than 400 days`,
		"-1h":   `"-1h" must be positive`,
		"soon":  `"soon" is not whole days`,
	} {
		_, err := ParseDefinition(KindComputedTrait, "x", []byte(`{"event":"e","aggregate":"count","window":"`+w+`"}`))
		if err == nil || !strings.Contains(err.Error(), "window: "+want) {
			t.Errorf("window %q: %v, want %q", w, err, "window: "+want)
		}
	}
	if _, err := ParseDefinition(KindComputedTrait, "x", []byte(`{"event":"e","aggregate":"count","window":"lifetime"}`)); err != nil {
		t.Errorf("window lifetime: %v", err)
	}
	if _, err := ParseDefinition(KindOffer, "x", []byte(`{"placement":"p","cap":{"max":1,"window":"lifetime"}}`)); err == nil || !strings.Contains(err.Error(), "cap.window") {
		t.Errorf("an offer cap over the lifetime: %v, want a cap.window error", err)
	}
}
