package expr

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Input is one profile's data as an expression sees it. The evaluator
// calls only what the expression reads, possibly more than once per
// evaluation (cache what is dear); implementations compute lazily and may
// note time dependence (the catalog uses that to schedule
// re-evaluation). An Input is used by one evaluation at a time: Eval
// calls its methods from the calling goroutine only.
type Input interface {
	// Traits are the profile's traits (trait name → JSON-like value:
	// string, float64 or int64, bool, nil, []any, map[string]any).
	Traits() map[string]any
	// Computed are the built-in and user-defined computed traits.
	Computed() map[string]any
	// Identities are the profile's identifiers, each with the keys
	// "type" and "value".
	Identities() []map[string]string
	// Consent maps a purpose to whether the profile consented.
	Consent() map[string]bool
	// Audiences are the names of the audiences the profile is already
	// in (those ordered before this one: see Order).
	Audiences() []string
	// FirstSeen and LastSeen are when the profile was first and last
	// seen; the zero time (a profile never seen) reads as timestamp(0),
	// 1970-01-01T00:00:00Z.
	FirstSeen() time.Time
	LastSeen() time.Time
	// Now is the moment of evaluation.
	Now() time.Time
	// Count is how many events named event happened within window
	// before Now (window 0: ever).
	Count(event string, window time.Duration) int64
	// Sum adds the numeric property at path (dot-separated) of those
	// events; events without it add nothing.
	Sum(event, path string, window time.Duration) float64
	// Exists reports whether at least one such event happened.
	Exists(event string, window time.Duration) bool
	// DaysSince is the whole number of days from t to Now, rounded
	// down (negative when t is after Now).
	DaysSince(t time.Time) int64
}

// Call is one call of count, sum, exists_event or days_since found at
// compile time. Event, Path and Window are the literal arguments (Window
// 0: lifetime); a days_since call has only Func, since its argument is a
// value.
type Call struct {
	Func   string
	Event  string
	Path   string
	Window time.Duration
}

func (c Call) compare(d Call) int {
	return cmp.Or(cmp.Compare(c.Func, d.Func), cmp.Compare(c.Event, d.Event),
		cmp.Compare(c.Path, d.Path), cmp.Compare(c.Window, d.Window))
}

// Known is what Compile checks an expression against beyond the
// environment.
type Known struct {
	// Audiences are the names of the audiences that exist; an
	// expression may read only these (and not its own name).
	Audiences []string
	// Computed gives the kind of value of computed keys whose kind is
	// known ("number", "string"): comparing one with a literal of
	// another kind (computed.orders_30d >= "2") is a compile error, not
	// an audience nobody can enter. computed is a map of dynamic values
	// to CEL's type checker, which cannot see this.
	Computed map[string]string
}

// Read is one value an evaluation read: a variable or a field or index of
// one ("computed.orders_30d", "audiences"), or a function call
// (`count("Order Completed", "720h")`, "days_since(last_seen)"). Name is
// the expression's text in canonical form. When reading failed (a
// missing key), Value is nil and Err says why.
type Read struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
	Err   string `json:"error,omitempty"`
}

// Program is a compiled audience expression. It is immutable and safe for
// concurrent use.
type Program struct {
	name, text string
	ast        *cel.Ast
	prg        cel.Program
	calls      map[int64]Call // call node id → call
	callList   []Call
	deps       []string
	readsNow   bool
	// computedKeys and computedAll: see ComputedKeys.
	computedKeys []string
	computedAll  bool
	vars         []string
	sites        []site
	cost         uint64
	tracked      bool         // evaluated under cel-go's runtime cost limit
	number       bool         // compiled by CompileNumber
	fast         *fastProgram // fast.go; nil: cel-go only

	explainOnce sync.Once
	explainPrg  cel.Program
	explainErr  error
}

// Compile parses, type-checks and validates expression as the definition
// of the audience name. Every rejection is an *Error with the position of
// the problem: a syntax error; an unknown variable or function; a type
// error; a result that is not bool; an event name, property path or
// window that is not a literal; a window over 400 days or not positive;
// audiences read other than as `"x" in audiences` or
// `audiences.exists(a, a == "x")`; an audience not in known (or name
// itself); an expression longer than MaxExpressionLength; or an estimated
// cost over MaxCost.
func Compile(name, expression string, known Known) (*Program, error) {
	return compile(name, expression, known, false)
}

// CompileNumber is Compile for an expression whose result is a number
// (an offer's priority): its type must be int or double — a dyn value
// such as traits.score is refused with the hint to convert it — and it
// is evaluated with Number, NumberSession or ExplainNumber. Every other
// rule of Compile holds.
func CompileNumber(name, expression string, known Known) (*Program, error) {
	return compile(name, expression, known, true)
}

func compile(name, expression string, known Known, number bool) (*Program, error) {
	env, err := envOnce()
	if err != nil {
		return nil, err
	}
	if n := len([]rune(expression)); n > MaxExpressionLength {
		return nil, &Error{Line: 1, Column: 1, Message: fmt.Sprintf("the expression is %d characters long, more than %d", n, MaxExpressionLength)}
	}
	checked, iss := env.Compile(expression)
	if iss != nil && iss.Err() != nil {
		return nil, issueError(iss)
	}
	native := checked.NativeRep()
	w := &walker{info: native.SourceInfo(), calls: map[int64]Call{}, deps: map[string]int64{}, kinds: known.Computed}
	w.walk(native.Expr(), scope{}, true)
	if w.err != nil {
		return nil, w.err
	}
	if t := checked.OutputType(); number && !t.IsExactType(types.DoubleType) && !t.IsExactType(types.IntType) {
		hint := ""
		if t.IsExactType(types.DynType) {
			hint = " (convert it, e.g. double(traits.score))"
		}
		return nil, &Error{Line: 1, Column: 1, Message: fmt.Sprintf("the expression must be a number (int or double), not %s%s", cel.FormatCELType(t), hint)}
	} else if !number && !t.IsExactType(types.BoolType) {
		hint := ""
		if t.IsExactType(types.DynType) {
			hint = " (compare it, e.g. traits.vip == true)"
		}
		return nil, &Error{Line: 1, Column: 1, Message: fmt.Sprintf("the expression must be bool, not %s%s", cel.FormatCELType(t), hint)}
	}
	knownSet := make(map[string]bool, len(known.Audiences))
	for _, a := range known.Audiences {
		knownSet[a] = true
	}
	for _, d := range w.depOrder {
		switch {
		case d == name:
			return nil, w.errorAt(w.deps[d], fmt.Sprintf("audience %q cannot depend on itself", d))
		case !knownSet[d]:
			return nil, w.errorAt(w.deps[d], fmt.Sprintf("unknown audience %q", d))
		}
	}
	est, err := env.EstimateCost(checked, estimator{})
	if err != nil {
		return nil, &Error{Line: 1, Column: 1, Message: fmt.Sprintf("cannot estimate the cost: %v", err)}
	}
	if est.Max > MaxCost {
		return nil, &Error{Line: 1, Column: 1, Message: fmt.Sprintf("the expression is too expensive: estimated cost up to %d, the limit is %d (avoid nested loops over traits or identities)", est.Max, MaxCost)}
	}
	// Cost tracking at run time is the dearest part of an evaluation
	// (each step is observed); it is needed only where the cost depends
	// on the profile's sizes beyond what the static estimate assumes.
	// Estimated with sizes unbounded, a program that stays under
	// MaxRuntimeCost can never reach the limit, so it runs untracked —
	// the same answer, faster.
	free, err := env.EstimateCost(checked, unbounded{})
	if err != nil {
		return nil, &Error{Line: 1, Column: 1, Message: fmt.Sprintf("cannot estimate the cost: %v", err)}
	}
	p := &Program{name: name, text: expression, ast: checked, calls: w.calls,
		readsNow: w.readsNow, sites: w.sites, cost: est.Max, tracked: free.Max > MaxRuntimeCost,
		computedAll: w.computedAll, number: number}
	for k := range w.computedKeys {
		p.computedKeys = append(p.computedKeys, k)
	}
	slices.Sort(p.computedKeys)
	for v := range w.vars {
		if v != varAudiences {
			p.vars = append(p.vars, v)
		}
	}
	slices.Sort(p.vars)
	p.deps = slices.Sorted(func(yield func(string) bool) {
		for d := range w.deps {
			if !yield(d) {
				return
			}
		}
	})
	for _, c := range w.calls {
		p.callList = append(p.callList, c)
	}
	slices.SortFunc(p.callList, Call.compare)
	p.callList = slices.CompactFunc(p.callList, func(a, b Call) bool { return a == b })
	if !number {
		p.fast = planFast(native.Expr(), w)
	}
	p.prg, err = p.program()
	if err != nil {
		// Planning folds constants (a literal conversion); what the
		// walker did not foresee still is the expression's fault.
		return nil, &Error{Line: 1, Column: 1, Message: err.Error()}
	}
	return p, nil
}

// program plans the expression for evaluation; explain adds state
// tracking, which records every node's value.
func (p *Program) program(opts ...cel.EvalOption) (cel.Program, error) {
	env, err := envOnce()
	if err != nil {
		return nil, err
	}
	popts := []cel.ProgramOption{
		cel.EvalOptions(append(opts, cel.OptOptimize)...),
		cel.CustomDecoratorV2(p.decorate),
	}
	if p.tracked {
		popts = append(popts, cel.CostTracking(estimator{}), cel.CostLimit(MaxRuntimeCost))
	}
	prg, err := env.Program(p.ast, popts...)
	if err != nil {
		return nil, fmt.Errorf("expr: plan %s: %w", p.name, err)
	}
	return prg, nil
}

// issueError turns cel-go's first issue into an *Error.
func issueError(iss *cel.Issues) *Error {
	errs := iss.Errors()
	if len(errs) == 0 {
		return &Error{Line: 1, Column: 1, Message: iss.Err().Error()}
	}
	e := errs[0]
	line, col := e.Location.Line(), e.Location.Column()+1
	if line < 1 {
		line, col = 1, 1
	}
	return &Error{Line: line, Column: col, Message: strings.TrimSuffix(e.Message, " (in container '')")}
}

// Name is the audience the program defines.
func (p *Program) Name() string { return p.name }

// Expression is the source text the program was compiled from.
func (p *Program) Expression() string { return p.text }

// Deps are the audiences the expression reads, sorted.
func (p *Program) Deps() []string { return slices.Clone(p.deps) }

// Calls are the expression's calls of count, sum, exists_event and
// days_since, sorted and without duplicates.
func (p *Program) Calls() []Call { return slices.Clone(p.callList) }

// ReadsNow reports whether the expression reads now directly, so that its
// answer may change at moments the calls do not reveal.
func (p *Program) ReadsNow() bool { return p.readsNow }

// ComputedKeys returns the keys of computed the expression selects by
// name (computed.orders_30d, computed["x"]), sorted; all is true when
// it reads computed in another way too (as a whole map), and so may read
// any key.
func (p *Program) ComputedKeys() (keys []string, all bool) { return p.computedKeys, p.computedAll }

// Vars returns the global variables the expression reads, sorted:
// traits, computed (only when read as a whole, see ComputedKeys),
// identities, consent, first_seen, last_seen, now. Function calls are
// in Calls, audiences in Deps. With them, a caller knows every input of
// the answer, and can skip re-evaluating when none changed.
func (p *Program) Vars() []string { return p.vars }

// Cost is the expression's estimated cost (at most MaxCost).
func (p *Program) Cost() uint64 { return p.cost }

// Eval evaluates the expression over in. An evaluation that fails — a
// missing map key read without has(), a failed conversion, the runtime
// cost limit — returns false and the error (the profile is then not a
// member). cel-go's && and || absorb an error when the other side decides
// (has(traits.x) && traits.x > 1 never fails). The error's text comes
// from cel-go and may quote a value from the profile: show it to those who
// may see the profile, do not log it.
func (p *Program) Eval(in Input) (bool, error) {
	if p.fast != nil {
		if ok, handled := p.fast.eval(in); handled {
			return ok, nil
		}
	}
	out, _, err := p.prg.Eval(&activation{in: in})
	return p.result(out, err)
}

func (p *Program) result(out ref.Val, err error) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("expr: evaluate %s: %w", p.name, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expr: evaluate %s: the result is %s, not bool", p.name, out.Type().TypeName())
	}
	return bool(b), nil
}

// Explain evaluates like Eval and also returns every value the
// evaluation read, sorted by name: variables and their fields as the
// expression names them, and each function call. Parts not evaluated
// (the right side of a decided && or ||) are not listed. It is slower
// than Eval (it records every step) and meant for one profile at a time.
func (p *Program) Explain(in Input) (bool, []Read, error) {
	out, reads, err := p.explain(in)
	ok, err := p.result(out, err)
	return ok, reads, err
}

// explain evaluates with state tracking and lists the reads.
func (p *Program) explain(in Input) (ref.Val, []Read, error) {
	p.explainOnce.Do(func() { p.explainPrg, p.explainErr = p.program(cel.OptTrackState) })
	if p.explainErr != nil {
		return nil, nil, p.explainErr
	}
	out, det, err := p.explainPrg.Eval(&activation{in: in})
	state := det.State()
	seen := map[string]bool{}
	var reads []Read
	for _, s := range p.sites {
		v, ok := state.Value(s.id)
		if !ok || seen[s.name] {
			continue
		}
		seen[s.name] = true
		r := Read{Name: s.name}
		if e, isErr := v.(*types.Err); isErr {
			r.Err = e.String()
		} else {
			r.Value = v.Value()
		}
		reads = append(reads, r)
	}
	sort.Slice(reads, func(i, j int) bool { return reads[i].Name < reads[j].Name })
	return out, reads, err
}

// Order sorts programs so that each comes after the audiences it depends
// on, ties broken by name: evaluating them in this order, each sees the
// audiences before it already decided. A dependency not among progs is
// ignored (it is evaluated elsewhere or not at all). When programs depend
// on each other in a circle, Order returns a *CycleError naming it.
func Order(progs []*Program) ([]*Program, error) {
	byName := make(map[string]*Program, len(progs))
	for _, p := range progs {
		byName[p.name] = p
	}
	waiting := map[string]int{}         // unplaced deps within progs
	dependents := map[string][]string{} // dep → programs reading it
	for _, p := range progs {
		for _, d := range p.deps {
			if _, ok := byName[d]; ok {
				waiting[p.name]++
				dependents[d] = append(dependents[d], p.name)
			}
		}
	}
	var ready []string
	for _, p := range progs {
		if waiting[p.name] == 0 {
			ready = append(ready, p.name)
		}
	}
	out := make([]*Program, 0, len(progs))
	for len(ready) > 0 {
		slices.Sort(ready)
		n := ready[0]
		ready = ready[1:]
		out = append(out, byName[n])
		for _, d := range dependents[n] {
			if waiting[d]--; waiting[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(out) == len(byName) {
		return out, nil
	}
	return nil, &CycleError{Path: findCycle(byName, waiting)}
}

// findCycle follows unplaced dependencies from the first unplaced name
// until one repeats.
func findCycle(byName map[string]*Program, waiting map[string]int) []string {
	var start string
	for n, w := range waiting {
		if w > 0 && (start == "" || n < start) {
			start = n
		}
	}
	pos := map[string]int{}
	var path []string
	for n := start; ; {
		if i, ok := pos[n]; ok {
			return append(path[i:], n)
		}
		pos[n] = len(path)
		path = append(path, n)
		for _, d := range byName[n].deps {
			if waiting[d] > 0 {
				n = d
				break
			}
		}
	}
}

// Number evaluates a program compiled by CompileNumber over in; an int
// result is converted to float64. A failed evaluation returns 0 and the
// error (as Eval; the error may quote profile values).
func (p *Program) Number(in Input) (float64, error) {
	out, _, err := p.prg.Eval(&activation{in: in})
	return p.numberResult(out, err)
}

// NumberSession is Number within a session.
func (p *Program) NumberSession(s *Session) (float64, error) {
	out, _, err := p.prg.Eval(&s.act)
	return p.numberResult(out, err)
}

// ExplainNumber is Explain for a program compiled by CompileNumber.
func (p *Program) ExplainNumber(in Input) (float64, []Read, error) {
	out, reads, err := p.explain(in)
	f, err := p.numberResult(out, err)
	return f, reads, err
}

func (p *Program) numberResult(out ref.Val, err error) (float64, error) {
	if err != nil {
		return 0, fmt.Errorf("expr: evaluate %s: %w", p.name, err)
	}
	switch v := out.(type) {
	case types.Double:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("expr: evaluate %s: the result is %v, not a finite number", p.name, f)
		}
		return f, nil
	case types.Int:
		return float64(v), nil
	}
	return 0, fmt.Errorf("expr: evaluate %s: the result is %s, not a number", p.name, out.Type().TypeName())
}
