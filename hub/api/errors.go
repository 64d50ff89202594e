package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"ucv/hub"
	"ucv/replication"
)

// Sentinel errors of the API layer.
var (
	// ErrUnauthorized: the bearer token is missing or wrong (401).
	ErrUnauthorized = errors.New("api: missing or wrong bearer token")
	// ErrForbidden: the bearer token is valid but of the other role: the
	// sync token on an admin endpoint or the admin token on a sync one
	// (403).
	ErrForbidden = errors.New("api: this token's role may not use this endpoint")
	// ErrBadRequest: a parameter or body field is invalid (400); the
	// message names the field.
	ErrBadRequest = errors.New("api: bad request")
	// ErrTooLarge: the body exceeds the limit (413).
	ErrTooLarge = errors.New("api: request body too large")
	// ErrNoLeader: no Raft leader is known, or it cannot be reached (503).
	ErrNoLeader = errors.New("api: no reachable leader")
	// ErrNotJoined: this node is no member of any hub cluster yet — it
	// was started with neither --bootstrap nor --join and no member has
	// added it (503 on /readyz).
	ErrNotJoined = errors.New("api: not a member of a hub cluster: this node waits to be joined (start it with --join URL, or POST /v1/admin/join to a member naming it)")
	// ErrTimeout: the request's body did not arrive in time (408).
	ErrTimeout = errors.New("api: request body too slow")
	// ErrNoRoute: no such endpoint (404).
	ErrNoRoute = errors.New("api: no such endpoint")
	// ErrNoMember: a membership change names a node that is not a member
	// (404).
	ErrNoMember = errors.New("api: no such member")
	// ErrMethod: the endpoint exists but not for this method (405).
	ErrMethod = errors.New("api: method not allowed")
)

// errorBody is the JSON error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// status maps an error to its HTTP status and code. It is the one place
// that does.
func status(err error) (int, string) {
	switch {
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrTimeout):
		return http.StatusRequestTimeout, "request_timeout"
	case errors.Is(err, ErrBadRequest), errors.Is(err, replication.ErrMalformed), errors.Is(err, hub.ErrMalformed):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, hub.ErrInvalid):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, hub.ErrNotFound), errors.Is(err, ErrNoMember):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, hub.ErrNotMerged):
		return http.StatusConflict, "not_merged"
	case errors.Is(err, hub.ErrSequenceGap):
		return http.StatusConflict, "sequence_gap"
	case errors.Is(err, ErrNoRoute):
		return http.StatusNotFound, "no_route"
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotJoined), errors.Is(err, hub.ErrNotLeader), errors.Is(err, hub.ErrClosed),
		errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// writeError answers err as JSON. Messages of 5xx errors are generic:
// details go to the log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, name := status(err)
	var b errorBody
	b.Error.Code = name
	b.Error.Message = err.Error()
	if code == http.StatusRequestTimeout {
		w.Header().Set("Connection", "close") // the rest of the body is not read
	}
	if code >= 500 {
		s.log.Warn("request failed", "path", r.URL.Path, "status", code, "err", err)
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		} else {
			b.Error.Message = "internal error"
		}
	}
	writeJSON(w, code, &b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// errorOf rebuilds a domain error from its code (forwarded results), so
// errors.Is holds on the follower too.
func errorOf(code, msg string) error {
	if code == "" {
		return nil
	}
	for _, e := range []error{hub.ErrInvalid, hub.ErrSequenceGap, hub.ErrNotFound, hub.ErrNotMerged, hub.ErrMalformed} {
		if _, c := status(e); c == code {
			return fmt.Errorf("%w: %s", e, msg)
		}
	}
	return errors.New(msg)
}
