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
