package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"ucv/edge/gossip"
	"ucv/edge/hubsync"
	"ucv/edge/store"
)

// hubSync is the edge's running hub sync client, or, without a hub, the
// loop that keeps the outbox trimmed; nil is valid and does nothing.
type hubSync struct {
	c *hubsync.Client
	// Without a hub: closing stop ends the trim loop, which closes done.
	stop, done chan struct{}
}

// outboxTrimEvery is how often an edge without a hub trims its outbox.
var outboxTrimEvery = time.Second

// startHubSync starts syncing with cfg.hubURLs. With gossip on, the
// outbox is trimmed only past gossip's cursor too. Without a hub, nothing
// but gossip reads the outbox, so it is trimmed as soon as gossip has
// published each entry (at once without gossip): a standalone edge's
// disk then holds its profiles, not every delta it ever wrote.
func startHubSync(cfg edgeConfig, st *store.Store, gossiping bool, log *slog.Logger) (*hubSync, error) {
	if len(cfg.hubURLs) == 0 {
		var readers []string
		if gossiping {
			readers = []string{gossip.Cursor}
		}
		h := &hubSync{stop: make(chan struct{}), done: make(chan struct{})}
		go h.trimLoop(st, readers, log)
		return h, nil
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

// trimLoop trims the outbox past readers every outboxTrimEvery, at most
// 10,000 entries a transaction (an outbox grown by an older build can
// hold millions), until stop closes.
func (h *hubSync) trimLoop(st *store.Store, readers []string, log *slog.Logger) {
	defer close(h.done)
	const perTx = 10000
	t := time.NewTicker(outboxTrimEvery)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		for {
			n, err := st.TrimOutboxFor(perTx, readers...)
			if err != nil {
				log.Warn("outbox trim failed", "err", err)
				break
			}
			if n < perTx {
				break
			}
			select {
			case <-h.stop:
				return
			default:
			}
		}
	}
}

// Close stops the client or the trim loop; a nil *hubSync closes
// nothing.
func (h *hubSync) Close(ctx context.Context) error {
	if h == nil {
		return nil
	}
	if h.c == nil {
		close(h.stop)
		select {
		case <-h.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("outbox trim: %w", ctx.Err())
		}
	}
	return h.c.Close(ctx)
}
