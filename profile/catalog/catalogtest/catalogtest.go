// Package catalogtest holds the benchmark catalog and profile of issue
// 10's measurements (and issue 11's offers), shared by the catalog's, the edge store's and the
// hub's benchmarks so they measure the same work.
package catalogtest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/profile"
	"ucv/profile/catalog"
)

// Catalog returns the benchmark's catalog: 20 user-defined
// computed traits and 100 audiences of the kinds marketers write
// (thresholds on computed values and traits, windowed counts and sums,
// recency, identities and consent, audiences built on others).
func Catalog(tb testing.TB) *catalog.Compiled {
	tb.Helper()
	events := []string{"Order Completed", "Product Viewed", "Product Added", "Checkout Started", "Signed In"}
	aggs := []struct{ agg, prop string }{{"count", ""}, {"sum", "total"}, {"avg", "total"}, {"max", "total"}, {"unique_count", "store"}}
	windows := []string{"24h", "7d", "30d", "90d", ""}
	c := catalog.Catalog{}
	var err error
	for i := range 20 {
		a := aggs[i%len(aggs)]
		tr := catalog.ComputedTrait{Event: events[i%len(events)], Aggregate: a.agg, Property: a.prop, Window: windows[(i/len(aggs))%len(windows)]}
		if c, _, err = c.With(fmt.Sprintf("t%02d", i), tr, 1); err != nil {
			tb.Fatal(err)
		}
	}
	exprs := []string{
		`computed.t00 >= 2`,
		`computed.order_count > 3 && days_since(last_seen) < 30`,
		`count("Order Completed", "30d") >= 1`,
		`sum("Order Completed", "total", "90d") > 100.0`,
		`exists_event("Checkout Started", "7d") && !exists_event("Order Completed", "7d")`,
		`days_since(last_seen) > 60`,
		`"plan" in traits && traits.plan == "gold"`,
		`identities.exists(i, i.type == "email")`,
		`"email" in consent && consent.email`,
		`computed.top_category == "Books"`,
	}
	for i := range 100 {
		e := exprs[i%len(exprs)]
		if i >= 10 && i%10 == 0 {
			e = fmt.Sprintf(`"a%02d" in audiences && computed.distinct_channels >= 1`, i-10)
		}
		if c, _, err = c.With(fmt.Sprintf("a%02d", i), catalog.Audience{Expression: e}, 1); err != nil {
			tb.Fatal(err)
		}
	}
	comp, err := catalog.Compile(c)
	if err != nil {
		tb.Fatal(err)
	}
	return comp
}

// WithOffers adds issue 11's 50 benchmark offers, all at placement
// "checkout", to c: eligibility of the
// kinds marketers write (audiences, windowed counts and sums, traits,
// consent), a third with expression priorities, a third capped.
func WithOffers(tb testing.TB, c catalog.Catalog) catalog.Catalog {
	tb.Helper()
	elig := []string{
		`"a%02d" in audiences`,
		`count("Order Completed", "30d") >= %d`,
		`sum("Order Completed", "total", "90d") > %d.0`,
		`has(traits.plan) && traits.plan == "pro" && days_since(last_seen) < %d`,
		`!("a%02d" in audiences) && exists_event("Product Viewed", "7d")`,
	}
	for i := range 50 {
		o := catalog.Offer{Placement: "checkout", Eligibility: fmt.Sprintf(elig[i%len(elig)], i%10), Payload: []byte(fmt.Sprintf(`{"code":"OFFER%02d","pct":%d}`, i, i%30))}
		switch i % 3 {
		case 0:
			o.Priority = []byte(fmt.Sprintf("%d", i))
		case 1:
			o.Priority = []byte(fmt.Sprintf(`"double(count(\"Order Completed\", \"90d\")) + %d.5"`, i))
		case 2:
			o.Cap = &catalog.OfferCap{Max: 3, Window: "24h"}
			o.Priority = []byte(fmt.Sprintf("%d", 50-i))
		}
		if i%7 == 0 {
			o.Consent = "marketing"
		}
		var err error
		if c, _, err = c.With(fmt.Sprintf("o%02d", i), o, c.Version+1); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// Profile returns a profile with n events of the benchmark's
// kinds over the last 120 days, applied with comp's captures.
func Profile(comp *catalog.Compiled, n int, now time.Time) *profile.Profile {
	p := profile.New("P")
	clk := crdt.NewClock(1, func() time.Time { return now }, time.Second, crdt.Timestamp{})
	events := []string{"Order Completed", "Product Viewed", "Product Added", "Checkout Started", "Signed In"}
	ident := &profile.Message{Kind: profile.Identify, MessageID: "id-0", UserID: "u", Timestamp: now.Add(-121 * 24 * time.Hour),
		Traits: map[string]any{"plan": "gold", "email": "ann@example.com"}, Consent: map[string]bool{"email": true},
		Identifiers: []profile.Identifier{{Type: profile.UserID, Value: "u"}, {Type: profile.Email, Value: "ann@example.com"}}}
	p.Apply(ident, ident.Identifiers, profile.Source{Node: 1, Capture: comp.Capture}, clk.Now())
	for i := range n {
		m := &profile.Message{Kind: profile.Track, MessageID: fmt.Sprintf("m%d", i), UserID: "u", Event: events[i%len(events)], Channel: "web",
			Timestamp:   now.Add(-time.Duration(i) * 120 * 24 * time.Hour / time.Duration(n)),
			Properties:  map[string]any{"total": json.Number(fmt.Sprintf("%d.99", 10+i%50)), "currency": "EUR", "store": fmt.Sprintf("s%d", i%4), "category": "Books"},
			Identifiers: []profile.Identifier{{Type: profile.UserID, Value: "u"}}}
		p.Apply(m, m.Identifiers, profile.Source{Node: 1, Capture: comp.Capture}, clk.Now())
	}
	return p
}
