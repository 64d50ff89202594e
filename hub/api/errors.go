package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"ucv/hub"
	"ucv/replication"
)

// Sentinel errors of the API layer.
var (
	// ErrUnauthorized: the bearer token is missing or wrong (401).
	ErrUnauthorized = errors.New("api: missing or wrong bearer token")
	// ErrForbidden: the token is valid but its role may not do this
	// (the role matrix), or an edge's sync token names another edge
	// (403).
	ErrForbidden = errors.New("api: forbidden")
	// ErrRateLimited: the token or client IP is over its rate limit
	// (429 with Retry-After; see RateLimitError).
	ErrRateLimited = errors.New("api: rate limit exceeded")
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
	// ErrNoClientCert: the route requires a client certificate signed by
	// the hub's CA and the connection presented none (401).
	ErrNoClientCert = errors.New("api: this endpoint requires a client certificate signed by the hub's CA")
	// ErrNotNode: the route is for hub nodes and the client certificate is
	// not a hub node's (403).
	ErrNotNode = errors.New("api: this endpoint is for hub nodes; the client certificate is not a hub node's")
)

// errorBody is the JSON error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// status maps an error to its HTTP status and code. It is the one place
// that does. The codes are the edge API's vocabulary (edge/api/errors.go):
// invalid_request, unauthorized, forbidden, not_found, conflict,
// method_not_allowed, payload_too_large, unavailable, internal; and
// rate_limited (429).
func status(err error) (int, string) {
	switch {
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrNoClientCert):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrNotNode):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "payload_too_large"
	case errors.Is(err, ErrTimeout):
		return http.StatusRequestTimeout, "request_timeout"
	case errors.Is(err, ErrBadRequest), errors.Is(err, replication.ErrMalformed), errors.Is(err, hub.ErrMalformed),
		errors.Is(err, hub.ErrInvalid):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, hub.ErrNotFound), errors.Is(err, hub.ErrNoDefinition), errors.Is(err, ErrNoMember), errors.Is(err, ErrNoRoute):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, hub.ErrNotMerged), errors.Is(err, hub.ErrSequenceGap), errors.Is(err, hub.ErrConflict), errors.Is(err, hub.ErrStaleSalt),
		errors.Is(err, hub.ErrAmbiguous):
		return http.StatusConflict, "conflict"
	case errors.Is(err, hub.ErrTooFewBaskets), errors.Is(err, hub.ErrTooLittleData):
		return http.StatusUnprocessableEntity, "too_little_data"
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
	b.Error.Message = clientMessage(err)
	switch code {
	case http.StatusRequestTimeout:
		w.Header().Set("Connection", "close") // the rest of the body is not read
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(err)))
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

// clientMessage is err's text without Go package prefixes: sentinel
// texts lose their package ("hub: profile not found: p1" → "profile not
// found: p1"), and ErrBadRequest's words go entirely, as the code says
// them ("api: bad request: id: required" → "id: required").
func clientMessage(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ") // errors.Join
	if m, ok := strings.CutPrefix(msg, ErrBadRequest.Error()+": "); ok {
		msg = m
	} else if m, ok := strings.CutPrefix(msg, ErrBadRequest.Error()+"; "); ok {
		msg = m
	}
	for _, p := range []string{"api: ", "hub: ", "replication: ", "codec: ", "msgpack: ", "catalog: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// resultCodes name the domain errors of a forwarded result
// (/v1/internal/apply between hub nodes) so that errors.Is holds on the
// follower too. They are finer than the public codes of status (two
// errors share "conflict") and unchanged from earlier releases, so nodes
// of both can forward to each other.
var resultCodes = []struct {
	code string
	err  error
}{
	{"invalid", hub.ErrInvalid}, {"sequence_gap", hub.ErrSequenceGap}, {"not_found", hub.ErrNotFound},
	{"not_merged", hub.ErrNotMerged}, {"bad_request", hub.ErrMalformed},
	{"no_definition", hub.ErrNoDefinition}, {"definition_conflict", hub.ErrConflict},
	{"stale_salt", hub.ErrStaleSalt},
}

// resultCode is the code of err in a forwarded result; "" for nil, the
// public code for errors without a domain code.
func resultCode(err error) string {
	if err == nil {
		return ""
	}
	for _, rc := range resultCodes {
		if errors.Is(err, rc.err) {
			return rc.code
		}
	}
	_, c := status(err)
	return c
}

// errorOf rebuilds a domain error from its result code, so errors.Is
// holds on the follower too.
func errorOf(code, msg string) error {
	if code == "" {
		return nil
	}
	for _, rc := range resultCodes {
		if rc.code == code {
			return fmt.Errorf("%w: %s", rc.err, msg)
		}
	}
	return errors.New(msg)
}
