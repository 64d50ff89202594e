package main

import (
	"context"
	"fmt"
	"log/slog"

	"ucv/edge/gossip"
	"ucv/edge/hubsync"
	"ucv/edge/store"
)

// hubSync is the edge's running hub sync client; nil (no --hub) is valid
// and does nothing.
type hubSync struct{ c *hubsync.Client }

// startHubSync starts syncing with cfg.hubURLs (nothing when empty).
// With gossip on, the outbox is trimmed only past gossip's cursor too.
func startHubSync(cfg edgeConfig, st *store.Store, gossiping bool, log *slog.Logger) (*hubSync, error) {
	if len(cfg.hubURLs) == 0 {
		return nil, nil
	}
	hc := hubsync.DefaultConfig()
	hc.URLs = cfg.hubURLs
	hc.Token = cfg.syncToken
	hc.Edge = fmt.Sprintf("%016x", uint64(st.Node()))
	hc.Logger = log
	if gossiping {
		hc.TrimAfter = []string{gossip.Cursor}
	}
	c, err := hubsync.New(st, hc)
	if err != nil {
		return nil, fmt.Errorf("--hub: %w", err)
	}
	c.Start()
	log.Info("hub sync started", "hubs", len(cfg.hubURLs), "edge", hc.Edge, "token", cfg.syncToken != "")
	return &hubSync{c: c}, nil
}

// Close stops the client; a nil *hubSync closes nothing.
func (h *hubSync) Close(ctx context.Context) error {
	if h == nil {
		return nil
	}
	return h.c.Close(ctx)
}
