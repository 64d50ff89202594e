package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"ucv/hub"
	"ucv/hub/token"
	"ucv/metric"
)

// Config configures a Server (and the Peers built before it). Start
// from DefaultConfig.
type Config struct {
	// NodeID is this hub node's Raft ID and HTTPURL the base URL other
	// nodes reach its API at (http://host:port).
	NodeID  string
	HTTPURL string
	// Tokens are the tokens of the tokens file (`ucv hub --tokens-file`):
	// each a name, a role and a bcrypt hash; nil for none. The role
	// matrix (RoleMatrix) says which routes each role opens. The Set
	// must not change once the Server runs.
	Tokens *token.Set
	// SyncToken and AdminToken are development shortcuts: secrets given
	// as is that act as a shared sync token (named "sync", bound to no
	// edge) and a shared admin token (named "admin"); they must differ.
	// A hub with neither these nor Tokens is open: every route serves
	// anyone (loopback and dev only: cmd refuses otherwise).
	SyncToken  string
	AdminToken string
	// ClientCerts is set when the caller serves the API through a
	// tlsconf listener that verifies the client certificates given
	// (tlsconf.VerifyClientCertIfGiven; `ucv hub --tls-client-ca`): the
	// sync routes then require a certificate of the CA (an edge's or a
	// hub node's), the internal routes and join a hub node's, on top of
	// their tokens; other routes go by token alone (cert.go).
	ClientCerts bool
	// NodeToken is the secret this node presents to the other hub nodes
	// (commands forwarded to the leader, the peer exchange, its join): a
	// node token of their tokens file. Empty: the shortcuts, SyncToken
	// for sync batches and the peer exchange, AdminToken for the rest.
	NodeToken string
	// RateLimit is the sustained number of requests a second one token
	// may make, RateBurst how many it may make at once; anonymous
	// requests, the shared shortcuts and failed authentications count
	// per client IP instead, node tokens not at all. Over the limit the
	// answer is 429 with Retry-After. RateLimit 0 turns limiting off.
	RateLimit float64
	RateBurst int
	// MaxConns caps the connections open at once, MaxConnsPerIP those
	// from one client IP (Listener); 0 leaves a cap off.
	MaxConns      int
	MaxConnsPerIP int
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
	// Now is the clock (edge lag in status, rate-limit refills).
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
		RateLimit:          200,
		RateBurst:          400,
		MaxConns:           4096,
		MaxConnsPerIP:      256,
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
	case c.RateLimit < 0 || (c.RateLimit > 0 && c.RateBurst < 1):
		return errors.New("api: config: RateLimit must not be negative, and RateBurst at least 1 when it is set")
	case c.MaxConns < 0 || c.MaxConnsPerIP < 0:
		return errors.New("api: config: MaxConns and MaxConnsPerIP must not be negative")
	case c.SyncToken != "" && c.SyncToken == c.AdminToken:
		return errors.New("api: config: SyncToken and AdminToken must differ (an edge holding it would be admin)")
	}
	return nil
}

// Server serves one hub node's HTTP API. Build Peers first (its Forward
// goes into hub.Config.Forward), then the hub.Server, then New. Safe for
// concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	mux       *http.ServeMux
	node      *hub.Server
	peers     *Peers
	met       *metrics
	shortcuts *token.Set // SyncToken, AdminToken
	rate      *limiter   // nil: no rate limit

	edgesMu sync.Mutex
	edges   map[string]edgeInfo // edges that pushed to this node
}

type edgeInfo struct {
	seq  uint64
	last time.Time // last push; zero: none to this node
	// sync is the edge's last sync call to this node: a push or the
	// privacy step every pull starts with (an edge that only reads
	// makes no push, and an erasure waits for it all the same).
	sync time.Time
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
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), node: node, peers: peers, edges: map[string]edgeInfo{},
		shortcuts: token.New()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, sc := range []struct {
		name, secret string
		role         token.Role
	}{{"sync", cfg.SyncToken, token.Sync}, {"admin", cfg.AdminToken, token.Admin}} {
		if sc.secret == "" {
			continue
		}
		if err := s.shortcuts.AddShared(sc.name, sc.role, sc.secret); err != nil {
			return nil, fmt.Errorf("api: config: %w", err)
		}
	}
	if cfg.RateLimit > 0 {
		s.rate = newLimiter(cfg.RateLimit, cfg.RateBurst, cfg.Now)
	}
	s.met = newMetrics(s)
	s.routes()
	return s, nil
}

// HTTPServer returns an http.Server that serves s with the configured
// timeouts; serve it on Listener(ln) for the connection caps. Every request's context derives from base: cancel it when
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
