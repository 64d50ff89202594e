package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"ucv/hub"
	"ucv/hub/token"
)

// Identify maps a request to the identity it acts as. It is the one
// place where a credential becomes an identity; every route's check
// (the role matrix), the sync push's own-edge rule and the auditor's
// masking start from what it returns.
//
//   - Authorization: Bearer SECRET (or Basic with SECRET as the password;
//     the user name is ignored) is looked up among the development
//     shortcuts (Config.SyncToken, Config.AdminToken: Shared identities
//     named "sync" and "admin") and then the tokens file
//     (Config.Tokens): that token's name and role. A secret that matches
//     none is ErrUnauthorized.
//
//   - A request without a credential is the zero Identity (anonymous)
//     and no error: whether anonymous may pass is the route's business.
//
//   - A request without a credential on a connection whose client
//     certificate the handshake verified (Config.ClientCerts) is the
//     certificate's name, with role node for a hub node's certificate and
//     sync for another (an edge's): a client certificate authenticates a
//     connection, not an operator, so admin routes still need a token.
//
//   - A named sync token on a connection whose edge certificate names
//     another edge is ErrForbidden: the two credentials disagree.
//
// The first use of a secret may run bcrypt (token.Set.Verify), bounded
// by r's context; later ones are a map lookup. Safe for concurrent use.
func (s *Server) Identify(r *http.Request) (token.Identity, error) {
	certName, certNode, certOK := certIdentity(r)
	secret := credential(r)
	if secret == "" {
		switch {
		case !certOK:
			return token.Identity{}, nil
		case certNode:
			return token.Identity{Name: certName, Role: token.Node}, nil
		}
		return token.Identity{Name: certName, Role: token.Sync}, nil
	}
	if id, err := s.shortcuts.Verify(r.Context(), secret); err == nil {
		return id, nil
	}
	id, err := s.cfg.Tokens.Verify(r.Context(), secret)
	switch {
	case errors.Is(err, token.ErrUnknown):
		return token.Identity{}, ErrUnauthorized
	case err != nil:
		return token.Identity{}, fmt.Errorf("%w: verifying the token: %w", ErrUnauthorized, err)
	case certOK && !certNode && id.Role == token.Sync && id.Name != certName:
		return token.Identity{}, fmt.Errorf("%w: the sync token names edge %q, the client certificate %q", ErrForbidden, id.Name, certName)
	}
	return id, nil
}

// credential returns the secret r presents: a Bearer token (the scheme
// is case-insensitive, RFC 9110 §11.1) or a Basic password; "" for none.
func credential(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "bearer"):
		return strings.TrimSpace(rest)
	case strings.EqualFold(scheme, "basic"):
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return ""
		}
		_, pw, _ := strings.Cut(string(b), ":")
		return pw
	}
	return ""
}

// isOpen reports whether the hub has no credential at all: then every
// route is open (`ucv dev`, loopback). Once any token is configured,
// every route except the public ones needs one of its roles.
// A hub that verifies client certificates is never open.
func (s *Server) isOpen() bool {
	return s.shortcuts.Len() == 0 && s.cfg.Tokens.Len() == 0 && !s.cfg.ClientCerts
}

// admission is what wrap admitted a request as: its identity on its
// route.
type admission struct {
	id token.Identity
	rt *Route
}

type admissionKey struct{}

// identityOf returns the identity wrap admitted r as.
func identityOf(r *http.Request) token.Identity {
	a, _ := r.Context().Value(admissionKey{}).(admission)
	return a.id
}

// masked reports whether r's role reads its route masked (the auditor's
// profile lookups).
func masked(r *http.Request) bool {
	a, _ := r.Context().Value(admissionKey{}).(admission)
	if a.rt == nil {
		return false
	}
	g, _ := a.rt.grant(a.id.Role)
	return g.Note == "masked"
}

// wrap admits a request to rt (admit), hands it to h with its identity
// in the context, and answers errors. Requests to auditable routes (every
// admin mutation, the export download) then append an audit entry
// (audited): only admitted requests are audited; a refusal at admission
// (401, 403, 429) is counted in the metrics, not audited.
func (s *Server) wrap(rt *Route, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkCert(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		id, err := s.admit(r, rt)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !id.Anonymous() {
			r = r.WithContext(context.WithValue(r.Context(), admissionKey{}, admission{id: id, rt: rt}))
		}
		if auditable(rt) {
			s.audited(rt, h, w, r)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// admit identifies r, counts it against its rate limit and checks rt's
// grants. Public routes, and every route of an open hub, are counted per
// client IP and never identified.
// A node token is not rate-limited; a named token is limited per token;
// an anonymous request, a shared shortcut or a failed authentication per
// client IP. A secret the server has not seen yet is verified only while
// the client IP has budget left, so once guessing has spent it the hub
// answers 429 without running bcrypt.
func (s *Server) admit(r *http.Request, rt *Route) (token.Identity, error) {
	ipKey := "ip:" + clientIP(r)
	if rt.Open || s.isOpen() {
		// An open hub ignores credentials: any caller is anonymous.
		return token.Identity{}, s.limit(ipKey)
	}
	if secret := credential(r); secret != "" && !s.shortcuts.Seen(secret) && !s.cfg.Tokens.Seen(secret) {
		if err := s.spent(ipKey); err != nil {
			return token.Identity{}, err
		}
	}
	id, err := s.Identify(r)
	if err != nil {
		s.met.authFailures.Inc()
		s.log.Debug("authentication failed", "path", r.URL.Path, "remote", clientIP(r))
		if lerr := s.limit(ipKey); lerr != nil {
			return id, lerr
		}
		return id, err
	}
	switch {
	case id.Role == token.Node:
	case id.Anonymous() || id.Shared:
		err = s.limit(ipKey)
	default:
		err = s.limit("token:" + id.Name)
	}
	if err != nil {
		return id, err
	}
	return id, s.authorize(id, rt)
}

// authorize checks id against rt's grants: anonymous is 401 and a role
// rt does not list 403.
func (s *Server) authorize(id token.Identity, rt *Route) error {
	switch {
	case rt.Open:
		return nil
	case id.Anonymous():
		return ErrUnauthorized
	}
	if _, ok := rt.grant(id.Role); !ok {
		return fmt.Errorf("%w: role %s may not %s %s", ErrForbidden, id.Role, rt.Method, rt.Path)
	}
	return nil
}

// ownEdge checks the "own edge" grant of a sync push or batch: a sync
// token named for one edge pushes only that edge's sequences. Shared
// shortcuts, node tokens and an open hub's anonymous callers are not
// bound to an edge.
func (s *Server) ownEdge(id token.Identity, edge string) error {
	if id.Role == token.Sync && !id.Shared && edge != id.Name {
		return fmt.Errorf("%w: edge: the token %q pushes only edge %q's sequences, not %q", ErrForbidden, id.Name, id.Name, edge)
	}
	return nil
}

// mayApply is internal apply's per-command check: a sync batch needs a
// node token or its own edge's sync token; every other command (merge,
// unmerge, review, model, definitions, replays) a node or admin token,
// and a tick or a delivery result a node token. So a sync token cannot
// commit a steward's merge through the leader's internal endpoint, nor
// one edge's token another edge's batch.
func (s *Server) mayApply(id token.Identity, cmd []byte) error {
	if s.isOpen() || id.Role == token.Node {
		return nil
	}
	if isSyncBatch(cmd) {
		if id.Role != token.Sync {
			return fmt.Errorf("%w: role %s may not apply a sync batch", ErrForbidden, id.Role)
		}
		b, err := hub.UnmarshalSync(cmd)
		if err != nil {
			return fmt.Errorf("%w: body: %w", ErrBadRequest, err)
		}
		return s.ownEdge(id, b.Edge)
	}
	if id.Role != token.Admin {
		return fmt.Errorf("%w: role %s may apply only sync batches", ErrForbidden, id.Role)
	}
	if len(cmd) > 0 && hub.CmdType(cmd[0]) == hub.CmdTick {
		// Only a leader's scheduler ticks, on its own node: a tick from
		// outside could move the hub's clock into the future.
		return fmt.Errorf("%w: ticks come from the leader's own clock", ErrForbidden)
	}
	if len(cmd) > 0 && hub.CmdType(cmd[0]) == hub.CmdModelFit {
		// Only the leader's trainer records fits: an admin installs a
		// model with CmdModel, and could otherwise forge a fit history.
		return fmt.Errorf("%w: identity model fits come from the leader's own trainer", ErrForbidden)
	}
	if len(cmd) > 0 && hub.CmdType(cmd[0]) == hub.CmdDelivered {
		// Only a deliverer reports what a receiver answered: an admin
		// could otherwise mark deliveries done that were never sent.
		return fmt.Errorf("%w: delivery results come from the hub's own deliverer", ErrForbidden)
	}
	return nil
}

// clientIP is the host part of r's remote address. Proxies' headers
// (X-Forwarded-For) are not trusted: a client could forge them to get a
// fresh rate-limit bucket with every request.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
