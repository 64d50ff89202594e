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
	// session, when set, keeps each variable's CEL value once read, for
	// the next programs of the same Session.
	session bool
	vals    [numVars]ref.Val
	aud     ref.Val
	audN    int
	audVals []ref.Val // a session's audience names as CEL strings
}

// Cached variables of a session (indexes into activation.vals).
const (
	cacheTraits = iota
	cacheComputed
	cacheIdentities
	cacheConsent
	cacheFirstSeen
	cacheLastSeen
	cacheNow
	numVars
)

// Session evaluates several programs over one Input (EvalSession): each
// variable is read from the Input and converted to CEL once for all of
// them, not once per program. The Input must not change during the
// session, except that Audiences may grow (the catalog appends each
// audience it decides); a session is not safe for concurrent use.
type Session struct {
	act activation
}

// NewSession starts a session over in.
func NewSession(in Input) *Session { return &Session{act: activation{in: in, session: true}} }

// EvalSession is Eval within a session.
func (p *Program) EvalSession(s *Session) (bool, error) {
	if p.fast != nil {
		if ok, handled := p.fast.eval(s.act.in); handled {
			return ok, nil
		}
	}
	out, _, err := p.prg.Eval(&s.act)
	return p.result(out, err)
}

// cached returns the session's value of variable i, computing it with
// get the first time (every time outside a session).
func (a *activation) cached(i int, get func() any) any {
	if !a.session {
		return get()
	}
	if v := a.vals[i]; v != nil {
		return v
	}
	v := types.DefaultTypeAdapter.NativeToValue(get())
	a.vals[i] = v
	return v
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
		return a.cached(cacheTraits, func() any { return a.in.Traits() }), true
	case varComputed:
		return a.cached(cacheComputed, func() any { return a.in.Computed() }), true
	case varIdentities:
		return a.cached(cacheIdentities, func() any { return a.in.Identities() }), true
	case varConsent:
		return a.cached(cacheConsent, func() any { return a.in.Consent() }), true
	case varAudiences:
		auds := a.in.Audiences()
		if !a.session {
			return types.NewStringList(types.DefaultTypeAdapter, auds), true
		}
		if a.aud != nil && a.audN == len(auds) {
			return a.aud, true
		}
		// The list only grows within a session: convert the new names.
		for _, n := range auds[len(a.audVals):] {
			a.audVals = append(a.audVals, types.String(n))
		}
		a.aud, a.audN = types.NewRefValList(types.DefaultTypeAdapter, a.audVals[:len(auds):len(auds)]), len(auds)
		return a.aud, true
	case varFirstSeen:
		return a.cached(cacheFirstSeen, func() any { return timestamp(a.in.FirstSeen()) }), true
	case varLastSeen:
		return a.cached(cacheLastSeen, func() any { return timestamp(a.in.LastSeen()) }), true
	case varNow:
		return a.cached(cacheNow, func() any { return timestamp(a.in.Now()) }), true
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
