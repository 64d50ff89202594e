package hubsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ucv/edge/store"
	"ucv/profile/catalog"
	"ucv/replication"
	"ucv/tlsconf"
)

// Names of the store's persisted positions this client owns:
// PushCursor (a store Cursor, so it holds back outbox trimming) is the
// last outbox sequence the hub acknowledged; FeedCursor (a store
// Position: a Raft index, which must never cap the outbox) is the hub
// feed position applied here.
const (
	PushCursor = "hub"
	FeedCursor = "hub-feed"
)

// Store is what the client needs of edge/store.Store.
type Store interface {
	Outbox(after uint64, limit int) ([]replication.Entry, error)
	// CommittedOutbox and CommittedLastSeq are Outbox and LastSeq
	// without waiting for the events acknowledged to be applied: the
	// push loop follows commits (Changed) instead (decision 0097).
	CommittedOutbox(after uint64, limit int) ([]replication.Entry, error)
	CommittedLastSeq() (uint64, error)
	Cursor(name string) (uint64, error)
	SetCursor(name string, seq uint64) error
	// SetCursorBehind, TrimOutboxBehind and SetHubSyncedAtBehind are
	// made with the store's next commit, without waiting for it or
	// making it commit, in the order they were called (decision 0101).
	SetCursorBehind(name string, seq uint64) error
	Position(name string) (uint64, error)
	SetPosition(name string, v uint64) error
	TrimOutbox(upTo uint64) (int, error)
	TrimOutboxBehind(upTo uint64) error
	// Changed returns a channel closed after the next outbox append;
	// other readers (gossip) wait on it too.
	Changed() <-chan struct{}
	// ApplyClustersAt applies a feed page and moves the named position
	// in one transaction.
	ApplyClustersAt(ctx context.Context, cs []replication.FeedItem, unacked uint64, name string, v uint64) (store.ApplyResult, error)
	BootstrapClusters(ctx context.Context, cs []replication.FeedItem, unacked uint64) (store.ApplyResult, error)
	SetHubSyncedAtBehind(t time.Time) error
	// SetCatalog makes c the catalog of definitions in force, durably
	// (a stale one, of a smaller version, is ignored).
	SetCatalog(c catalog.Catalog) (changed bool, err error)
	Resyncer
	Privacy
}

// Privacy is what the privacy step (SyncPrivacy) needs of the store.
type Privacy interface {
	// SetPrivacySalt stores the hub's privacy salt durably.
	SetPrivacySalt(salt []byte) error
	// ApplyDirective carries a directive out in one durable write that
	// also records its ID as done.
	ApplyDirective(ctx context.Context, d replication.Directive) error
	// PrivacyDone lists directives done and not yet confirmed;
	// ConfirmPrivacy forgets confirmed ones.
	PrivacyDone() ([]string, error)
	ConfirmPrivacy(ids []string) error
	// CompactPending reports an erasure not compacted yet; Compact
	// rewrites the data file without freed pages.
	CompactPending() bool
	Compact() error
}

// Config configures a Client. Start from DefaultConfig.
type Config struct {
	// URLs are hub nodes' base URLs (any node: followers forward pushes
	// to the leader and serve the feed from their own state). The client
	// moves to the next one when one fails.
	URLs []string
	// Token is the hub's sync bearer token ("" when the hub runs open).
	Token string
	// Edge is this edge's stable ID, the hub's key for its sequences:
	// the store's HLC node ID in hex.
	Edge string
	// BatchEntries and MaxBatchBytes bound one push.
	BatchEntries  int
	MaxBatchBytes int
	// FeedWait is the long-poll wait of a feed request; FeedItems the
	// most clusters one feed page may carry (1..replication.MaxFeedItems;
	// the hub halves a page that would not fit a message).
	FeedWait  time.Duration
	FeedItems int
	// Bootstrap makes a new edge (feed cursor 0) read the hub's streamed
	// snapshot instead of paging the feed from the start; BootstrapLag
	// (Raft indexes, 0: never) does the same for an edge that far behind
	// the hub. StreamIdle abandons a snapshot stream that stalls that
	// long (the stream as a whole has no deadline).
	Bootstrap    bool
	BootstrapLag uint64
	StreamIdle   time.Duration
	// TrimAfter names other outbox readers' cursors (gossip's) that must
	// also have passed an entry before it is trimmed.
	TrimAfter []string
	// Ready, when set, holds both loops back until it is closed: `ucv
	// dev` starts its in-process hub after the edge (whose data file is
	// checked first) and closes it once the hub leads, so the edge's
	// first step — a registration, a Raft write — is not refused.
	Ready <-chan struct{}
	// MinBackoff and MaxBackoff bound the delay between attempts after a
	// failed one while the hub answers with errors (503 without a leader,
	// say); LinkBackoff caps it while no hub can be reached at all (no
	// connection, or one that died), so that a link coming back is
	// noticed within about a second. The delay doubles with each failure,
	// is jittered (half of it random), and counts from the start of the
	// failed attempt: one that already waited out DialTimeout retries at
	// once (docs/decisions/0053-reconnect.md).
	MinBackoff, MaxBackoff, LinkBackoff time.Duration
	// RequestTimeout bounds each request but the feed's long-poll, whose
	// deadline is FeedWait + RequestTimeout (the hub holds it at most
	// FeedWait), and the snapshot stream (StreamIdle bounds its stalls).
	RequestTimeout time.Duration
	// DialTimeout bounds making a connection to a hub; within it a new
	// attempt starts every DialStagger while none has connected, so a SYN
	// lost to a link that was down is not waited for.
	DialTimeout, DialStagger time.Duration
	// KeepAlive probes idle connections (a long-poll waiting for news) so
	// a dead one is noticed; UserTimeout (TCP_USER_TIMEOUT, Linux; 0: the
	// kernel's default of minutes) drops a connection whose sent data or
	// probes stay unacknowledged that long. Both apply to the connections
	// New makes (Client nil).
	KeepAlive   net.KeepAliveConfig
	UserTimeout time.Duration
	// Client makes the requests; nil (the default) makes one over a
	// transport with the dial settings above. A Client given here keeps
	// its transport (but with TLS, New replaces it), and its Timeout must
	// then exceed FeedWait.
	Client *http.Client
	// TLS, when set, carries every request over TLS made with it (New
	// replaces Client's transport): its CA file verifies the hub (`--hub-ca`;
	// the system's roots without one) and its certificate, if any, is the
	// edge's client certificate (`--tls-client-cert`), whose name the hub
	// knows the edge by. Every URL must then be https.
	TLS *tlsconf.Loader
	// Logger receives errors of the background loops; nil discards them.
	Logger *slog.Logger
	// Now is the clock of HubSyncedAt.
	Now func() time.Time
	// CursorInterval is the least time between two saves of the push
	// cursor (with the outbox trim it allows) while pushes flow, and
	// between two records of the hub-sync time: each is a write
	// transaction of the store, which makes its applier commit
	// (decision 0097). 0 saves after every push.
	CursorInterval time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		BatchEntries:  1000,
		MaxBatchBytes: 4 << 20,
		FeedWait:      20 * time.Second,
		FeedItems:     1024,
		Bootstrap:     true,
		BootstrapLag:  10_000,
		StreamIdle:    30 * time.Second,
		MinBackoff:    100 * time.Millisecond,
		MaxBackoff:    5 * time.Second,
		LinkBackoff:   time.Second,
		// A push commits through Raft in milliseconds; 10 s covers an
		// election.
		RequestTimeout: 10 * time.Second,
		// Staggered attempts make a 2 s budget safe on a slow WAN path:
		// an early attempt's SYN-ACK still counts when it comes.
		DialTimeout: 2 * time.Second,
		DialStagger: 250 * time.Millisecond,
		// A dead idle connection is dropped after 5 s of silence and one
		// unanswered probe (UserTimeout ends the probing).
		KeepAlive: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: time.Second, Count: 3},
		// A healthy path acknowledges within a few hundred milliseconds;
		// 3 s without any acknowledgement is a dead path. Dropping a live
		// but lossy connection costs one reconnect and a repeated push,
		// which the hub answers as a duplicate.
		UserTimeout:    3 * time.Second,
		Now:            time.Now,
		CursorInterval: time.Second,
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case len(c.URLs) == 0:
		return errors.New("hubsync: config: at least one hub URL is required")
	case c.Edge == "":
		return errors.New("hubsync: config: Edge is required")
	case c.BatchEntries <= 0 || c.MaxBatchBytes <= 0 || c.MaxBatchBytes > replication.MaxMessageBytes/2:
		return errors.New("hubsync: config: BatchEntries must be positive and MaxBatchBytes in 1..MaxMessageBytes/2")
	case c.FeedItems < 1 || c.FeedItems > replication.MaxFeedItems:
		return fmt.Errorf("hubsync: config: FeedItems must be in 1..%d", replication.MaxFeedItems)
	case c.FeedWait < 0 || c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.LinkBackoff < c.MinBackoff:
		return errors.New("hubsync: config: bad FeedWait or backoff")
	case c.RequestTimeout <= 0 || c.DialTimeout <= 0 || c.DialStagger <= 0 || c.UserTimeout < 0:
		return errors.New("hubsync: config: RequestTimeout, DialTimeout and DialStagger must be positive, UserTimeout not negative")
	case c.Bootstrap && c.StreamIdle <= 0:
		return errors.New("hubsync: config: StreamIdle must be positive with Bootstrap")
	case c.Now == nil:
		return errors.New("hubsync: config: Now is required")
	case c.CursorInterval < 0:
		return errors.New("hubsync: config: CursorInterval is negative")
	}
	for _, u := range c.URLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("hubsync: config: hub URL %q is not an http(s) URL", u)
		} else if c.TLS != nil && p.Scheme != "https" {
			return fmt.Errorf("hubsync: config: hub URL %q is not https, but TLS is configured", u)
		}
	}
	return nil
}

// Stats count what the client did since Start.
type Stats struct {
	Pushed, Pulled, Failures uint64
	// Bootstraps counts snapshots applied completely.
	Bootstraps uint64
	// Privacy counts privacy directives carried out (SyncPrivacy).
	Privacy uint64
}

// Client runs the push and pull loops. Start it once; Close stops it.
type Client struct {
	st  Store
	cfg Config
	log *slog.Logger
	cur atomic.Int64 // index into cfg.URLs of the hub in use

	pushed, pulled, failures atomic.Uint64
	bootstraps               atomic.Uint64
	privacy                  atomic.Uint64 // directives carried out
	noPrivacy                atomic.Bool   // a hub answered 404 to the privacy step (logged once)
	hubIndex                 atomic.Uint64 // the hub's applied index, as last heard
	// paging is set while the pull loop follows the feed page after
	// page: from its first feed page applied until a pull fails. Only
	// an edge that is not paging (starting, or back from a failure)
	// takes the half-the-history snapshot (needsBootstrap).
	paging   atomic.Bool
	stream   *http.Client        // cfg.Client without its overall timeout
	lastSync atomic.Int64        // ms of the last SetHubSyncedAtBehind
	push     *store.ReaderCursor // PushCursor in memory (pushcursor.go)

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New returns a client; nothing runs until Start.
func New(st Store, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.URLs = slices.Clone(cfg.URLs) // the caller's slice stays the caller's
	for i, u := range cfg.URLs {
		cfg.URLs[i] = strings.TrimRight(u, "/")
	}
	c := &Client{st: st, cfg: cfg, log: cfg.Logger, push: store.NewReaderCursor(st, PushCursor, cfg.CursorInterval)}
	d := &dialer{timeout: cfg.DialTimeout, stagger: cfg.DialStagger, keepAlive: cfg.KeepAlive, userTimeout: cfg.UserTimeout}
	switch {
	case cfg.Client == nil:
		c.cfg.Client = &http.Client{Transport: c.transport(d)}
	case cfg.TLS != nil:
		hc := *cfg.Client
		hc.Transport = c.transport(d)
		c.cfg.Client = &hc
	}
	cfg = c.cfg
	sc := *cfg.Client
	sc.Timeout = 0 // a snapshot stream may take minutes; StreamIdle bounds stalls
	c.stream = &sc
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Start launches the push and pull loops; they run until Close.
func (c *Client) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.loop(ctx, "push", c.pushOnce, c.st.Changed)
		if err := c.flushPush(true); err != nil {
			c.log.Warn("hub push: save the push cursor", "err", err)
		}
	}()
	go func() { defer c.wg.Done(); c.loop(ctx, "pull", c.pullOnce, nil) }()
}

// Close stops the loops and waits for them (or for ctx). In-flight
// requests are cancelled; whatever the hub did not acknowledge stays in
// the outbox for next time. Idempotent.
func (c *Client) Close(ctx context.Context) error {
	var err error
	c.closeOnce.Do(func() {
		if c.cancel == nil {
			return
		}
		c.cancel()
		done := make(chan struct{})
		go func() { c.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("hubsync: close: %w", ctx.Err())
		}
	})
	return err
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{Pushed: c.pushed.Load(), Pulled: c.pulled.Load(), Failures: c.failures.Load(), Bootstraps: c.bootstraps.Load(), Privacy: c.privacy.Load()}
}

// loop runs step until ctx ends. step reports whether there may be more
// to do at once; otherwise the loop waits for the channel wake returned
// before the step (nil wake: none) to close, or a second, before the
// next step. Failures back off (backoff) and move to the next hub URL;
// one that reached no hub also drops the idle pooled connections, which
// the same dead path would hold.
func (c *Client) loop(ctx context.Context, name string, step func(context.Context) (bool, error), wake func() <-chan struct{}) {
	if c.cfg.Ready != nil {
		select {
		case <-c.cfg.Ready:
		case <-ctx.Done():
			return
		}
	}
	var failed int // consecutive failures
	var since, warned time.Time
	for ctx.Err() == nil {
		var woken <-chan struct{} // nil blocks for ever in the select below
		if wake != nil {
			woken = wake() // before the step, so no change is missed
		}
		started := time.Now()
		more, err := step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.failures.Add(1)
			link := errors.Is(err, errUnreachable)
			if link {
				c.cfg.Client.CloseIdleConnections()
			}
			wait := c.backoff(failed, link)
			if failed == 0 {
				since = started
			}
			failed++
			// One warning when a streak starts, then one a minute.
			lvl := slog.LevelDebug
			if failed == 1 || time.Since(warned) >= time.Minute {
				lvl, warned = slog.LevelWarn, time.Now()
			}
			c.log.Log(ctx, lvl, "hub sync failed; retrying", "loop", name, "hub", c.url(), "err", err,
				"failures", failed, "retry_in", max(wait-time.Since(started), 0).Round(time.Millisecond).String())
			c.cur.Add(1)
			if wait -= time.Since(started); wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
			continue
		}
		if failed > 0 {
			c.log.Info("hub sync recovered", "loop", name, "hub", c.url(), "failures", failed,
				"down_for", time.Since(since).Round(time.Millisecond).String())
			failed = 0
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
		case <-woken:
		case <-time.After(time.Second):
		}
	}
}

// backoff is the time from the start of a failed attempt to the next
// after failed earlier failures in a row: MinBackoff doubled per
// failure up to LinkBackoff (no hub reached) or MaxBackoff (a hub
// answered with an error), its second half random so edges that lost
// the hub together do not return in step.
func (c *Client) backoff(failed int, link bool) time.Duration {
	limit := c.cfg.MaxBackoff
	if link {
		limit = c.cfg.LinkBackoff
	}
	b := c.cfg.MinBackoff
	for range min(failed, 32) {
		if b >= limit {
			break
		}
		b *= 2
	}
	b = min(b, limit)
	return b/2 + rand.N(b/2+1)
}

func (c *Client) url() string {
	return c.cfg.URLs[int(c.cur.Load()%int64(len(c.cfg.URLs)))]
}

func (c *Client) synced() {
	now := c.cfg.Now()
	if now.UnixMilli()-c.lastSync.Load() < max(250, c.cfg.CursorInterval.Milliseconds()) {
		return
	}
	c.lastSync.Store(now.UnixMilli())
	if err := c.st.SetHubSyncedAtBehind(now); err != nil {
		c.log.Warn("record hub sync time", "err", err)
	}
}

// do makes one request within RequestTimeout; see doWithin.
func (c *Client) do(ctx context.Context, method, path string, body []byte) (int, http.Header, []byte, error) {
	return c.doWithin(ctx, c.cfg.RequestTimeout, method, path, body)
}

// doWithin makes one request to the hub in use and reads its answer, all
// within timeout. A request that reached no hub, or whose connection
// failed, wraps errUnreachable.
func (c *Client) doWithin(ctx context.Context, timeout time.Duration, method, path string, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.url()+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/msgpack")
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: %w", errUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, replication.MaxMessageBytes+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: %s %s: read the answer: %w", errUnreachable, method, path, err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// pushOnce sends one batch of the outbox after the push cursor.
func (c *Client) pushOnce(ctx context.Context) (bool, error) {
	cur, err := c.pushPos()
	if err != nil {
		return false, err
	}
	cur, resync, err := c.resyncCursor(cur)
	if err != nil {
		return false, err
	}
	es, err := c.st.CommittedOutbox(cur, c.cfg.BatchEntries)
	if err != nil {
		return false, err
	}
	if lost, err := c.trimmedPast(ctx, cur, es); lost || err != nil {
		return lost, err
	}
	if len(es) == 0 {
		return false, c.flushPush(false) // idle: save what moved, when due
	}
	p := &replication.SyncPush{Edge: c.cfg.Edge, First: es[0].Seq, Resync: resync}
	size := 0
	for i := range es {
		if size += es[i].Size(); size > c.cfg.MaxBatchBytes && i > 0 {
			break
		}
		p.Entries = es[:i+1]
	}
	body, err := replication.MarshalSyncPush(p)
	if err != nil {
		return false, err
	}
	code, _, b, err := c.do(ctx, http.MethodPost, "/v1/sync/push", body)
	if err != nil {
		return false, err
	}
	switch code {
	case http.StatusOK:
		ack, err := replication.UnmarshalSyncAck(b)
		if err != nil {
			return false, fmt.Errorf("%w: ack: %w", ErrHub, err)
		}
		if ack.Seq > p.Entries[len(p.Entries)-1].Seq { // more than we sent: ours?
			if resynced, err := c.ahead(ctx, ack.Seq); resynced || err != nil {
				return resynced, err
			}
		}
		if err := c.acked(cur, ack.Seq); err != nil {
			return false, err
		}
		c.pushed.Add(uint64(len(p.Entries)))
		c.synced()
		return len(es) == c.cfg.BatchEntries || len(p.Entries) < len(es), nil
	case http.StatusConflict:
		ack, err := replication.UnmarshalSyncAck(b)
		if err != nil || ack.Status != replication.AckGap {
			return false, fmt.Errorf("%w: 409 without a gap ack", ErrHub)
		}
		if ack.Seq > p.First { // the hub is ahead of our cursor: skip what it has
			return true, c.acked(cur, ack.Seq-1)
		}
		// The hub lacks what we pushed before: resend or resync.
		return true, c.behind(ctx, p, ack.Seq)
	}
	return false, fmt.Errorf("%w: push: status %d: %s", ErrHub, code, truncate(b))
}

// acked moves the push cursor to seq; it is saved, and the outbox
// trimmed up to it (no further than the other readers named in
// TrimAfter), at most every CursorInterval (pushcursor.go).
func (c *Client) acked(cur, seq uint64) error {
	if seq <= cur {
		return nil
	}
	return c.advancePush(seq)
}

// pullOnce runs the privacy step (SyncPrivacy), then reads one page of
// the feed after the feed cursor and applies it (or bootstraps).
func (c *Client) pullOnce(ctx context.Context) (more bool, err error) {
	defer func() {
		if err != nil {
			c.paging.Store(false) // back from a failure: returning
		}
	}()
	// Privacy first: erase before applying anything else, a snapshot
	// included.
	if _, err := c.SyncPrivacy(ctx); err != nil {
		return false, err
	}
	cur, err := c.st.Position(FeedCursor)
	if err != nil {
		return false, err
	}
	if c.needsBootstrap(cur) {
		return true, c.bootstrap(ctx)
	}
	// What the hub had acknowledged before it read the page: an entry
	// acknowledged later may be missing from the page's state, so it
	// must count as unacknowledged when the page is applied.
	acked, err := c.pushPos()
	if err != nil {
		return false, err
	}
	q := "/v1/sync/feed?cursor=" + strconv.FormatUint(cur, 10) + "&wait=" + c.cfg.FeedWait.String() +
		"&max=" + strconv.Itoa(c.cfg.FeedItems)
	code, hdr, b, err := c.doWithin(ctx, c.cfg.FeedWait+c.cfg.RequestTimeout, http.MethodGet, q, nil)
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("%w: feed: status %d: %s", ErrHub, code, truncate(b))
	}
	page, err := replication.UnmarshalFeedResponse(b)
	if err != nil {
		return false, fmt.Errorf("%w: feed: %w", ErrHub, err)
	}
	c.noteHubIndex(hdr)
	if c.needsBootstrap(cur) { // far behind: a snapshot beats paging the feed
		return true, c.bootstrap(ctx)
	}
	// The catalog first: the page's profiles are then rendered with it.
	if err := c.applyCatalog(page.Catalog); err != nil {
		return false, err
	}
	if len(page.Items) > 0 || page.Next > cur {
		// The hub is authoritative: clusters it split are replaced here,
		// keeping the outbox entries after acked (read before the
		// request). One the push loop trimmed meanwhile is in the hub,
		// and a later feed item brings it back. The feed cursor moves in
		// the same transaction, not in a second one (decision 0097).
		res, err := c.st.ApplyClustersAt(ctx, page.Items, acked, FeedCursor, max(page.Next, cur))
		if err != nil {
			return false, err
		}
		if res.Rejected > 0 { // a clock ahead of ours: retry later, keep the cursor
			return false, fmt.Errorf("%w: %d feed entries refused by the store (clock drift)", ErrHub, res.Rejected)
		}
		c.pulled.Add(uint64(len(page.Items)))
	}
	c.paging.Store(true)
	c.synced()
	// The long-poll is the wait: ask again at once.
	return len(page.Items) > 0 || c.cfg.FeedWait > 0, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.TrimSpace(string(b))
}

// applyCatalog makes the catalog of definitions the hub sent (encoded;
// nil: none) the one in force. One this edge cannot decode is the hub's
// fault (an error: the page is read again). One it decodes but cannot
// compile — a hub running a newer expression language — is logged and
// skipped, keeping the catalog in force: holding up the feed for it
// would stop every profile update too. The next change of the catalog
// is tried again.
func (c *Client) applyCatalog(b []byte) error {
	if b == nil {
		return nil
	}
	cat, err := catalog.Unmarshal(b)
	if err != nil {
		return fmt.Errorf("%w: catalog: %w", ErrHub, err)
	}
	changed, err := c.st.SetCatalog(cat)
	var ce *catalog.Error
	if err != nil && !errors.As(err, &ce) {
		return err // the store's own failure: read the page again
	}
	if err != nil {
		c.log.Error("the hub's catalog of definitions cannot be used here; keeping the one in force", "version", cat.Version, "err", err)
		return nil
	}
	if changed {
		c.log.Info("catalog of definitions updated", "version", cat.Version,
			"computed_traits", len(cat.ComputedTraits), "audiences", len(cat.Audiences))
	}
	return nil
}
