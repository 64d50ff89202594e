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
	"strings"
	"sync"
	"time"

	"ucv/hub"
	"ucv/hub/api"
)

// hubConfig is what `ucv hub` runs.
type hubConfig struct {
	dataDir, httpAddr, raftAddr, nodeID string
	advertiseURL                        string
	bootstrap                           bool
	join                                string
	syncToken, adminToken               string
	logLevel                            slog.Level
	shutdownTimeout                     time.Duration
	peerInterval                        time.Duration
	// listener, when set, is the HTTP listener to serve on instead of
	// listening on httpAddr (ucv dev binds it before the edge opens).
	listener net.Listener

	// Security (hub_security.go): the tokens file, this node's node
	// token, and whether serving exposed without tokens or TLS is
	// allowed. tls is set when the API serves TLS (the TLS flags).
	tokensFile, nodeToken string
	insecure, tls         bool
	// Abuse limits: rate per token or IP, connection caps; 0 is off.
	rateLimit                          float64
	rateBurst, maxConns, maxConnsPerIP int
}

// hubFlagGroups are the sections of `ucv hub -h`.
var hubFlagGroups = []flagGroup{
	{"HTTP options", []string{"http-addr", "advertise-url"},
		"ucv hub --http-addr 0.0.0.0:8300 --advertise-url https://hub-1.example:8300"},
	{"Storage options", []string{"data-dir"},
		"ucv hub --data-dir /var/lib/ucv-hub"},
	{"Cluster options (Raft)", []string{"node-id", "raft-addr", "bootstrap", "join", "peer-interval"},
		"ucv hub --node-id hub-2 --raft-addr 10.0.1.2:8301 --join https://hub-1.example:8300"},
	{"Security options", []string{"tokens-file", "node-token", "node-token-file", "sync-token", "sync-token-file",
		"admin-token", "admin-token-file", "insecure"},
		"ucv hub --tokens-file /etc/ucv/hub-tokens --node-token-file /etc/ucv/node-token"},
	{"Abuse limits", []string{"rate-limit", "rate-burst", "max-conns", "max-conns-per-ip"},
		"ucv hub --rate-limit 200 --rate-burst 400 --max-conns 4096 --max-conns-per-ip 256"},
	{"Operation options", []string{"log-level", "shutdown-timeout"},
		"ucv hub --log-level debug --shutdown-timeout 30s"},
}

// runHub implements `ucv hub`: one node of the Raft-replicated hub.
func runHub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseHubFlags(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := secrets(); err != nil {
		return cfg, err
	}
	var errS, errP error
	cfg.shutdownTimeout, errS = time.ParseDuration(*shutdown)
	cfg.peerInterval, errP = time.ParseDuration(*peers)
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
	case cfg.shutdownTimeout <= 0 || cfg.peerInterval <= 0:
		return cfg, fmt.Errorf("%w: --shutdown-timeout and --peer-interval must be positive", errUsage)
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

// runHubNode serves the hub until ctx is cancelled, then stops accepting,
// lets in-flight requests finish and shuts Raft down.
func runHubNode(ctx context.Context, cfg hubConfig, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	h, err := startHubNode(cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ucv hub: node %q serving %s, raft on %s (data in %s)\n", cfg.nodeID, h.url, h.node.RaftAddr(), cfg.dataDir)
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx).Error())
	case <-h.failed:
		log.Error("server stopped", "err", h.serveErr)
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
	acfg := api.DefaultConfig()
	if err := hubSecurity(cfg, &acfg, log); err != nil {
		return nil, err
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
	url := cfg.advertiseURL
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	acfg.NodeID, acfg.HTTPURL = cfg.nodeID, url
	acfg.Logger = log
	// Peers first: the node forwards through it, and the API serves the
	// node.
	peers, err := api.NewPeers(acfg)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	hc := hub.DefaultConfig()
	hc.NodeID, hc.DataDir, hc.RaftAddr, hc.Bootstrap = cfg.nodeID, cfg.dataDir, cfg.raftAddr, cfg.bootstrap
	hc.Forward = peers.Forward
	hc.Logger = log
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
	reqCtx, endRequests := context.WithCancel(context.Background())
	h := &hubNode{url: url, node: node, endRequests: endRequests, srv: as.HTTPServer(reqCtx),
		bgDone: make(chan struct{}), served: make(chan error, 1), failed: make(chan struct{})}
	go func() {
		err := h.srv.Serve(as.Listener(ln))
		if !errors.Is(err, http.ErrServerClosed) {
			h.serveErr = err
			close(h.failed)
		}
		h.served <- err
	}()
	log.Info("hub started", "addr", ln.Addr().String(), "raft_addr", node.RaftAddr(), "node", cfg.nodeID,
		"data_dir", cfg.dataDir, "bootstrap", cfg.bootstrap, "version", version)

	if ms, err := node.Members(); err == nil && len(ms) == 0 && !cfg.bootstrap && cfg.join == "" {
		log.Warn("waiting to be joined: this node has no Raft state and was started with neither --bootstrap nor --join; it serves no data until a member adds it (POST /v1/admin/join on a member, or restart it with --join URL)",
			"node", cfg.nodeID, "raft_addr", node.RaftAddr())
	}

	bg, stopBG := context.WithCancel(context.Background())
	h.stopBG = stopBG
	go func() {
		defer close(h.bgDone)
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
