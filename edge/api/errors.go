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
	// ErrUnauthorized: the request carries no key where one is required
	// (a write key to write, a read key to read when read keys are
	// configured), or one that is not configured.
	ErrUnauthorized = errors.New("api: unauthorized")
	// ErrForbidden: the request comes from a browser origin that is not
	// in Config.CORSOrigins, or its key may not do this: a write key
	// reading, a read key writing, a read key without the route's scope.
	ErrForbidden = errors.New("api: forbidden")
	// ErrRateLimited: the request's key is over its rate limit
	// (Config.ReadKeyRate, Config.WriteKeyRate); the answer says when to
	// retry (Retry-After).
	ErrRateLimited = errors.New("api: rate limited")
	// ErrBadRequest: the request is malformed outside the message body
	// (path, query, encoding).
	ErrBadRequest = errors.New("api: bad request")
	// ErrTooLarge: the request body is over the endpoint's limit.
	ErrTooLarge = errors.New("api: payload too large")
	// ErrURITooLong: the request line does not fit in
	// Config.MaxHeaderBytes.
	ErrURITooLong = errors.New("api: request URI too long")
	// ErrHeadersTooLarge: the request line and headers together exceed
	// Config.MaxHeaderBytes.
	ErrHeadersTooLarge = errors.New("api: request headers too large")
	// ErrTimeout: the request was not read within Config.ReadTimeout.
	ErrTimeout = errors.New("api: request timeout")
	// ErrNoRoute: no endpoint at that path.
	ErrNoRoute = errors.New("api: no such endpoint")
	// ErrMethod: the endpoint exists but not for that method. Errors
	// from methodNotAllowed also carry the route's methods (Allow).
	ErrMethod = errors.New("api: method not allowed")
	// ErrUnavailable: the server is shutting down or the store is closed.
	ErrUnavailable = errors.New("api: unavailable")
)

// Error codes: the "code" of {"error":{"code","message"}}. The hub's API
// answers with the same vocabulary (hub/api/errors.go); a code names the
// kind of failure, the message names the field.
const (
	codeInvalid            = "invalid_request"     // 400
	codeUnauthorized       = "unauthorized"        // 401
	codeForbidden          = "forbidden"           // 403
	codeNotFound           = "not_found"           // 404
	codeMethod             = "method_not_allowed"  // 405
	codeTimeout            = "request_timeout"     // 408
	codeTooLarge           = "payload_too_large"   // 413
	codeURITooLong         = "uri_too_long"        // 414
	codeRateLimited        = "rate_limited"        // 429
	codeHeadersTooLarge    = "headers_too_large"   // 431
	codeInternal           = "internal"            // 500
	codeOverloaded         = "overloaded"          // 503: retry soon
	codeUnavailable        = "unavailable"         // 503: shutting down
	codeStorageUnavailable = "storage_unavailable" // 503: read-only or failing disk
	codeStorageFull        = "storage_full"        // 507
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

// methodError is ErrMethod with the methods the route does serve.
type methodError struct{ allow string }

func (e *methodError) Error() string { return "method not allowed; this endpoint serves " + e.allow }
func (e *methodError) Unwrap() error { return ErrMethod }

// methodNotAllowed answers 405 with Allow: allow.
func methodNotAllowed(allow string) error { return &methodError{allow: allow} }

// errorStatus maps an error to the HTTP status, the error code of the
// response body, and a message safe to send (field paths and reasons,
// never values, never Go package prefixes). It is the only place that
// decides statuses for errors.
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
	var me *methodError
	switch {
	// LimitError matches both ErrTooLarge and ErrInvalid: size first.
	case errors.Is(err, profile.ErrTooLarge), errors.Is(err, ErrTooLarge):
		if errors.As(err, &le) {
			return http.StatusRequestEntityTooLarge, codeTooLarge, le.Error()
		}
		return http.StatusRequestEntityTooLarge, codeTooLarge, safe("request body too large")
	case errors.As(err, &fe):
		// FieldError messages are "field: reason", never the value.
		return http.StatusBadRequest, codeInvalid, fe.Error()
	case errors.As(err, &le):
		return http.StatusBadRequest, codeInvalid, le.Error()
	case errors.Is(err, profile.ErrInvalid), errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, codeInvalid, safe("invalid request")
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, codeUnauthorized, safe("a valid write key is required")
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, codeForbidden, safe("forbidden")
	case errors.Is(err, ErrRateLimited):
		var rl *rateLimitError
		if errors.As(err, &rl) {
			return http.StatusTooManyRequests, codeRateLimited, rl.msg
		}
		return http.StatusTooManyRequests, codeRateLimited, "too many requests; retry later"
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, codeNotFound, safe("profile not found")
	case errors.Is(err, ErrNoRoute):
		return http.StatusNotFound, codeNotFound, safe("no such endpoint")
	case errors.As(err, &me):
		return http.StatusMethodNotAllowed, codeMethod, me.Error()
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed, codeMethod, safe("method not allowed")
	case errors.Is(err, ErrTimeout):
		return http.StatusRequestTimeout, codeTimeout, safe("the request was not received in time")
	case errors.Is(err, ErrURITooLong):
		return http.StatusRequestURITooLong, codeURITooLong, safe("request line too long")
	case errors.Is(err, ErrHeadersTooLarge):
		return http.StatusRequestHeaderFieldsTooLarge, codeHeadersTooLarge, safe("request headers too large")
	case errors.Is(err, store.ErrStorageFull):
		return http.StatusInsufficientStorage, codeStorageFull, "the edge's disk is full; nothing was stored; retry later"
	case errors.Is(err, store.ErrNotWritable):
		return http.StatusServiceUnavailable, codeStorageUnavailable, "the edge's storage is read-only or failing; nothing was stored; retry later"
	case errors.Is(err, store.ErrOverloaded):
		return http.StatusServiceUnavailable, codeOverloaded, "the edge is overloaded; retry later"
	case errors.Is(err, store.ErrClosed), errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, codeUnavailable, "the edge is shutting down; retry later"
	case errors.Is(err, store.ErrDamaged):
		// One profile's stored copy failed its checksum (or waits for a
		// replica's copy after that): the store repairs it meanwhile.
		return http.StatusInternalServerError, codeInternal, "this profile's stored copy is damaged; the edge is repairing it from its own state or a replica; retry later"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, codeOverloaded, "the write did not complete in time; retry (messageId makes retries safe)"
	}
	return http.StatusInternalServerError, codeInternal, "internal error"
}
