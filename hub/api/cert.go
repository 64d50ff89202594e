package api

import (
	"net/http"
	"strings"

	"ucv/tlsconf"
)

// certNeed is the client certificate a route requires when the API
// verifies client certificates (Config.ClientCerts).
type certNeed uint8

const (
	certNone certNeed = iota // verified if given, never required
	certAny                  // an edge's or a hub node's
	certNode                 // a hub node's
)

// routeCert returns what r's route requires under mutual TLS: the routes
// between hub nodes (internal, join) a hub node's certificate, the sync
// routes any certificate of the CA (an edge's or a node's), the others
// none — a client certificate authenticates a connection, not an
// operator, so the admin routes still go by their token alone (and the
// health and metrics routes stay open to probes). See
// docs/decisions/0029-tls.md.
func routeCert(r *http.Request) certNeed {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/internal/"), p == "/v1/admin/join":
		return certNode
	case strings.HasPrefix(p, "/v1/sync/"):
		return certAny
	}
	return certNone
}

// checkCert refuses r when the API verifies client certificates and r's
// connection lacks the one its route requires: none at all is
// ErrNoClientCert (401), an edge's on a hub node's route ErrNotNode
// (403). It runs before the token check, which still applies.
func (s *Server) checkCert(r *http.Request) error {
	if !s.cfg.ClientCerts {
		return nil
	}
	need := routeCert(r)
	if need == certNone {
		return nil
	}
	_, node, ok := certIdentity(r)
	switch {
	case !ok:
		return ErrNoClientCert
	case need == certNode && !node:
		return ErrNotNode
	}
	return nil
}

// certIdentity returns whom r's client certificate names, once the TLS
// handshake verified it against the CA: the edge's, operator's or hub
// node's name (its common name) and whether it is a hub node's
// certificate. ok is false without TLS or without a verified
// certificate. The certificate's name is the identity of an edge that
// authenticates by certificate (the name it was issued with by `ucv tls
// cert create --client --name NAME`), as a sync token's name is for one
// that authenticates by token.
func certIdentity(r *http.Request) (name string, node, ok bool) {
	p, ok := tlsconf.PeerOf(r.TLS)
	return p.Name, p.Node, ok
}
