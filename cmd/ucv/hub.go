package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"ucv/gcpolicy"
	"ucv/hub"
	"ucv/hub/api"
	"ucv/hub/seal"
	"ucv/tlsconf"
)

// hubConfig is what `ucv hub` runs.
type hubConfig struct {
	dataDir, httpAddr, raftAddr, nodeID string
	// kekFile is the key-encryption key file of the sealed Raft log and
	// snapshots (hub.Config.KEKFile); "": generated in the data dir.
	kekFile               string
	advertiseURL          string
	bootstrap             bool
	join                  string
	syncToken, adminToken string
	logLevel              slog.Level
	shutdownTimeout       time.Duration
	peerInterval          time.Duration
	// modelFitInterval is how often the leader refits the value models
	// (hub.Config.ModelFitInterval); 0 is off.
	modelFitInterval time.Duration
	// retentionInterval is how often the leader sweeps for people the
	// retention policy expired (hub.Config.RetentionInterval); 0 is off.
	retentionInterval time.Duration
	// identityTrainInterval is how often the leader refits the identity
	// model (hub.Config.IdentityTrainInterval); 0 is off.
	identityTrainInterval time.Duration
	// identityTrainMinLabelled is hub.Config.IdentityTrainMinLabelled.
	identityTrainMinLabelled int
	// hotFragments is hub.Config.HotFragments (0 default, -1 none).
	hotFragments int
	// heapFragments is hub.Config.HeapFragments.
	heapFragments bool
	// listener, when set, is the HTTP listener to serve on instead of
	// listening on httpAddr (ucv dev binds it before the edge opens).
	listener net.Listener
	// TLS files ("" when not given); tlsPoll as tlsFiles.poll (tests).
	tlsCert, tlsKey, tlsClientCA string
	tlsPoll                      time.Duration

	// Security (hub_security.go): the tokens file, this node's node
	// token, and whether serving exposed without tokens or TLS is
	// allowed. tls is set when the API serves TLS (the TLS flags).
	tokensFile, nodeToken string
	insecure, tls         bool
	// Abuse limits: rate per token or IP, connection caps; 0 is off.
	rateLimit                          float64
	rateBurst, maxConns, maxConnsPerIP int
	// gc is the garbage collector's policy `ucv hub` applies to its
	// process before it starts (--memory-limit-mb, --gc-percent).
	gc gcpolicy.Policy
	// recsFitInterval is how often the leader refits the
	// recommendations model; 0 is off.
	recsFitInterval time.Duration
}

// hubFlagGroups are the sections of `ucv hub -h`.
var hubFlagGroups = []flagGroup{
	{"HTTP options", []string{"http-addr", "advertise-url"},
		"ucv hub --http-addr 0.0.0.0:8300 --advertise-url https://hub-1.example:8300"},
	{"Storage options", []string{"data-dir", "kek-file"},
		"ucv hub --data-dir /var/lib/ucv-hub --kek-file /etc/ucv/hub-kek   # a KEK: head -c 32 /dev/urandom | base64"},
	{"Cluster options (Raft)", []string{"node-id", "raft-addr", "bootstrap", "join", "peer-interval"},
		"ucv hub --node-id hub-2 --raft-addr 10.0.1.2:8301 --join https://hub-1.example:8300"},
	{"Security options", []string{"tokens-file", "node-token", "node-token-file", "sync-token", "sync-token-file",
		"admin-token", "admin-token-file", "insecure"},
		"ucv hub --tokens-file /etc/ucv/hub-tokens --node-token-file /etc/ucv/node-token"},
	{"Abuse limits", []string{"rate-limit", "rate-burst", "max-conns", "max-conns-per-ip"},
		"ucv hub --rate-limit 200 --rate-burst 400 --max-conns 4096 --max-conns-per-ip 256"},
	{"TLS options (ucv tls creates a CA and certificates)", []string{"tls-cert", "tls-key", "tls-client-ca"},
		"ucv hub --tls-cert tls/hub-1.pem --tls-key tls/hub-1-key.pem --tls-client-ca tls/ca.pem"},
	{"Recommendations", []string{"recommendations-fit-interval"},
		"ucv hub --recommendations-fit-interval 6h   (0 = only on POST /v1/admin/models/recommendations/fit)"},
	{"Operation options", []string{"log-level", "shutdown-timeout"},
		"ucv hub --log-level debug --shutdown-timeout 30s"},
	{"Memory options", []string{"memory-limit-mb", "gc-percent", "hot-fragments", "heap-fragments", "procs"},
		"ucv hub --memory-limit-mb 16384 --gc-percent 400 --hot-fragments 200000   (default: 90 % of the cgroup's or machine's memory, 400, 65536)"},
	{"Model options (customer value, RFM)", []string{"model-fit-interval"},
		"ucv hub --model-fit-interval 6h"},
	{"Identity model (self-training)", []string{"identity-train-interval", "identity-train-min-decisions"},
		"ucv hub --identity-train-interval 6h   (0 = keep the installed or untrained model)"},
	{"Privacy options", []string{"retention-interval"},
		"ucv hub --retention-interval 15m   (erases people the catalog's retention policy expired)"},
}

// runHub implements `ucv hub`: one node of the Raft-replicated hub.
func runHub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseHubFlags(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	gc, err := applyGC(cfg.gc)
	if err != nil {
		return err
	}
	logGC(slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel})), gc)
	return runHubNode(ctx, cfg, stdout, stderr)
}

func parseHubFlags(args []string, getenv func(string) string, stderr io.Writer) (hubConfig, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "hub"
	}
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), edgeUsage, "hub", "Runs one hub node: a Raft member holding the authoritative identity graph,\nthe sync endpoints edges push to and pull from, and the admin API.\nStart the first node with --bootstrap, the others with --join.")
		printFlagGroups(fs.Output(), fs, hubFlagGroups)
	}
	var cfg hubConfig
	fs.StringVar(&cfg.dataDir, "data-dir", env("UCV_DATA_DIR", ""), "directory of the Raft log and snapshots [UCV_DATA_DIR]")
	fs.StringVar(&cfg.kekFile, "kek-file", env("UCV_KEK_FILE", ""), kekFileUsage+" [UCV_KEK_FILE]")
	fs.StringVar(&cfg.httpAddr, "http-addr", env("UCV_HTTP_ADDR", "127.0.0.1:8300"), "HOST:PORT of the HTTP API; port 0 picks a free one [UCV_HTTP_ADDR]")
	fs.StringVar(&cfg.raftAddr, "raft-addr", env("UCV_RAFT_ADDR", "127.0.0.1:8301"), "HOST:PORT Raft binds and advertises; port 0 picks a free one [UCV_RAFT_ADDR]")
	fs.StringVar(&cfg.nodeID, "node-id", env("UCV_NODE_ID", host), "this node's Raft ID, unique and stable [UCV_NODE_ID]")
	fs.StringVar(&cfg.advertiseURL, "advertise-url", env("UCV_ADVERTISE_URL", ""), "URL other hub nodes reach this API at; default http://<listener> [UCV_ADVERTISE_URL]")
	fs.BoolVar(&cfg.bootstrap, "bootstrap", env("UCV_BOOTSTRAP", "") == "true", "form a new cluster of this node when it has no Raft state [UCV_BOOTSTRAP]")
	fs.StringVar(&cfg.join, "join", env("UCV_HUB_JOIN", ""), "HTTP URL of a hub node to join through [UCV_HUB_JOIN]")
	secrets := hubSecurityFlags(fs, &cfg, env, getenv)
	level := fs.String("log-level", env("UCV_LOG_LEVEL", "info"), "debug, info, warn or error [UCV_LOG_LEVEL]")
	shutdown := fs.String("shutdown-timeout", env("UCV_SHUTDOWN_TIMEOUT", "15s"), "how long shutdown waits for in-flight requests and Raft, a `DURATION` [UCV_SHUTDOWN_TIMEOUT]")
	peers := fs.String("peer-interval", env("UCV_PEER_INTERVAL", "2s"), "how often to exchange HTTP addresses with the other hub nodes, a `DURATION` [UCV_PEER_INTERVAL]")
	recsFit := fs.String("recommendations-fit-interval", env("UCV_RECOMMENDATIONS_FIT_INTERVAL", "24h"), "how often the leader refits the recommendations model over every profile's orders, a `DURATION`; 0 turns the schedule off [UCV_RECOMMENDATIONS_FIT_INTERVAL]")
	retainEvery := fs.String("retention-interval", env("UCV_RETENTION_INTERVAL", "1h"), "how often the leader erases the people the catalog's retention policy expired (inactive or anonymous too long; system-initiated privacy requests), a `DURATION`; 0 turns the sweep off [UCV_RETENTION_INTERVAL]")
	fitEvery := fs.String("model-fit-interval", env("UCV_MODEL_FIT_INTERVAL", "24h"), "how often the leader refits the customer-value and RFM models over every profile, a `DURATION`; 0 turns the schedule off (POST /v1/admin/models/{clv,rfm}/fit still fits) [UCV_MODEL_FIT_INTERVAL]")
	trainEvery := fs.String("identity-train-interval", env("UCV_IDENTITY_TRAIN_INTERVAL", "1h"), "how often the leader refits the identity model by EM on the hub's records and installs it when a held-back check finds it no worse than the model in use (also when the records grew by a quarter), a `DURATION`; 0 turns self-training off [UCV_IDENTITY_TRAIN_INTERVAL]")
	gcf := addGCFlags(fs, env, "90 % of the cgroup's memory limit or of the machine's memory (docs/decisions/0055-hub-gc-policy.md)",
		"the CPUs the process may use")
	hot := fs.String("hot-fragments", env("UCV_HOT_FRAGMENTS", "0"), "how many of the most recently changed fragments (source profiles) stay decoded in memory (~3 KB each for a typical person, more with long timelines); the others are kept encoded (~350 bytes) and decoded when read or changed; 0: 65536, -1: none [UCV_HOT_FRAGMENTS]")
	fs.BoolVar(&cfg.heapFragments, "heap-fragments", env("UCV_HEAP_FRAGMENTS", "") == "true", "keep the cold fragments' encodings on the Go heap instead of in a memory-mapped scratch file in --data-dir that the kernel pages in and out (docs/decisions/0066-hub-fragments-off-the-heap.md) [UCV_HEAP_FRAGMENTS]")
	trainMinDecisions := fs.String("identity-train-min-decisions", env("UCV_IDENTITY_TRAIN_MIN_DECISIONS", "0"), "install a self-trained identity model only once it was checked against at least `N` steward decisions (merges, unmerges, reviews); 0: the held-back likelihood check alone may install [UCV_IDENTITY_TRAIN_MIN_DECISIONS]")
	fs.StringVar(&cfg.tlsCert, "tls-cert", env("UCV_TLS_CERT", ""), "serve the API over TLS with this certificate (PEM `FILE`), also presented to the other hub nodes; with --tls-client-ca a hub node's (ucv tls cert create --server --client); read again on SIGHUP and when it changes [UCV_TLS_CERT]")
	fs.StringVar(&cfg.tlsKey, "tls-key", env("UCV_TLS_KEY", ""), "the private key of --tls-cert (PEM `FILE`) [UCV_TLS_KEY]")
	fs.StringVar(&cfg.tlsClientCA, "tls-client-ca", env("UCV_TLS_CLIENT_CA", ""), "CA certificates (PEM `FILE`) of client certificates: the sync routes then require an edge's or a node's, the internal routes and join a node's, and Raft runs over mutual TLS; they also verify the other nodes' servers [UCV_TLS_CLIENT_CA]")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := secrets(); err != nil {
		return cfg, err
	}
	if err := checkKEKFile("--kek-file", cfg.kekFile); err != nil {
		return cfg, err
	}
	d, err := time.ParseDuration(*recsFit)
	if err != nil || d < 0 {
		return cfg, fmt.Errorf("%w: --recommendations-fit-interval must be a duration such as 24h, or 0 for off, not %q", errUsage, *recsFit)
	}
	cfg.recsFitInterval = d
	if d, err := time.ParseDuration(*retainEvery); err != nil || d < 0 {
		return cfg, fmt.Errorf("%w: --retention-interval must be a duration such as 1h, or 0 for off, not %q", errUsage, *retainEvery)
	} else {
		cfg.retentionInterval = d
	}
	if d, err := time.ParseDuration(*trainEvery); err != nil || d < 0 {
		return cfg, fmt.Errorf("%w: --identity-train-interval must be a duration such as 1h, or 0 for off, not %q", errUsage, *trainEvery)
	} else {
		cfg.identityTrainInterval = d
	}
	if n, err := strconv.Atoi(*trainMinDecisions); err != nil || n < 0 {
		return cfg, fmt.Errorf("%w: --identity-train-min-decisions must be a count such as 50, or 0, not %q", errUsage, *trainMinDecisions)
	} else {
		cfg.identityTrainMinLabelled = n
	}
	if cfg.gc, err = gcf.policy(cfg.gc); err != nil {
		return cfg, err
	}
	if n, err := strconv.Atoi(*hot); err != nil || n < -1 {
		return cfg, fmt.Errorf("%w: --hot-fragments must be a count such as 65536, 0 for the default or -1 for none, not %q", errUsage, *hot)
	} else {
		cfg.hotFragments = n
	}
	var errS, errP error
	cfg.shutdownTimeout, errS = time.ParseDuration(*shutdown)
	cfg.peerInterval, errP = time.ParseDuration(*peers)
	fitInterval, errF := time.ParseDuration(*fitEvery)
	cfg.modelFitInterval = fitInterval
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case errS != nil || errP != nil:
		return cfg, fmt.Errorf("%w: --shutdown-timeout and --peer-interval must be durations such as 15s", errUsage)
	case cfg.dataDir == "":
		return cfg, fmt.Errorf("%w: --data-dir (or UCV_DATA_DIR) is required", errUsage)
	case cfg.nodeID == "":
		return cfg, fmt.Errorf("%w: --node-id (or UCV_NODE_ID) is required", errUsage)
	case cfg.bootstrap && cfg.join != "":
		return cfg, fmt.Errorf("%w: --bootstrap and --join exclude each other", errUsage)
	case cfg.join != "" && !strings.HasPrefix(cfg.join, "http://") && !strings.HasPrefix(cfg.join, "https://"):
		return cfg, fmt.Errorf("%w: --join must be an http(s) URL", errUsage)
	case errF != nil || cfg.modelFitInterval < 0:
		return cfg, fmt.Errorf("%w: --model-fit-interval must be a duration such as 24h, or 0 for no schedule", errUsage)
	case cfg.shutdownTimeout <= 0 || cfg.peerInterval <= 0:
		return cfg, fmt.Errorf("%w: --shutdown-timeout and --peer-interval must be positive", errUsage)
	case (cfg.tlsCert == "") != (cfg.tlsKey == ""):
		return cfg, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	case cfg.tlsClientCA != "" && cfg.tlsCert == "":
		return cfg, fmt.Errorf("%w: --tls-client-ca needs --tls-cert and --tls-key", errUsage)
	case cfg.tlsCert != "" && cfg.join != "" && !strings.HasPrefix(cfg.join, "https://"):
		return cfg, fmt.Errorf("%w: --join must be an https URL with --tls-cert", errUsage)
	case cfg.tlsCert != "" && cfg.advertiseURL != "" && !strings.HasPrefix(cfg.advertiseURL, "https://"):
		return cfg, fmt.Errorf("%w: --advertise-url must be an https URL with --tls-cert", errUsage)
	}
	for _, a := range []struct{ flag, v string }{{"--http-addr", cfg.httpAddr}, {"--raft-addr", cfg.raftAddr}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return cfg, fmt.Errorf("%w: %s must be HOST:PORT", errUsage, a.flag)
		}
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("%w: --log-level must be debug, info, warn or error", errUsage)
	}
	return cfg, nil
}

// kekFileUsage is the help of --kek-file (ucv hub, ucv dev).
const kekFileUsage = "`FILE` of the key-encryption key that wraps the keys sealing the hub's Raft log and snapshots (crypto-shredding, docs/decisions/0040-privacy.md): one base64 32-byte key a line (head -c 32 /dev/urandom | base64), the first current, later ones older keys still accepted (rotate: put a new key first, restart every node, then drop the old line); without it a KEK is generated in the data dir (kek, mode 0600), which protects less: it sits beside the data"

// checkKEKFile reads a KEK file given by flag, so a bad one is a usage
// error naming the flag before anything starts; "" is fine.
func checkKEKFile(flag, path string) error {
	if path == "" {
		return nil
	}
	if _, err := seal.ReadKEKFile(path); err != nil {
		return fmt.Errorf("%w: %s: %v", errUsage, flag, err)
	}
	return nil
}

// runHubNode serves the hub until ctx is cancelled, then stops accepting,
// lets in-flight requests finish and shuts Raft down.
func runHubNode(ctx context.Context, cfg hubConfig, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	h, err := startHubNode(cfg, log)
	if err != nil {
		return err
	}
	hup, stopHup := hangups(h.tls != nil)
	defer stopHup()
	fmt.Fprintf(stdout, "ucv hub: node %q serving %s, raft on %s (data in %s)\n", cfg.nodeID, h.url, h.node.RaftAddr(), cfg.dataDir)
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down", "reason", context.Cause(ctx).Error())
			break wait
		case <-h.failed:
			log.Error("server stopped", "err", h.serveErr)
			break wait
		case <-hup:
			reloadTLS(log, h.tls.Reload)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := h.Close(sctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
		return err
	}
	log.Info("hub stopped")
	return nil
}

// hubNode is a running hub node: Raft, its HTTP API and the background
// join and peer exchange. `ucv hub` runs one; `ucv dev` runs one in the
// edge's process.
type hubNode struct {
	url  string
	node *hub.Server
	srv  *http.Server
	tls  *tlsconf.Loader // nil without --tls-cert

	endRequests context.CancelFunc // cancels every request's context
	stopBG      context.CancelFunc
	bgDone      chan struct{}
	served      chan error
	failed      chan struct{} // closed when Serve returns early
	serveErr    error         // set before failed is closed

	closeOnce sync.Once
	closeErr  error
}

// startHubNode listens on cfg.httpAddr, starts Raft and serves the API
// in the background; with cfg.join it keeps asking to join until it is
// a member. Close stops it.
func startHubNode(cfg hubConfig, log *slog.Logger) (*hubNode, error) {
	mtls := cfg.tlsClientCA != ""
	cfg.tls = cfg.tlsCert != ""
	acfg := api.DefaultConfig()
	if err := hubSecurity(cfg, &acfg, log); err != nil {
		return nil, err
	}
	var tl *tlsconf.Loader
	if cfg.tlsCert != "" {
		f := tlsFiles{cert: cfg.tlsCert, key: cfg.tlsKey, ca: cfg.tlsClientCA, certFlag: "tls-cert", caFlag: "tls-client-ca", node: mtls, poll: cfg.tlsPoll}
		var err error
		if tl, err = f.load(log); err != nil {
			return nil, err
		}
		if !mtls {
			log.Warn("--tls-cert without --tls-client-ca: Raft between hub nodes runs in clear and unauthenticated; give --tls-client-ca to run it over mutual TLS")
		}
	}
	ln, err := cfg.listener, error(nil)
	if ln == nil {
		ln, err = net.Listen("tcp", cfg.httpAddr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := checkHubExposure(cfg, ln.Addr(), acfg, log); err != nil {
		ln.Close()
		return nil, err
	}
	scheme := "http://"
	if tl != nil {
		scheme = "https://"
	}
	url := cfg.advertiseURL
	if url == "" {
		url = scheme + ln.Addr().String()
	}
	acfg.NodeID, acfg.HTTPURL = cfg.nodeID, url
	acfg.Logger = log
	if tl != nil {
		// Forwarding, joins and the peer exchange go over TLS, presenting
		// this node's certificate.
		acfg.Client = &http.Client{Timeout: acfg.Client.Timeout, Transport: tl.Transport()}
		acfg.ClientCerts = mtls
	}
	// Peers first: the node forwards through it, and the API serves the
	// node.
	peers, err := api.NewPeers(acfg)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	hc := hub.DefaultConfig()
	hc.NodeID, hc.DataDir, hc.RaftAddr, hc.Bootstrap = cfg.nodeID, cfg.dataDir, cfg.raftAddr, cfg.bootstrap
	hc.KEKFile = cfg.kekFile
	hc.ModelFitInterval = cfg.modelFitInterval
	hc.RetentionInterval = cfg.retentionInterval
	hc.IdentityTrainInterval = cfg.identityTrainInterval
	hc.IdentityTrainMinLabelled = cfg.identityTrainMinLabelled
	hc.HotFragments = cfg.hotFragments
	hc.HeapFragments = cfg.heapFragments
	hc.Forward = peers.Forward
	hc.Logger = log
	if mtls {
		hc.RaftTLS = tl
	}
	node, err := hub.New(hc)
	if err != nil {
		ln.Close()
		return nil, err
	}
	as, err := api.New(acfg, node, peers)
	if err != nil {
		ln.Close()
		return nil, errors.Join(err, node.Close(context.Background()))
	}
	// Requests see reqCtx, cancelled when shutdown starts, so long-polls
	// end at once instead of holding Shutdown for their whole wait.
	if tl != nil {
		as.Registry().Register(tlsconf.Collector(tl))
	}
	reqCtx, endRequests := context.WithCancel(context.Background())
	h := &hubNode{url: url, node: node, tls: tl, endRequests: endRequests, srv: as.HTTPServer(reqCtx),
		bgDone: make(chan struct{}), served: make(chan error, 1), failed: make(chan struct{})}
	// The connection caps go under TLS: a refused connection costs no
	// handshake, and net/http sees the *tls.Conn it reads client
	// certificates from.
	served := as.Listener(ln)
	if tl != nil {
		auth := tlsconf.NoClientCert
		if mtls {
			// Asked for, verified when given, required by route (hub/api):
			// operators reach the admin API with a token alone.
			auth = tlsconf.VerifyClientCertIfGiven
		}
		if served, err = tl.Listener(served, auth); err != nil {
			ln.Close()
			endRequests()
			return nil, errors.Join(fmt.Errorf("tls: %w", err), node.Close(context.Background()))
		}
	}
	go func() {
		err := h.srv.Serve(served)
		if !errors.Is(err, http.ErrServerClosed) {
			h.serveErr = err
			close(h.failed)
		}
		h.served <- err
	}()
	log.Info("hub started", "addr", ln.Addr().String(), "raft_addr", node.RaftAddr(), "node", cfg.nodeID,
		"data_dir", cfg.dataDir, "bootstrap", cfg.bootstrap, "version", version, "tls", tl != nil, "mtls", mtls)

	if ms, err := node.Members(); err == nil && len(ms) == 0 && !cfg.bootstrap && cfg.join == "" {
		log.Warn("waiting to be joined: this node has no Raft state and was started with neither --bootstrap nor --join; it serves no data until a member adds it (POST /v1/admin/join on a member, or restart it with --join URL)",
			"node", cfg.nodeID, "raft_addr", node.RaftAddr())
	}

	bg, stopBG := context.WithCancel(context.Background())
	h.stopBG = stopBG
	go func() {
		defer close(h.bgDone)
		recsDone := make(chan struct{})
		go func() {
			defer close(recsDone)
			node.RecommendationsLoop(bg, cfg.recsFitInterval)
		}()
		defer func() { <-recsDone }()
		if cfg.join != "" {
			if err := peers.Join(bg, cfg.join, node.RaftAddr()); err != nil {
				log.Info("stopped joining: shutting down", "err", err) // Join ends only when bg does
			}
		}
		t := time.NewTicker(cfg.peerInterval)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
				if err := peers.Exchange(bg); err != nil {
					log.Debug("peer exchange", "err", err)
				}
			}
		}
	}()
	return h, nil
}

// Close stops the background work, ends waiting requests, shuts the HTTP
// server down (ctx bounds the wait) and then Raft. It is idempotent and
// returns every error.
func (h *hubNode) Close(ctx context.Context) error {
	h.closeOnce.Do(func() {
		h.stopBG()
		<-h.bgDone
		h.endRequests()
		shutErr := h.srv.Shutdown(ctx)
		serveErr := <-h.served
		if errors.Is(serveErr, http.ErrServerClosed) {
			serveErr = nil
		}
		h.closeErr = errors.Join(serveErr, shutErr, h.node.Close(ctx))
	})
	return h.closeErr
}
