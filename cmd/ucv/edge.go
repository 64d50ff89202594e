package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"ucv/edge"
	"ucv/edge/api"
	"ucv/edge/forward"
	"ucv/edge/gossip"
	"ucv/edge/hubsync"
	"ucv/edge/store"
	"ucv/gcpolicy"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// edgeConfig is what `ucv edge` and `ucv dev` run.
type edgeConfig struct {
	dataDir         string
	httpAddr        string
	writeKeys       map[string]string // key → source label
	rulesFile       string
	nodeName        string
	defaultRegion   string
	publicURL       string
	corsOrigins     []string
	maxEventAge     time.Duration
	logLevel        slog.Level
	shutdownTimeout time.Duration
	// debugAddr, when set, serves the profiling endpoints on that
	// loopback address (debug.go).
	debugAddr string
	dev       bool
	// Gossip with the store's other edges (off when gossipAddr is "").
	gossipAddr string
	join       []string
	gossipKeys [][]byte // first is primary; the rest are accepted (rotation)
	// Hub sync (off when hubURLs is empty).
	hubURLs   []string
	syncToken string
	edgeID    string // the edge's ID at the hub; "" derives it from the data file
	// noHub stops `ucv dev` from running its in-process hub.
	noHub bool
	// hubKEKFile is `ucv dev`'s --kek-file for its in-process hub.
	hubKEKFile string
	// recoverDamaged moves a damaged data file aside and starts an empty
	// replica that peers and hub fill (--recover).
	recoverDamaged bool
	// Read access and abuse limits (secrets.go).
	readKeys          []api.ReadKey
	insecureOpenReads bool
	limits            edgeLimits
	// TLS: the API's certificate, and the hub link's CA and client
	// certificate (each "" when not given).
	tlsCert, tlsKey, hubCA, tlsClientCert, tlsClientKey string
	// definitionsFile is a standalone edge's catalog of definitions.
	definitionsFile string
	// Forwarding to a Segment-compatible upstream (off when forwardURL
	// is ""); forwardMaxMB caps its outbox (0: no cap).
	forwardURL, forwardKey string
	forwardMaxMB           int64
	// viewMemoryMB bounds the lookup views held in memory (-1: none,
	// 0: every view).
	viewMemoryMB int64
	// applyLinger is how long the applier may wait for a fuller batch
	// under load (0: never; decision 0095).
	applyLinger time.Duration
	// applyCommitAge is how long the applier may keep one transaction
	// open across batches under load (0: commit every batch; 0096).
	applyCommitAge time.Duration
	// applyCommitEvents caps the events one such transaction takes
	// (decision 0096; bench/README, "The dedupe set's time order by
	// sequence" for what a larger one costs and buys).
	applyCommitEvents int
	// dedupeWindow is how long a messageId is remembered (decision 0111).
	dedupeWindow time.Duration
	// applyIdleCommit is how long the applier may keep its transaction
	// open with nothing queued (0: commit at once; decision 0107).
	applyIdleCommit time.Duration
	// applyIdleGap commits sooner once nothing has arrived for it (0:
	// applyIdleCommit alone; decision 0113).
	applyIdleGap time.Duration
	// applyPriority is the nice value the applier's thread asks for (0:
	// the process's; decision 0100).
	applyPriority int
	// applyPaceAbove is the lag, in events acknowledged and not yet
	// applied, past which the log acknowledges at the applier's rate (0:
	// never pace; decision 0102).
	applyPaceAbove int
	// pageSize is the page size, in bytes, of a data file the edge
	// creates (or compacts); decision 0104.
	pageSize int
	// consentGranted is --consent-default granted: a person who has
	// stated nothing about a consent category counts as granting it.
	consentGranted bool
	// gc is the collector's policy (--memory-limit-mb, --gc-percent),
	// applied by runEdge and runDev to the whole process
	// (docs/decisions/0062-edge-gc-policy.md); gcApplied is what they
	// put in effect, logged at start (nil: not applied, as in tests).
	gc        gcpolicy.Policy
	gcApplied *gcpolicy.Applied
}

// edgeGC is an edge's runtime policy before its flags: GOGC 400 under
// a soft limit of 90 % of its cgroup's memory limit, or a quarter of the
// machine's memory when the cgroup sets none (an edge shares its machine
// with the till or kiosk it serves), and one scheduler processor more
// than it has CPUs, for the goroutines blocked in fsync
// (docs/decisions/0098-edge-spare-processor.md).
var edgeGC = gcpolicy.Policy{Ratio: gcpolicy.DefaultRatio, SystemRatio: 0.25, ExtraProcs: 1}

const edgeUsage = `Usage: ucv %[1]s [flags]

%[2]s

Every flag falls back to its UCV_* environment variable (shown in
brackets); a flag given on the command line wins.
`

// edgeFlagGroups are the sections of `ucv edge -h` and `ucv dev -h`.
func edgeFlagGroups(name string) []flagGroup {
	return []flagGroup{
		{"HTTP options", []string{"http-addr", "public-url", "cors-origins", "max-event-age", "default-region"},
			"ucv " + name + " --http-addr 0.0.0.0:8080 --public-url https://edge.shop.example --cors-origins https://shop.example"},
		{"Storage options", []string{"data-dir", "node-name", "rules", "recover", "consent-default", "view-memory-mb", "apply-linger", "apply-commit-age", "apply-commit-events", "apply-idle-commit", "apply-idle-gap", "dedupe-window", "apply-priority", "apply-pace-above", "page-size"},
			"ucv " + name + " --data-dir /var/lib/ucv --node-name till-3 --rules /etc/ucv/rules.json"},
		{"Definitions (computed traits and audiences) of a standalone edge", []string{"definitions"},
			"ucv " + name + " --no-hub --definitions /etc/ucv/definitions.json  # kill -HUP reloads it"},
		{"Gossip options (the store's other edges)", []string{"gossip-addr", "join", "gossip-key", "gossip-key-file"},
			"ucv " + name + " --gossip-addr 10.0.0.3:7946 --join 10.0.0.2:7946 --gossip-key-file /etc/ucv/gossip.key"},
		{"Hub options", []string{"hub", "sync-token", "sync-token-file", "edge-id", "no-hub", "kek-file"},
			"ucv " + name + " --hub https://hub-1.example:8300,https://hub-2.example:8300 --sync-token-file /etc/ucv/sync-token"},
		{"Forwarding to an existing CDP (Segment, RudderStack, Jitsu)", []string{"forward-url", "forward-write-key", "forward-write-key-file", "forward-max-outbox-mb"},
			"ucv " + name + " --forward-url https://api.segment.io --forward-write-key-file /etc/ucv/segment-write-key"},
		{"Security options", []string{"write-key", "write-key-file", "read-key", "read-key-file", "insecure-open-reads"},
			"ucv " + name + " --write-key 'wk_pos_3f9a=pos,wk_web_81c2=web' --read-key-file /etc/ucv/read-keys  # lines such as crm=SECRET, recs:decide=SECRET"},
		{"Abuse limits", []string{"read-key-rate", "read-key-burst", "write-key-rate", "write-key-burst", "max-conns", "max-conns-per-ip"},
			"ucv " + name + " --read-key-rate 200 --read-key-burst 400 --max-conns-per-ip 64"},
		{"TLS options (ucv tls creates a CA and certificates)", []string{"tls-cert", "tls-key", "hub-ca", "tls-client-cert", "tls-client-key"},
			"ucv " + name + " --tls-cert tls/till-3.pem --tls-key tls/till-3-key.pem --hub-ca tls/ca.pem --tls-client-cert tls/till-3-client.pem --tls-client-key tls/till-3-client-key.pem"},
		{"Operation options", []string{"log-level", "shutdown-timeout", "memory-limit-mb", "gc-percent", "procs", "debug-addr"},
			"ucv " + name + " --log-level debug --shutdown-timeout 30s"},
	}
}

// runEdge implements `ucv edge`: a production edge node.
func runEdge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runEdgeCommand(ctx, "edge", args, stdout, stderr)
}

// runDev implements `ucv dev`: an edge with zero configuration.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runEdgeCommand(ctx, "dev", args, stdout, stderr)
}

// runEdgeCommand parses `ucv NAME`'s flags, sets the collector's policy
// for the process and runs the node.
func runEdgeCommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseEdgeFlags(name, args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	gc, err := applyGC(cfg.gc)
	if err != nil {
		return err
	}
	cfg.gcApplied = &gc // logged once the node runs: a refused start stays one line
	return runEdgeNode(ctx, cfg, stdout, stderr)
}

// parseEdgeFlags reads flags with UCV_* fallbacks from getenv. name is
// "edge" or "dev"; dev needs no data dir (./ucv-data) and no write key.
func parseEdgeFlags(name string, args []string, getenv func(string) string, stderr io.Writer) (edgeConfig, error) {
	dev := name == "dev"
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	host, _ := os.Hostname()
	defData, defNode, about := "", host, "Runs an edge node: Segment-compatible ingest and profile lookups over HTTP,\nstored durably in a bbolt file under --data-dir. Write keys are required, and\nread keys too unless --http-addr is a loopback address."
	if dev {
		defData, defNode, about = "./ucv-data", "dev", "Runs an edge node with zero configuration for local development: data in\n./ucv-data, no write key needed, listening on 127.0.0.1:8080, with a\nsingle-node hub in the same process (data in ./ucv-data/hub) it syncs to.\nIt listens on loopback addresses only."
	}
	if defNode == "" {
		defNode = "edge"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), edgeUsage, name, about)
		printFlagGroups(fs.Output(), fs, edgeFlagGroups(name))
	}
	cfg := edgeConfig{dev: dev}
	fs.StringVar(&cfg.dataDir, "data-dir", env("UCV_DATA_DIR", defData), "directory of the database [UCV_DATA_DIR]")
	fs.StringVar(&cfg.httpAddr, "http-addr", env("UCV_HTTP_ADDR", "127.0.0.1:8080"), "HOST:PORT to serve HTTP on; port 0 picks a free one [UCV_HTTP_ADDR]")
	sec := addEdgeSecurityFlags(fs, env)
	fs.StringVar(&cfg.definitionsFile, "definitions", env("UCV_DEFINITIONS", ""), "a standalone edge's definitions (JSON `FILE`: {\"computed_traits\": {…}, \"audiences\": {…}}, the admin API's shapes); read again on SIGHUP. An edge with a hub takes the hub's catalog instead [UCV_DEFINITIONS]")
	fs.StringVar(&cfg.rulesFile, "rules", env("UCV_RULES", ""), "identity rules file (JSON): changes to the default rules, per type (README: Identity rules) [UCV_RULES]")
	fs.StringVar(&cfg.nodeName, "node-name", env("UCV_NODE_NAME", defNode), "this node's name in lookups and merge records [UCV_NODE_NAME]")
	fs.StringVar(&cfg.defaultRegion, "default-region", env("UCV_DEFAULT_REGION", "US"), "region for phone numbers without a country code [UCV_DEFAULT_REGION]")
	fs.StringVar(&cfg.publicURL, "public-url", env("UCV_PUBLIC_URL", ""), "base URL analytics.js should send to (settings endpoint); default: http:// and the listen address (the host name for 0.0.0.0) [UCV_PUBLIC_URL]")
	cors := fs.String("cors-origins", env("UCV_CORS_ORIGINS", "*"), "browser origins that may send events and fetch settings, ORIGIN,… (https://shop.example) or * for any; other origins get 403 [UCV_CORS_ORIGINS]")
	maxAge := fs.String("max-event-age", env("UCV_MAX_EVENT_AGE", "43800h"), "refuse events dated further back than this (400 naming the field); skew-corrected times beyond it are dated at receipt; Go duration, or Nd / Ny (365 days); 0: no bound [UCV_MAX_EVENT_AGE]")
	level := fs.String("log-level", env("UCV_LOG_LEVEL", "info"), "debug, info, warn or error [UCV_LOG_LEVEL]")
	fs.StringVar(&cfg.gossipAddr, "gossip-addr", env("UCV_GOSSIP_ADDR", ""), "HOST:PORT for gossip with the store's other edges (TCP and UDP); port 0 picks a free one; empty: no gossip [UCV_GOSSIP_ADDR]")
	join := fs.String("join", env("UCV_JOIN", ""), "gossip addresses of other edges to join, HOST:PORT,… [UCV_JOIN]")
	hubs := fs.String("hub", env("UCV_HUB", ""), "hub node URLs to sync with, URL,… (any node); empty: no hub [UCV_HUB]")
	fs.StringVar(&cfg.edgeID, "edge-id", env("UCV_EDGE_ID", ""), "this edge's `ID` at the hub: the name of its sync token in the hub's tokens file; default: 16 hex digits from the data file [UCV_EDGE_ID]")
	if dev {
		fs.BoolVar(&cfg.noHub, "no-hub", env("UCV_NO_HUB", "") == "true", "do not run the in-process single-node hub (it runs unless --hub is given) [UCV_NO_HUB]")
		fs.StringVar(&cfg.hubKEKFile, "kek-file", env("UCV_KEK_FILE", ""), "the in-process hub's "+kekFileUsage+" [UCV_KEK_FILE]")
	}
	fs.BoolVar(&cfg.recoverDamaged, "recover", env("UCV_RECOVER", "") == "true", "if the data file is damaged, move it aside and start an empty replica that this edge's peers and hub fill again; without it a damaged file stops the edge [UCV_RECOVER]")
	consentDefault := fs.String("consent-default", env("UCV_CONSENT_DEFAULT", "denied"), "granted or denied: how a person who has stated nothing about a consent category (context.consent.categoryPreferences) is treated by decisions, lookups with ?purpose= and forwarding [UCV_CONSENT_DEFAULT]")
	debugAddr := fs.String("debug-addr", env("UCV_DEBUG_ADDR", ""), "serve Go's profiling endpoints (CPU and heap profiles, goroutine dumps, execution traces: /debug/pprof/) on this loopback `HOST:PORT`, such as 127.0.0.1:6060; off when empty [UCV_DEBUG_ADDR]")
	shutdown := fs.String("shutdown-timeout", env("UCV_SHUTDOWN_TIMEOUT", "15s"), "how long shutdown waits for in-flight requests and the last commit, a `DURATION` [UCV_SHUTDOWN_TIMEOUT]")
	fs.StringVar(&cfg.forwardURL, "forward-url", env("UCV_FORWARD_URL", ""), "forward every accepted event to this Segment-compatible upstream, `URL`/v1/batch in Segment's batch format (https://api.segment.io, a RudderStack or Jitsu host), at least once with its messageId, durably: queued with the event, sent when the upstream is reachable; empty: no forwarding [UCV_FORWARD_URL]")
	applyPrio := fs.String("apply-priority", env("UCV_APPLY_PRIORITY", "-10"), "the `NICE` value (-20 to 19) the store's applier thread asks for on Linux: negative puts ingest's one serial stage ahead of request handling, so it drains what they acknowledge instead of sharing a core with them; needs CAP_SYS_NICE or RLIMIT_NICE (systemd LimitNICE=), else it keeps the process's and says so in the log; 0: the process's [UCV_APPLY_PRIORITY]")
	paceAbove := fs.String("apply-pace-above", env("UCV_APPLY_PACE_ABOVE", "8192"), "`EVENTS` acknowledged and not yet applied past which the store acknowledges new events at the rate its applier measurably applies them, the slower the further past (up to 32767; at 32,768 it stops acknowledging until the applier catches up): every acknowledgement then waits a little instead of those in flight during a commit waiting it out; 0: never pace [UCV_APPLY_PACE_ABOVE]")
	pageSize := fs.String("page-size", env("UCV_PAGE_SIZE", "16384"), "the page size, in `BYTES`, of the data file when the edge creates it (and when a compaction rewrites it; an existing file keeps its own until then): a power of two from 4096 to 65536. Larger pages make each commit write fewer, larger pages — faster under load, more bytes written per event (16384: ~10 KB an event under sustained load; 4096: ~6 KB and 13 % fewer events per second, for storage that wears) [UCV_PAGE_SIZE]")
	viewMem := fs.String("view-memory-mb", env("UCV_VIEW_MEMORY_MB", "0"), "`MB` of rendered profile views the in-memory read index may hold; profiles beyond it are looked up in the data file (slower, same answers); 0: every view, and the data file keeps only each view's evaluation, rendering the JSON again from the profile's state for the first lookup after a restart (decision 0109); -1: none [UCV_VIEW_MEMORY_MB]")
	linger := fs.String("apply-linger", env("UCV_APPLY_LINGER", "20ms"), "under load, how long the store may wait for more events before applying a batch to its data file, a `DURATION` up to 1s: larger batches cost less per event; acknowledgements never wait, and only a read that must see an event not yet applied can; 0: never wait [UCV_APPLY_LINGER]")
	idleCommit := fs.String("apply-idle-commit", env("UCV_APPLY_IDLE_COMMIT", "20ms"), "how long the store may keep a transaction of its data file open with nothing more to apply, from its first event, a `DURATION` up to 1s: under light load (a till posting event after event) a commit then takes every event of that time, and the data file's syncs stop competing with the write-ahead log's; acknowledgements never wait, and a read that must see an event not yet applied, or another write, has it committed at once; 0: commit as soon as nothing is queued [UCV_APPLY_IDLE_COMMIT]")
	idleGap := fs.String("apply-idle-gap", env("UCV_APPLY_IDLE_GAP", "2ms"), "commit sooner than --apply-idle-commit once nothing has arrived for this `DURATION` (up to 1s): events posted back to back still commit together, while an isolated event on a quiet edge reaches the change stream, gossip, hub sync and forwarding within about this long; 0: --apply-idle-commit alone [UCV_APPLY_IDLE_GAP]")
	commitAge := fs.String("apply-commit-age", env("UCV_APPLY_COMMIT_AGE", "1s"), "under load, how long the store may keep applying batches in one transaction of its data file before committing it, a `DURATION` up to 10s: each profile touched is then written once; acknowledgements never wait (the write-ahead log holds them), and a read that must see an event not yet applied, or another write, has it committed at once; 0: commit every batch [UCV_APPLY_COMMIT_AGE]")
	commitEvents := fs.String("apply-commit-events", env("UCV_APPLY_COMMIT_EVENTS", "16384"), "under load, the most `EVENTS` the store applies in one transaction of its data file before committing it, from 1 to 65536: a commit rewrites each touched page once, so larger ones write fewer bytes an event and hold more decoded profiles in memory, and a restart after a crash replays up to this many more (32768: ~40 % fewer bytes written an event and ~0.7 GB more memory under sustained batches than 16384) [UCV_APPLY_COMMIT_EVENTS]")
	dedupeWindow := fs.String("dedupe-window", env("UCV_DEDUPE_WINDOW", "168h"), "how long a messageId is remembered, a `DURATION` from 1h to 2160h: an event whose messageId was stored within it is counted as a duplicate and changes nothing; the edge keeps about 60 bytes of memory per messageId in the window [UCV_DEDUPE_WINDOW]")
	fwdMax := fs.String("forward-max-outbox-mb", env("UCV_FORWARD_MAX_OUTBOX_MB", "1024"), "`MB` the events waiting to be forwarded may take on disk; past it the oldest are dropped unsent (ucv_forward_dropped_total{reason=\"outbox_full\"}) and ingest goes on; 0: no cap [UCV_FORWARD_MAX_OUTBOX_MB]")
	fs.StringVar(&cfg.tlsCert, "tls-cert", env("UCV_TLS_CERT", ""), "serve the API over TLS with this certificate (PEM `FILE`); read again on SIGHUP and when it changes [UCV_TLS_CERT]")
	fs.StringVar(&cfg.tlsKey, "tls-key", env("UCV_TLS_KEY", ""), "the private key of --tls-cert (PEM `FILE`) [UCV_TLS_KEY]")
	fs.StringVar(&cfg.hubCA, "hub-ca", env("UCV_HUB_CA", ""), "CA certificates (PEM `FILE`) that sign the hub's; default: the system's roots [UCV_HUB_CA]")
	fs.StringVar(&cfg.tlsClientCert, "tls-client-cert", env("UCV_TLS_CLIENT_CERT", ""), "client certificate (PEM `FILE`) presented to the hub; its name is this edge's identity there [UCV_TLS_CLIENT_CERT]")
	fs.StringVar(&cfg.tlsClientKey, "tls-client-key", env("UCV_TLS_CLIENT_KEY", ""), "the private key of --tls-client-cert (PEM `FILE`) [UCV_TLS_CLIENT_KEY]")
	gcf := addGCFlags(fs, env, "90 % of the cgroup's memory limit, or 25 % of the machine's memory when the cgroup sets none (docs/decisions/0062-edge-gc-policy.md)",
		"the CPUs the process may use plus one (docs/decisions/0098-edge-spare-processor.md)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	gc, errGC := gcf.policy(edgeGC)
	if errGC != nil {
		return cfg, errGC
	}
	cfg.gc = gc
	if cfg.dataDir == "" {
		return cfg, fmt.Errorf("%w: --data-dir (or UCV_DATA_DIR) is required", errUsage)
	}
	if _, _, err := net.SplitHostPort(cfg.httpAddr); err != nil {
		return cfg, fmt.Errorf("%w: --http-addr must be HOST:PORT", errUsage)
	}
	gkeys, err := sec.apply(&cfg, getenv)
	if err != nil {
		return cfg, err
	}
	if err := checkKEKFile("--kek-file", cfg.hubKEKFile); err != nil {
		return cfg, err
	}
	if !dev && len(cfg.writeKeys) == 0 {
		return cfg, fmt.Errorf("%w: --write-key or --write-key-file (or UCV_WRITE_KEYS, UCV_WRITE_KEYS_FILE) is required; use 'ucv dev' to run without one", errUsage)
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("%w: --log-level must be debug, info, warn or error", errUsage)
	}
	if cfg.debugAddr = strings.TrimSpace(*debugAddr); cfg.debugAddr != "" {
		if err := checkDebugAddr(cfg.debugAddr); err != nil {
			return cfg, err
		}
	}
	if cfg.shutdownTimeout, err = time.ParseDuration(*shutdown); err != nil || cfg.shutdownTimeout <= 0 {
		return cfg, fmt.Errorf("%w: --shutdown-timeout must be a positive duration such as 15s", errUsage)
	}
	switch *consentDefault {
	case "granted":
		cfg.consentGranted = true
	case "denied":
	default:
		return cfg, fmt.Errorf("%w: --consent-default must be granted or denied", errUsage)
	}
	if cfg.maxEventAge, err = parseAge(*maxAge); err != nil {
		return cfg, fmt.Errorf("%w: --max-event-age: %v", errUsage, err)
	}
	for _, o := range strings.Split(*cors, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return cfg, fmt.Errorf("%w: --cors-origins: %q is not * or an origin such as https://shop.example", errUsage, o)
		}
		cfg.corsOrigins = append(cfg.corsOrigins, o)
	}
	if err := parseGossipFlags(&cfg, *join, gkeys); err != nil {
		return cfg, err
	}
	for _, u := range strings.Split(*hubs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			cfg.hubURLs = append(cfg.hubURLs, u)
		}
	}
	if err := checkEdgeTLS(cfg); err != nil {
		return cfg, err
	}
	if cfg.forwardMaxMB, err = strconv.ParseInt(strings.TrimSpace(*fwdMax), 10, 64); err != nil || cfg.forwardMaxMB < 0 || cfg.forwardMaxMB > 1<<40 {
		return cfg, fmt.Errorf("%w: --forward-max-outbox-mb must be a whole number of megabytes >= 0 (0: no cap)", errUsage)
	}
	if cfg.applyLinger, err = time.ParseDuration(strings.TrimSpace(*linger)); err != nil || cfg.applyLinger < 0 || cfg.applyLinger > time.Second {
		return cfg, fmt.Errorf("%w: --apply-linger must be a duration from 0 (never wait) to 1s, such as 20ms", errUsage)
	}
	if cfg.applyCommitAge, err = time.ParseDuration(strings.TrimSpace(*commitAge)); err != nil || cfg.applyCommitAge < 0 || cfg.applyCommitAge > 10*time.Second {
		return cfg, fmt.Errorf("%w: --apply-commit-age must be a duration from 0 (commit every batch) to 10s, such as 1s", errUsage)
	}
	if cfg.applyCommitEvents, err = strconv.Atoi(strings.TrimSpace(*commitEvents)); err != nil || cfg.applyCommitEvents < 1 || cfg.applyCommitEvents > 65536 {
		return cfg, fmt.Errorf("%w: --apply-commit-events must be a number of events from 1 to 65536, such as 16384", errUsage)
	}
	if cfg.dedupeWindow, err = time.ParseDuration(strings.TrimSpace(*dedupeWindow)); err != nil || cfg.dedupeWindow < time.Hour || cfg.dedupeWindow > 2160*time.Hour {
		return cfg, fmt.Errorf("%w: --dedupe-window must be a duration from 1h to 2160h, such as 168h", errUsage)
	}
	if cfg.applyIdleCommit, err = time.ParseDuration(strings.TrimSpace(*idleCommit)); err != nil || cfg.applyIdleCommit < 0 || cfg.applyIdleCommit > time.Second {
		return cfg, fmt.Errorf("%w: --apply-idle-commit must be a duration from 0 (commit at once) to 1s, such as 20ms", errUsage)
	}
	if cfg.applyIdleGap, err = time.ParseDuration(strings.TrimSpace(*idleGap)); err != nil || cfg.applyIdleGap < 0 || cfg.applyIdleGap > time.Second {
		return cfg, fmt.Errorf("%w: --apply-idle-gap must be a duration from 0 (--apply-idle-commit alone) to 1s, such as 2ms", errUsage)
	}
	if cfg.applyPriority, err = strconv.Atoi(strings.TrimSpace(*applyPrio)); err != nil || cfg.applyPriority < -20 || cfg.applyPriority > 19 {
		return cfg, fmt.Errorf("%w: --apply-priority must be a nice value from -20 (first) to 19 (last), such as -10; 0 keeps the process's", errUsage)
	}
	if cfg.applyPaceAbove, err = strconv.Atoi(strings.TrimSpace(*paceAbove)); err != nil || cfg.applyPaceAbove < 0 || cfg.applyPaceAbove > 32767 {
		return cfg, fmt.Errorf("%w: --apply-pace-above must be a number of events from 0 (never pace) to 32767, such as 8192", errUsage)
	}
	if cfg.pageSize, err = strconv.Atoi(strings.TrimSpace(*pageSize)); err != nil || !store.ValidPageSize(cfg.pageSize) {
		return cfg, fmt.Errorf("%w: --page-size must be a number of bytes, a power of two from %d to %d, such as 16384", errUsage, store.MinPageSize, store.MaxPageSize)
	}
	if cfg.viewMemoryMB, err = strconv.ParseInt(strings.TrimSpace(*viewMem), 10, 64); err != nil || cfg.viewMemoryMB < -1 || cfg.viewMemoryMB > 1<<30 {
		return cfg, fmt.Errorf("%w: --view-memory-mb must be a whole number of megabytes, 0 (every view) or -1 (none)", errUsage)
	}
	switch {
	case cfg.forwardURL != "" && cfg.forwardKey == "":
		return cfg, fmt.Errorf("%w: --forward-url needs --forward-write-key or --forward-write-key-file (or UCV_FORWARD_WRITE_KEY, UCV_FORWARD_WRITE_KEY_FILE)", errUsage)
	case cfg.forwardURL == "" && cfg.forwardKey != "":
		return cfg, fmt.Errorf("%w: --forward-write-key needs --forward-url", errUsage)
	}
	if strings.ContainsAny(cfg.edgeID, " \t\r\n") || len(cfg.edgeID) > replication.MaxNameBytes {
		return cfg, fmt.Errorf("%w: --edge-id must be one word of at most %d bytes", errUsage, replication.MaxNameBytes)
	}
	return cfg, nil
}

// checkEdgeTLS checks that the TLS flags come in pairs and that the hub
// link's need https hub URLs.
func checkEdgeTLS(cfg edgeConfig) error {
	switch {
	case (cfg.tlsCert == "") != (cfg.tlsKey == ""):
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	case (cfg.tlsClientCert == "") != (cfg.tlsClientKey == ""):
		return fmt.Errorf("%w: --tls-client-cert and --tls-client-key go together", errUsage)
	case cfg.definitionsFile != "" && len(cfg.hubURLs) > 0:
		return fmt.Errorf("%w: --definitions is for a standalone edge: an edge with --hub evaluates the hub's definitions", errUsage)
	case cfg.hubCA == "" && cfg.tlsClientCert == "":
		return nil
	case len(cfg.hubURLs) == 0:
		return fmt.Errorf("%w: --hub-ca and --tls-client-cert need --hub", errUsage)
	}
	for _, u := range cfg.hubURLs {
		if !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("%w: --hub: %q is not https, but --hub-ca or --tls-client-cert is given", errUsage, u)
		}
	}
	return nil
}

// parseAge reads a non-negative duration: a Go duration ("43800h"), or
// whole days ("1825d") or years of 365 days ("5y").
func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(s, "y"):
		unit = 365 * 24 * time.Hour
	}
	if unit != 0 {
		n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil || n < 0 || n > int64(math.MaxInt64/unit) {
			return 0, fmt.Errorf("%q is not a duration such as 43800h, 1825d or 5y", s)
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 43800h, 1825d or 5y", s)
	}
	return d, nil
}

// parseGossipFlags checks the gossip address, join list and keys.
func parseGossipFlags(cfg *edgeConfig, join, keys string) error {
	for _, a := range strings.Split(join, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("%w: --join: %q is not HOST:PORT", errUsage, a)
		}
		cfg.join = append(cfg.join, a)
	}
	for _, k := range secretEntries(keys) {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || (len(b) != 16 && len(b) != 24 && len(b) != 32) {
			return fmt.Errorf("%w: --gossip-key: each key must be base64 of 16, 24 or 32 bytes", errUsage)
		}
		cfg.gossipKeys = append(cfg.gossipKeys, b)
	}
	if cfg.gossipAddr == "" {
		if len(cfg.join) > 0 {
			return fmt.Errorf("%w: --join needs --gossip-addr", errUsage)
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(cfg.gossipAddr); err != nil {
		return fmt.Errorf("%w: --gossip-addr must be HOST:PORT", errUsage)
	}
	if !cfg.dev && len(cfg.gossipKeys) == 0 {
		return fmt.Errorf("%w: --gossip-key or --gossip-key-file (or UCV_GOSSIP_KEY, UCV_GOSSIP_KEY_FILE) is required with --gossip-addr; generate one with: head -c 32 /dev/urandom | base64", errUsage)
	}
	return nil
}

// gossipConfig builds the gossip configuration of cfg, or nil without
// gossip.
func gossipConfig(cfg edgeConfig) (*gossip.Config, error) {
	if cfg.gossipAddr == "" {
		return nil, nil
	}
	host, port, _ := net.SplitHostPort(cfg.gossipAddr)
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("%w: --gossip-addr port %q", errUsage, port)
	}
	gc := gossip.DefaultConfig()
	gc.Memberlist.Name = cfg.nodeName
	gc.Memberlist.BindAddr = host
	gc.Memberlist.BindPort = p
	gc.Memberlist.AdvertisePort = p
	gc.Dev = cfg.dev
	if len(cfg.gossipKeys) > 0 {
		gc.SecretKey, gc.ExtraKeys = cfg.gossipKeys[0], cfg.gossipKeys[1:]
	}
	gc.Join = cfg.join
	return &gc, nil
}

// parseWriteKeys reads "k1=label,k2" (or one a line) into key → label
// ("" when none).
func parseWriteKeys(s string) (map[string]string, error) {
	keys := map[string]string{}
	for _, item := range secretEntries(s) {
		k, label, _ := strings.Cut(item, "=")
		k, label = strings.TrimSpace(k), strings.TrimSpace(label)
		if k == "" || strings.ContainsAny(k, ": \t") {
			return nil, errors.New("a key is empty or holds ':' or white space")
		}
		if _, dup := keys[k]; dup {
			return nil, errors.New("a key is listed twice")
		}
		keys[k] = label
	}
	return keys, nil
}

// nodeConfig turns the parsed flags into the edge node's configuration.
func nodeConfig(cfg edgeConfig, log *slog.Logger) (edge.Config, error) {
	nc := edge.DefaultConfig()
	nc.DataDir, nc.HTTPAddr, nc.Name, nc.Recover, nc.Logger = cfg.dataDir, cfg.httpAddr, cfg.nodeName, cfg.recoverDamaged, log
	if cfg.rulesFile != "" {
		f, err := os.Open(cfg.rulesFile)
		if err != nil {
			return nc, fmt.Errorf("rules: %w", err)
		}
		nc.Store.Rules, err = profile.LoadRules(f)
		f.Close()
		if err != nil {
			return nc, fmt.Errorf("rules %s: %w", cfg.rulesFile, err)
		}
	}
	nc.API.WriteKeys = cfg.writeKeys
	nc.API.DevMode = cfg.dev
	nc.API.PublicURL = cfg.publicURL
	nc.API.CORSOrigins = cfg.corsOrigins
	nc.API.MaxEventAge = cfg.maxEventAge
	nc.API.Normalize.DefaultRegion = strings.ToUpper(cfg.defaultRegion)
	nc.API.ReadKeys, nc.InsecureOpenReads = cfg.readKeys, cfg.insecureOpenReads
	l := cfg.limits
	nc.API.ReadKeyRate, nc.API.ReadKeyBurst, nc.API.WriteKeyRate, nc.API.WriteKeyBurst = l.readKeyRate, l.readKeyBurst, l.writeKeyRate, l.writeKeyBurst
	nc.API.Concurrency, nc.API.MaxConnsPerIP = l.maxConns, l.maxConnsPerIP
	var err error
	if nc.Gossip, err = gossipConfig(cfg); err != nil {
		return nc, err
	}
	if cfg.tlsCert != "" {
		f := tlsFiles{cert: cfg.tlsCert, key: cfg.tlsKey, certFlag: "tls-cert", notNode: true}
		if nc.TLS, err = f.load(log); err != nil {
			return nc, err
		}
	}
	if len(cfg.hubURLs) > 0 {
		hc := hubsync.DefaultConfig()
		hc.URLs, hc.Token, hc.Edge = cfg.hubURLs, cfg.syncToken, cfg.edgeID
		if cfg.hubCA != "" || cfg.tlsClientCert != "" {
			f := tlsFiles{cert: cfg.tlsClientCert, key: cfg.tlsClientKey, ca: cfg.hubCA, certFlag: "tls-client-cert", caFlag: "hub-ca", notNode: true}
			if hc.TLS, err = f.load(log); err != nil {
				return nc, err
			}
		}
		check := hc
		if check.Edge == "" {
			check.Edge = "-" // the node names itself; the URLs are checked here
		}
		if err := check.Validate(); err != nil {
			return nc, fmt.Errorf("%w: --hub: %w", errUsage, err)
		}
		nc.Hub = &hc
	}
	nc.Store.MaxForwardBytes = cfg.forwardMaxMB << 20
	nc.Store.ViewMemoryBytes = cfg.viewMemoryMB << 20 // -1 MB stays negative: none
	nc.Store.Linger = cfg.applyLinger
	if cfg.applyLinger == 0 {
		nc.Store.Linger = -1 // the store's 0 is its default
	}
	nc.Store.CommitAge = cfg.applyCommitAge
	nc.Store.CommitEvents = cfg.applyCommitEvents
	nc.Store.DedupeWindow = cfg.dedupeWindow
	nc.Store.ApplierPriority = cfg.applyPriority
	nc.Store.PaceAbove = cfg.applyPaceAbove
	nc.Store.PageSize = cfg.pageSize
	if cfg.applyPaceAbove == 0 {
		nc.Store.PaceAbove = -1 // the store's 0 is its default
	}
	if cfg.applyCommitAge == 0 {
		nc.Store.CommitAge = -1 // the store's 0 is its default
	}
	nc.Store.IdleCommit = cfg.applyIdleCommit
	if cfg.applyIdleCommit == 0 {
		nc.Store.IdleCommit = -1 // the store's 0 is its default
	}
	nc.Store.IdleGap = cfg.applyIdleGap
	if cfg.applyIdleGap == 0 {
		nc.Store.IdleGap = -1 // the store's 0 is its default
	}
	nc.Store.ConsentGranted = cfg.consentGranted
	if cfg.forwardURL != "" {
		fc := forward.DefaultConfig()
		fc.URL, fc.WriteKey = cfg.forwardURL, cfg.forwardKey
		if err := fc.Validate(); err != nil {
			return nc, fmt.Errorf("%w: --forward-url, --forward-write-key: %w", errUsage, err)
		}
		nc.Forward = &fc
	}
	if err := nc.Validate(); err != nil {
		return nc, fmt.Errorf("%w: %w", errUsage, err)
	}
	return nc, nil
}

// runEdgeNode runs the edge node (and `ucv dev`'s in-process hub first)
// until ctx is cancelled (SIGTERM/SIGINT) or the API stops on its own,
// then closes it: in-flight requests finish, the last push reaches the
// hub, queued writes are committed.
func runEdgeNode(ctx context.Context, cfg edgeConfig, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	var hubLn net.Listener
	if wantsDevHub(cfg) && cfg.definitionsFile != "" {
		return fmt.Errorf("%w: --definitions is for a standalone edge: give --no-hub, or define them at the in-process hub (PUT /v1/admin/audiences/NAME)", errUsage)
	}
	if wantsDevHub(cfg) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("dev hub: listen: %w", err)
		}
		hubLn = ln
		cfg.hubURLs = []string{"http://" + ln.Addr().String()}
	}
	closeHubLn := func() error {
		if hubLn == nil {
			return nil
		}
		return hubLn.Close()
	}
	nc, err := nodeConfig(cfg, log)
	if err != nil {
		return errors.Join(err, closeHubLn())
	}
	// The edge starts first (a damaged data file stops it before any hub
	// starts) and syncs once the dev hub leads: its first sync step
	// registers it at the hub, a Raft write that a hub still electing
	// itself refuses (decision 0040, amended).
	var hubReady chan struct{}
	if hubLn != nil && nc.Hub != nil {
		hubReady = make(chan struct{})
		nc.Hub.Ready = hubReady
	}
	n, err := edge.New(nc)
	if err != nil {
		return errors.Join(err, closeHubLn())
	}
	var devHub *hubNode
	if hubLn != nil {
		if devHub, err = startDevHub(cfg, hubLn, log); err == nil {
			err = devHub.waitLeader(ctx, 10*time.Second)
		}
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
			defer cancel()
			return errors.Join(fmt.Errorf("dev hub: %w", err), n.Close(cctx), closeDevHub(cctx, devHub))
		}
	}
	if hubReady != nil {
		close(hubReady)
	}
	printURLs(stdout, cfg, n.URL())
	if devHub != nil {
		fmt.Fprintf(stdout, "  hub:      %s (in-process, node %q, data in %s)\n", devHub.url, devHubID, filepath.Join(cfg.dataDir, "hub"))
		fmt.Fprintf(stdout, "  hub admin: curl %s/v1/admin/status\n", devHub.url)
	}
	if g := n.Gossip(); g != nil {
		fmt.Fprintf(stdout, "  gossip:   %s (members: %d)\n", g.Addr(), g.NumMembers())
	}
	log.Info("version", "version", version)
	if cfg.gcApplied != nil {
		logGC(log, *cfg.gcApplied)
	}
	if cfg.debugAddr != "" {
		stopDebug, bound, err := startDebug(cfg.debugAddr, log)
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
			defer cancel()
			return errors.Join(err, n.Close(cctx), closeDevHub(cctx, devHub))
		}
		defer stopDebug()
		fmt.Fprintf(stdout, "  profiling: http://%s/debug/pprof/\n", bound)
	}
	if cfg.definitionsFile != "" {
		if err := loadDefinitions(n.Store(), cfg.definitionsFile, log); err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
			defer cancel()
			return errors.Join(err, n.Close(cctx), closeDevHub(cctx, devHub))
		}
	}
	hup, stopHup := hangups(nc.TLS != nil || (nc.Hub != nil && nc.Hub.TLS != nil) || cfg.definitionsFile != "")
	defer stopHup()
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down", "reason", context.Cause(ctx).Error())
			break wait
		case <-n.Stopped():
			log.Error("server stopped", "err", n.Err())
			break wait
		case <-hup:
			if nc.TLS != nil || (nc.Hub != nil && nc.Hub.TLS != nil) {
				reloadTLS(log, n.ReloadTLS)
			}
			if cfg.definitionsFile != "" {
				if err := loadDefinitions(n.Store(), cfg.definitionsFile, log); err != nil {
					log.Error("definitions reload on SIGHUP failed; the definitions loaded before stay in force", "err", err)
				}
			}
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	// The hub goes last: the edge's final push (in Close) needs it.
	if err := errors.Join(n.Err(), n.Close(sctx), closeDevHub(sctx, devHub)); err != nil {
		log.Error("shutdown incomplete", "err", err)
		return err
	}
	log.Info("edge stopped")
	return nil
}

// loadDefinitions reads a definitions file and puts it in force.
func loadDefinitions(st *store.Store, path string, log *slog.Logger) error {
	c, comp, err := catalog.LoadFile(path)
	if err != nil {
		return fmt.Errorf("--definitions: %w", err)
	}
	changed, err := st.ReplaceCatalog(c)
	if err != nil {
		return fmt.Errorf("--definitions: %w", err)
	}
	log.Info("definitions loaded", "file", path, "computed_traits", len(c.ComputedTraits), "audiences", len(c.Audiences), "changed", changed, "digest", fmt.Sprintf("%016x", comp.Digest()))
	return nil
}

// printURLs tells a person where the node is and how to try it.
func printURLs(w io.Writer, cfg edgeConfig, base string) {
	mode := "edge"
	auth := ` -H 'X-Write-Key: KEY'`
	if cfg.dev {
		mode, auth = "dev", ""
	}
	fmt.Fprintf(w, "ucv %s: node %q listening on %s (data in %s)\n", mode, cfg.nodeName, base, cfg.dataDir)
	fmt.Fprintf(w, "  ingest:   curl -X POST %s/v1/track%s -d '{\"userId\":\"u1\",\"event\":\"Signed Up\"}'\n", base, auth)
	read := ""
	if len(cfg.readKeys) > 0 {
		read = ` -H "Authorization: Bearer $READ_KEY"`
	}
	fmt.Fprintf(w, "  lookup:   curl%s %s/v1/profiles/user_id:u1\n", read, base)
	fmt.Fprintf(w, "  metrics:  %s/metrics\n", base)
	fmt.Fprintf(w, "  health:   %s/healthz  %s/readyz\n", base, base)
	fmt.Fprintf(w, "  analytics.js: load it with cdnURL %s (settings at /v1/projects/{writeKey}/settings)\n", base)
}
