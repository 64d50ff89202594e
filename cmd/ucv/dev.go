package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"
)

// devHubID is the Raft node ID of the hub `ucv dev` runs in its process.
const devHubID = "dev-hub"

// wantsDevHub reports whether `ucv dev` runs its in-process hub: not
// when the edge is not in dev mode, names hubs of its own (--hub) or
// opted out (--no-hub).
func wantsDevHub(cfg edgeConfig) bool { return cfg.dev && !cfg.noHub && len(cfg.hubURLs) == 0 }

// startDevHub runs the single-node hub of `ucv dev` in this process on
// ln (a free loopback port bound before the edge opened, so the edge
// knows its URL and a damaged edge file is refused before anything
// starts): a bootstrapped Raft cluster of one, data in DATA_DIR/hub, Raft
// on a free loopback port, open APIs (loopback only). The edge syncs to
// it through the same loopback HTTP client as to a remote hub, so dev
// runs exactly the production sync path.
func startDevHub(cfg edgeConfig, ln net.Listener, log *slog.Logger) (*hubNode, error) {
	return startHubNode(hubConfig{
		listener:        ln,
		dataDir:         filepath.Join(cfg.dataDir, "hub"),
		kekFile:         cfg.hubKEKFile,
		httpAddr:        "127.0.0.1:0",
		raftAddr:        "127.0.0.1:0",
		nodeID:          devHubID,
		bootstrap:       true,
		logLevel:        cfg.logLevel,
		shutdownTimeout: cfg.shutdownTimeout,
		peerInterval:    2 * time.Second,
		// The models refit daily, as `ucv hub`'s default.
		modelFitInterval:  24 * time.Hour,
		retentionInterval: time.Hour,
	}, log.With("component", "hub"))
}

// waitLeader waits until h leads its cluster (a bootstrapped single
// node elects itself within a second or two), at most limit.
func (h *hubNode) waitLeader(ctx context.Context, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !h.node.IsLeader() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("no leader after %v", limit)
		case <-tick.C:
		}
	}
	return nil
}

// closeDevHub stops the dev hub; a nil hub closes nothing.
func closeDevHub(ctx context.Context, h *hubNode) error {
	if h == nil {
		return nil
	}
	return h.Close(ctx)
}
