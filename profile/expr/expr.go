// Package expr compiles and evaluates audience expressions. PLACEHOLDER:
// the cel-go implementation is being written on branch expr and replaces
// this file; until then every expression is refused.
package expr

import (
	"errors"
	"time"
)

// Input is one profile's data as an expression sees it.
type Input interface {
	Traits() map[string]any
	Computed() map[string]any
	Identities() []map[string]string
	Consent() map[string]bool
	Audiences() []string
	FirstSeen() time.Time
	LastSeen() time.Time
	Now() time.Time
	Count(event string, window time.Duration) int64
	Sum(event, path string, window time.Duration) float64
	Exists(event string, window time.Duration) bool
	DaysSince(t time.Time) int64
}

// Call is one function call with literal arguments.
type Call struct {
	Func, Event, Path string
	Window            time.Duration
}

// Known lists the names an expression may refer to.
type Known struct{ Audiences []string }

// Read is one value an evaluation read.
type Read struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// Program is a compiled expression.
type Program struct{ name string }

// Compile refuses every expression (placeholder).
func Compile(name, expression string, known Known) (*Program, error) {
	return nil, errors.New("expr: expressions are not available yet")
}

func (p *Program) Name() string                { return p.name }
func (p *Program) Deps() []string              { return nil }
func (p *Program) Calls() []Call               { return nil }
func (p *Program) ReadsNow() bool              { return false }
func (p *Program) Eval(in Input) (bool, error) { return false, errors.New("expr: placeholder") }
func (p *Program) Explain(in Input) (bool, []Read, error) {
	return false, nil, errors.New("expr: placeholder")
}
func Order(progs []*Program) ([]*Program, error) { return progs, nil }
