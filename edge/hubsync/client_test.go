package hubsync

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucv/edge/store"
	"ucv/replication"
)

func TestClusters(t *testing.T) {
	got := Clusters([]replication.FeedItem{
		{Index: 5, ID: "a", Fragments: []string{"a", "b", "c"}, State: []byte{1}},
		{Index: 6, ID: "d", Fragments: []string{"d"}, State: []byte{2}, Apart: []string{"e"}},
	})
	want := []store.Cluster{
		{ID: "a", Fragments: []string{"a", "b", "c"}, State: []byte{1}},
		{ID: "d", Fragments: []string{"d"}, State: []byte{2}, Apart: []string{"e"}},
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Fatalf("Clusters (-got +want):\n%s", d)
	}
}

func TestValidate(t *testing.T) {
	for name, f := range map[string]func(*Config){
		"no URL":     func(c *Config) { c.URLs = nil },
		"bad URL":    func(c *Config) { c.URLs = []string{"hub:8300"} },
		"no edge":    func(c *Config) { c.Edge = "" },
		"huge batch": func(c *Config) { c.MaxBatchBytes = replication.MaxMessageBytes },
		"backoff":    func(c *Config) { c.MaxBackoff = c.MinBackoff / 2 },
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
