package expr

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The fast path answers exactly as cel-go: for random comparisons of
// computed values, counts, sums and days_since with literals of every
// kind, over values of every kind (and missing keys), Eval equals the
// interpreter's answer, error for error.
func TestFastPathEqualsCEL(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	rapid.Check(t, func(t *rapid.T) {
		operand := rapid.SampledFrom([]string{`computed.x`, `computed["x"]`, `count("E", "30d")`, `sum("E", "total", "30d")`, `days_since(last_seen)`, `days_since(first_seen)`, `days_since(now)`}).Draw(t, "operand")
		op := rapid.SampledFrom([]string{"==", "!=", "<", "<=", ">", ">="}).Draw(t, "op")
		lit := rapid.SampledFrom([]string{"2", "0", "-1", "2.5", "0.0", `"a"`, `"b"`, "9007199254740993"}).Draw(t, "lit")
		expr := operand + " " + op + " " + lit
		if rapid.Bool().Draw(t, "flip") {
			expr = lit + " " + op + " " + operand
		}
		p, err := Compile("a", expr, Known{})
		if err != nil {
			return // a type error cel-go's checker finds: nothing to evaluate
		}
		if p.fast == nil {
			t.Fatalf("%s has no fast path", expr)
		}
		in := &profile{now: now, computed: map[string]any{}}
		switch rapid.IntRange(0, 5).Draw(t, "x") {
		case 0:
		case 1:
			in.computed["x"] = rapid.Int64Range(-3, 3).Draw(t, "int")
		case 2:
			in.computed["x"] = rapid.SampledFrom([]float64{-1, 0, 2, 2.5, 3}).Draw(t, "float")
		case 3:
			in.computed["x"] = rapid.SampledFrom([]string{"a", "b", ""}).Draw(t, "str")
		case 4:
			in.computed["x"] = true
		case 5:
			in.computed["x"] = int64(9007199254740992)
		}
		for i := range rapid.IntRange(0, 4).Draw(t, "events") {
			in.events = append(in.events, event{name: "E", at: now.Add(-time.Duration(i) * 24 * time.Hour), props: map[string]any{"total": float64(i) + 0.5}})
		}
		if rapid.Bool().Draw(t, "seen") {
			in.first, in.last = now.Add(-72*time.Hour), now.Add(-time.Duration(rapid.IntRange(0, 72).Draw(t, "h"))*time.Hour)
		}
		got, gerr := p.Eval(in)
		out, _, cerr := p.prg.Eval(&activation{in: in})
		want, werr := p.result(out, cerr)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Fatalf("%s: fast %v %v, cel-go %v %v (computed.x = %#v)", expr, got, gerr, want, werr, in.computed["x"])
		}
	})
}

// identities.exists(i, i.type == "…") natively equals cel-go.
func TestFastIdentitiesEqualsCEL(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		field := rapid.SampledFrom([]string{"type", "value"}).Draw(t, "field")
		lit := rapid.SampledFrom([]string{"email", "phone", "a@x.com", ""}).Draw(t, "lit")
		expr := fmt.Sprintf("identities.exists(i, i.%s == %q)", field, lit)
		if rapid.Bool().Draw(t, "flip") {
			expr = fmt.Sprintf("identities.exists(i, %q == i.%s)", lit, field)
		}
		p, err := Compile("a", expr, Known{})
		if err != nil || p.fast == nil {
			t.Fatalf("%s: %v, fast %v", expr, err, p != nil && p.fast != nil)
		}
		in := &profile{}
		for range rapid.IntRange(0, 4).Draw(t, "n") {
			in.identities = append(in.identities, map[string]string{
				"type": rapid.SampledFrom([]string{"email", "phone", "user_id"}).Draw(t, "t"), "value": rapid.SampledFrom([]string{"a@x.com", "b", ""}).Draw(t, "v")})
		}
		got, gerr := p.Eval(in)
		out, _, cerr := p.prg.Eval(&activation{in: in})
		want, werr := p.result(out, cerr)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Fatalf("%s: fast %v %v, cel-go %v %v (%v)", expr, got, gerr, want, werr, in.identities)
		}
	})
}

func TestFastPathPlanned(t *testing.T) {
	for expr, fast := range map[string]bool{
		`computed.orders_30d >= 2`:                          true,
		`2 < count("E", "30d")`:                             true,
		`days_since(last_seen) > 60`:                        true,
		`computed.top_category == "Books"`:                  true,
		`computed.rfm.segment == "Champions"`:               false,
		`computed.x >= 2 && computed.y < 1`:                 false,
		`days_since(timestamp("2020-01-01T00:00:00Z")) > 1`: false,
		`identities.exists(i, i.type == "email")`:           true,
		`identities.exists(i, "phone" == i.type)`:           true,
		`identities.exists(i, i.value.startsWith("a"))`:     false,
		`identities.all(i, i.type == "email")`:              false,
	} {
		p, err := Compile("a", expr, Known{})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if (p.fast != nil) != fast {
			t.Errorf("%s: fast path %v, want %v", expr, p.fast != nil, fast)
		}
	}
}
