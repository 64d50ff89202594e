package profile

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test with errors.Is.
var (
	// ErrInvalid is matched by every *FieldError.
	ErrInvalid = errors.New("profile: invalid input")
	// ErrTooLarge is matched by every *LimitError that concerns a size in
	// bytes (event, batch); an API maps it to 413.
	ErrTooLarge = errors.New("profile: too large")
)

// reasonNUL is the reason for a string field holding U+0000: C-string
// consumers (exports, shells, some databases) truncate or choke on it.
const reasonNUL = "must not contain NUL characters"

// FieldError reports an invalid field. Field is a JSON path such as
// "batch[3].context.traits.email". Reason never contains the field's value,
// so the error is safe to log and to return to clients.
type FieldError struct {
	Field  string
	Reason string
	Err    error // optional underlying cause
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the underlying cause, if any.
func (e *FieldError) Unwrap() error { return e.Err }

// LimitError reports an exceeded size limit.
type LimitError struct {
	Field string
	Limit int
	What  string // "bytes", "events", …
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: exceeds the limit of %d %s", e.Field, e.Limit, e.What)
}

// Is makes errors.Is(err, ErrTooLarge) true for byte limits and
// errors.Is(err, ErrInvalid) true for all limits.
func (e *LimitError) Is(target error) bool {
	return target == ErrInvalid || (target == ErrTooLarge && e.What == "bytes")
}
