package expr

import (
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// inputName is the hidden variable through which a function call finds
// the evaluation's Input; not a CEL identifier, so no expression can name
// it.
const inputName = "@input"

// activation resolves the expression's variables from an Input when the
// evaluation first asks for them: nothing is built per evaluation but
// this one pointer.
type activation struct {
	in Input
}

var _ interpreter.Activation = (*activation)(nil)

var epoch = time.Unix(0, 0).UTC()

func timestamp(t time.Time) types.Timestamp {
	if t.IsZero() {
		t = epoch
	}
	return types.Timestamp{Time: t}
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varTraits:
		return a.in.Traits(), true
	case varComputed:
		return a.in.Computed(), true
	case varIdentities:
		return a.in.Identities(), true
	case varConsent:
		return a.in.Consent(), true
	case varAudiences:
		return types.NewStringList(types.DefaultTypeAdapter, a.in.Audiences()), true
	case varFirstSeen:
		return timestamp(a.in.FirstSeen()), true
	case varLastSeen:
		return timestamp(a.in.LastSeen()), true
	case varNow:
		return timestamp(a.in.Now()), true
	case inputName:
		return a, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// decorate replaces each call of our functions, which cel-go plans with
// the placeholder bindings of env.go, by a callEval that reads the Input.
func (p *Program) decorate(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	c, ok := i.(interpreter.InterpretableCall)
	if !ok {
		return i, nil
	}
	switch c.Function() {
	case FuncCount, FuncSum, FuncExists, FuncDaysSince:
	default:
		return i, nil
	}
	call, ok := p.calls[c.ID()]
	if !ok {
		return i, nil // a member call of the same name: not ours
	}
	ce := &callEval{id: c.ID(), overload: c.OverloadID(), call: call}
	if call.Func == FuncDaysSince {
		ce.args = c.Args()
	}
	return ce, nil
}

// callEval evaluates one call of count, sum, exists_event or days_since.
// It is an InterpretableCall so that cel-go's cost tracker charges it
// (estimator.CallCost); the literal arguments are not listed in Args, as
// they are never evaluated.
type callEval struct {
	id       int64
	overload string
	call     Call
	args     []interpreter.InterpretableV2
}

var _ interpreter.InterpretableCall = (*callEval)(nil)

func (c *callEval) ID() int64                             { return c.id }
func (c *callEval) Function() string                      { return c.call.Func }
func (c *callEval) OverloadID() string                    { return c.overload }
func (c *callEval) Args() []interpreter.InterpretableV2   { return c.args }
func (c *callEval) Eval(a interpreter.Activation) ref.Val { return c.Exec(interpreter.AsFrame(a)) }

func (c *callEval) Exec(f *interpreter.ExecutionFrame) ref.Val {
	v, _ := f.ResolveName(inputName)
	a, ok := v.(*activation)
	if !ok {
		return types.NewErr("expr: %s evaluated without an input", c.call.Func)
	}
	switch c.call.Func {
	case FuncCount:
		return types.Int(a.in.Count(c.call.Event, c.call.Window))
	case FuncSum:
		return types.Double(a.in.Sum(c.call.Event, c.call.Path, c.call.Window))
	case FuncExists:
		return types.Bool(a.in.Exists(c.call.Event, c.call.Window))
	default: // days_since
		arg := c.args[0].Exec(f)
		ts, ok := arg.(types.Timestamp)
		if !ok {
			if types.IsUnknownOrError(arg) {
				return arg
			}
			return types.NewErr("days_since: want a timestamp, got %s", arg.Type().TypeName())
		}
		return types.Int(a.in.DaysSince(ts.Time))
	}
}
