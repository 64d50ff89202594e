package expr

import (
	"fmt"
	"strings"
)

// Error is a compile error: the position of the problem in the expression
// (Line and Column count from 1; Column counts Unicode code points) and
// what is wrong. Compile returns it for every rejected expression, so a
// caller can turn it into a 400 naming position and problem. The message
// never quotes profile data, only the expression's own text.
type Error struct {
	Line, Column int
	Message      string
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// CycleError is Order's error when audiences depend on each other in a
// circle. Path starts and ends with the same name: [a b a] for a → b → a.
type CycleError struct {
	Path []string
}

func (e *CycleError) Error() string {
	return "expr: audiences depend on each other in a cycle: " + strings.Join(e.Path, " → ")
}
