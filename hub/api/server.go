package api

import (
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ucv/hub"
)

// Config configures a Server. Start from DefaultConfig.
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
	// FeedItems is the default page size of the feed; MaxFeedWait caps a
	// long-poll's wait=. A waiting long-poll answers when the FSM
	// applies news (hub.FSM.Watch), so there is no polling interval.
	FeedItems   int
	MaxFeedWait time.Duration
	// Client posts forwarded commands to the leader and fetches peers.
	Client *http.Client
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock (edge lag in status).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		FeedItems:   256,
		MaxFeedWait: 60 * time.Second,
		Client:      &http.Client{Timeout: 30 * time.Second},
		Now:         time.Now,
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
	case c.Client == nil || c.Now == nil:
		return errors.New("api: config: Client and Now are required")
	}
	return nil
}

// Server serves one hub node's HTTP API. Create it with New before the
// hub.Server (its Forward method goes into hub.Config.Forward), then
// attach the node with SetNode. Safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	nodeM sync.RWMutex
	node  *hub.Server
	peers *peers
	met   *metrics

	edgesMu sync.Mutex
	edges   map[string]edgeInfo // edges that pushed to this node
}

type edgeInfo struct {
	seq  uint64
	last time.Time
}

// New returns a Server; it serves 503 on everything but /healthz and
// /metrics until SetNode.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), edges: map[string]edgeInfo{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.peers = newPeers(cfg.NodeID, cfg.HTTPURL)
	s.met = newMetrics(s)
	s.routes()
	return s, nil
}

// SetNode attaches the hub node the API serves.
func (s *Server) SetNode(n *hub.Server) {
	s.nodeM.Lock()
	s.node = n
	s.nodeM.Unlock()
}

func (s *Server) hub() (*hub.Server, error) {
	s.nodeM.RLock()
	defer s.nodeM.RUnlock()
	if s.node == nil {
		return nil, ErrNoLeader
	}
	return s.node, nil
}

// Registry returns the Prometheus registry /metrics serves, so the
// caller can add collectors.
func (s *Server) Registry() *prometheus.Registry { return s.met.reg }

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
// operators'; each opens only its own routes (see 0008 "Roles").
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

// readBody reads at most limit bytes.
func readBody(r *http.Request, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, errors.Join(ErrBadRequest, err)
	}
	if len(b) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) error {
	n, err := s.hub()
	if err != nil {
		return err
	}
	if id, _ := n.Leader(); id == "" {
		return ErrNoLeader
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
