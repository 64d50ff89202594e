package gossip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"ucv/edge/store"
	"ucv/replication"
)

// Node is one edge's membership in its site's gossip cluster. It is safe
// for concurrent use. Close stops it; the store stays open (its owner
// closes it after the Node).
type Node struct {
	cfg    Config
	st     *store.Store
	log    *slog.Logger
	origin uint64 // the store's HLC node ID: names our changes
	name   string
	budget int // largest message that goes on the broadcast queue

	ml      *memberlist.Memberlist
	keyring *memberlist.Keyring
	bq      *memberlist.TransmitLimitedQueue

	work chan applyWork
	out  chan outWork
	seen *seenSet

	pullMu   sync.Mutex
	lastPull map[string]time.Time

	membersMu sync.Mutex
	dead      map[string]string          // left or declared dead, not back since: name → address
	peers     map[string]memberlist.Node // live members (copies), by name

	stats counters

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// applyWork is a batch of received entries for the apply worker.
type applyWork struct {
	entries []replication.Entry
	repair  bool // anti-entropy states rather than live deltas
}

type outKind int

const (
	outPull     outKind = iota // ask node for buckets
	outServe                   // stream buckets to node
	outReliable                // send msg to every member over the stream
)

// outWork is a send for the out workers.
type outWork struct {
	kind    outKind
	node    string
	buckets []int
	msg     []byte
}

// New starts a Node for st: it creates the memberlist (listening on
// cfg.Memberlist's bind address or Transport) and the Node's goroutines.
// It does not join anyone; call Join.
func New(st *store.Store, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:      cfg,
		st:       st,
		log:      lg,
		origin:   uint64(st.Node()),
		name:     cfg.Memberlist.Name,
		budget:   cfg.Memberlist.UDPBufferSize - 64 - len(cfg.Memberlist.Label),
		work:     make(chan applyWork, cfg.QueueLen),
		out:      make(chan outWork, 256),
		seen:     newSeenSet(cfg.SeenEntries),
		lastPull: map[string]time.Time{},
		dead:     map[string]string{},
		peers:    map[string]memberlist.Node{},
		ctx:      ctx,
		cancel:   cancel,
	}
	mc := *cfg.Memberlist
	mc.Delegate = &delegate{n}
	mc.Events = &events{n}
	mc.Logger = log.New(&logWriter{n}, "", 0)
	mc.LogOutput = nil
	if len(cfg.SecretKey) > 0 {
		kr, err := memberlist.NewKeyring(cfg.ExtraKeys, cfg.SecretKey)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("gossip: keyring: %w", err)
		}
		mc.Keyring = kr
		n.keyring = kr
		mc.SecretKey = nil
	}
	n.bq = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return n.numMembers() },
		RetransmitMult: mc.RetransmitMult,
	}
	ml, err := memberlist.Create(&mc)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("gossip: start memberlist: %w", err)
	}
	n.ml = ml
	n.wg.Add(5)
	go n.reconnectLoop()
	go n.broadcastLoop()
	go n.applyLoop()
	go n.outLoop()
	go n.outLoop()
	return n, nil
}

// numMembers is NumMembers before the memberlist exists (during Create).
func (n *Node) numMembers() int {
	if n.ml == nil {
		return 1
	}
	return n.ml.NumMembers()
}

// Join contacts the given gossip addresses (HOST:PORT) and returns how
// many answered. Joining one live member is enough; the join's push/pull
// starts the anti-entropy that bootstraps this edge.
func (n *Node) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	k, err := n.ml.Join(addrs)
	if err != nil {
		return k, fmt.Errorf("gossip: join: %w", err)
	}
	return k, nil
}

// Name returns this node's memberlist name.
func (n *Node) Name() string { return n.name }

// Addr returns the address other edges join (HOST:PORT).
func (n *Node) Addr() string { return n.ml.LocalNode().Address() }

// NumMembers returns the members believed alive, this node included.
func (n *Node) NumMembers() int { return n.ml.NumMembers() }

// Keyring returns the live keyring (nil without a key), for rotating keys
// at run time: AddKey, UseKey, RemoveKey.
func (n *Node) Keyring() *memberlist.Keyring { return n.keyring }

// Close leaves the cluster (bounded by ctx), shuts memberlist down, stops
// the goroutines and waits for them. It is idempotent; later calls return
// the first call's result. The store is not closed.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		timeout := time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(d)/2)
		}
		var errs []error
		if err := n.ml.Leave(max(timeout, time.Millisecond)); err != nil {
			errs = append(errs, fmt.Errorf("gossip: leave: %w", err))
		}
		if err := n.ml.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("gossip: shutdown: %w", err))
		}
		n.cancel()
		done := make(chan struct{})
		go func() { n.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("gossip: waiting for goroutines: %w", ctx.Err()))
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// member returns a copy of the live member called name (nil if none).
func (n *Node) member(name string) *memberlist.Node {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	m, ok := n.peers[name]
	if !ok {
		return nil
	}
	return &m
}

// others returns copies of the live members but this node.
func (n *Node) others() []memberlist.Node {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	out := make([]memberlist.Node, 0, len(n.peers))
	for _, m := range n.peers {
		if m.Name != n.name {
			out = append(out, m)
		}
	}
	return out
}

// reconnectLoop re-joins, every ReconnectInterval, one member that left
// or died (they may be back, or on the other side of a healed
// partition), and the configured Join addresses while alone.
func (n *Node) reconnectLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.ReconnectInterval)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
		var addrs []string
		n.membersMu.Lock()
		for _, a := range n.dead { // map order: a random one
			addrs = append(addrs, a)
			break
		}
		n.membersMu.Unlock()
		if n.ml.NumMembers() <= 1 {
			addrs = append(addrs, n.cfg.Join...)
		}
		if len(addrs) > 0 {
			n.ml.Join(addrs) // failures are expected: the peer may be gone for good
		}
	}
}

// broadcast is one queued message. It never invalidates another: each
// carries a partial delta that must not be dropped for a newer one. It is
// a memberlist.UniqueBroadcast, so queueing one does not scan the whole
// queue for messages it might invalidate (memberlist's "slow path": O(queue)
// per message, 10 % of all CPU while an edge catches up 100k changes).
type broadcast struct{ msg []byte }

var _ memberlist.UniqueBroadcast = (*broadcast)(nil)

func (b *broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b *broadcast) Message() []byte                       { return b.msg }
func (b *broadcast) Finished()                             {}
func (b *broadcast) UniqueBroadcast()                      {}

// queue puts msg on the broadcast queue, pruning the oldest beyond the cap.
func (n *Node) queue(msg []byte) {
	n.bq.QueueBroadcast(&broadcast{msg: msg})
	if q := n.bq.NumQueued(); q > n.cfg.MaxBroadcastQueue {
		n.bq.Prune(n.cfg.MaxBroadcastQueue)
		n.stats.dropped.Add(uint64(q - n.cfg.MaxBroadcastQueue))
	}
}

// enqueueOut hands w to the out workers without blocking.
func (n *Node) enqueueOut(w outWork) bool {
	select {
	case n.out <- w:
		return true
	default:
		n.stats.dropped.Add(1)
		return false
	}
}

// broadcastLoop publishes the outbox from the persisted cursor whenever
// the store signals a change (and once a second, as a safety net for a
// failed pass).
func (n *Node) broadcastLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	c := store.NewReaderCursor(n.st, Cursor, n.cfg.CursorInterval)
	for {
		changed := n.st.Changed() // before reading, so no commit is missed
		if err := n.publishOutbox(c); err != nil && n.ctx.Err() == nil {
			n.log.Error("gossip publish", "err", err)
		}
		select {
		case <-n.ctx.Done():
			if _, _, err := c.Flush(true); err != nil {
				n.log.Error("gossip publish: save the cursor", "err", err)
			}
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// publishOutbox publishes the committed outbox past the cursor, which
// it moves on and saves at most every CursorInterval
// (store.ReaderCursor). It reads what is committed without waiting for
// the applier (CommittedOutbox): a wait, or a save after every pass,
// would make the store's applier commit its open transaction at every
// pass, per batch again (decision 0097). Entries committed after the
// read are signalled by Changed. A crash between saves publishes the
// entries after the saved position again; peers apply them as the
// duplicates they are (deltas are idempotent).
func (n *Node) publishOutbox(c *store.ReaderCursor) error {
	cur, err := c.Pos()
	if err != nil {
		return err
	}
	last, err := n.st.CommittedLastSeq()
	if err != nil {
		return err
	}
	if last > cur+n.cfg.MaxBacklog {
		n.stats.skipped.Add(last - cur)
		cur = last
	}
	for n.ctx.Err() == nil {
		es, err := n.st.CommittedOutbox(cur, 512)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if err := n.publish(e); err != nil {
				return err
			}
		}
		cur = es[len(es)-1].Seq
		if _, _, err := c.Advance(cur); err != nil {
			return err
		}
	}
	_, _, err = c.Advance(cur) // a backlog skip; and an idle pass saves what moved, when due
	return err
}

// publish sends one local change: on the broadcast queue when it fits a
// packet, else to every member over the reliable stream.
func (n *Node) publish(e replication.Entry) error {
	msg, err := replication.MarshalEntries(replication.MsgEntries, &replication.Entries{Origin: n.origin, Entries: []replication.Entry{e}})
	if err != nil {
		return err
	}
	n.seen.add(n.origin, e.Seq)
	n.stats.sent.Add(1)
	n.stats.sentBytes.Add(uint64(len(msg)))
	if len(msg) > n.budget {
		n.enqueueOut(outWork{kind: outReliable, msg: msg})
		return nil
	}
	n.queue(msg)
	return nil
}

// applyLoop applies received work through store.ApplyRemote, folding
// what is queued into one call.
func (n *Node) applyLoop() {
	defer n.wg.Done()
	for {
		var w applyWork
		select {
		case <-n.ctx.Done():
			return
		case w = <-n.work:
		}
		var live, repair []replication.Entry
		add := func(w applyWork) {
			if w.repair {
				repair = append(repair, w.entries...)
			} else {
				live = append(live, w.entries...)
			}
		}
		add(w)
	drain:
		for len(live)+len(repair) < n.cfg.MaxApplyEntries {
			select {
			case w = <-n.work:
				add(w)
			default:
				break drain
			}
		}
		if len(live) > 0 {
			r := n.apply(n.st.ApplyRemote, live)
			n.stats.applied.Add(uint64(r.Applied))
			n.stats.rejected.Add(uint64(r.Rejected))
		}
		if len(repair) > 0 {
			// Full states: they also complete the repair of a profile
			// whose own copy was found damaged here.
			r := n.apply(n.st.ApplyStates, repair)
			n.stats.repaired.Add(uint64(r.Applied))
			n.stats.rejected.Add(uint64(r.Rejected))
		}
	}
}

// apply calls the store's fn (ApplyRemote or ApplyStates), retrying a
// few times while the store is overloaded; what cannot be applied is
// dropped (anti-entropy repairs it).
func (n *Node) apply(fn func(context.Context, []replication.Entry) (store.ApplyResult, error), es []replication.Entry) store.ApplyResult {
	delay := 10 * time.Millisecond
	for try := 0; ; try++ {
		r, err := fn(n.ctx, es)
		if err == nil {
			return r
		}
		if !errors.Is(err, store.ErrOverloaded) || try == 5 {
			if n.ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
				n.log.Error("gossip apply", "err", err, "entries", len(es))
			}
			n.stats.dropped.Add(uint64(len(es)))
			return store.ApplyResult{}
		}
		select {
		case <-n.ctx.Done():
			return store.ApplyResult{}
		case <-time.After(delay):
			delay *= 2
		}
	}
}

// outLoop performs sends: pulls, pull answers and oversize deltas.
func (n *Node) outLoop() {
	defer n.wg.Done()
	for {
		var w outWork
		select {
		case <-n.ctx.Done():
			return
		case w = <-n.out:
		}
		var err error
		switch w.kind {
		case outPull:
			err = n.sendPull(w.node, w.buckets)
		case outServe:
			err = n.serve(w.node, w.buckets)
		case outReliable:
			for _, m := range n.others() {
				if e := n.ml.SendReliable(&m, w.msg); e != nil {
					err = errors.Join(err, e)
				}
			}
		}
		if err != nil && n.ctx.Err() == nil {
			n.log.Warn("gossip send", "err", err, "peer", w.node)
		}
	}
}

func (n *Node) sendPull(peer string, buckets []int) error {
	m := n.member(peer)
	if m == nil {
		return nil
	}
	msg, err := replication.MarshalPull(&replication.Pull{Node: n.name, Buckets: buckets})
	if err != nil {
		return err
	}
	n.stats.pulls.Add(1)
	if err := n.ml.SendReliable(m, msg); err != nil {
		return fmt.Errorf("gossip: pull from %s: %w", peer, err)
	}
	return nil
}

// serve streams the full states of buckets to peer in chunks.
func (n *Node) serve(peer string, buckets []int) error {
	m := n.member(peer)
	if m == nil {
		return nil
	}
	b := &replication.Batcher{Type: replication.MsgBucketEntries, Origin: n.origin, MaxBytes: n.cfg.ChunkBytes}
	send := func(msg []byte) error {
		if msg == nil {
			return nil
		}
		n.stats.chunksSent.Add(1)
		n.stats.sentBytes.Add(uint64(len(msg)))
		return n.ml.SendReliable(m, msg)
	}
	err := n.st.BucketEntries(buckets, func(e replication.Entry) error {
		if err := n.ctx.Err(); err != nil {
			return err
		}
		msg, err := b.Add(e)
		if err != nil {
			return err
		}
		return send(msg)
	})
	if err == nil {
		var msg []byte
		if msg, err = b.Flush(); err == nil {
			err = send(msg)
		}
	}
	if err != nil {
		return fmt.Errorf("gossip: serve %d buckets to %s: %w", len(buckets), peer, err)
	}
	return nil
}
