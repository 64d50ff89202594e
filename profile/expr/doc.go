// Package expr compiles, checks and evaluates audience expressions: CEL
// (github.com/google/cel-go, whose one home this package is) over one
// profile's traits, computed traits, identities, consent, audiences, first
// and last sighting, and its events through count, sum, exists_event and
// days_since.
//
// Compile does all the checking an administrator's PUT needs — syntax,
// types, a bool result, literal event names, property paths and windows,
// known audience names and a static cost limit — and reports the first
// problem as an *Error with its line and column. A Program is immutable
// and safe for concurrent use; Eval reads only what the expression needs
// from an Input, so the caller decides how lazily values are computed.
//
// The package is pure: no I/O, no goroutines, no clock (Input.Now is the
// caller's). docs/decisions/0031-audience-expressions.md records the
// choices.
package expr
