package hubsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"ucv/replication"
)

// RebuiltSlack is how far a hub's index may lie below this edge's feed
// cursor before the edge takes it for a different (rebuilt) hub cluster
// rather than a follower a few entries behind.
const RebuiltSlack = 1000

// minHalfLag keeps the half-the-history rule from firing on a young hub,
// where a few indexes are half of everything and the feed is cheap.
const minHalfLag = 64

// needsBootstrap reports whether the pull loop should read a snapshot
// instead of the feed: a new edge (feed cursor 0); one the last feed
// answer showed more than BootstrapLag Raft indexes behind; one that
// returns — starting, or after a failed pull — behind by more than half
// the hub's history (a Raft index can carry a thousand changes, so an
// edge that missed most of the log would page nearly everything the
// snapshot holds, slower); or one whose cursor lies far beyond the
// hub's index — the hub was rebuilt from scratch, its positions mean
// something else, and reading its feed from our cursor would skip
// everything below it.
//
// The half rule is for an edge that was away. One that follows the feed
// page after page trails the hub by what its own pushes add while a page
// is applied, and on a young hub that is half the history: a busy edge
// took a full snapshot again and again (decision 0099). A paging edge
// that truly falls behind is caught by BootstrapLag.
func (c *Client) needsBootstrap(cur uint64) bool {
	if !c.cfg.Bootstrap {
		return false
	}
	if cur == 0 {
		return c.bootstraps.Load() == 0 // an empty hub's snapshot leaves the cursor at 0
	}
	head := c.hubIndex.Load()
	switch {
	case head == 0:
		return false // not heard from the hub yet
	case head+RebuiltSlack < cur:
		return true
	case !c.paging.Load() && head > 2*cur && head-cur > minHalfLag:
		return true
	}
	return c.cfg.BootstrapLag > 0 && head > cur && head-cur > c.cfg.BootstrapLag
}

// noteHubIndex records the hub's applied index from a response header.
func (c *Client) noteHubIndex(h http.Header) {
	if v, err := strconv.ParseUint(h.Get("X-Hub-Index"), 10, 64); err == nil {
		c.hubIndex.Store(v)
	}
}

// bootstrap streams the hub's snapshot (GET /v1/sync/snapshot) and
// applies it page by page with the store's BootstrapClusters (each page
// one durable transaction), then moves the feed cursor to the
// snapshot's Raft index (even below the old cursor), from where the feed
// continues. The cursor moves
// only after the end record has been read and checked, so a stream cut
// short (hub died, network) is simply started again: pages are
// idempotent. The stream is read as it arrives, so memory is one page,
// whatever the hub holds. A stream that makes no progress for
// StreamIdle is abandoned.
func (c *Client) bootstrap(ctx context.Context) error {
	start := c.cfg.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(c.cfg.StreamIdle, func() { cancel(errStreamIdle) })
	defer idle.Stop()

	// Acknowledged before the hub took its copy; see pullOnce.
	acked, err := c.pushPos()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url()+"/v1/sync/snapshot", nil)
	if err != nil {
		return err
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.stream.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnreachable, bootstrapErr(ctx, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%w: snapshot: status %d: %s", ErrHub, resp.StatusCode, truncate(b))
	}
	sr, err := replication.NewSnapshotReader(resp.Body)
	if err != nil {
		return fmt.Errorf("%w: snapshot: %w", ErrHub, bootstrapErr(ctx, err))
	}
	h := sr.Header()
	if err := c.applyCatalog(h.Catalog); err != nil {
		return err
	}
	var items uint64
	for {
		idle.Reset(c.cfg.StreamIdle)
		page, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: snapshot: %w", ErrHub, bootstrapErr(ctx, err))
		}
		res, err := c.st.BootstrapClusters(ctx, page, acked)
		if err != nil {
			return bootstrapErr(ctx, err)
		}
		if res.Rejected > 0 {
			return fmt.Errorf("%w: %d snapshot entries refused by the store (clock drift)", ErrHub, res.Rejected)
		}
		items += uint64(len(page))
	}
	// Even backwards: after a rebuilt hub's snapshot our old cursor means
	// nothing; after a lagging follower's, re-reading a little is harmless.
	if err := c.st.SetPosition(FeedCursor, h.Index); err != nil {
		return err
	}
	c.hubIndex.Store(h.Index)
	c.bootstraps.Add(1)
	c.pulled.Add(items)
	c.synced()
	c.log.Info("bootstrapped from the hub's snapshot", "clusters", items, "index", h.Index,
		"took", c.cfg.Now().Sub(start).Round(time.Millisecond).String())
	return nil
}

var errStreamIdle = errors.New("hubsync: snapshot stream idle")

// bootstrapErr names the idle timeout when it is what cut a stream.
func bootstrapErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errStreamIdle) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}
