package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"ucv/edge/api"
	"ucv/edge/forward"
	"ucv/edge/gossip"
	"ucv/edge/hubsync"
	"ucv/edge/store"
	"ucv/tlsconf"
)

// DataFile is the name of the replica's bbolt file inside Config.DataDir.
const DataFile = "edge.db"

// Config configures a Node. Start from DefaultConfig; New fills the
// fields the parts share (the store's path and node name, the API's node
// name, the logger everywhere) from the top-level ones.
type Config struct {
	// DataDir is the directory of the replica's file (DataFile); New
	// creates it (0700). Required.
	DataDir string
	// HTTPAddr is HOST:PORT for the API; port 0 picks a free port (see
	// Node.URL). Required.
	HTTPAddr string
	// Name is the node's name in lookups, merge records and gossip.
	// Required.
	Name string
	// Recover makes New move a damaged data file aside
	// (DataFile.damaged-<UTC time>) and open an empty replica that the
	// node's peers and hub fill again. Without it a damaged file is an
	// error wrapping *store.FileError.
	Recover bool

	// TLS, when set, serves the API over TLS with its certificate (no
	// client certificate is asked for: the API's keys authenticate
	// callers); URL then starts with https://, and so does the settings
	// endpoint's apiHost when API.PublicURL is empty. Hub.TLS is the
	// client side of the link to the hub. ReloadTLS (SIGHUP) and the
	// Loaders' polls put rotated files in use without a restart.
	TLS *tlsconf.Loader

	// Store configures the replica. Path, NodeName and Logger are set by
	// New; RefetchPositions gains the hub feed's position when Hub is set.
	Store store.Options
	// API configures the HTTP layer. NodeName and Logger are set by New,
	// and the gossip collector is added to Collectors.
	API api.Config
	// Gossip, when not nil, replicates with the store's other edges over
	// memberlist; the member is named Name, and New joins
	// Gossip.Join (a failed join is logged: memberlist keeps trying the
	// members it learns of, and the node is useful alone).
	Gossip *gossip.Config
	// Hub, when not nil, syncs with the hub at Hub.URLs; Hub.Edge defaults
	// to the name of Hub.TLS's client certificate (the edge's identity at
	// the hub; give every edge its own), else to the store's node ID, and
	// Hub.TrimAfter gains gossip's cursor.
	// Without a hub, only gossip reads the outbox, so the node trims it
	// every TrimEvery once gossip (if any) has published each entry: a
	// standalone edge's disk holds its profiles, not every delta it wrote.
	Hub *hubsync.Config
	// Forward, when not nil, forwards every event this node accepts to
	// a Segment-compatible upstream (Forward.URL, Forward.WriteKey): the
	// API queues each in the store's forward outbox with the event, and
	// a forward.Forwarder sends it (docs/decisions/0034-forwarding.md).
	// Forward.Logger defaults to the node's. Events replicated from peers
	// or the hub are not forwarded here: the edge that accepted them does.
	Forward *forward.Config
	// TrimEvery is how often a node without a hub trims its outbox.
	TrimEvery time.Duration
	// InsecureOpenReads lets a node without read keys (API.ReadKeys)
	// listen on an HTTPAddr that is not loopback, where anyone who
	// reaches it can read every profile; the node then logs a warning
	// every OpenReadsWarnEvery and /metrics reports
	// ucv_insecure_open_reads 1. Without it that is refused. A loopback
	// HTTPAddr (127.0.0.0/8, ::1, localhost) needs no read keys, and a
	// dev node (API.DevMode) may listen on loopback only.
	InsecureOpenReads bool
	// OpenReadsWarnEvery is how often InsecureOpenReads's warning
	// repeats (a minute by default).
	OpenReadsWarnEvery time.Duration
	// Logger receives the node's logs; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a configuration with every part's defaults, no
// gossip and no hub.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:           "127.0.0.1:8080",
		Store:              store.DefaultOptions(""),
		API:                api.DefaultConfig(),
		TrimEvery:          time.Second,
		OpenReadsWarnEvery: time.Minute,
	}
}

// Validate reports the first field that New cannot work with.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("edge: config: DataDir is required")
	case c.Name == "":
		return errors.New("edge: config: Name is required")
	case c.TrimEvery <= 0:
		return errors.New("edge: config: TrimEvery must be positive")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("edge: config: HTTPAddr must be HOST:PORT: %w", err)
	}
	ac := c.API // Validate has a pointer receiver; c stays unchanged
	if err := ac.Validate(); err != nil {
		return fmt.Errorf("edge: config: API: %w", err)
	}
	if c.Forward != nil {
		if err := c.Forward.Validate(); err != nil {
			return fmt.Errorf("edge: config: %w", err)
		}
	}
	return c.validateExposure()
}

// Node is a running edge: the replica, its HTTP API, and gossip and hub
// sync when configured. Its methods are safe for concurrent use.
type Node struct {
	log    *slog.Logger
	st     *store.Store
	gossip *gossip.Node
	hub    *hubsync.Client
	fwd    *forward.Forwarder // nil without Config.Forward
	srv    *api.Server
	ln     net.Listener
	tls    []*tlsconf.Loader // the API's and the hub link's, when set
	scheme string            // of URL: http or https
	// stopped closes when Serve returns; serveErr is then its result.
	stopped  chan struct{}
	serveErr error

	// Without a hub: closing trimStop ends the trim loop, which closes
	// trimDone.
	trimStop, trimDone chan struct{}
	// With open reads off loopback: closing warnStop ends the warning
	// loop, which closes warnDone.
	warnStop, warnDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New opens the replica and starts the node: gossip, hub sync (or the
// outbox trim loop), and the HTTP API, already serving when New returns.
// The parts start in dependency order — store, gossip, hub sync, forwarding, API —
// and on an error New stops what it started and returns the error. Call
// Close to stop the node.
func New(cfg Config) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n = &Node{log: log}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err = errors.Join(err, n.close(cctx))
			n = nil
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return n, fmt.Errorf("edge: data dir: %w", err)
	}
	opts := cfg.Store
	opts.Path = filepath.Join(cfg.DataDir, DataFile)
	opts.NodeName = cfg.Name
	opts.Logger = log
	// Only gossip and the hub read the outbox: without them its entries
	// are numbered, not written (decision 0123).
	opts.Unreplicated = cfg.Hub == nil && cfg.Gossip == nil
	if cfg.Hub != nil {
		// A profile whose stored state is found damaged is fetched again
		// from the hub (and from peers by anti-entropy).
		opts.RefetchPositions = append(append([]string(nil), opts.RefetchPositions...), hubsync.FeedCursor)
	}
	if n.st, err = openStore(cfg, opts, log); err != nil {
		return n, err
	}

	acfg := cfg.API
	acfg.NodeName = cfg.Name
	acfg.Logger = log
	acfg.Collectors = slices.Clone(acfg.Collectors)
	acfg.InsecureOpenReads = cfg.openReadsExposed()
	if cfg.Gossip != nil {
		gc := *cfg.Gossip
		if gc.Memberlist != nil {
			ml := *gc.Memberlist // the caller's stays as it was
			ml.Name = cfg.Name
			gc.Memberlist = &ml
		}
		gc.Logger = log
		if n.gossip, err = gossip.New(n.st, gc); err != nil {
			return n, fmt.Errorf("edge: gossip: %w", err)
		}
		if joined, err := n.gossip.Join(gc.Join); err != nil {
			log.Warn("gossip join failed; retrying in the background", "err", err, "joined", joined)
		}
		acfg.Collectors = append(acfg.Collectors, n.gossip.Collector())
		log.Info("gossip started", "gossip_addr", n.gossip.Addr(), "join", len(gc.Join), "encrypted", len(gc.SecretKey) > 0)
	}

	if err := n.startHubSync(cfg); err != nil {
		return n, err
	}
	if cfg.Forward != nil {
		fc := *cfg.Forward
		if fc.Logger == nil {
			fc.Logger = log
		}
		if n.fwd, err = forward.New(n.st, fc); err != nil {
			return n, fmt.Errorf("edge: forward: %w", err)
		}
		n.fwd.Start()
		acfg.Forward = true
		acfg.Collectors = append(acfg.Collectors, n.fwd.Collector())
		log.Info("forwarding started", "url", fc.URL)
	}

	ln, err := n.listen(cfg, &acfg)
	if err != nil {
		return n, err
	}
	if n.srv, err = api.New(n.st, acfg); err != nil {
		ln.Close()
		return n, fmt.Errorf("edge: api: %w", err)
	}
	n.ln = ln
	n.stopped = make(chan struct{})
	go func() {
		n.serveErr = n.srv.Serve(n.ln)
		close(n.stopped)
	}()
	if acfg.InsecureOpenReads {
		n.warnStop, n.warnDone = make(chan struct{}), make(chan struct{})
		go n.warnOpenReads(n.ln.Addr().String(), cfg.OpenReadsWarnEvery)
	}
	log.Info("edge started", "addr", n.ln.Addr().String(), "node", cfg.Name, "data_dir", cfg.DataDir,
		"dev", acfg.DevMode, "write_keys", len(acfg.WriteKeys), "read_keys", len(acfg.ReadKeys), "gossip", n.gossip != nil, "hub", n.hub != nil,
		"tls", cfg.TLS != nil)
	return n, nil
}

// listen opens the API's listener, over TLS with cfg.TLS, and adds the
// TLS metrics of the node's Loaders to acfg.
func (n *Node) listen(cfg Config, acfg *api.Config) (net.Listener, error) {
	n.scheme = "http"
	if cfg.TLS != nil {
		n.tls = append(n.tls, cfg.TLS)
	}
	if cfg.Hub != nil && cfg.Hub.TLS != nil {
		n.tls = append(n.tls, cfg.Hub.TLS)
	}
	if len(n.tls) > 0 {
		acfg.Collectors = append(acfg.Collectors, tlsconf.Collector(n.tls...))
	}
	raw, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("edge: listen: %w", err)
	}
	if cfg.TLS == nil {
		return raw, nil
	}
	ln, err := cfg.TLS.Listener(raw, tlsconf.NoClientCert)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("edge: tls: %w", err)
	}
	n.scheme = "https"
	if acfg.PublicURL == "" {
		acfg.PublicURL = "https://" + api.Advertised(raw.Addr())
	}
	return ln, nil
}

// ReloadTLS reads the node's certificate files again now (cmd calls it on
// SIGHUP): the API's and the hub link's. New connections use the new
// files; on an error the files in use stay and the error says which were
// refused. Without TLS it does nothing.
func (n *Node) ReloadTLS() error {
	var errs []error
	for _, l := range n.tls {
		errs = append(errs, l.Reload())
	}
	return errors.Join(errs...)
}

// startHubSync starts the hub client, or without a hub the trim loop.
func (n *Node) startHubSync(cfg Config) error {
	var readers []string
	if n.gossip != nil {
		readers = []string{gossip.Cursor}
	}
	if cfg.Hub == nil {
		n.trimStop, n.trimDone = make(chan struct{}), make(chan struct{})
		go n.trimLoop(cfg.TrimEvery, readers)
		return nil
	}
	hc := *cfg.Hub
	if hc.Edge == "" && hc.TLS != nil {
		// The hub knows an edge with a client certificate by the
		// certificate's name: the edge pushes under it.
		hc.Edge = hc.TLS.CertName()
	}
	if hc.Edge == "" {
		hc.Edge = fmt.Sprintf("%016x", uint64(n.st.Node()))
	}
	hc.TrimAfter = append(append([]string(nil), hc.TrimAfter...), readers...)
	hc.Logger = n.log
	c, err := hubsync.New(n.st, hc)
	if err != nil {
		return fmt.Errorf("edge: hub sync: %w", err)
	}
	c.Start()
	n.hub = c
	n.log.Info("hub sync started", "hubs", len(hc.URLs), "edge", hc.Edge, "token", hc.Token != "")
	return nil
}

// trimLoop trims the outbox past readers every period, at most 10,000
// entries a transaction (an outbox grown by an older build can hold
// millions), until trimStop closes.
func (n *Node) trimLoop(period time.Duration, readers []string) {
	defer close(n.trimDone)
	const perTx = 10000
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-n.trimStop:
			return
		case <-t.C:
		}
		for {
			trimmed, err := n.st.TrimOutboxFor(perTx, readers...)
			if err != nil {
				n.log.Warn("outbox trim failed", "err", err)
				break
			}
			if trimmed < perTx {
				break
			}
			select {
			case <-n.trimStop:
				return
			default:
			}
		}
	}
}

// openStore opens the replica; with cfg.Recover, a damaged file is moved
// aside and an empty replica opened in its place.
func openStore(cfg Config, opts store.Options, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(opts)
	var fe *store.FileError
	if !errors.As(err, &fe) {
		return st, err
	}
	if !cfg.Recover {
		return nil, fmt.Errorf("%w; this edge is a replica: restart it with --recover to move the file aside and rebuild it from its peers and hub", err)
	}
	aside := fmt.Sprintf("%s.damaged-%s", opts.Path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(opts.Path, aside); err != nil {
		return nil, fmt.Errorf("edge: recover: move the damaged data file aside: %w", err)
	}
	log.Warn("data file damaged: moved it aside and opened an empty replica, which this edge's peers and hub fill again",
		"file", opts.Path, "moved_to", aside, "damage", fe.Reason, "gossip", cfg.Gossip != nil, "hub", cfg.Hub != nil)
	if cfg.Gossip == nil && cfg.Hub == nil {
		log.Warn("recover: this edge has neither peers (gossip) nor a hub: nothing will fill the new replica", "moved_to", aside)
	}
	return store.Open(opts)
}

// URL returns the API's base URL, http://HOST:PORT with the port bound
// (https:// with Config.TLS).
func (n *Node) URL() string { return n.scheme + "://" + n.ln.Addr().String() }

// Store returns the node's replica. It is closed by Close.
func (n *Node) Store() *store.Store { return n.st }

// Gossip returns the node's gossip member, or nil without gossip.
func (n *Node) Gossip() *gossip.Node { return n.gossip }

// Stopped returns a channel that is closed when the HTTP server stops,
// by Close or on its own (Err then says why). A caller waits on it beside
// its own stop signal, then calls Close either way.
func (n *Node) Stopped() <-chan struct{} { return n.stopped }

// Err returns why the HTTP server stopped once Stopped is closed: nil
// after Close, the listener's error otherwise.
func (n *Node) Err() error {
	select {
	case <-n.stopped:
		return n.serveErr
	default:
		return nil
	}
}

// Close stops the node: the API stops accepting and lets in-flight
// requests finish, then forwarding stops (what it has not sent stays
// queued), hub sync makes its last push, gossip leaves, the
// trim loop ends and the store commits what is queued and closes — the
// reverse of the start order, so no part outlives one it uses. ctx bounds
// the whole; when it ends first, Close still closes every part (the
// store's file last) and returns an error wrapping ctx's. Close is
// idempotent: later calls return the first call's result.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() { n.closeErr = n.close(ctx) })
	return n.closeErr
}

// close stops whatever New started; parts not started are nil.
func (n *Node) close(ctx context.Context) error {
	var errs []error
	if n.srv != nil && n.ln != nil {
		errs = append(errs, n.srv.Shutdown(ctx))
		select {
		case <-n.stopped:
			if n.serveErr != nil {
				errs = append(errs, fmt.Errorf("edge: serve: %w", n.serveErr))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("edge: serve: %w", ctx.Err()))
		}
	}
	if n.warnStop != nil {
		close(n.warnStop)
		<-n.warnDone // the loop returns as soon as warnStop closes
	}
	if n.fwd != nil {
		errs = append(errs, n.fwd.Close(ctx))
	}
	if n.hub != nil {
		errs = append(errs, n.hub.Close(ctx))
	}
	if n.gossip != nil {
		errs = append(errs, n.gossip.Close(ctx))
	}
	if n.trimStop != nil {
		close(n.trimStop)
		select {
		case <-n.trimDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("edge: outbox trim: %w", ctx.Err()))
		}
	}
	if n.st != nil {
		errs = append(errs, n.st.Close(ctx))
	}
	return errors.Join(errs...)
}
