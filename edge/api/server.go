package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"ucv/crdt"
	"ucv/edge/store"
	"ucv/profile"
	"ucv/profile/catalog"
)

// Store is what the API needs of the edge replica; *store.Store
// implements it. Implementations must be safe for concurrent use. Views
// returned by lookups are owned by the caller.
type Store interface {
	// AppendWithin stores events atomically and returns once they are
	// durable (in the store's write-ahead log), or
	// context.DeadlineExceeded after waiting d; reads started afterwards
	// see them.
	AppendWithin(d time.Duration, evs []store.Event) error
	// LookupID returns the pre-rendered view of a profile by ID,
	// following redirects; store.ErrNotFound if none.
	LookupID(id string) (store.View, error)
	// LookupIdentifier returns the view of the profile holding a
	// normalized identifier; store.ErrNotFound if none.
	LookupIdentifier(id profile.Identifier) (store.View, error)
	// Profile returns the decoded profile (following redirects).
	Profile(id string) (*profile.Profile, error)
	// CachedIdentifierHolders and CachedID return a profile's view from
	// the store's memory, shared and immutable, without allocating; ok
	// false means ask LookupIdentifier or LookupID (see store.Store). The
	// former also says how many profiles hold the identifier when two or
	// more do (0 otherwise), as IdentifierHolders does alone; HoldersOf
	// lists them in ID order.
	CachedIdentifierHolders(key []byte) (*store.Cached, int, bool)
	IdentifierHolders(key []byte) int
	HoldersOf(id profile.Identifier, limit int) ([]string, bool, error)
	CachedID(id []byte) (*store.Cached, bool)
	// ResolveIdentifier returns the canonical profile ID holding id.
	ResolveIdentifier(id profile.Identifier) (string, error)
	// Stats returns gauges; an error means the store is not usable.
	Stats() (store.Stats, error)
	// CommittedStats returns the gauges without waiting for
	// acknowledged events to be applied (what /metrics reads).
	CommittedStats() (store.Stats, error)
	// Serving returns nil while the store is open, at once.
	Serving() error
	// Writable returns nil while writes succeed and the latest write's
	// storage error (store.ErrStorageFull, store.ErrNotWritable) while
	// the file system refuses them. It does no I/O.
	Writable() error
	// ProbeWrite commits a small write and returns its error, updating
	// Writable.
	ProbeWrite() error
	// Node returns the store's HLC node ID.
	Node() crdt.ReplicaID
	// HubSyncedAt returns the last hub sync; zero if never.
	HubSyncedAt() time.Time
	// Catalog returns the definitions in force (never nil).
	Catalog() *catalog.Compiled
	// Decision returns the decision stored with a profile's view
	// (store.Store.Decision).
	Decision(id string, ident profile.Identifier, byID bool, placement string, limit int) (d store.Decided, found, stored bool, err error)
	// Changes returns the change stream after a sequence (see
	// store.Store.Changes).
	Changes(after uint64, limit int) (cs []store.Change, next uint64, reset bool, wake <-chan struct{})
}

var _ Store = (*store.Store)(nil)

// Server serves the edge API over fasthttp. Create it with New, run it
// with Serve, stop it with Shutdown. It is safe for concurrent use.
type Server struct {
	cfg      Config
	st       Store
	log      *slog.Logger
	srv      *fasthttp.Server
	m        *metrics
	recs     recCache // the decoded recommendations model (recommendations.go)
	draining atomic.Bool
	// replicaNode is `"replica":{"node":<quoted name>,` for lookup tails.
	replicaNode []byte
	// eventTooLarge and batchTooLarge answer bodies over the limits.
	eventTooLarge, batchTooLarge error
	// corsAny: CORSOrigins holds "*"; else corsOrigins are the allowed
	// origins, normalized.
	corsAny     bool
	corsOrigins map[string]bool
	// addr is the listener's address once Serve runs: the settings
	// endpoint's apiHost when PublicURL is empty.
	addr atomic.Pointer[string]
	// probing is set while /readyz probes whether writes work again.
	probing atomic.Bool
	// readKeys are the read keys by their secret's hash; empty means
	// reads are open. writeBuckets limit each write key (nil map: no
	// limit). Both are built by New and only read after.
	readKeys     map[secretHash]*readKey
	writeBuckets map[string]*bucket
	// heads holds the open connections' headConns by remote address.
	heads sync.Map
	// timeouts enforces ReadTimeout, WriteTimeout and IdleTimeout on
	// them (conntimeout.go).
	timeouts *connTimeouts
	// stop is closed by Shutdown: open streams end (stream.go).
	stop     chan struct{}
	stopOnce sync.Once
}

// New returns a Server for st. It validates cfg and does no I/O.
func New(st Store, cfg Config) (*Server, error) {
	if st == nil {
		return nil, errors.New("api: nil store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys := make(map[string]string, len(cfg.WriteKeys))
	for k, v := range cfg.WriteKeys {
		keys[k] = v
	}
	cfg.WriteKeys = keys
	s := &Server{cfg: cfg, st: st, log: cfg.Logger, stop: make(chan struct{}),
		timeouts: newConnTimeouts(cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	name, _ := json.Marshal(cfg.NodeName)
	s.replicaNode = append(append([]byte(`"replica":{"node":`), name...), ',')
	s.corsOrigins = map[string]bool{}
	for _, o := range cfg.CORSOrigins {
		o, _ = normalizeOrigin(o) // Validate checked it
		s.corsAny = s.corsAny || o == "*"
		s.corsOrigins[o] = true
	}
	s.readKeys = make(map[secretHash]*readKey, len(cfg.ReadKeys))
	for _, k := range cfg.ReadKeys {
		s.readKeys[hashSecret(k.Secret)] = &readKey{name: k.Name, scopes: slices.Clone(k.Scopes), bucket: newBucket(cfg.ReadKeyRate, cfg.ReadKeyBurst)}
	}
	s.cfg.ReadKeys = nil // the secrets live on only as hashes
	if cfg.WriteKeyRate > 0 {
		s.writeBuckets = make(map[string]*bucket, len(keys))
		for k := range keys {
			s.writeBuckets[k] = newBucket(cfg.WriteKeyRate, cfg.WriteKeyBurst)
		}
	}
	s.m = newMetrics(st, cfg.Collectors...)
	if cfg.InsecureOpenReads {
		s.m.insecureOpenReads.Set(1)
	}
	s.eventTooLarge = errorf(ErrTooLarge, fmt.Sprintf("body: exceeds the limit of %d bytes", cfg.MaxEventBytes))
	s.batchTooLarge = errorf(ErrTooLarge, fmt.Sprintf("body: exceeds the limit of %d bytes", cfg.MaxBatchBytes))
	s.srv = &fasthttp.Server{
		Handler:      s.handle,
		ErrorHandler: s.handleConnError,
		Name:         "ucv-edge",
		// Bodies up to 4× the batch limit are read and answered with a
		// clean JSON 413 by the handler; refusing them mid-upload would
		// reset the connection under a client still writing. Beyond
		// that, fasthttp cuts the connection (handleConnError).
		MaxRequestBodySize: 4 * cfg.MaxBatchBytes,
		// The read buffer bounds the request line and headers: fasthttp's
		// 4 KiB default lost analytics.js events on sites with big
		// cookies. Beyond it, handleConnError answers 414 or 431.
		ReadBufferSize: cfg.MaxHeaderBytes,
		// ReadTimeout, WriteTimeout and IdleTimeout are enforced by the
		// connections' sweeper (conntimeout.go), not by a deadline per
		// request; nothing here reads the request time (ctx.Time), so it
		// is not read per request either.
		LazyRequestTime:      true,
		Concurrency:          cfg.Concurrency,
		MaxConnsPerIP:        cfg.MaxConnsPerIP,
		NoDefaultContentType: true,
		CloseOnShutdown:      true,
		Logger:               fasthttpLogger{s.log},
	}
	return s, nil
}

// Serve accepts connections on ln until Shutdown; it returns nil after
// Shutdown and any other accept error otherwise. The caller owns ln's
// address; Shutdown closes ln. A Server serves once: the connections'
// timeouts stop being enforced when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	addr := Advertised(ln.Addr())
	s.addr.Store(&addr)
	go s.timeouts.sweep(&s.heads)
	defer s.timeouts.close()
	if err := s.srv.Serve(headListener{Listener: ln, heads: &s.heads, timeouts: s.timeouts}); err != nil {
		return fmt.Errorf("api: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections, marks the server not ready, and
// waits until in-flight requests are answered or ctx ends (then it
// returns ctx's error). It does not close the store: the caller does,
// after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.stopOnce.Do(func() { close(s.stop) })
	if err := s.srv.ShutdownWithContext(ctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// Advertised is the host:port browsers can reach a listener on: its
// address, with a wildcard IP (0.0.0.0, ::) replaced by the host name.
func Advertised(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// Route labels (also the metric label "route"). Path parameters are
// never part of a label.
const (
	routeHealthz  = "/healthz"
	routeReadyz   = "/readyz"
	routeMetrics  = "/metrics"
	routeBatch    = "/v1/batch"
	routeSettings = "/v1/projects/{writeKey}/settings"
	routeProfile  = "/v1/profiles/{ref}"
	routeOther    = "other"
)

// The methods each kind of route serves (the Allow header of a 405).
// OPTIONS is answered only where browsers need CORS preflights.
const (
	allowRead     = "GET, HEAD"
	allowIngest   = "POST, OPTIONS"
	allowSettings = "GET, HEAD, OPTIONS"
)

// ingestRoutes maps ingest paths to the message kind they imply and
// their route label. The one-letter aliases are what analytics.js
// (analytics-next) posts to.
var ingestRoutes = func() map[string]ingestRoute {
	m := map[string]ingestRoute{}
	for _, k := range []profile.Kind{profile.Identify, profile.Track, profile.Page, profile.Screen, profile.Group, profile.Alias} {
		r := ingestRoute{kind: k, label: "/v1/" + string(k)}
		m[r.label] = r
		m["/v1/"+string(k)[:1]] = r
	}
	return m
}()

type ingestRoute struct {
	kind  profile.Kind
	label string
}

// handle is the fasthttp handler: it routes, answers, and records the
// request's metrics. ctx is pooled by fasthttp; nothing here keeps it.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	s.m.inFlight.Inc()
	route, err := s.route(ctx)
	if err != nil {
		s.writeError(ctx, route, err)
	}
	s.m.inFlight.Dec()
	s.m.observe(route, ctx.Response.StatusCode(), time.Since(start))
}

// route dispatches on the raw path and returns the route label.
func (s *Server) route(ctx *fasthttp.RequestCtx) (string, error) {
	path := ctx.URI().PathOriginal()
	switch string(path) {
	case routeHealthz:
		return routeHealthz, s.healthz(ctx)
	case routeReadyz:
		return routeReadyz, s.readyz(ctx)
	case routeMetrics:
		if !ctx.IsGet() && !ctx.IsHead() {
			return routeMetrics, methodNotAllowed(allowRead)
		}
		s.m.handler(ctx)
		return routeMetrics, nil
	case "/v1/batch", "/v1/b", "/v1/import":
		return routeBatch, s.ingest(ctx, "", true)
	case routeStream:
		return routeStream, s.stream(ctx)
	}
	if r, ok := ingestRoutes[string(path)]; ok {
		return r.label, s.ingest(ctx, r.kind, false)
	}
	if rest, ok := bytes.CutPrefix(path, []byte("/v1/profiles/")); ok {
		return s.profileRoute(ctx, rest)
	}
	if rest, ok := bytes.CutPrefix(path, []byte("/v1/decide/")); ok && len(rest) > 0 && bytes.IndexByte(rest, '/') < 0 {
		return routeDecide, s.decide(ctx, rest)
	}
	if rest, ok := bytes.CutPrefix(path, []byte("/v1/projects/")); ok {
		if key, ok := bytes.CutSuffix(rest, []byte("/settings")); ok && len(key) > 0 && bytes.IndexByte(key, '/') < 0 {
			return routeSettings, s.settings(ctx, key)
		}
	}
	return routeOther, ErrNoRoute
}

func (s *Server) healthz(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return methodNotAllowed(allowRead)
	}
	s.writeJSONBytes(ctx, fasthttp.StatusOK, []byte(`{"status":"ok"}`))
	return nil
}

// readyz answers 200 while the store is open and takes writes and the
// server is not shutting down, 503 otherwise. After a write the file
// system refused (full, read-only), it probes with a small write, so the
// edge turns ready again once the disk has room, without waiting for
// traffic a not-ready edge does not get.
func (s *Server) readyz(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return methodNotAllowed(allowRead)
	}
	if s.draining.Load() {
		return errorf(ErrUnavailable, "shutting down")
	}
	if err := s.st.Serving(); err != nil { // not Stats: it waits for the applier
		return fmt.Errorf("readyz: %w: %w", ErrUnavailable, err)
	}
	if err := s.st.Writable(); err != nil {
		// One probe at a time; concurrent checks report the last state.
		if s.probing.CompareAndSwap(false, true) {
			err = s.st.ProbeWrite()
			s.probing.Store(false)
		}
		if err != nil {
			// Not ready is 503 whatever the cause; the code says which.
			_, code, msg := errorStatus(err)
			s.writeErrorBody(ctx, routeReadyz, fasthttp.StatusServiceUnavailable, code, msg, err)
			return nil
		}
	}
	s.writeJSONBytes(ctx, fasthttp.StatusOK, []byte(`{"status":"ready"}`))
	return nil
}

// handleConnError answers errors fasthttp meets before the handler runs
// (body over MaxRequestBodySize, request line or headers over the read
// buffer, read timeout, malformed request).
func (s *Server) handleConnError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		err = s.batchTooLarge
	case errors.As(err, &small):
		limit := fmt.Sprintf("%d bytes", s.cfg.MaxHeaderBytes)
		if hc, ok := s.heads.Load(ctx.RemoteAddr().String()); ok && hc.(*headConn).lineOpen(s.cfg.MaxHeaderBytes) {
			err = errorf(ErrURITooLong, "request line: longer than "+limit)
		} else {
			err = errorf(ErrHeadersTooLarge, "request headers: larger than "+limit+" with the request line")
		}
	case errors.As(err, &ne) && ne.Timeout():
		err = errorf(ErrTimeout, fmt.Sprintf("request: not received within %s", s.cfg.ReadTimeout))
	default:
		err = errorf(ErrBadRequest, "malformed HTTP request")
	}
	s.writeError(ctx, routeOther, err)
	s.m.observe(routeOther, ctx.Response.StatusCode(), 0)
}

// writeError answers err as {"error":{"code":…,"message":…}}.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, route string, err error) {
	status, code, msg := errorStatus(err)
	var me *methodError
	if errors.As(err, &me) {
		ctx.Response.Header.Set("Allow", me.allow)
	}
	var rl *rateLimitError
	if errors.As(err, &rl) {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, rl.retryAfter())
	}
	s.writeErrorBody(ctx, route, status, code, msg, err)
}

// writeErrorBody answers status with {"error":{"code":code,"message":msg}}.
// 5xx answers are logged with err (safe: it never holds client values).
func (s *Server) writeErrorBody(ctx *fasthttp.RequestCtx, route string, status int, code, msg string, err error) {
	if status >= 500 {
		s.log.Error("request failed", "route", route, "status", status, "code", code, "err", err)
	}
	body, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: msg}})
	ctx.Response.ResetBody() // keeps CORS headers; success headers are set only on success
	s.writeJSONBytes(ctx, status, body)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// headListener wraps each accepted connection in a headConn, filed in
// heads under its remote address: fasthttp wraps connections again
// (MaxConnsPerIP), so the error handler finds its headConn there rather
// than by a type assertion on ctx.Conn().
type headListener struct {
	net.Listener
	heads    *sync.Map
	timeouts *connTimeouts
}

func (l headListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &headConn{Conn: c, heads: l.heads, key: c.RemoteAddr().String()}
	hc.init(l.timeouts, c)
	l.heads.Store(hc.key, hc)
	if tc, ok := c.(tlsConn); ok {
		return headTLSConn{hc, tc}, nil
	}
	return hc, nil
}

// tlsConn is what fasthttp recognizes as a TLS connection.
type tlsConn interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

// headTLSConn is a headConn over a TLS connection (a listener wrapped by
// tls.NewListener). It stays a TLS connection to fasthttp: a connection
// refused over MaxConnsPerIP or Concurrency is then closed, not written
// to — writing would start the handshake and block the accept loop on a
// client that never sends its hello — and RequestCtx.IsTLS holds.
type headTLSConn struct {
	*headConn
	tls tlsConn
}

func (c headTLSConn) Handshake() error {
	c.handshake(true)
	defer c.handshake(false)
	return c.tls.Handshake()
}
func (c headTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// headConn counts the bytes read since the last newline. When fasthttp's
// read buffer fills before a request head ends (ErrSmallBuffer), the
// buffer holds the last ReadBufferSize bytes read, so the request line
// is still open exactly when no newline came in that many bytes: then
// the URI is too long (414), else the headers are too large (431).
// fasthttp reads a connection and calls the error handler on one
// goroutine, so the counter needs no lock.
type headConn struct {
	net.Conn
	sinceNewline int
	heads        *sync.Map
	key          string
	connTiming   // the phase its timeouts apply to (conntimeout.go)
}

// Close closes the connection and takes it out of heads.
func (c *headConn) Close() error {
	c.heads.CompareAndDelete(c.key, c)
	return c.Conn.Close()
}

// Read reads from the connection. The first read after an answer is
// written — fasthttp reading the client's next request — first lets the
// other runnable goroutines run (docs/decisions/0116-yield-before-read.md).
// A Go read that would block costs a system call answering EAGAIN before
// the goroutine parks on the netpoller, and a client that has only just
// received its answer has rarely sent the next request yet; by the time
// the other connections' requests have been served it usually has, and
// the read finds it. Under load that leaves about 1.3 reads per request
// instead of 2; with nothing else to run, the yield returns at once.
func (c *headConn) Read(b []byte) (int, error) {
	if c.beforeRead() {
		runtime.Gosched()
	}
	n, err := c.Conn.Read(b)
	c.afterRead(n)
	if i := bytes.LastIndexByte(b[:n], '\n'); i >= 0 {
		c.sinceNewline = n - 1 - i
	} else {
		c.sinceNewline += n
	}
	return n, err
}

func (c *headConn) Write(b []byte) (int, error) {
	c.beforeWrite(b)
	defer c.afterWrite()
	return c.Conn.Write(b)
}

// SetWriteDeadline sets the connection's write deadline; a handler that
// does (the live stream) bounds its writes itself until the next request.
func (c *headConn) SetWriteDeadline(t time.Time) error {
	c.ownWriteDeadline()
	return c.Conn.SetWriteDeadline(t)
}

// lineOpen reports whether no newline came in the last bufSize bytes.
func (c *headConn) lineOpen(bufSize int) bool { return c.sinceNewline >= bufSize }

// writeJSONBytes answers with a JSON body (copied into the response).
func (s *Server) writeJSONBytes(ctx *fasthttp.RequestCtx, status int, b []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// fasthttpLogger routes fasthttp's own messages (connection errors) to
// slog at debug level: they are per-connection noise, and every answered
// request is counted in the metrics.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("http connection error", "detail", fmt.Sprintf(format, args...))
	}
}
