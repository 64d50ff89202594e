package expr

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/parser"
)

// pathPattern is a property path: dot-separated segments of letters,
// digits and underscores.
var pathPattern = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)

// site is a place in the expression whose value Explain reports.
type site struct {
	id   int64
	name string
}

// walker checks what cel-go's type checker cannot (literal arguments,
// windows, how audiences is read) and collects what a Program reports:
// calls, audience dependencies, whether now is read, and Explain's sites.
type walker struct {
	info *ast.SourceInfo

	calls    map[int64]Call   // by the id of the call node
	deps     map[string]int64 // audience name → id of its first literal
	depOrder []string
	readsNow bool
	sites    []site
	err      *Error
	// computedKeys are the keys of computed the expression selects by
	// name (computed.x, computed["x"]); computedAll is set when it reads
	// computed any other way (as a whole).
	computedKeys map[string]bool
	computedAll  bool
	// vars are the global variables read (computed only when read as a
	// whole; audiences never: see deps).
	vars map[string]bool
	// kinds are the known kinds of computed values (Known.Computed).
	kinds map[string]string
}

// literalKind names a literal's kind as Known.Computed does, or "".
func literalKind(e ast.Expr) string {
	if e.Kind() != ast.LiteralKind {
		return ""
	}
	switch e.AsLiteral().(type) {
	case types.Int, types.Uint, types.Double:
		return "number"
	case types.String:
		return "string"
	case types.Bool:
		return "bool"
	}
	return ""
}

// checkComparison refuses a comparison of a computed value of known kind
// with a literal of another kind.
func (w *walker) checkComparison(e ast.Expr, s scope) {
	args := e.AsCall().Args()
	if len(args) != 2 || w.kinds == nil {
		return
	}
	for i := range 2 {
		key, ok := computedKey(args[i], s)
		if !ok {
			continue
		}
		want, lit := w.kinds[key], literalKind(args[1-i])
		if want != "" && lit != "" && want != lit {
			w.fail(args[1-i].ID(), "computed.%s is a %s; it cannot be compared with a %s", key, want, lit)
		}
	}
}

// computedKey returns the key e selects from the global computed, if it
// is such a selection.
func computedKey(e ast.Expr, s scope) (string, bool) {
	var operand ast.Expr
	var key string
	switch e.Kind() {
	case ast.SelectKind:
		operand, key = e.AsSelect().Operand(), e.AsSelect().FieldName()
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() || len(c.Args()) != 2 || c.FunctionName() != operators.Index {
			return "", false
		}
		lit, ok := stringLiteral(c.Args()[1])
		if !ok {
			return "", false
		}
		operand, key = c.Args()[0], lit
	default:
		return "", false
	}
	if operand.Kind() != ast.IdentKind || operand.AsIdent() != varComputed || s.local(varComputed) {
		return "", false
	}
	return key, true
}

// fail records the first problem found, at node id.
func (w *walker) fail(id int64, format string, args ...any) {
	if w.err != nil {
		return
	}
	w.err = w.errorAt(id, fmt.Sprintf(format, args...))
}

func (w *walker) errorAt(id int64, msg string) *Error {
	loc := w.info.GetStartLocation(id)
	line, col := loc.Line(), loc.Column()+1
	if line < 1 {
		line, col = 1, 1
	}
	return &Error{Line: line, Column: col, Message: msg}
}

func (w *walker) addSite(e ast.Expr) {
	name, err := parser.Unparse(e, w.info)
	if err != nil {
		name = fmt.Sprintf("expression #%d", e.ID())
	}
	w.sites = append(w.sites, site{id: e.ID(), name: name})
}

func (w *walker) addDep(name string, id int64) {
	if _, ok := w.deps[name]; ok {
		return
	}
	w.deps[name] = id
	w.depOrder = append(w.depOrder, name)
}

// scope holds the comprehension variables in scope, which shadow globals.
type scope map[string]int

func (s scope) local(name string) bool { return s[name] > 0 }

// globalRooted reports whether e is a chain of field selections, presence
// tests and indexing that starts at a global variable: the value Explain
// reports for such a chain is that of its outermost node (cel-go plans
// the chain as one attribute and tracks only that node).
func globalRooted(e ast.Expr, s scope) bool {
	for {
		switch e.Kind() {
		case ast.IdentKind:
			return !s.local(e.AsIdent())
		case ast.SelectKind:
			e = e.AsSelect().Operand()
		case ast.CallKind:
			c := e.AsCall()
			if c.IsMemberFunction() || len(c.Args()) != 2 {
				return false
			}
			switch c.FunctionName() {
			case operators.Index, operators.OptIndex, operators.OptSelect:
				e = c.Args()[0]
			default:
				return false
			}
		default:
			return false
		}
	}
}

// walk visits e; record says whether a global-rooted chain met here is
// to be an Explain site (false inside a chain already recorded).
func (w *walker) walk(e ast.Expr, s scope, record bool) {
	if w.err != nil {
		return
	}
	if record && globalRooted(e, s) {
		w.addSite(e)
		record = false
	}
	if key, ok := computedKey(e, s); ok {
		if w.computedKeys == nil {
			w.computedKeys = map[string]bool{}
		}
		w.computedKeys[key] = true
		if e.Kind() == ast.CallKind {
			w.walk(e.AsCall().Args()[1], s, true)
		}
		return
	}
	switch e.Kind() {
	case ast.IdentKind:
		name := e.AsIdent()
		if s.local(name) {
			return
		}
		if w.vars == nil {
			w.vars = map[string]bool{}
		}
		w.vars[name] = true
		switch name {
		case varComputed:
			w.computedAll = true
		case varNow:
			w.readsNow = true
		case varAudiences:
			w.fail(e.ID(), `audiences may be read only as "name" in audiences or audiences.exists(a, a == "name")`)
		}
	case ast.SelectKind:
		w.walk(e.AsSelect().Operand(), s, record)
	case ast.CallKind:
		w.walkCall(e, s, record)
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			w.walk(el, s, true)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			w.walk(me.Key(), s, true)
			w.walk(me.Value(), s, true)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			w.walk(f.AsStructField().Value(), s, true)
		}
	case ast.ComprehensionKind:
		w.walkComprehension(e, s)
	}
}

func (w *walker) walkCall(e ast.Expr, s scope, record bool) {
	c := e.AsCall()
	fn, args := c.FunctionName(), c.Args()
	if !c.IsMemberFunction() {
		switch fn {
		case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
			w.checkComparison(e, s)
		case FuncCount, FuncSum, FuncExists:
			w.eventCall(e)
			w.addSite(e)
			return
		case FuncDaysSince:
			w.calls[e.ID()] = Call{Func: FuncDaysSince}
			w.addSite(e)
			w.walk(args[0], s, true)
			return
		case operators.In:
			if r := args[1]; r.Kind() == ast.IdentKind && r.AsIdent() == varAudiences && !s.local(varAudiences) {
				name, ok := stringLiteral(args[0])
				if !ok {
					w.fail(args[0].ID(), `the audience name before "in audiences" must be a string literal`)
					return
				}
				w.addDep(name, args[0].ID())
				w.addSite(r)
				return
			}
		case overloads.TypeConvertDuration, overloads.TypeConvertTimestamp:
			// A literal conversion is done once when the program is
			// planned: its failure is a compile error here.
			if lit, ok := stringLiteral(args[0]); ok && len(args) == 1 {
				if err := convertible(fn, lit); err != nil {
					w.fail(args[0].ID(), "%v", err)
					return
				}
			}
		case operators.Index, operators.OptIndex, operators.OptSelect:
			// Part of a chain: the operand continues it, the index is
			// a value of its own.
			w.walk(args[0], s, record)
			w.walk(args[1], s, true)
			return
		}
	}
	if c.IsMemberFunction() {
		w.walk(c.Target(), s, true)
	}
	for _, a := range args {
		w.walk(a, s, true)
	}
}

func (w *walker) walkComprehension(e ast.Expr, s scope) {
	comp := e.AsComprehension()
	if r := comp.IterRange(); r.Kind() == ast.IdentKind && r.AsIdent() == varAudiences && !s.local(varAudiences) {
		w.audiencesExists(e)
		w.addSite(r)
		return
	}
	w.walk(comp.IterRange(), s, true)
	w.walk(comp.AccuInit(), s, true)
	vars := []string{comp.AccuVar(), comp.IterVar()}
	if comp.HasIterVar2() {
		vars = append(vars, comp.IterVar2())
	}
	for _, v := range vars {
		s[v]++
	}
	w.walk(comp.LoopCondition(), s, true)
	w.walk(comp.LoopStep(), s, true)
	for _, v := range vars[1:] {
		s[v]--
	}
	w.walk(comp.Result(), s, true)
	s[comp.AccuVar()]--
}

// audiencesExists accepts audiences.exists(a, P) where P is a disjunction
// of a == "name", "name" == a and a in ["name", …]: true exactly when
// one of the names is in audiences, so those names are all it depends on.
// Any other comprehension over audiences (all, filter, a predicate that
// reads other audiences) is rejected.
func (w *walker) audiencesExists(e ast.Expr) {
	comp := e.AsComprehension()
	const msg = `audiences.exists(a, …) may only test a == "name" (joined by ||)`
	init := comp.AccuInit()
	step := comp.LoopStep()
	res := comp.Result()
	isAccu := func(x ast.Expr) bool { return x.Kind() == ast.IdentKind && x.AsIdent() == comp.AccuVar() }
	if comp.HasIterVar2() || init.Kind() != ast.LiteralKind || init.AsLiteral() != types.False ||
		!isAccu(res) || step.Kind() != ast.CallKind || step.AsCall().FunctionName() != operators.LogicalOr ||
		len(step.AsCall().Args()) != 2 || !isAccu(step.AsCall().Args()[0]) {
		w.fail(comp.IterRange().ID(), `audiences may be read only as "name" in audiences or audiences.exists(a, a == "name")`)
		return
	}
	v := comp.IterVar()
	isVar := func(x ast.Expr) bool { return x.Kind() == ast.IdentKind && x.AsIdent() == v }
	var pred func(p ast.Expr) bool
	pred = func(p ast.Expr) bool {
		if p.Kind() != ast.CallKind {
			return false
		}
		c := p.AsCall()
		a := c.Args()
		switch {
		case c.IsMemberFunction() || len(a) != 2:
			return false
		case c.FunctionName() == operators.LogicalOr:
			return pred(a[0]) && pred(a[1])
		case c.FunctionName() == operators.Equals:
			for i := range 2 {
				if name, ok := stringLiteral(a[1-i]); ok && isVar(a[i]) {
					w.addDep(name, a[1-i].ID())
					return true
				}
			}
		case c.FunctionName() == operators.In && isVar(a[0]) && a[1].Kind() == ast.ListKind:
			for _, el := range a[1].AsList().Elements() {
				name, ok := stringLiteral(el)
				if !ok {
					return false
				}
				w.addDep(name, el.ID())
			}
			return true
		}
		return false
	}
	if p := step.AsCall().Args()[1]; !pred(p) {
		w.fail(p.ID(), msg)
	}
}

// eventCall checks the literal arguments of count, sum and exists_event
// and records the call.
func (w *walker) eventCall(e ast.Expr) {
	c := e.AsCall()
	fn, args := c.FunctionName(), c.Args()
	call := Call{Func: fn}
	ev := args[0]
	name, ok := stringLiteral(ev)
	if !ok {
		w.fail(ev.ID(), "%s: the event name must be a string literal", fn)
		return
	}
	if name == "" {
		w.fail(ev.ID(), "%s: the event name is empty", fn)
		return
	}
	call.Event = name
	win := args[len(args)-1]
	if fn == FuncSum {
		p := args[1]
		path, ok := stringLiteral(p)
		if !ok {
			w.fail(p.ID(), "sum: the property path must be a string literal")
			return
		}
		if !pathPattern.MatchString(path) {
			w.fail(p.ID(), "sum: the property path %s must be names of letters, digits and _ joined by dots", strconv.Quote(path))
			return
		}
		call.Path = path
	}
	d, err := windowLiteral(win)
	if err != nil {
		w.fail(win.ID(), "%s: %v", fn, err)
		return
	}
	call.Window = d
	w.calls[e.ID()] = call
}

// windowLiteral reads a window: a string literal ("" or "lifetime" for
// none, a Go duration such as "720h", or whole days such as "30d") or
// duration("…") of a string literal.
func windowLiteral(e ast.Expr) (time.Duration, error) {
	if s, ok := stringLiteral(e); ok {
		d, err := ParseWindow(s)
		if err != nil {
			return 0, fmt.Errorf("the window %w", err)
		}
		return d, nil
	}
	if e.Kind() == ast.CallKind {
		c := e.AsCall()
		if !c.IsMemberFunction() && c.FunctionName() == overloads.TypeConvertDuration && len(c.Args()) == 1 {
			if s, ok := stringLiteral(c.Args()[0]); ok {
				d, err := time.ParseDuration(s)
				if err != nil {
					return 0, fmt.Errorf("the window %s is not a duration", strconv.Quote(s))
				}
				if d, err = checkWindow(d, s); err != nil {
					return 0, fmt.Errorf("the window %w", err)
				}
				return d, nil
			}
		}
	}
	return 0, fmt.Errorf(`the window must be a string literal such as "720h", "30d" or "lifetime", or duration("720h")`)
}

// ParseWindow reads a window as count, sum and exists_event take it: ""
// or "lifetime" is no window (0); "30d" is 30 days; anything else is a Go
// duration ("720h", "90m"). A window must be positive and at most
// MaxWindow.
func ParseWindow(s string) (time.Duration, error) {
	if s == "" || s == "lifetime" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && strings.Trim(days, "0123456789") == "" {
		days = strings.TrimLeft(days, "0")
		if len(days) > 4 {
			return checkWindow(MaxWindow+1, s)
		}
		n, _ := strconv.Atoi("0" + days) // at most four digits
		return checkWindow(time.Duration(n)*24*time.Hour, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s is not whole days (\"30d\") or a duration (\"720h\")", strconv.Quote(s))
	}
	return checkWindow(d, s)
}

func checkWindow(d time.Duration, s string) (time.Duration, error) {
	switch {
	case d <= 0:
		return 0, fmt.Errorf("%s must be positive (use \"lifetime\" for no window)", strconv.Quote(s))
	case d > MaxWindow:
		return 0, fmt.Errorf("%s is longer than 400 days", strconv.Quote(s))
	}
	return d, nil
}

func stringLiteral(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// convertible reports whether duration(lit) or timestamp(lit) succeeds,
// parsing as cel-go does.
func convertible(fn, lit string) error {
	if fn == overloads.TypeConvertDuration {
		if _, err := time.ParseDuration(lit); err != nil {
			return fmt.Errorf("duration(%s): not a duration such as \"720h\"", strconv.Quote(lit))
		}
		return nil
	}
	if _, err := time.Parse(time.RFC3339, lit); err != nil {
		return fmt.Errorf("timestamp(%s): not an RFC 3339 time such as \"2025-01-31T00:00:00Z\"", strconv.Quote(lit))
	}
	return nil
}
