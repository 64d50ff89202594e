package api

import (
	"context"
	"errors"
	"net/http"

	"ucv/edge/store"
	"ucv/profile"
)

// Sentinel errors. Handlers wrap them with a client-safe message.
var (
	// ErrUnauthorized: the request carries no write key where one is
	// required, or one that is not configured.
	ErrUnauthorized = errors.New("api: unauthorized")
	// ErrBadRequest: the request is malformed outside the message body
	// (path, query, encoding).
	ErrBadRequest = errors.New("api: bad request")
	// ErrTooLarge: the request body is over the endpoint's limit.
	ErrTooLarge = errors.New("api: payload too large")
	// ErrNoRoute: no endpoint at that path.
	ErrNoRoute = errors.New("api: no such endpoint")
	// ErrMethod: the endpoint exists but not for that method.
	ErrMethod = errors.New("api: method not allowed")
	// ErrUnavailable: the server is shutting down or the store is closed.
	ErrUnavailable = errors.New("api: unavailable")
)

// clientError is an error whose message is safe to show the client: it
// names what is wrong and never holds a value the client sent. kind is
// the sentinel that decides the status.
type clientError struct {
	kind error
	msg  string
}

func (e *clientError) Error() string { return e.msg }
func (e *clientError) Unwrap() error { return e.kind }

func errorf(kind error, msg string) error { return &clientError{kind: kind, msg: msg} }

// errorStatus maps an error to the HTTP status, the error code of the
// response body, and a message safe to send (field paths and reasons,
// never values). It is the only place that decides statuses for errors.
func errorStatus(err error) (status int, code, msg string) {
	var ce *clientError
	hasMsg := errors.As(err, &ce)
	safe := func(def string) string {
		if hasMsg {
			return ce.msg
		}
		return def
	}
	var fe *profile.FieldError
	var le *profile.LimitError
	switch {
	// LimitError matches both ErrTooLarge and ErrInvalid: size first.
	case errors.Is(err, profile.ErrTooLarge), errors.Is(err, ErrTooLarge):
		if errors.As(err, &le) {
			return http.StatusRequestEntityTooLarge, "payload_too_large", le.Error()
		}
		return http.StatusRequestEntityTooLarge, "payload_too_large", safe("request body too large")
	case errors.As(err, &fe):
		// FieldError messages are "field: reason", never the value.
		return http.StatusBadRequest, "invalid_request", fe.Error()
	case errors.As(err, &le):
		return http.StatusBadRequest, "invalid_request", le.Error()
	case errors.Is(err, profile.ErrInvalid), errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, "invalid_request", safe("invalid request")
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized", safe("a valid write key is required")
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not_found", safe("profile not found")
	case errors.Is(err, ErrNoRoute):
		return http.StatusNotFound, "not_found", safe("no such endpoint")
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed", safe("method not allowed")
	case errors.Is(err, store.ErrOverloaded):
		return http.StatusServiceUnavailable, "overloaded", "the edge is overloaded; retry later"
	case errors.Is(err, store.ErrClosed), errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "unavailable", "the edge is shutting down; retry later"
	case errors.Is(err, store.ErrDamaged):
		// One profile's stored copy failed its checksum (or waits for a
		// replica's copy after that): the store repairs it meanwhile.
		return http.StatusInternalServerError, "internal", "this profile's stored copy is damaged; the edge is repairing it from its own state or a replica; retry later"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "overloaded", "the write did not complete in time; retry (messageId makes retries safe)"
	}
	return http.StatusInternalServerError, "internal", "internal error"
}
