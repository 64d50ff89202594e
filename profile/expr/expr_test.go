package expr

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func TestCompileErrors(t *testing.T) {
	known := Known{Audiences: []string{"vip", "gold"}}
	for _, tc := range []struct {
		name, expr string
		line, col  int
		msg        string
	}{
		{"syntax", `computed.orders_30d >=`, 1, 23, "Syntax error"},
		{"syntax second line", "computed.orders_30d >= 2 &&\n  (1 +", 2, 7, "Syntax error"},
		{"unknown variable", `trait.plan == "gold"`, 1, 1, "undeclared reference to 'trait'"},
		{"unknown function", `counts("Order Completed", "30d") > 1`, 1, 7, "undeclared reference to 'counts'"},
		{"type error", `traits.x + 1 == "a"`, 1, 14, "no matching overload for '_==_' applied to '(int, string)'"},
		{"wrong argument type", `count(1, "720h") > 0`, 1, 6, "no matching overload for 'count'"},
		{"wrong argument count", `count("Order Completed") > 0`, 1, 6, "no matching overload for 'count'"},
		{"not bool", `computed.orders_30d + 1`, 1, 1, "must be bool, not int"},
		{"dyn result", `traits.vip`, 1, 1, "must be bool, not dyn"},
		{"event not literal", `count(traits.last_event, "720h") > 0`, 1, 13, "event name must be a string literal"},
		{"event empty", `exists_event("", "1d")`, 1, 14, "event name is empty"},
		{"path not literal", `sum("Order Completed", traits.field, "1d") > 0.0`, 1, 30, "property path must be a string literal"},
		{"path malformed", `sum("Order Completed", "a..b", "1d") > 0.0`, 1, 24, "property path"},
		{"window not literal", `count("Order Completed", traits.window) > 0`, 1, 32, "window must be a string literal"},
		{"window computed duration", `count("Order Completed", duration("1h") * 2) > 0`, 1, 41, "no matching overload for '_*_'"},
		{"window a function of now", `count("Order Completed", string(now)) > 0`, 1, 32, "window must be a string literal"},
		{"window over 400 days", `count("Order Completed", "401d") > 0`, 1, 26, "longer than 400 days"},
		{"window over 9600h", `sum("Order Completed", "total", duration("9601h")) > 0.0`, 1, 41, "longer than 400 days"},
		{"window zero", `count("Order Completed", "0h") > 0`, 1, 26, "must be positive"},
		{"window negative", `exists_event("Order Completed", "-5m")`, 1, 33, "must be positive"},
		{"window garbage", `count("Order Completed", "a month") > 0`, 1, 26, "not whole days"},
		{"unknown audience", `"platinum" in audiences`, 1, 1, `unknown audience "platinum"`},
		{"unknown audience in exists", `audiences.exists(a, a == "vip" || a == "bronze")`, 1, 40, `unknown audience "bronze"`},
		{"itself", `computed.x > 1 || "self" in audiences`, 1, 19, `audience "self" cannot depend on itself`},
		{"audience not literal", `traits.segment in audiences`, 1, 7, "must be a string literal"},
		{"audiences size", `size(audiences) > 2`, 1, 6, "audiences may be read only as"},
		{"audiences all", `audiences.all(a, a == "vip")`, 1, 1, "audiences may be read only as"},
		{"audiences exists negated", `audiences.exists(a, a != "vip")`, 1, 23, "may only test a == \"name\""},
		{"nested comprehension", `identities.exists(i, identities.exists(j, i.value == j.value && i.type != j.type))`, 1, 1, "too expensive"},
		{"traits times identities", `traits.exists(k, identities.exists(i, i.value == k))`, 1, 1, "too expensive"},
		{"bad duration literal", `now - first_seen > duration("")`, 1, 29, `duration(""): not a duration`},
		{"bad timestamp literal", `first_seen > timestamp("yesterday")`, 1, 24, `not an RFC 3339 time`},
		{"too long", strings.Repeat("true && ", 600) + "true", 1, 1, "more than 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile("self", tc.expr, known)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) = %v, %v; want an *Error", tc.expr, p, err)
			}
			if e.Line != tc.line || e.Column != tc.col || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("Compile(%q) = %q (line %d, column %d), want line %d, column %d, containing %q",
					tc.expr, e.Message, e.Line, e.Column, tc.line, tc.col, tc.msg)
			}
			if want := fmt.Sprintf("line %d, column %d: ", e.Line, e.Column); !strings.HasPrefix(e.Error(), want) {
				t.Errorf("Error() = %q, want the prefix %q", e.Error(), want)
			}
		})
	}
}

// TestCompileAccepts holds realistic expressions under the cost limit.
func TestCompileAccepts(t *testing.T) {
	known := Known{Audiences: []string{"repeat_buyers", "vip", "gold", "platinum", "churned"}}
	exprs := append([]string{
		// a single loop over a trait's list, the dearest accepted shape
		`has(traits.tags) && traits.tags.exists(t, t.startsWith("promo_"))`,
		// a handful of event functions and comparisons
		`count("Order Completed", "30d") >= 2 && sum("Order Completed", "total", "30d") > 100.0 &&
		 exists_event("Email Opened", "7d") && count("Product Viewed", "720h") > 5 &&
		 !exists_event("Unsubscribed", "lifetime") && days_since(last_seen) < 30`,
		`identities.exists(i, i.type == "email") && identities.exists(i, i.type == "phone")`,
		`first_seen == timestamp(0)`,
	}, benchExpressions...)
	for _, e := range exprs {
		p, err := Compile("x", e, known)
		if err != nil {
			t.Errorf("Compile(%q): %v", e, err)
			continue
		}
		if p.Cost() > MaxCost {
			t.Errorf("Compile(%q).Cost() = %d, over %d", e, p.Cost(), MaxCost)
		}
	}
}

func TestDepsCallsReadsNow(t *testing.T) {
	known := Known{Audiences: []string{"vip", "gold", "platinum", "churned"}}
	for _, tc := range []struct {
		expr     string
		deps     []string
		calls    []Call
		readsNow bool
	}{
		{`computed.orders_30d >= 2`, nil, nil, false},
		{`"vip" in audiences && !("churned" in audiences)`, []string{"churned", "vip"}, nil, false},
		{`audiences.exists(a, a == "platinum" || "gold" == a || a in ["vip", "gold"])`, []string{"gold", "platinum", "vip"}, nil, false},
		{`count("Order Completed", "720h") > 1 && count("Order Completed", "30d") > 1 &&
		  sum("Order Completed", "total", duration("24h")) > 2.0 && exists_event("Signed Up", "") &&
		  exists_event("Signed Up", "lifetime") && days_since(last_seen) > 3 && days_since(first_seen) > 3`,
			nil,
			[]Call{
				{Func: FuncCount, Event: "Order Completed", Window: days(30)},
				{Func: FuncDaysSince},
				{Func: FuncExists, Event: "Signed Up"},
				{Func: FuncSum, Event: "Order Completed", Path: "total", Window: 24 * time.Hour},
			}, false},
		{`now - last_seen > duration("48h")`, nil, nil, true},
		{`identities.exists(now, now.type == "email")`, nil, nil, false}, // a local named now
		{`sum("Order Completed", "products.price", "7d") > 1.0 && "vip" in audiences && now > first_seen`,
			[]string{"vip"}, []Call{{Func: FuncSum, Event: "Order Completed", Path: "products.price", Window: days(7)}}, true},
	} {
		p, err := Compile("x", tc.expr, known)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.expr, err)
		}
		if diff := cmp.Diff(tc.deps, p.Deps()); diff != "" {
			t.Errorf("Compile(%q).Deps() (-want +got):\n%s", tc.expr, diff)
		}
		if diff := cmp.Diff(tc.calls, p.Calls()); diff != "" {
			t.Errorf("Compile(%q).Calls() (-want +got):\n%s", tc.expr, diff)
		}
		if p.ReadsNow() != tc.readsNow {
			t.Errorf("Compile(%q).ReadsNow() = %v, want %v", tc.expr, p.ReadsNow(), tc.readsNow)
		}
		if p.Name() != "x" || p.Expression() != tc.expr {
			t.Errorf("Name, Expression = %q, %q", p.Name(), p.Expression())
		}
	}
}

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true}, {"lifetime", 0, true}, {"720h", days(30), true}, {"90m", 90 * time.Minute, true},
		{"30d", days(30), true}, {"400d", days(400), true}, {"0030d", days(30), true}, {"9600h", days(400), true},
		{"401d", 0, false}, {"9601h", 0, false}, {"99999999999d", 0, false}, {"0d", 0, false}, {"-1h", 0, false},
		{"d", 0, false}, {"1.5d", 0, false}, {"30 days", 0, false},
	} {
		got, err := ParseWindow(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseWindow(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func mustCompile(t testing.TB, name, expr string, known ...string) *Program {
	t.Helper()
	p, err := Compile(name, expr, Known{Audiences: known})
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return p
}

func names(ps []*Program) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name())
	}
	return out
}

func TestOrder(t *testing.T) {
	all := []string{"a", "b", "c", "d", "e"}
	// c → b → a, and d, e free: a dependency first, ties by name.
	progs := []*Program{
		mustCompile(t, "c", `"b" in audiences`, all...),
		mustCompile(t, "e", `computed.x > 1`, all...),
		mustCompile(t, "b", `audiences.exists(x, x == "a")`, all...),
		mustCompile(t, "a", `computed.x > 2`, all...),
		mustCompile(t, "d", `"zz" in audiences`, append(all, "zz")...), // zz is not among progs
	}
	got, err := Order(progs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d", "e"}, names(got)); diff != "" {
		t.Errorf("Order (-want +got):\n%s", diff)
	}

	// a → b → a
	cyc := []*Program{
		mustCompile(t, "a", `"b" in audiences`, all...),
		mustCompile(t, "b", `"a" in audiences`, all...),
		mustCompile(t, "c", `computed.x > 1`, all...),
	}
	_, err = Order(cyc)
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("Order(cycle) = %v, want a *CycleError", err)
	}
	if diff := cmp.Diff([]string{"a", "b", "a"}, ce.Path); diff != "" {
		t.Errorf("cycle (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "a → b → a") {
		t.Errorf("Error() = %q, want it to name a → b → a", err)
	}

	// A cycle reached through a chain: d → a → b → c → a.
	cyc = []*Program{
		mustCompile(t, "d", `"a" in audiences`, all...),
		mustCompile(t, "a", `"b" in audiences`, all...),
		mustCompile(t, "b", `"c" in audiences`, all...),
		mustCompile(t, "c", `"a" in audiences`, all...),
	}
	if _, err = Order(cyc); !errors.As(err, &ce) || !cmp.Equal(ce.Path, []string{"a", "b", "c", "a"}) {
		t.Errorf("Order(chain into cycle) = %v, want the cycle a → b → c → a", err)
	}
}

func testProfile() *profile {
	return &profile{
		traits: map[string]any{"plan": "gold", "age": int64(27), "score": 4.5,
			"tags": []any{"newsletter", "vip"}, "address": map[string]any{"city": "Berlin"}},
		computed:   map[string]any{"orders_30d": int64(3), "lifetime_value": 1234.5},
		identities: []map[string]string{{"type": "email", "value": "someone@example.com"}, {"type": "user_id", "value": "u1"}},
		consent:    map[string]bool{"marketing": true, "analytics": false},
		audiences:  []string{"repeat_buyers", "gold"},
		first:      now.Add(-days(400)),
		last:       now.Add(-days(31) - time.Hour),
		now:        now,
		events: []event{
			{name: "Order Completed", at: now.Add(-days(1)), props: map[string]any{"total": 40.0, "shipping": map[string]any{"cost": 5.0}}},
			{name: "Order Completed", at: now.Add(-days(20)), props: map[string]any{"total": 60.0}},
			{name: "Order Completed", at: now.Add(-days(100)), props: map[string]any{"total": 100.0}},
			{name: "Email Opened", at: now.Add(-days(2))},
		},
		reads: map[string]int{},
	}
}

func TestEval(t *testing.T) {
	known := []string{"repeat_buyers", "gold", "vip"}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`traits.plan == "gold"`, true},
		{`traits.age > 20 && traits.score < 5.0`, true},
		{`"vip" in traits.tags`, true},
		{`traits.address.city == "Berlin"`, true},
		{`has(traits.missing)`, false},
		{`traits.?missing.orValue(7) == 7`, true},
		{`computed.orders_30d == 3 && computed.lifetime_value > 1000.0`, true},
		{`identities.exists(i, i.type == "email")`, true},
		{`identities.exists(i, i.type == "phone")`, false},
		{`consent.marketing && !consent.analytics`, true},
		{`"gold" in audiences`, true},
		{`"vip" in audiences`, false},
		{`audiences.exists(a, a == "vip" || a == "repeat_buyers")`, true},
		{`first_seen < last_seen && last_seen < now`, true},
		{`now - last_seen > duration("744h")`, true},
		{`count("Order Completed", "30d") == 2`, true},
		{`count("Order Completed", "lifetime") == 3`, true},
		{`count("Order Completed", "") == 3`, true},
		{`count("Order Completed", duration("48h")) == 1`, true},
		{`count("Never Happened", "30d") == 0`, true},
		{`sum("Order Completed", "total", "30d") == 100.0`, true},
		{`sum("Order Completed", "total", "400d") == 200.0`, true},
		{`sum("Order Completed", "shipping.cost", "lifetime") == 5.0`, true},
		{`exists_event("Email Opened", "7d")`, true},
		{`exists_event("Email Opened", "24h")`, false},
		{`days_since(last_seen) == 31`, true},
		{`days_since(first_seen) == 400`, true},
		{`days_since(now) == 0`, true},
		{`identities.exists(i, days_since(last_seen) > 30 && i.type == "user_id")`, true}, // an event function inside a loop
	} {
		p := mustCompile(t, "x", tc.expr, known...)
		got, err := p.Eval(testProfile())
		if err != nil || got != tc.want {
			t.Errorf("Eval(%q) = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
}

func TestEvalNeverSeen(t *testing.T) {
	p := mustCompile(t, "x", `first_seen == timestamp(0) && last_seen == timestamp(0)`)
	in := testProfile()
	in.first, in.last = time.Time{}, time.Time{}
	if got, err := p.Eval(in); err != nil || !got {
		t.Errorf("Eval for a profile never seen = %v, %v; want true", got, err)
	}
}

func TestEvalErrors(t *testing.T) {
	in := testProfile()
	for _, tc := range []struct {
		expr string
		want bool
		err  string
	}{
		{`traits.missing == 1`, false, "no such key: missing"},
		{`int(traits.plan) > 1`, false, "int"},
		{`days_since(traits.plan) > 1`, false, "timestamp"},
		// && and || absorb an error the other side decides.
		{`has(traits.missing) && traits.missing == 1`, false, ""},
		{`traits.missing == 1 || traits.plan == "gold"`, true, ""},
	} {
		p := mustCompile(t, "x", tc.expr)
		got, err := p.Eval(in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Eval(%q) = %v, %v; want %v and an error containing %q", tc.expr, got, err, tc.want, tc.err)
		}
	}
}

// TestRuntimeCostLimit: a profile far larger than the static estimate
// assumes stops at MaxRuntimeCost instead of running on. (The plain
// identities.exists(i, i.type == "phone") runs natively on the fast path,
// linear and cheap at any size: it answers instead — checked at the end.)
func TestRuntimeCostLimit(t *testing.T) {
	p := mustCompile(t, "x", `identities.exists(i, i.type.startsWith("ph"))`)
	if !p.tracked {
		t.Fatal("a loop over identities runs without the runtime cost limit")
	}
	in := testProfile()
	in.identities = make([]map[string]string, 100_000)
	id := map[string]string{"type": "email", "value": "x"}
	for i := range in.identities {
		in.identities[i] = id
	}
	if got, err := p.Eval(in); got || err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("Eval over 100,000 identities = %v, %v; want false and a cost limit error", got, err)
	}
	if fast := mustCompile(t, "y", `identities.exists(i, i.type == "email")`); fast.fast == nil {
		t.Error("identities.exists(i, i.type == ...) is not on the fast path")
	} else if got, err := fast.Eval(in); !got || err != nil {
		t.Errorf("fast path over 100,000 identities = %v, %v; want true, nil", got, err)
	}
	in.identities = in.identities[:1000]
	if got, err := p.Eval(in); got || err != nil {
		t.Errorf("Eval over 1,000 identities = %v, %v; want false, nil", got, err)
	}
	if q := mustCompile(t, "x", `count("Order Completed", "30d") > 1 && traits.plan == "gold"`); q.tracked {
		t.Error("an expression of fixed cost runs under cost tracking")
	}
}

// TestEvalLazy: an evaluation asks the Input only for what it reads.
func TestEvalLazy(t *testing.T) {
	in := testProfile()
	p := mustCompile(t, "x", `computed.orders_30d > 5 && count("Order Completed", "30d") > 1`)
	if got, err := p.Eval(in); got || err != nil {
		t.Fatalf("Eval = %v, %v", got, err)
	}
	if diff := cmp.Diff(map[string]int{"computed": 1}, in.reads); diff != "" {
		t.Errorf("reads (-want +got):\n%s", diff)
	}
}

func TestExplain(t *testing.T) {
	in := testProfile()
	p := mustCompile(t, "x", `computed.orders_30d >= 2 && count("Order Completed", "720h") > 1 &&
		days_since(last_seen) > 30 && "gold" in audiences && identities.exists(i, i.type == "email") &&
		(traits.plan == "gold" || traits.missing == 1)`, "gold")
	got, reads, err := p.Explain(in)
	if err != nil || !got {
		t.Fatalf("Explain = %v, %v", got, err)
	}
	want := []Read{
		{Name: "audiences", Value: []string{"repeat_buyers", "gold"}},
		{Name: "computed.orders_30d", Value: int64(3)},
		{Name: `count("Order Completed", "720h")`, Value: int64(2)},
		{Name: "days_since(last_seen)", Value: int64(31)},
		{Name: "identities", Value: in.identities},
		{Name: "last_seen", Value: in.last},
		{Name: "traits.plan", Value: "gold"},
	}
	if diff := cmp.Diff(want, reads); diff != "" {
		t.Errorf("Explain reads (-want +got):\n%s", diff)
	}
	if ok, err := p.Eval(in); ok != got || err != nil {
		t.Errorf("Eval = %v, %v; Explain said %v", ok, err, got)
	}

	// Short-circuit: the right side is not read; a failed read says why.
	p = mustCompile(t, "x", `traits.missing == 1 || computed.orders_30d > 5 && sum("Order Completed", "total", "30d") > 1.0`)
	got, reads, err = p.Explain(in)
	if got || err == nil {
		t.Errorf("Explain = %v, %v; want false and the missing key", got, err)
	}
	want = []Read{
		{Name: "computed.orders_30d", Value: int64(3)},
		{Name: "traits.missing", Err: "no such key: missing"},
	}
	if diff := cmp.Diff(want, reads); diff != "" {
		t.Errorf("Explain reads (-want +got):\n%s", diff)
	}
}

// TestConcurrentEval: one Program evaluates from many goroutines (run
// with -race).
func TestConcurrentEval(t *testing.T) {
	p := mustCompile(t, "x", `identities.exists(i, i.type == "email") && count("Order Completed", "30d") == 2`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				in := testProfile()
				in.reads = nil
				if got, err := p.Eval(in); !got || err != nil {
					t.Errorf("Eval = %v, %v", got, err)
					return
				}
				if _, _, err := p.Explain(in); err != nil {
					t.Errorf("Explain: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestComputedKeys(t *testing.T) {
	for _, tc := range []struct {
		expr string
		keys string
		all  bool
	}{
		{`computed.orders_30d >= 2`, "orders_30d", false},
		{`computed["a"] > 1 && has(computed.b)`, "a,b", false},
		{`computed.size() > 2`, "", true},
		{`"x" in computed`, "", true},
		{`[1].exists(computed, computed > 0)`, "", false}, // a local named computed
		{`traits.plan == "gold"`, "", false},
	} {
		p, err := Compile("a", tc.expr, Known{})
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		keys, all := p.ComputedKeys()
		if strings.Join(keys, ",") != tc.keys || all != tc.all {
			t.Errorf("%s: ComputedKeys = %v, %v; want %q, %v", tc.expr, keys, all, tc.keys, tc.all)
		}
	}
}

func TestVars(t *testing.T) {
	for _, tc := range []struct{ expr, vars string }{
		{`computed.orders_30d >= 2`, ""},
		{`days_since(last_seen) > 30 && "plan" in traits`, "last_seen,traits"},
		{`identities.exists(i, i.type == "email") || consent.email`, "consent,identities"},
		{`now - first_seen > duration("1h")`, "first_seen,now"},
		{`[1].exists(traits, traits > 0)`, ""},
		{`computed.size() > 0`, "computed"},
	} {
		p, err := Compile("a", tc.expr, Known{})
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := strings.Join(p.Vars(), ","); got != tc.vars {
			t.Errorf("%s: Vars = %q, want %q", tc.expr, got, tc.vars)
		}
	}
}

func TestComputedKinds(t *testing.T) {
	known := Known{Computed: map[string]string{"orders": "number", "cat": "string"}}
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`computed.orders >= 2`, true},
		{`computed.orders >= 2.5`, true},
		{`computed.orders >= "2"`, false},
		{`"2" < computed.orders`, false},
		{`computed["orders"] == true`, false},
		{`computed.cat == "Books"`, true},
		{`computed.cat == 1`, false},
		{`computed.other == "x"`, true}, // kind unknown: checked at run time
		{`[1].exists(computed, computed == 1)`, true},
	} {
		_, err := Compile("a", tc.expr, known)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.expr, err, tc.ok)
		}
	}
}
