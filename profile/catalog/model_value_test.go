package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/profile"
	"ucv/profile/clv"
)

// The paper's CDNOW estimates (weeks) with α in days.
var testBG = clv.BGNBD{R: 0.243, Alpha: 4.414 * 7, A: 0.793, B: 2.426}

func testCLVModel() Model {
	m, err := CLV{Period: "day", FittedAt: t0, Customers: 100, BGNBD: testBG,
		Currencies: map[string]CLVCurrency{"EUR": {Customers: 100, RepeatCustomers: 40, BGNBD: testBG,
			GammaGamma: clv.GammaGamma{P: 6.25, Q: 3.74, V: 15.44}}}}.Marshal()
	if err != nil {
		panic(err)
	}
	return m
}

func testRFMModel() Model {
	m, err := RFM{FittedAt: t0, Customers: 100, Recency: [4]float64{90, 60, 30, 7}, Frequency: [4]float64{2, 3, 5, 8},
		Monetary: map[string][4]float64{"EUR": {50, 100, 200, 400}}}.Marshal()
	if err != nil {
		panic(err)
	}
	return m
}

// buy applies an order of amount (a decimal string; "" for none) in cur
// at time at to p.
func buy(p *profile.Profile, id string, at time.Time, amount, cur string) {
	props := map[string]any{"currency": cur}
	if amount != "" {
		props["total"] = json.Number(amount)
	}
	m := &profile.Message{Kind: profile.Track, MessageID: id, UserID: "u1", Event: "Order Completed", Properties: props,
		Timestamp: at, Identifiers: []profile.Identifier{{Type: profile.UserID, Value: "u1"}}}
	clk := crdt.NewClock(1, func() time.Time { return at }, time.Second, p.Version)
	p.Apply(m, m.Identifiers, profile.Source{Node: 1}, clk.Now())
}

func valuesOf(r Result) map[string]any {
	out := map[string]any{}
	for _, v := range r.Computed {
		out[v.Name] = v.Value
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

// A profile with orders on days 0, 10 and 30 (two that day: one
// transaction), evaluated on day 60: x = 2, t_x = 30, T = 60. The
// values are the closed forms of the paper, computed here by hand.
func TestValueModelsHandComputed(t *testing.T) {
	c := Catalog{}
	c = mustWith(t, c, ModelCLV, testCLVModel())
	c = mustWith(t, c, ModelRFM, testRFMModel())
	comp, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	day0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	p := profile.New("P")
	buy(p, "a", day0, "10.00", "EUR")
	buy(p, "b", day0.AddDate(0, 0, 10), "20.00", "EUR")
	buy(p, "c", day0.AddDate(0, 0, 30), "15.00", "EUR")
	buy(p, "d", day0.AddDate(0, 0, 30).Add(5*time.Hour), "25.00", "EUR")
	now := day0.AddDate(0, 0, 60).Add(3 * time.Hour)
	r := comp.Evaluate(p, now)
	got := valuesOf(r)

	m := testBG
	x, tx, T := 2.0, 30.0, 60.0
	pAlive := 1 / (1 + m.A/(m.B+x-1)*math.Pow((m.Alpha+T)/(m.Alpha+tx), m.R+x))
	if v := got["p_alive"].(float64); !near(v, roundTo(pAlive, 6)) {
		t.Errorf("p_alive = %v, want %v", v, pAlive)
	}
	s := clv.Summary{Frequency: 2, Recency: 30, Age: 60, MeanSpend: 30} // repeat days: 20, 15+25
	if v := got["expected_orders_90d"].(float64); !near(v, roundTo(m.ExpectedPurchases(s, 90), 6)) {
		t.Errorf("expected_orders_90d = %v, want %v", v, m.ExpectedPurchases(s, 90))
	}
	// Gamma-Gamma's conditional mean spend, by hand: p(v + x·m)/(px + q − 1).
	gg := clv.GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	spend := gg.P * (gg.V + x*30) / (gg.P*x + gg.Q - 1)
	want := roundTo(m.ExpectedPurchases(s, 365)*spend, 2)
	if v := got["predicted_value_365d"].(map[string]any)["EUR"].(float64); v != want {
		t.Errorf("predicted_value_365d = %v, want {EUR: %v}", got["predicted_value_365d"], want)
	}
	// 30 days since the last order: r 4; 4 orders: f 3; 70 EUR: m 2.
	rfm := got["rfm"].(map[string]any)
	if fmt.Sprint(rfm) != fmt.Sprint(map[string]any{"r": int64(4), "f": int64(3), "m": int64(2), "segment": "Potential Loyalists"}) {
		t.Errorf("rfm = %v", rfm)
	}
	if want := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC); !r.Next.Equal(want) {
		t.Errorf("Next = %v, want the next UTC midnight %v", r.Next, want)
	}
	// On the edge the same values render under computed.
	b, err := p.ViewPrefixWith(r.Computed, r.Audiences)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"p_alive":`, `"expected_orders_90d":`, `"predicted_value_365d":{"EUR":`, `"rfm":{"f":3,"m":2,"r":4,"segment":"Potential Loyalists"}`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("view %s lacks %s", b, s)
		}
	}

	// One order: P(alive) is 1 and the expectation is the paper's for x = 0.
	q := profile.New("Q")
	buy(q, "a", day0, "10.00", "EUR")
	got = valuesOf(comp.Evaluate(q, now))
	s0 := clv.Summary{Age: 60}
	if got["p_alive"] != 1.0 || !near(got["expected_orders_90d"].(float64), roundTo(m.ExpectedPurchases(s0, 90), 6)) {
		t.Errorf("one order: %v", got)
	}

	// No order: the keys are there, null.
	e := profile.New("E")
	got = valuesOf(comp.Evaluate(e, now))
	for _, k := range []string{"p_alive", "expected_orders_90d", "predicted_value_365d", "rfm"} {
		if v, ok := got[k]; !ok || v != nil {
			t.Errorf("no order: %s = %v, %v; want null", k, v, ok)
		}
	}
	// An order dated later enters when its time comes.
	buy(e, "f", now.Add(90*time.Minute), "5.00", "EUR")
	if r := comp.Evaluate(e, now); !r.Next.Equal(now.Add(90*time.Minute)) || valuesOf(r)["rfm"] != nil {
		t.Errorf("future order: Next %v, values %v", r.Next, valuesOf(r))
	}
}

// Audiences read the values: computed.rfm.segment, computed.p_alive,
// computed.predicted_value_365d.
func TestValueModelsInAudiences(t *testing.T) {
	c := Catalog{}
	c = mustWith(t, c, ModelCLV, testCLVModel())
	c = mustWith(t, c, ModelRFM, testRFMModel())
	c = mustWith(t, c, "champions", Audience{Expression: `computed.rfm.segment == "Champions"`})
	c = mustWith(t, c, "potential", Audience{Expression: `computed.rfm.segment == "Potential Loyalists" && computed.rfm.f >= 3`})
	c = mustWith(t, c, "alive", Audience{Expression: `computed.p_alive > 0.5 && computed.predicted_value_365d.EUR > 1.0`})
	comp, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	day0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	p := profile.New("P")
	for i := range 9 { // 9 orders, the last 2 days ago: r 5, f 5
		buy(p, fmt.Sprint(i), day0.AddDate(0, 0, 7*i), "80.00", "EUR")
	}
	now := day0.AddDate(0, 0, 58)
	if got := comp.Evaluate(p, now).Audiences; fmt.Sprint(got) != "[alive champions]" {
		t.Errorf("audiences = %v, want [alive champions]", got)
	}
	// 200 days later the same profile is no longer a champion.
	if got := comp.Evaluate(p, now.AddDate(0, 0, 200)); valuesOf(got)["rfm"].(map[string]any)["segment"] != "Can't Lose Them" || len(got.Audiences) != 0 {
		t.Errorf("200 days later: %v %v", valuesOf(got)["rfm"], got.Audiences)
	}
	q := profile.New("Q") // without an order, in none (no error either)
	if r := comp.Evaluate(q, now); len(r.Audiences) != 0 {
		t.Errorf("no order: audiences %v", r.Audiences)
	}
}

func TestValueModelErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, field string
	}{
		{"clv", `{"period":"week","bgnbd":{"r":1,"alpha":1,"a":2,"b":1}}`, "period"},
		{"clv", `{"period":"day","bgnbd":{"r":1,"alpha":1,"a":1,"b":1}}`, "bgnbd"},
		{"clv", `{"period":"day","bgnbd":{"r":-1,"alpha":1,"a":2,"b":1}}`, "bgnbd"},
		{"clv", `{"period":"day","bgnbd":{"r":1,"alpha":1,"a":2,"b":1},"extra":1}`, "body"},
		{"clv", `{"period":"day","bgnbd":{"r":1,"alpha":1,"a":2,"b":1},"currencies":{"eur":{}}}`, "currencies"},
		{"clv", `{"period":"day","bgnbd":{"r":1,"alpha":1,"a":2,"b":1},"currencies":{"EUR":{"bgnbd":{"r":1,"alpha":1,"a":2,"b":1},"gamma_gamma":{"p":1,"q":0.5,"v":1}}}}`, "currencies.EUR.gamma_gamma"},
		{"rfm", `{"recency_days":[1,2,3,4],"frequency":[1,2,3,4]}`, "recency_days"},
		{"rfm", `{"recency_days":[4,3,2,1],"frequency":[4,3,2,1]}`, "frequency"},
		{"rfm", `{"recency_days":[4,3,2,1],"frequency":[1,2,3,4],"monetary":{"EUR":[1,2,3]}}`, "monetary.EUR"},
		{"rfm", `{"recency_days":[4,3,2,1],"frequency":[1,2,3,4],"monetary":{"EUR":[4,3,2,1]}}`, "monetary.EUR"},
		{"rfm", `[1]`, "body"},
	} {
		def, err := ParseDefinition(KindModel, tc.name, []byte(tc.body))
		if err == nil {
			_, _, err = Catalog{}.With(tc.name, def, 1)
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s %s: %v, want an error on field %s", tc.name, tc.body, err, tc.field)
		}
	}
}

// simulate draws n customers from the models' generative story
// (clv.Simulate: first purchases over the 365 days that end on end's
// day, rates in days) as profiles with EUR orders at noon.
func simulate(rng *rand.Rand, n int, m clv.BGNBD, end time.Time) []*profile.Profile {
	start := time.Date(end.Year(), end.Month(), end.Day(), 12, 0, 0, 0, time.UTC).AddDate(0, 0, -364)
	by := map[string]*profile.Profile{}
	var out []*profile.Profile
	for i, tx := range clv.Simulate(rng, n, m, clv.GammaGamma{P: 6, Q: 4, V: 150}, 365) {
		p := by[tx.Customer]
		if p == nil {
			p = profile.New(tx.Customer)
			by[tx.Customer] = p
			out = append(out, p)
		}
		buy(p, fmt.Sprint(i), start.AddDate(0, 0, tx.Day), fmt.Sprintf("%.2f", tx.Amount), "EUR")
	}
	return out
}

// The fit recovers the parameters of a simulated population, and the
// model it gives compiles into a catalog.
func TestPopulationFit(t *testing.T) {
	end := time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC)
	truth := clv.BGNBD{R: 0.8, Alpha: 40, A: 0.6, B: 2.5}
	profiles := simulate(rand.New(rand.NewPCG(1, 2)), 8000, truth, end)
	pop := NewPopulation(end)
	for _, p := range profiles {
		pop.Add(p)
	}
	pop.Add(profile.New("no orders")) // adds nothing
	if pop.Customers() != len(profiles) {
		t.Fatalf("Customers = %d, want %d", pop.Customers(), len(profiles))
	}
	m, err := pop.FitCLV()
	if err != nil {
		t.Fatal(err)
	}
	rel := func(got, want float64) float64 { return math.Abs(got-want) / want }
	if g := m.BGNBD; rel(g.R, truth.R) > 0.15 || rel(g.Alpha, truth.Alpha) > 0.15 || rel(g.A, truth.A) > 0.25 || rel(g.B, truth.B) > 0.25 {
		t.Errorf("fitted %+v, simulated from %+v", g, truth)
	} else {
		t.Logf("fitted %+v, simulated from %+v", g, truth)
	}
	eur, ok := m.Currencies["EUR"]
	if !ok || eur.BGNBD != m.BGNBD || eur.Customers != len(profiles) || eur.RepeatCustomers == 0 {
		t.Errorf("EUR model %+v (one currency: the overall BG/NBD is reused)", eur)
	}
	body, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, err := pop.FitRFM()
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := r.Marshal()
	c := mustWith(t, mustWith(t, Catalog{}, ModelCLV, body), ModelRFM, rb)
	comp, _ := Compile(c)
	// The population's mean expected orders in 90 days is near the
	// model's own for its customers (a sanity check of the scoring).
	var sum float64
	segs := map[string]int{}
	for _, p := range profiles {
		v := valuesOf(comp.Evaluate(p, end))
		sum += v["expected_orders_90d"].(float64)
		segs[v["rfm"].(map[string]any)["segment"].(string)]++
	}
	if mean := sum / float64(len(profiles)); !(mean > 0.1 && mean < 3) {
		t.Errorf("mean expected orders in 90 days = %v", mean)
	}
	if len(segs) < 5 {
		t.Errorf("segments %v: a population should spread over more", segs)
	}
}

// Too little data: no repeat customer for the CLV fit, fewer than five
// profiles for RFM.
func TestPopulationTooLittleData(t *testing.T) {
	end := time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC)
	pop := NewPopulation(end)
	for i := range 4 {
		p := profile.New(fmt.Sprint(i))
		buy(p, "a", end.AddDate(0, 0, -i), "5.00", "EUR")
		pop.Add(p)
	}
	if _, err := pop.FitCLV(); !errors.Is(err, ErrTooLittleData) {
		t.Errorf("FitCLV with one-time buyers: %v, want ErrTooLittleData", err)
	}
	if _, err := pop.FitRFM(); !errors.Is(err, ErrTooLittleData) {
		t.Errorf("FitRFM with 4 profiles: %v, want ErrTooLittleData", err)
	}
}

// RFM scores move the right way: with any population, more orders never
// give a lower f, a later last order never a lower r, more spend never
// a lower m; and a population that buys more raises the thresholds, so
// a given profile's f does not rise.
func TestRFMMonotone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		end := time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC)
		n := rapid.IntRange(5, 40).Draw(t, "n")
		type cust struct{ orders, daysAgo, cents int }
		cs := make([]cust, n)
		for i := range cs {
			cs[i] = cust{rapid.IntRange(1, 12).Draw(t, "orders"), rapid.IntRange(0, 300).Draw(t, "ago"), rapid.IntRange(100, 50000).Draw(t, "cents")}
		}
		build := func(c cust, extra int) *profile.Profile {
			p := profile.New("P")
			for k := range c.orders + extra {
				at := end.AddDate(0, 0, -c.daysAgo-k)
				amount := ""
				if k == 0 {
					amount = fmt.Sprintf("%d.%02d", c.cents/100, c.cents%100)
				}
				buy(p, fmt.Sprint(k), at, amount, "EUR")
			}
			return p
		}
		fit := func(extra int) RFM {
			pop := NewPopulation(end)
			for _, c := range cs {
				pop.Add(build(c, extra))
			}
			m, err := pop.FitRFM()
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Check(); err != nil {
				t.Fatalf("fitted model does not check: %v", err)
			}
			return m
		}
		m := fit(0)
		today := floorDiv(end.UnixMilli(), dayMs)
		score := func(m RFM, c cust) map[string]any {
			return m.scoreHistory(historyOf(build(c, 0), end.UnixMilli(), nil), today)
		}
		a, b := cs[rapid.IntRange(0, n-1).Draw(t, "a")], cs[rapid.IntRange(0, n-1).Draw(t, "b")]
		sa, sb := score(m, a), score(m, b)
		if a.orders > b.orders && sa["f"].(int64) < sb["f"].(int64) {
			t.Fatalf("%d orders: f %v; %d orders: f %v", a.orders, sa["f"], b.orders, sb["f"])
		}
		if a.daysAgo < b.daysAgo && sa["r"].(int64) < sb["r"].(int64) {
			t.Fatalf("%d days ago: r %v; %d days ago: r %v", a.daysAgo, sa["r"], b.daysAgo, sb["r"])
		}
		if a.cents > b.cents && sa["m"].(int64) < sb["m"].(int64) {
			t.Fatalf("%d cents: m %v; %d cents: m %v", a.cents, sa["m"], b.cents, sb["m"])
		}
		more := fit(3)
		for i := range m.Frequency {
			if more.Frequency[i] < m.Frequency[i] {
				t.Fatalf("frequency thresholds %v after everyone bought 3 more, before %v", more.Frequency, m.Frequency)
			}
		}
		if score(more, a)["f"].(int64) > sa["f"].(int64) {
			t.Fatalf("f rose from %v to %v when everyone else bought more", sa["f"], score(more, a)["f"])
		}
	})
}

func TestSegments(t *testing.T) {
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			if Segment(r, f) == "" {
				t.Errorf("Segment(%d, %d) is empty", r, f)
			}
		}
	}
	for _, tc := range []struct {
		r, f int
		want string
	}{{5, 5, "Champions"}, {5, 1, "New Customers"}, {1, 1, "Hibernating"}, {1, 5, "Can't Lose Them"}, {2, 3, "At Risk"},
		{3, 3, "Need Attention"}, {4, 4, "Loyal"}, {3, 1, "About to Sleep"}, {4, 1, "Promising"}, {4, 2, "Potential Loyalists"}} {
		if got := Segment(tc.r, tc.f); got != tc.want {
			t.Errorf("Segment(%d, %d) = %q, want %q", tc.r, tc.f, got, tc.want)
		}
	}
}

func TestQuintiles(t *testing.T) {
	// 60 % one-time buyers share the mid-rank 0.3: score 2; two orders
	// (mid-rank 0.7) score 4, three or more 5.
	vs := []float64{1, 1, 1, 1, 1, 1, 2, 2, 3, 9}
	if got := quintiles(vs); got != [4]float64{1, 2, 2, 3} {
		t.Errorf("quintiles = %v", got)
	}
	if got := quintiles([]float64{4, 4, 4, 4, 4}); got[0] != 4 || !math.IsInf(got[2], 1) {
		t.Errorf("all equal: %v (mid-rank 0.5: score 3)", got)
	}
}

// BenchmarkValueModels is what the value models add to an evaluation:
// a profile of 20 orders over a year (and 80 other events), scored with
// both models ("models") or with an empty catalog's nothing.
//
//	go test -run '^$' -bench ValueModels -benchmem ./profile/catalog
func BenchmarkValueModels(b *testing.B) {
	c := Catalog{}
	c = mustWith(b, c, ModelCLV, testCLVModel())
	c = mustWith(b, c, ModelRFM, testRFMModel())
	comp, err := Compile(c)
	if err != nil {
		b.Fatal(err)
	}
	p := profile.New("P")
	for i := range 100 {
		at := t0.Add(-time.Duration(i) * 87 * time.Hour)
		if i%5 == 0 {
			buy(p, fmt.Sprint(i), at, "25.50", "EUR")
			continue
		}
		m := &profile.Message{Kind: profile.Track, MessageID: fmt.Sprint(i), Event: "Product Viewed", Timestamp: at,
			Identifiers: []profile.Identifier{{Type: profile.UserID, Value: "u1"}}}
		clk := crdt.NewClock(1, func() time.Time { return at }, time.Second, p.Version)
		p.Apply(m, m.Identifiers, profile.Source{Node: 1}, clk.Now())
	}
	b.ReportAllocs()
	for b.Loop() {
		comp.Evaluate(p, t0)
	}
}
