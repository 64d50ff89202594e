package expr

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// node is an expression tree of the property test's grammar: comparisons
// of count, sum, days_since and computed values with constants, joined by
// &&, || and !. text renders it as CEL; eval computes it directly in Go.
type node interface {
	text() string
	eval(p *profile) bool
}

type value interface {
	text() string
	eval(p *profile) float64
}

type countV struct {
	event, window string
	d             time.Duration
}

func (v countV) text() string { return fmt.Sprintf("double(count(%q, %q))", v.event, v.window) }
func (v countV) eval(p *profile) float64 {
	return float64(p.Count(v.event, v.d))
}

type sumV struct {
	event, path, window string
	d                   time.Duration
}

func (v sumV) text() string { return fmt.Sprintf("sum(%q, %q, %q)", v.event, v.path, v.window) }
func (v sumV) eval(p *profile) float64 {
	return p.Sum(v.event, v.path, v.d)
}

type daysV struct{ first bool }

func (v daysV) text() string {
	if v.first {
		return "double(days_since(first_seen))"
	}
	return "double(days_since(last_seen))"
}
func (v daysV) eval(p *profile) float64 {
	if v.first {
		return float64(p.DaysSince(p.first))
	}
	return float64(p.DaysSince(p.last))
}

type computedV struct{ key string }

func (v computedV) text() string            { return fmt.Sprintf("double(computed.%s)", v.key) }
func (v computedV) eval(p *profile) float64 { return float64(p.computed[v.key].(int64)) }

type cmpN struct {
	v  value
	op string
	c  float64
}

func (n cmpN) text() string { return fmt.Sprintf("%s %s %s", n.v.text(), n.op, formatDouble(n.c)) }
func (n cmpN) eval(p *profile) bool {
	x := n.v.eval(p)
	switch n.op {
	case "<":
		return x < n.c
	case "<=":
		return x <= n.c
	case ">":
		return x > n.c
	case ">=":
		return x >= n.c
	case "==":
		return x == n.c
	default:
		return x != n.c
	}
}

type andN struct{ a, b node }
type orN struct{ a, b node }
type notN struct{ a node }

func (n andN) text() string         { return "(" + n.a.text() + " && " + n.b.text() + ")" }
func (n andN) eval(p *profile) bool { return n.a.eval(p) && n.b.eval(p) }
func (n orN) text() string          { return "(" + n.a.text() + " || " + n.b.text() + ")" }
func (n orN) eval(p *profile) bool  { return n.a.eval(p) || n.b.eval(p) }
func (n notN) text() string         { return "!(" + n.a.text() + ")" }
func (n notN) eval(p *profile) bool { return !n.a.eval(p) }

func formatDouble(f float64) string {
	s := fmt.Sprintf("%g", f)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

var (
	propEvents  = []string{"Order Completed", "Product Viewed", "Email Opened"}
	propWindows = []struct {
		text string
		d    time.Duration
	}{{"", 0}, {"lifetime", 0}, {"1d", days(1)}, {"7d", days(7)}, {"720h", days(30)}, {"400d", days(400)}, {"90m", 90 * time.Minute}}
)

func genValue(t *rapid.T) value {
	w := propWindows[rapid.IntRange(0, len(propWindows)-1).Draw(t, "window")]
	ev := rapid.SampledFrom(propEvents).Draw(t, "event")
	switch rapid.IntRange(0, 3).Draw(t, "value") {
	case 0:
		return countV{ev, w.text, w.d}
	case 1:
		return sumV{ev, rapid.SampledFrom([]string{"total", "shipping.cost", "missing"}).Draw(t, "path"), w.text, w.d}
	case 2:
		return daysV{rapid.Bool().Draw(t, "first")}
	default:
		return computedV{rapid.SampledFrom([]string{"a", "b"}).Draw(t, "key")}
	}
}

func genNode(t *rapid.T, depth int) node {
	k := 0
	if depth < 3 {
		k = rapid.IntRange(0, 3).Draw(t, "kind")
	}
	switch k {
	case 1:
		return andN{genNode(t, depth+1), genNode(t, depth+1)}
	case 2:
		return orN{genNode(t, depth+1), genNode(t, depth+1)}
	case 3:
		return notN{genNode(t, depth+1)}
	default:
		return cmpN{genValue(t), rapid.SampledFrom([]string{"<", "<=", ">", ">=", "==", "!="}).Draw(t, "op"),
			float64(rapid.IntRange(-2, 400).Draw(t, "const"))}
	}
}

func genProfile(t *rapid.T) *profile {
	p := &profile{
		computed: map[string]any{"a": rapid.Int64Range(-5, 50).Draw(t, "a"), "b": rapid.Int64Range(0, 3).Draw(t, "b")},
		now:      now,
	}
	p.first = now.Add(-time.Duration(rapid.Int64Range(0, int64(days(800))).Draw(t, "first")))
	p.last = p.first.Add(time.Duration(rapid.Int64Range(0, int64(now.Sub(p.first))).Draw(t, "last")))
	for range rapid.IntRange(0, 30).Draw(t, "events") {
		e := event{
			name: rapid.SampledFrom(propEvents).Draw(t, "name"),
			at:   now.Add(-time.Duration(rapid.Int64Range(-int64(time.Hour), int64(days(500))).Draw(t, "age"))),
			props: map[string]any{
				"total":    float64(rapid.IntRange(0, 500).Draw(t, "total")),
				"shipping": map[string]any{"cost": float64(rapid.IntRange(0, 20).Draw(t, "cost"))},
			},
		}
		p.events = append(p.events, e)
	}
	return p
}

// TestEvalMatchesGo: for random expressions of the grammar above, Eval
// (and Explain) agree with evaluating the same tree in Go.
func TestEvalMatchesGo(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := genNode(t, 0)
		p, err := Compile("x", n.text(), Known{})
		if err != nil {
			t.Fatalf("Compile(%q): %v", n.text(), err)
		}
		in := genProfile(t)
		want := n.eval(in)
		got, err := p.Eval(in)
		if err != nil || got != want {
			t.Fatalf("Eval(%q) = %v, %v; Go says %v", n.text(), got, err, want)
		}
		got, _, err = p.Explain(in)
		if err != nil || got != want {
			t.Fatalf("Explain(%q) = %v, %v; Go says %v", n.text(), got, err, want)
		}
	})
}

// FuzzCompile: Compile never panics on any string, and a compiled
// program evaluates and explains on a fixed profile without panicking.
func FuzzCompile(f *testing.F) {
	for _, s := range append([]string{
		`count("Order Completed", "30d") > 1`, `"vip" in audiences`, `audiences.exists(a, a == "vip")`,
		`identities.exists(i, i.type == "email")`, `traits.a.b[0] == 1`, `days_since(traits.x) > 1`,
		`sum("e", "a.b", duration("1h")) > 0.0`, `(1 + `, `traits.?x.orValue(1) == 1`, "\x00", `now - first_seen > duration("1h")`,
	}, benchExpressions...) {
		f.Add(s)
	}
	in := testProfile()
	in.reads = nil
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Compile("x", s, Known{Audiences: []string{"vip", "gold"}})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile(%q) = %v, not an *Error", s, err)
			}
			return
		}
		got, err := p.Eval(in)
		got2, _, err2 := p.Explain(in)
		if got != got2 || (err == nil) != (err2 == nil) {
			t.Fatalf("Eval(%q) = %v, %v but Explain = %v, %v", s, got, err, got2, err2)
		}
	})
}
