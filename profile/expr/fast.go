package expr

import (
	"cmp"
	"strings"
	"time"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// The fast path. Most audiences marketers write are one comparison of a
// value with a constant: computed.orders_30d >= 2, count("Order
// Completed", "30d") >= 1, sum(…) > 100.0, days_since(last_seen) > 60,
// computed.top_category == "Books". Such a program is evaluated natively
// — an Input call and a comparison, tens of nanoseconds instead of the
// interpreter's few hundred — with exactly CEL's answer: whenever the
// value is not a number or a string of the literal's kind (a missing
// key, a null, a bool, a list…), the program falls back to cel-go, which
// gives the answer or the error it always gave. Explain always runs in
// cel-go (it records what was read).

// fastOperand is what a fast program compares.
type fastOperand struct {
	key   string // computed.key, when kind is 'k'
	call  Call   // count or sum, when kind is 'c'
	since string // days_since(variable), when kind is 'd'
	kind  byte
}

// fastProgram is a comparison of an operand with a literal, or (ident
// set) identities.exists(i, i.<field> == "<literal>").
type fastProgram struct {
	ident      bool
	identField string
	identValue string

	op        string
	x         fastOperand
	num       float64 // the literal, when a number
	isInt     bool    // the literal is an int (num holds it exactly below 2^53)
	intLit    int64
	str       string // the literal, when a string
	isStr     bool
	litOnLeft bool
}

// planFast returns a fast program for e, or nil when e is not one
// comparison of a plain operand with a literal.
func planFast(e ast.Expr, w *walker) *fastProgram {
	if e.Kind() == ast.ComprehensionKind {
		return planIdentExists(e)
	}
	if e.Kind() != ast.CallKind {
		return nil
	}
	c := e.AsCall()
	switch c.FunctionName() {
	case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
	default:
		return nil
	}
	if c.IsMemberFunction() || len(c.Args()) != 2 {
		return nil
	}
	f := &fastProgram{op: c.FunctionName()}
	for i := range 2 {
		x, lit := c.Args()[i], c.Args()[1-i]
		if lit.Kind() != ast.LiteralKind {
			continue
		}
		switch v := lit.AsLiteral().(type) {
		case types.Int:
			f.isInt, f.intLit, f.num = true, int64(v), float64(v)
		case types.Double:
			f.num = float64(v)
		case types.String:
			f.isStr, f.str = true, string(v)
		default:
			return nil
		}
		op, ok := fastOperandOf(x, w)
		if !ok {
			return nil
		}
		f.x, f.litOnLeft = op, i == 1
		return f
	}
	return nil
}

func fastOperandOf(x ast.Expr, w *walker) (fastOperand, bool) {
	if key, ok := computedKey(x, scope{}); ok {
		return fastOperand{kind: 'k', key: key}, true
	}
	if x.Kind() != ast.CallKind {
		return fastOperand{}, false
	}
	call, ok := w.calls[x.ID()]
	if !ok {
		return fastOperand{}, false
	}
	switch call.Func {
	case FuncCount, FuncSum:
		return fastOperand{kind: 'c', call: call}, true
	case FuncDaysSince:
		arg := x.AsCall().Args()[0]
		if arg.Kind() == ast.IdentKind {
			switch v := arg.AsIdent(); v {
			case varFirstSeen, varLastSeen, varNow:
				return fastOperand{kind: 'd', since: v}, true
			}
		}
	}
	return fastOperand{}, false
}

// planIdentExists recognises identities.exists(i, i.type == "email")
// (or i.value, or the literal first), the exists macro's expansion.
func planIdentExists(e ast.Expr) *fastProgram {
	comp := e.AsComprehension()
	r, init, step, res := comp.IterRange(), comp.AccuInit(), comp.LoopStep(), comp.Result()
	isAccu := func(x ast.Expr) bool { return x.Kind() == ast.IdentKind && x.AsIdent() == comp.AccuVar() }
	if comp.HasIterVar2() || r.Kind() != ast.IdentKind || r.AsIdent() != varIdentities ||
		init.Kind() != ast.LiteralKind || init.AsLiteral() != types.False || !isAccu(res) ||
		step.Kind() != ast.CallKind || step.AsCall().FunctionName() != operators.LogicalOr ||
		len(step.AsCall().Args()) != 2 || !isAccu(step.AsCall().Args()[0]) {
		return nil
	}
	p := step.AsCall().Args()[1]
	if p.Kind() != ast.CallKind || p.AsCall().FunctionName() != operators.Equals || len(p.AsCall().Args()) != 2 {
		return nil
	}
	a := p.AsCall().Args()
	for i := range 2 {
		lit, ok := stringLiteral(a[1-i])
		x := a[i]
		if !ok || x.Kind() != ast.SelectKind || x.AsSelect().IsTestOnly() {
			continue
		}
		op := x.AsSelect().Operand()
		field := x.AsSelect().FieldName()
		if op.Kind() == ast.IdentKind && op.AsIdent() == comp.IterVar() && (field == "type" || field == "value") {
			return &fastProgram{ident: true, identField: field, identValue: lit}
		}
	}
	return nil
}

// eval answers as cel-go would; handled is false when the value's kind
// needs cel-go (the caller then evaluates the program there).
func (f *fastProgram) eval(in Input) (result, handled bool) {
	if f.ident {
		for _, id := range in.Identities() {
			v, ok := id[f.identField]
			if !ok {
				return false, false // not the shape Input promises: let cel-go say
			}
			if v == f.identValue {
				return true, true
			}
		}
		return false, true
	}
	var v any
	switch f.x.kind {
	case 'k':
		var ok bool
		if v, ok = in.Computed()[f.x.key]; !ok {
			return false, false
		}
	case 'c':
		if f.x.call.Func == FuncCount {
			v = in.Count(f.x.call.Event, f.x.call.Window)
		} else {
			v = in.Sum(f.x.call.Event, f.x.call.Path, f.x.call.Window)
		}
	case 'd':
		var t time.Time
		switch f.x.since {
		case varFirstSeen:
			t = in.FirstSeen()
		case varLastSeen:
			t = in.LastSeen()
		default:
			t = in.Now()
		}
		if t.IsZero() {
			t = epoch // as the activation gives it
		}
		v = in.DaysSince(t)
	}
	var c int
	switch x := v.(type) {
	case int64:
		if f.isStr {
			return false, false
		}
		if f.isInt {
			c = cmp.Compare(x, f.intLit)
		} else {
			c = cmp.Compare(float64(x), f.num)
		}
	case float64:
		if f.isStr || x != x || f.num != f.num { // NaN: let cel-go say
			return false, false
		}
		c = cmp.Compare(x, f.num)
	case string:
		if !f.isStr {
			return false, false
		}
		c = strings.Compare(x, f.str)
	default:
		return false, false
	}
	if f.litOnLeft {
		c = -c
	}
	switch f.op {
	case operators.Equals:
		return c == 0, true
	case operators.NotEquals:
		return c != 0, true
	case operators.Less:
		return c < 0, true
	case operators.LessEquals:
		return c <= 0, true
	case operators.Greater:
		return c > 0, true
	default:
		return c >= 0, true
	}
}
