package hubsync

import (
	"context"
	"path/filepath"
	"testing"

	"ucv/replication"
)

func TestValidate(t *testing.T) {
	for name, f := range map[string]func(*Config){
		"no URL":       func(c *Config) { c.URLs = nil },
		"bad URL":      func(c *Config) { c.URLs = []string{"hub:8300"} },
		"no edge":      func(c *Config) { c.Edge = "" },
		"huge batch":   func(c *Config) { c.MaxBatchBytes = replication.MaxMessageBytes },
		"backoff":      func(c *Config) { c.MaxBackoff = c.MinBackoff / 2 },
		"link backoff": func(c *Config) { c.LinkBackoff = 0 },
		"no deadline":  func(c *Config) { c.RequestTimeout = 0 },
		"no stagger":   func(c *Config) { c.DialStagger = 0 },
		"feed page":    func(c *Config) { c.FeedItems = replication.MaxFeedItems + 1 },
		"no idle":      func(c *Config) { c.StreamIdle = 0 },
	} {
		c := DefaultConfig()
		c.URLs, c.Edge = []string{"http://127.0.0.1:8300"}, "e1"
		if err := c.Validate(); err != nil {
			t.Fatalf("valid config: %v", err)
		}
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

// When does the pull loop take the snapshot instead of the feed?
func TestNeedsBootstrap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cur, head uint64
		lag       uint64
		booted    bool
		paging    bool // following the feed page after page
		want      bool
	}{
		{"new edge", 0, 0, 10_000, false, false, true},
		{"new edge after an empty hub's snapshot", 0, 0, 10_000, true, false, false},
		{"not heard from the hub", 500, 0, 10_000, false, false, false},
		{"in step", 500, 510, 10_000, false, false, false},
		{"a young hub, small lag", 10, 40, 10_000, false, false, false},
		{"beyond BootstrapLag", 20_000, 30_001, 10_000, false, false, true},
		{"BootstrapLag off", 20_000, 30_001, 0, false, false, false},
		{"missed most of the history", 300, 1_000, 10_000, false, false, true},
		{"missed less than half", 600, 1_000, 10_000, false, false, false},
		{"paging, half the history behind (a young hub, a busy edge)", 300, 1_000, 10_000, false, true, false},
		{"paging, beyond BootstrapLag", 20_000, 30_001, 10_000, false, true, true},
		{"paging, hub far below the cursor (rebuilt)", 5_000, 100, 10_000, false, true, true},
		{"hub far below the cursor (rebuilt)", 5_000, 100, 10_000, false, false, true},
		{"follower slightly below the cursor", 5_000, 4_990, 10_000, false, false, false},
	} {
		c := &Client{cfg: DefaultConfig()}
		c.cfg.BootstrapLag = tc.lag
		c.hubIndex.Store(tc.head)
		if tc.booted {
			c.bootstraps.Add(1)
		}
		c.paging.Store(tc.paging)
		if got := c.needsBootstrap(tc.cur); got != tc.want {
			t.Errorf("%s (cursor %d, hub %d): needsBootstrap = %v, want %v", tc.name, tc.cur, tc.head, got, tc.want)
		}
	}
}

// The half-the-history snapshot is for an edge that returns: the flag
// that keeps it from a paging edge is set by a feed page applied and
// cleared by a failed pull (decision 0099).
func TestHalfRuleOnlyForAReturningEdge(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "edge.db"))
	h := newPrivacyHub(t)
	c := privacyClient(t, st, h.srv.URL, true)
	ctx := context.Background()
	if c.paging.Load() {
		t.Fatal("a new client is paging")
	}
	if _, err := c.pullOnce(ctx); err != nil { // cursor 0: the snapshot
		t.Fatal(err)
	}
	if c.bootstraps.Load() != 1 || c.paging.Load() {
		t.Fatalf("after the snapshot: bootstraps %d, paging %v; want 1, false", c.bootstraps.Load(), c.paging.Load())
	}
	if _, err := c.pullOnce(ctx); err != nil { // a feed page
		t.Fatal(err)
	}
	cur, err := st.Position(FeedCursor)
	if err != nil || cur != 7 || !c.paging.Load() {
		t.Fatalf("after a feed page: cursor %d (%v), paging %v; want 7, true", cur, err, c.paging.Load())
	}
	c.hubIndex.Store(1_000) // the hub's history grew past twice the cursor
	if c.needsBootstrap(cur) {
		t.Error("a paging edge half the history behind takes the snapshot")
	}
	h.srv.Close() // the hub goes away: the next pull fails
	if _, err := c.pullOnce(ctx); err == nil {
		t.Fatal("a pull from a closed hub succeeded")
	}
	if c.paging.Load() {
		t.Error("still paging after a failed pull")
	}
	if !c.needsBootstrap(cur) {
		t.Error("a returning edge half the history behind pages the feed")
	}
}
