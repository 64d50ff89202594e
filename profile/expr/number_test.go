package expr

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompileNumber(t *testing.T) {
	in := testProfile()
	known := Known{Audiences: []string{"gold"}}
	for _, tc := range []struct {
		expr string
		want float64
	}{
		{`10`, 10},
		{`2.5`, 2.5},
		{`double(computed.orders_30d) * 1.5`, 4.5},
		{`sum("Order Completed", "total", "30d") / 10.0`, 10},
		{`"gold" in audiences ? 100 : 1`, 100},
		{`count("Order Completed", "lifetime") + 1`, 4},
	} {
		p, err := CompileNumber("offers/x", tc.expr, known)
		if err != nil {
			t.Fatalf("CompileNumber(%q): %v", tc.expr, err)
		}
		got, err := p.Number(in)
		if err != nil || got != tc.want {
			t.Errorf("Number(%q) = %v, %v, want %v", tc.expr, got, err, tc.want)
		}
		sess := NewSession(in)
		if got, err := p.NumberSession(sess); err != nil || got != tc.want {
			t.Errorf("NumberSession(%q) = %v, %v, want %v", tc.expr, got, err, tc.want)
		}
		got, reads, err := p.ExplainNumber(in)
		if err != nil || got != tc.want {
			t.Errorf("ExplainNumber(%q) = %v, %v, want %v", tc.expr, got, err, tc.want)
		}
		if reads == nil && strings.Contains(tc.expr, "(\"") {
			t.Errorf("ExplainNumber(%q) read nothing", tc.expr)
		}
	}

	// The result must be a number; dyn gets a hint.
	for expr, want := range map[string]string{
		`true`:          "must be a number (int or double), not bool",
		`traits.score`:  "convert it",
		`"a"`:           "not string",
		`count("x", 1)`: "",
	} {
		_, err := CompileNumber("offers/x", expr, known)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), want) {
			t.Errorf("CompileNumber(%q) = %v, want an *Error containing %q", expr, err, want)
		}
	}
	// A bool expression is still refused by Compile as a number.
	if _, err := Compile("x", `1.5`, known); err == nil {
		t.Error("Compile(1.5) succeeded, want the bool error")
	}

	// A failed read surfaces as an error, with what was read.
	p, err := CompileNumber("offers/x", `double(traits.missing) + 1.0`, known)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Number(in); err == nil {
		t.Error("Number over a missing trait succeeded")
	}
	_, reads, err := p.ExplainNumber(in)
	if err == nil {
		t.Error("ExplainNumber over a missing trait succeeded")
	}
	if diff := cmp.Diff([]Read{{Name: "traits.missing", Err: "no such key: missing"}}, reads); diff != "" {
		t.Errorf("ExplainNumber reads (-want +got):\n%s", diff)
	}
	// Non-finite results are errors.
	p, err = CompileNumber("offers/x", `1.0 / 0.0`, known)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Number(in); err == nil {
		t.Error("Number(1.0/0.0) succeeded")
	}
}
