package edgetest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"ucv/edge/gossip"
	"ucv/edge/store"
	"ucv/profile"
)

// FastConfig returns a gossip config for an in-memory node: memberlist's
// local defaults with timers shrunk to tens of milliseconds, no key (dev).
func FastConfig(name string, tr memberlist.Transport) gossip.Config {
	cfg := gossip.DefaultConfig()
	ml := memberlist.DefaultLocalConfig()
	ml.Name = name
	ml.Transport = tr
	ml.GossipInterval = 20 * time.Millisecond
	ml.GossipNodes = 3
	ml.ProbeInterval = 200 * time.Millisecond
	ml.ProbeTimeout = 100 * time.Millisecond
	ml.SuspicionMult = 2
	ml.PushPullInterval = 300 * time.Millisecond
	ml.GossipToTheDeadTime = 500 * time.Millisecond
	ml.TCPTimeout = 2 * time.Second
	ml.RetransmitMult = 3
	ml.EnableCompression = false // as gossip.DefaultConfig
	cfg.Memberlist = ml
	cfg.Dev = true
	cfg.MinPullInterval = 100 * time.Millisecond
	cfg.ReconnectInterval = 300 * time.Millisecond
	return cfg
}

// Edge is one member of a Cluster.
type Edge struct {
	Name      string
	Store     *store.Store
	Gossip    *gossip.Node
	Transport *Transport
}

// Cluster is N edges on one Network.
type Cluster struct {
	Net   *Network
	Edges []*Edge

	dir  string
	opts Options
}

// Options tune a cluster.
type Options struct {
	// Seed drives the network's packet loss.
	Seed uint64
	// Net, when set, is the network to start on (two clusters sharing
	// one, as with foreign nodes); otherwise a new one.
	Net *Network
	// Gossip edits each node's config (nil: FastConfig as is).
	Gossip func(*gossip.Config)
	// Store edits each node's store options (nil: NoSync, no populate).
	Store func(*store.Options)
}

// NewCluster starts n edges, each joining the first, and waits until
// every one sees all n members. Everything stops when tb ends.
func NewCluster(tb testing.TB, n int, o Options) *Cluster {
	tb.Helper()
	c := &Cluster{Net: o.Net, dir: tb.TempDir(), opts: o}
	if c.Net == nil {
		c.Net = NewNetwork(o.Seed)
	}
	for i := range n {
		e := c.start(tb, i)
		c.Edges = append(c.Edges, e)
		if i > 0 {
			if _, err := e.Gossip.Join([]string{c.Edges[0].Transport.Addr()}); err != nil {
				tb.Fatalf("edge %d join: %v", i, err)
			}
		}
	}
	c.Wait(tb, 30*time.Second, "all members alive", func() bool {
		for _, e := range c.Edges {
			if e.Gossip.NumMembers() != n {
				return false
			}
		}
		return true
	})
	return c
}

// Add starts one more edge and joins it to the cluster through the first
// edge (it bootstraps by anti-entropy); it does not wait.
func (c *Cluster) Add(tb testing.TB) *Edge {
	tb.Helper()
	e := c.start(tb, len(c.Edges))
	c.Edges = append(c.Edges, e)
	if _, err := e.Gossip.Join([]string{c.Edges[0].Transport.Addr()}); err != nil {
		tb.Fatalf("%s join: %v", e.Name, err)
	}
	return e
}

// Ingest stores one Segment message (JSON) at edge i.
func (c *Cluster) Ingest(tb testing.TB, i int, body string) store.IngestResult {
	tb.Helper()
	m, err := profile.ParseMessage([]byte(body), "", time.Now(), profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
	if err != nil {
		tb.Fatalf("ParseMessage(%s): %v", body, err)
	}
	res, err := c.Edges[i].Store.Ingest(context.Background(), []store.Event{{Msg: m, Source: "test"}})
	if err != nil {
		tb.Fatalf("ingest at edge %d: %v", i, err)
	}
	return res
}

func (c *Cluster) start(tb testing.TB, i int) *Edge {
	tb.Helper()
	o, dir := c.opts, c.dir
	name := fmt.Sprintf("till-%d", i)
	so := store.DefaultOptions(filepath.Join(dir, name+".db"))
	so.NodeName = name
	so.NoSync = true
	so.Populate = false
	if o.Store != nil {
		o.Store(&so)
	}
	st, err := store.Open(so)
	if err != nil {
		tb.Fatal(err)
	}
	tr := c.Net.NewTransport()
	cfg := FastConfig(name, tr)
	if o.Gossip != nil {
		o.Gossip(&cfg)
	}
	g, err := gossip.New(st, cfg)
	if err != nil {
		st.Close(context.Background())
		tb.Fatal(err)
	}
	e := &Edge{Name: name, Store: st, Gossip: g, Transport: tr}
	tb.Cleanup(e.close)
	return e
}

func (e *Edge) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.Gossip.Close(ctx)
	e.Store.Close(ctx)
}

// Close stops every edge now (rather than when the test ends: property
// tests start many clusters in one test). It is idempotent.
func (c *Cluster) Close() {
	for _, e := range c.Edges {
		e.close()
	}
}

// Addrs returns the transport addresses of the edges at the indexes.
func (c *Cluster) Addrs(idx ...int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = c.Edges[j].Transport.Addr()
	}
	return out
}

// Wait polls cond every 10 ms until it holds, failing tb after timeout.
func (c *Cluster) Wait(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if err := Poll(timeout, cond); err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
}

// Poll polls cond every 10 ms until it holds or timeout passes.
func Poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not true after %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Converged reports whether every edge's digest equals the first's.
func (c *Cluster) Converged() bool {
	d0 := c.Edges[0].Store.Digest()
	for _, e := range c.Edges[1:] {
		d := e.Store.Digest()
		if len(d0.Diff(&d)) != 0 {
			return false
		}
	}
	return true
}

// Resolves reports whether id resolves to the same profile on every
// edge, and that ID.
func (c *Cluster) Resolves(id profile.Identifier) (string, bool) {
	want, err := c.Edges[0].Store.ResolveIdentifier(id)
	if err != nil {
		return "", false
	}
	for _, e := range c.Edges[1:] {
		if got, err := e.Store.ResolveIdentifier(id); err != nil || got != want {
			return "", false
		}
	}
	return want, true
}
