package hubtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"ucv/hub"
)

// Cluster is an in-process hub cluster on raft's InmemTransport. Nodes
// keep their in-memory log, stable and snapshot stores across Kill and
// Restart, as a process keeps its disk.
type Cluster struct {
	tb    testing.TB
	mu    sync.Mutex
	nodes []*node
	log   *raftLog
	clock Clock
	tune  func(*hub.Config)
}

// raftLog collects every node's Raft log lines; the test prints them
// only when it fails, so a stalled election can be read afterwards.
type raftLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *raftLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *raftLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type node struct {
	id     string
	addr   raft.ServerAddress
	trans  *raft.InmemTransport
	logs   *raft.InmemStore
	snaps  *raft.InmemSnapshotStore
	server *hub.Server // nil while killed
	cut    map[raft.ServerAddress]bool
}

// RaftConfig returns Raft settings with timers shrunk for tests.
func RaftConfig() *raft.Config {
	c := raft.DefaultConfig()
	// Short, but not so short that a loaded 2-core machine running the
	// race detector starves heartbeats into needless elections.
	c.HeartbeatTimeout = 250 * time.Millisecond
	c.ElectionTimeout = 250 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 1 << 20
	return c
}

// NewCluster starts n voters (node-0 bootstraps and adds the others),
// waits for a leader and stops every node when the test ends.
func NewCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	return NewClusterWith(tb, n, nil)
}

// NewClusterWith is NewCluster with tune applied to every node's
// configuration (at every start and restart) after the harness's own
// settings: tests shrink the webhook deliverer's backoff this way.
func NewClusterWith(tb testing.TB, n int, tune func(*hub.Config)) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, log: &raftLog{}, tune: tune}
	for i := range n {
		addr, trans := raft.NewInmemTransportWithTimeout(raft.ServerAddress(fmt.Sprintf("hub-%d", i)), time.Second)
		c.nodes = append(c.nodes, &node{id: fmt.Sprintf("hub-%d", i), addr: addr, trans: trans,
			logs: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore(), cut: map[raft.ServerAddress]bool{}})
	}
	c.wire()
	tb.Cleanup(func() {
		for i := range c.nodes {
			c.Kill(i)
		}
		if tb.Failed() {
			tb.Logf("raft logs of every node:\n%s", c.log)
		}
	})
	for i := range c.nodes {
		c.start(i, i == 0)
	}
	leader := c.Leader()
	for i := 1; i < n; i++ {
		if err := c.nodes[leader].server.AddVoter(context.Background(), c.nodes[i].id, string(c.nodes[i].addr)); err != nil {
			tb.Fatalf("add voter %d: %v", i, err)
		}
	}
	c.WaitFormed()
	return c
}

// WaitFormed waits until every live node holds a configuration of all
// the cluster's nodes. AddVoter returns once a quorum has the change, so
// a node may still hold an older configuration; hashicorp/raft then
// refuses votes from candidates missing from it ("rejecting vote request
// since node is not in configuration"). Cut the leader off in that window
// and the other two can never elect one another until the partition
// heals — a real Raft property, not a harness flaw, so tests that cut
// nodes off start from a formed cluster.
func (c *Cluster) WaitFormed() {
	c.tb.Helper()
	c.WaitFor("every node to hold the full configuration", func() bool {
		for i := range c.nodes {
			s := c.Server(i)
			if s == nil {
				continue
			}
			if ms, err := s.Members(); err != nil || len(ms) != len(c.nodes) {
				return false
			}
		}
		return true
	})
}

// wire connects every pair of transports that is not cut.
func (c *Cluster) wire() {
	for _, a := range c.nodes {
		a.trans.DisconnectAll()
		for _, b := range c.nodes {
			if a != b && !a.cut[b.addr] && !b.cut[a.addr] {
				a.trans.Connect(b.addr, b.trans)
			}
		}
	}
}

func (c *Cluster) start(i int, bootstrap bool) {
	c.tb.Helper()
	nd := c.nodes[i]
	cfg := hub.DefaultConfig()
	cfg.NodeID = nd.id
	cfg.Raft = RaftConfig()
	cfg.Bootstrap = bootstrap
	cfg.ApplyTimeout = 5 * time.Second
	cfg.Transport, cfg.LogStore, cfg.StableStore, cfg.SnapshotStore = nd.trans, nd.logs, nd.logs, nd.snaps
	cfg.Forward = c.forward
	cfg.RaftLog = &prefixed{id: nd.id, w: c.log}
	cfg.Now, cfg.TickInterval = c.clock.Now, TickInterval
	if c.tune != nil {
		c.tune(&cfg)
	}
	s, err := hub.New(cfg)
	if err != nil {
		c.tb.Fatalf("start %s: %v", nd.id, err)
	}
	c.mu.Lock()
	nd.server = s
	c.mu.Unlock()
}

// forward plays the hub's internal HTTP hop: the follower hands the
// command to the leader it names.
func (c *Cluster) forward(ctx context.Context, id string, cmd []byte) (*hub.Result, error) {
	c.mu.Lock()
	var s *hub.Server
	for _, nd := range c.nodes {
		if nd.id == id {
			s = nd.server
		}
	}
	c.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("leader %s is down: %w", id, &hub.NotLeaderError{})
	}
	res, err := s.Apply(ctx, cmd)
	if res == nil && err != nil {
		return nil, err
	}
	return res, nil
}

// Clock returns the clock every node of the cluster ticks with.
func (c *Cluster) Clock() *Clock { return &c.clock }

// Len returns the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// Server returns node i's server (nil while killed).
func (c *Cluster) Server(i int) *hub.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].server
}

// Leader waits (up to 10 s) for exactly one live node to lead and
// returns its index.
func (c *Cluster) Leader() int {
	c.tb.Helper()
	var found int
	c.WaitFor("a leader", func() bool {
		found = -1
		for i := range c.nodes {
			if s := c.Server(i); s != nil && s.IsLeader() {
				if found >= 0 {
					return false
				}
				found = i
			}
		}
		return found >= 0
	})
	return found
}

// WaitFor polls cond until it holds, failing the test after 30 s.
func (c *Cluster) WaitFor(what string, cond func() bool) {
	c.tb.Helper()
	// Generous: an election on a 2-core machine running several race-
	// enabled suites at once can take seconds; a healthy run takes ms.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Partition cuts node i off from every other node.
func (c *Cluster) Partition(i int) {
	for _, nd := range c.nodes {
		if nd != c.nodes[i] {
			c.nodes[i].cut[nd.addr] = true
		}
	}
	c.wire()
}

// Heal reconnects every node.
func (c *Cluster) Heal() {
	for _, nd := range c.nodes {
		clear(nd.cut)
	}
	c.wire()
}

// Kill stops node i abruptly (its stores survive for Restart).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.nodes[i].server
	c.nodes[i].server = nil
	c.mu.Unlock()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		c.tb.Errorf("close %d: %v", i, err)
	}
}

// Restart starts a killed node again on its old stores and a fresh
// transport at the same address.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	nd := c.nodes[i]
	nd.addr, nd.trans = raft.NewInmemTransportWithTimeout(nd.addr, time.Second)
	c.wire()
	c.start(i, false)
}

// Apply commits cmd through node i (forwarded when it is a follower),
// retrying for up to 10 s while there is no leader or leadership moves,
// as an edge or a steward's client does. Commands must therefore be
// safe to repeat (sync batches are: a replay is a duplicate).
func (c *Cluster) Apply(i int, cmd []byte) (*hub.Result, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := c.TryApply(i, cmd)
		var nl *hub.NotLeaderError
		if err == nil || !errors.As(err, &nl) || time.Now().After(deadline) {
			return res, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TryApply commits cmd through node i once.
func (c *Cluster) TryApply(i int, cmd []byte) (*hub.Result, error) {
	s := c.Server(i)
	if s == nil {
		return nil, fmt.Errorf("node %d is down", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Apply(ctx, cmd)
}

// WaitApplied waits until every live node's FSM has applied the command
// at index.
func (c *Cluster) WaitApplied(index uint64) {
	c.tb.Helper()
	c.WaitFor(fmt.Sprintf("index %d applied everywhere", index), func() bool {
		for i := range c.nodes {
			if s := c.Server(i); s != nil && s.FSM().Index() < index {
				return false
			}
		}
		return true
	})
}

// prefixed tags each log write with the node it came from.
type prefixed struct {
	id string
	w  *raftLog
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	fmt.Fprintf(&p.w.buf, "%s %s %s", time.Now().Format("15:04:05.000"), p.id, b)
	return len(b), nil
}

// LogStore returns node i's Raft log store (it survives Kill and
// Restart), for tests that read what the log holds.
func (c *Cluster) LogStore(i int) raft.LogStore {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].logs
}
