package gossip_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"ucv/edge/edgetest"
	"ucv/edge/gossip"
	"ucv/edge/store"
	"ucv/profile"
	"ucv/replication"
)

func email(v string) profile.Identifier { return profile.Identifier{Type: profile.Email, Value: v} }

// An event ingested at one edge becomes visible at every other edge.
func TestDeltaReachesEveryEdge(t *testing.T) {
	c := edgetest.NewCluster(t, 5, edgetest.Options{})
	res := c.Ingest(t, 2, `{"type":"identify","userId":"u1","messageId":"m1","traits":{"email":"ann@example.com","plan":"gold"}}`)
	c.Wait(t, 10*time.Second, "the profile on every edge", func() bool {
		id, ok := c.Resolves(email("ann@example.com"))
		return ok && id == res.ProfileIDs[0]
	})
	c.Wait(t, 10*time.Second, "equal digests", c.Converged)
	s := c.Edges[2].Gossip.Stats()
	if s.Sent == 0 {
		t.Fatalf("origin stats %+v: nothing sent", s)
	}
	var received uint64
	for _, e := range c.Edges {
		received += e.Gossip.Stats().Received
	}
	if received == 0 {
		t.Fatal("no edge counted a received delta")
	}
}

// The same new e-mail entered at two tills at the same moment ends as one
// canonical profile on every edge, without a hub.
func TestConcurrentIdentityMerge(t *testing.T) {
	c := edgetest.NewCluster(t, 4, edgetest.Options{})
	var wg sync.WaitGroup
	ids := make([]string, 2)
	for i, body := range []string{
		`{"type":"identify","anonymousId":"kiosk-a","messageId":"x1","traits":{"email":"new@example.com","name":"Ann"}}`,
		`{"type":"identify","anonymousId":"till-b","messageId":"x2","traits":{"email":"new@example.com","plan":"gold"}}`,
	} {
		wg.Go(func() { ids[i] = c.Ingest(t, i, body).ProfileIDs[0] })
	}
	wg.Wait()
	want := min(ids[0], ids[1])
	c.Wait(t, 15*time.Second, "one canonical profile everywhere", func() bool {
		for _, id := range []profile.Identifier{email("new@example.com"), {Type: profile.AnonymousID, Value: "kiosk-a"}, {Type: profile.AnonymousID, Value: "till-b"}} {
			if got, ok := c.Resolves(id); !ok || got != want {
				return false
			}
		}
		return c.Converged()
	})
}

// A new edge joining a store with data bootstraps by anti-entropy.
func TestJoinBootstraps(t *testing.T) {
	c := edgetest.NewCluster(t, 3, edgetest.Options{})
	for i := range 300 {
		c.Ingest(t, i%3, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d","traits":{"email":"p%d@example.com"}}`, i, i, i))
	}
	c.Wait(t, 20*time.Second, "first three converge", c.Converged)
	e := c.Add(t)
	c.Wait(t, 20*time.Second, "the new edge catches up", c.Converged)
	c.Wait(t, 5*time.Second, "repairs counted", func() bool { s := e.Gossip.Stats(); return s.Repaired > 0 && s.Pulls > 0 })
	if _, ok := c.Resolves(email("p299@example.com")); !ok {
		t.Fatal("p299 does not resolve alike everywhere")
	}
}

// Garbage user messages and packets from a node with another key are
// dropped and counted; the node keeps working.
func TestMalformedAndForeign(t *testing.T) {
	c := edgetest.NewCluster(t, 2, edgetest.Options{})
	// A raw memberlist on the same network sends garbage user messages.
	raw := edgetest.FastConfig("intruder", c.Net.NewTransport()).Memberlist
	raw.Logger = nil
	raw.LogOutput = discard{}
	ml, err := memberlist.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	if _, err := ml.Join(c.Addrs(0)); err != nil {
		t.Fatal(err)
	}
	var target *memberlist.Node
	for _, m := range ml.Members() {
		if m.Name == c.Edges[0].Name {
			target = m
		}
	}
	for _, junk := range [][]byte{{}, {1}, {1, 0x92, 0x01}, {99, 1, 2, 3}, {3, 0xc1}, {2, 0x90}} {
		if err := ml.SendReliable(target, junk); err != nil {
			t.Fatal(err)
		}
	}
	c.Wait(t, 5*time.Second, "malformed messages counted", func() bool { return c.Edges[0].Gossip.Stats().Malformed >= 5 })

	// A node with another key cannot join a keyed cluster; the refusals
	// are counted as foreign.
	key := func(b byte) []byte { k := make([]byte, 32); k[0] = b; return k }
	k1 := edgetest.NewCluster(t, 2, edgetest.Options{Gossip: func(g *gossip.Config) { g.Dev, g.SecretKey = false, key(1) }})
	k2 := edgetest.NewCluster(t, 1, edgetest.Options{Net: k1.Net, Gossip: func(g *gossip.Config) { g.Dev, g.SecretKey = false, key(2) }})
	if _, err := k2.Edges[0].Gossip.Join(k1.Addrs(0)); err == nil {
		t.Fatal("a node with another key joined")
	}
	k1.Wait(t, 5*time.Second, "foreign packets counted", func() bool { return k1.Edges[0].Gossip.Stats().Foreign > 0 })
	if n := k1.Edges[0].Gossip.NumMembers(); n != 2 {
		t.Fatalf("keyed cluster has %d members, want 2", n)
	}
	k1.Ingest(t, 1, `{"type":"identify","userId":"u1","messageId":"m1","traits":{"email":"keyed@example.com"}}`)
	k1.Wait(t, 10*time.Second, "keyed gossip works", func() bool { _, ok := k1.Resolves(email("keyed@example.com")); return ok })
	c.Ingest(t, 0, `{"type":"identify","userId":"u1","messageId":"m1","traits":{"email":"ok@example.com"}}`)
	c.Wait(t, 10*time.Second, "gossip still works", func() bool { _, ok := c.Resolves(email("ok@example.com")); return ok })
}

// legacyPeer is a memberlist delegate that answers push/pull with the
// digest of an edge from before digests named their hash (decision 0118):
// two elements, every bucket different from any real store's.
type legacyPeer struct{}

func (legacyPeer) NodeMeta(int) []byte             { return nil }
func (legacyPeer) NotifyMsg([]byte)                {}
func (legacyPeer) GetBroadcasts(int, int) [][]byte { return nil }
func (legacyPeer) MergeRemoteState([]byte, bool)   {}
func (legacyPeer) LocalState(join bool) []byte {
	buckets := make([]uint64, store.DigestBuckets)
	for i := range buckets {
		buckets[i] = uint64(i)*0x9e3779b97f4a7c15 + 1
	}
	b, err := replication.MarshalDigest(&replication.Digest{Node: "legacy", Buckets: buckets})
	if err != nil {
		panic(err)
	}
	return b
}

// TestDigestOfAnotherHashNotCompared: an edge compares a peer's digest
// only when both hash their items alike; one from an edge of an older
// version (FNV's, before schema 6) would differ in every bucket and send
// a pull for all of them each round. It is counted, not compared.
func TestDigestOfAnotherHashNotCompared(t *testing.T) {
	c := edgetest.NewCluster(t, 1, edgetest.Options{})
	cfg := edgetest.FastConfig("legacy", c.Net.NewTransport()).Memberlist
	cfg.Logger, cfg.LogOutput = nil, discard{}
	cfg.Delegate = legacyPeer{}
	ml, err := memberlist.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	if _, err := ml.Join(c.Addrs(0)); err != nil { // a push/pull: each side merges the other's state
		t.Fatal(err)
	}
	g := c.Edges[0].Gossip
	c.Wait(t, 5*time.Second, "the legacy digest counted", func() bool { return g.Stats().OtherHash > 0 })
	if st := g.Stats(); st.Rounds != 0 || st.DiffBuckets != 0 || st.Pulls != 0 {
		t.Fatalf("a digest of another hash was compared: %d rounds, %d differing buckets, %d pulls", st.Rounds, st.DiffBuckets, st.Pulls)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Close is idempotent and stops everything.
func TestCloseIdempotent(t *testing.T) {
	c := edgetest.NewCluster(t, 2, edgetest.Options{})
	ctx := context.Background()
	g := c.Edges[1].Gossip
	if err := g.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := g.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c.Wait(t, 10*time.Second, "the other edge sees it leave", func() bool { return c.Edges[0].Gossip.NumMembers() == 1 })
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*gossip.Config)
		ok   bool
	}{
		{"keyed", func(c *gossip.Config) { c.SecretKey = make([]byte, 32) }, true},
		{"dev without key", func(c *gossip.Config) { c.Dev = true }, true},
		{"no key", func(c *gossip.Config) {}, false},
		{"short key", func(c *gossip.Config) { c.SecretKey = make([]byte, 10) }, false},
		{"bad extra key", func(c *gossip.Config) { c.SecretKey = make([]byte, 16); c.ExtraKeys = [][]byte{{1}} }, false},
		{"no name", func(c *gossip.Config) { c.Dev = true; c.Memberlist.Name = "" }, false},
		{"no memberlist", func(c *gossip.Config) { c.Dev = true; c.Memberlist = nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := gossip.DefaultConfig()
			c.Memberlist.Name = "n"
			tc.edit(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
