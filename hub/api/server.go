package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"ucv/hub"
	"ucv/metric"
)

// Config configures a Server (and the Peers built before it). Start
// from DefaultConfig.
type Config struct {
	// NodeID is this hub node's Raft ID and HTTPURL the base URL other
	// nodes reach its API at (http://host:port).
	NodeID  string
	HTTPURL string
	// SyncToken and AdminToken are the bearer tokens of the sync (and
	// internal) and admin endpoints; empty leaves them open (loopback and
	// dev only: cmd logs a warning). Each token opens only its own
	// endpoints: the other one is answered 403.
	SyncToken  string
	AdminToken string
	// ClientCerts is set when the caller serves the API through a
	// tlsconf listener that verifies the client certificates given
	// (tlsconf.VerifyClientCertIfGiven; `ucv hub --tls-client-ca`): the
	// sync routes then require a certificate of the CA (an edge's or a
	// hub node's), the internal routes and join a hub node's, on top of
	// their tokens; other routes go by token alone (cert.go).
	ClientCerts bool
	// FeedItems is the default page size of the feed; MaxFeedWait caps a
	// long-poll's wait=. A waiting long-poll answers when the FSM
	// applies news (hub.FSM.Watch), so there is no polling interval.
	FeedItems   int
	MaxFeedWait time.Duration
	// The HTTP server's timeouts (HTTPServer). ReadHeaderTimeout bounds
	// the request line and headers. ReadTimeout bounds the whole request
	// at first; while a body arrives at MinBodyBytesPerSec or faster its
	// deadline moves on, so a 4 MiB push over a slow shop uplink goes
	// through, and a client that trickles its body (slow loris) is cut
	// at the deadline with 408. WriteTimeout bounds an answer from the
	// moment the request is read; the feed's long-poll adds its wait and
	// the snapshot stream gives every 16 KiB WriteTimeout of its own.
	// IdleTimeout closes a keep-alive connection left idle that long.
	ReadHeaderTimeout  time.Duration
	ReadTimeout        time.Duration
	MinBodyBytesPerSec int
	WriteTimeout       time.Duration
	IdleTimeout        time.Duration
	// Client posts forwarded commands to the leader, joins and fetches
	// peers (Peers).
	Client *http.Client
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock (edge lag in status).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		FeedItems:          256,
		MaxFeedWait:        60 * time.Second,
		ReadHeaderTimeout:  10 * time.Second,
		ReadTimeout:        30 * time.Second,
		MinBodyBytesPerSec: 16 << 10,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        2 * time.Minute,
		Client:             &http.Client{Timeout: 30 * time.Second},
		Now:                time.Now,
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("api: config: NodeID is required")
	case c.FeedItems <= 0 || c.FeedItems > maxFeedItems:
		return errors.New("api: config: FeedItems must be in 1..4096")
	case c.MaxFeedWait < 0:
		return errors.New("api: config: MaxFeedWait must not be negative")
	case c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("api: config: ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout must be positive")
	case c.MinBodyBytesPerSec <= 0:
		return errors.New("api: config: MinBodyBytesPerSec must be positive")
	case c.Client == nil || c.Now == nil:
		return errors.New("api: config: Client and Now are required")
	}
	return nil
}

// Server serves one hub node's HTTP API. Build Peers first (its Forward
// goes into hub.Config.Forward), then the hub.Server, then New. Safe for
// concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	node  *hub.Server
	peers *Peers
	met   *metrics

	edgesMu sync.Mutex
	edges   map[string]edgeInfo // edges that pushed to this node
}

type edgeInfo struct {
	seq  uint64
	last time.Time
}

// New returns the API of node; peers must have been built by NewPeers
// from the same cfg (the node forwards through it).
func New(cfg Config, node *hub.Server, peers *Peers) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case node == nil || peers == nil:
		return nil, errors.New("api: New needs the hub node and its Peers")
	case peers.cfg.NodeID != cfg.NodeID:
		return nil, fmt.Errorf("api: Peers were built for node %q, not %q", peers.cfg.NodeID, cfg.NodeID)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), node: node, peers: peers, edges: map[string]edgeInfo{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.met = newMetrics(s)
	s.routes()
	return s, nil
}

// HTTPServer returns an http.Server that serves s with the configured
// timeouts. Every request's context derives from base: cancel it when
// shutdown starts and waiting long-polls answer at once instead of
// holding Shutdown for their whole wait. The caller runs Serve and
// Shutdown.
func (s *Server) HTTPServer(base context.Context) *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Registry returns the registry /metrics serves, so the caller can add
// collectors.
func (s *Server) Registry() *metric.Registry { return s.met.reg }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("GET /metrics", s.met.handler())
	s.mux.HandleFunc("GET /readyz", s.wrap(roleOpen, s.readyz))
	s.mux.HandleFunc("POST /v1/sync/push", s.wrap(roleSync, s.push))
	s.mux.HandleFunc("GET /v1/sync/feed", s.wrap(roleSync, s.feed))
	s.mux.HandleFunc("GET /v1/sync/snapshot", s.wrap(roleSync, s.snapshot))
	s.mux.HandleFunc("POST /v1/internal/apply", s.wrap(roleAny, s.internalApply))
	s.mux.HandleFunc("GET /v1/internal/peers", s.wrap(roleSync, s.internalPeers))
	s.mux.HandleFunc("POST /v1/admin/join", s.wrap(roleAdmin, s.join))
	s.mux.HandleFunc("POST /v1/admin/remove", s.wrap(roleAdmin, s.remove))
	s.mux.HandleFunc("GET /v1/admin/status", s.wrap(roleAdmin, s.status))
	s.mux.HandleFunc("GET /v1/admin/profiles/{ref}", s.wrap(roleAdmin, s.profile))
	s.mux.HandleFunc("GET /v1/admin/profiles/{ref}/why", s.wrap(roleAdmin, s.why))
	s.mux.HandleFunc("POST /v1/admin/merge", s.wrap(roleAdmin, s.steward(true)))
	s.mux.HandleFunc("POST /v1/admin/unmerge", s.wrap(roleAdmin, s.steward(false)))
	s.mux.HandleFunc("GET /v1/admin/reviews", s.wrap(roleAdmin, s.reviews))
	s.mux.HandleFunc("POST /v1/admin/reviews/accept", s.wrap(roleAdmin, s.review(true)))
	s.mux.HandleFunc("POST /v1/admin/reviews/reject", s.wrap(roleAdmin, s.review(false)))
	s.mux.HandleFunc("GET /v1/admin/model", s.wrap(roleAdmin, s.model))
	s.mux.HandleFunc("POST /v1/admin/model", s.wrap(roleAdmin, s.setModel))
	s.mux.HandleFunc("/", s.wrap(roleOpen, func(http.ResponseWriter, *http.Request) error { return ErrNoRoute }))
}

// role is whom a route serves. The sync token is the edges' (and the
// hub nodes' among themselves), the admin token the stewards' and
// operators'; each opens only its own routes (see
// docs/decisions/0023-hub-roles.md).
type role uint8

const (
	roleOpen  role = iota // no token needed
	roleSync              // edges and hub nodes: sync and internal endpoints
	roleAdmin             // stewards and operators: the admin API
	roleAny               // either token; the handler checks the role of what it does
)

// wrap checks the bearer token for want and answers errors.
func (s *Server) wrap(want role, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkCert(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.authorize(r, want); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// authorize returns nil when r may act as want: its role has no token
// configured (open), or r presents that token. A valid token of the
// other role is ErrForbidden (403); a missing or unknown one is
// ErrUnauthorized (401). Two roles configured with the same token are
// one role.
func (s *Server) authorize(r *http.Request, want role) error {
	switch want {
	case roleOpen:
		return nil
	case roleAny:
		if s.authorize(r, roleSync) == nil || s.authorize(r, roleAdmin) == nil {
			return nil
		}
		return ErrUnauthorized
	}
	tok, other := s.cfg.SyncToken, s.cfg.AdminToken
	if want == roleAdmin {
		tok, other = other, tok
	}
	switch {
	case tok == "" || bearer(r, tok):
		return nil
	case other != "" && bearer(r, other):
		return ErrForbidden
	}
	return ErrUnauthorized
}

// bearer reports whether r carries token as a Bearer credential; the
// scheme is case-insensitive (RFC 9110 §11.1).
func bearer(r *http.Request, token string) bool {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return false
	}
	got := strings.TrimSpace(h[7:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// readBody reads r's body, at most limit bytes. Its read deadline
// (the server's ReadTimeout at first) moves on as bytes arrive, by one
// second per MinBodyBytesPerSec, so a body that keeps that pace is never
// cut and one that trickles is (ErrTimeout, 408). Once the body is in,
// the request gets a full WriteTimeout (hold). An http.ResponseWriter
// that has no deadlines (a recorder) reads without them.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	rc := http.NewResponseController(w)
	start := time.Now()
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(chunk)
		buf.Write(chunk[:n])
		if buf.Len() > limit {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The write deadline ran out with the read one: give
				// the 408 time to go out.
				_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
				return nil, fmt.Errorf("%w: body: %d bytes in %s", ErrTimeout, buf.Len(), time.Since(start).Round(time.Millisecond))
			}
			return nil, errors.Join(ErrBadRequest, err)
		}
		if n > 0 {
			grace := s.cfg.ReadTimeout + time.Duration(buf.Len())*time.Second/time.Duration(s.cfg.MinBodyBytesPerSec)
			_ = rc.SetReadDeadline(start.Add(grace))
		}
	}
	s.hold(w, s.cfg.WriteTimeout)
	return buf.Bytes(), nil
}

// hold gives a request that has no body left to read d more from now:
// both of the server's deadlines ran from the request's headers, and the
// read deadline matters after the body too — net/http watches the idle
// connection for a hang-up and cancels the request's context when that
// read times out. A ResponseWriter without deadlines ignores it.
func (s *Server) hold(w http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(w)
	at := time.Now().Add(d)
	_ = rc.SetReadDeadline(at)
	_ = rc.SetWriteDeadline(at)
}

// readyz answers 200 when this node knows a leader. A node that is no
// member of any cluster — started without --bootstrap or --join, and not
// yet added — says that it waits to be joined; any other node without a
// leader is ErrNoLeader.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) error {
	if id, _ := s.node.Leader(); id == "" {
		if ms, err := s.node.Members(); err == nil && len(ms) == 0 {
			return ErrNotJoined
		}
		return ErrNoLeader
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
