package hubsync

import (
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
		want      bool
	}{
		{"new edge", 0, 0, 10_000, false, true},
		{"new edge after an empty hub's snapshot", 0, 0, 10_000, true, false},
		{"not heard from the hub", 500, 0, 10_000, false, false},
		{"in step", 500, 510, 10_000, false, false},
		{"a young hub, small lag", 10, 40, 10_000, false, false},
		{"beyond BootstrapLag", 20_000, 30_001, 10_000, false, true},
		{"BootstrapLag off", 20_000, 30_001, 0, false, false},
		{"missed most of the history", 300, 1_000, 10_000, false, true},
		{"missed less than half", 600, 1_000, 10_000, false, false},
		{"hub far below the cursor (rebuilt)", 5_000, 100, 10_000, false, true},
		{"follower slightly below the cursor", 5_000, 4_990, 10_000, false, false},
	} {
		c := &Client{cfg: DefaultConfig()}
		c.cfg.BootstrapLag = tc.lag
		c.hubIndex.Store(tc.head)
		if tc.booted {
			c.bootstraps.Add(1)
		}
		if got := c.needsBootstrap(tc.cur); got != tc.want {
			t.Errorf("%s (cursor %d, hub %d): needsBootstrap = %v, want %v", tc.name, tc.cur, tc.head, got, tc.want)
		}
	}
}
