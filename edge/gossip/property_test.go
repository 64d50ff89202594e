package gossip_test

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/edge/edgetest"
	"ucv/profile"
)

// Each case starts a whole cluster, so `make test` runs a few; soak runs
// raise -rapid.checks.
func init() {
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == "100" {
		f.Value.Set("4")
	}
}

// TestPropertyConvergence: 5–20 edges, random events at random edges
// under random partitions and packet loss; after healing, every store
// holds the same state (digest) and every identifier resolves to the same
// profile everywhere.
func TestPropertyConvergence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(5, 20).Draw(rt, "edges")
		c := edgetest.NewCluster(t, n, edgetest.Options{Seed: rapid.Uint64().Draw(rt, "seed")})
		defer c.Close()
		var keys []profile.Identifier
		mids := map[int]bool{}
		for range rapid.IntRange(5, 40).Draw(rt, "steps") {
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0: // partition into two random sides
				var a, b []string
				for i := range n {
					if rapid.Bool().Draw(rt, "side") {
						a = append(a, c.Addrs(i)...)
					} else {
						b = append(b, c.Addrs(i)...)
					}
				}
				c.Net.Partition(a, b)
			case 1:
				c.Net.Heal()
			case 2:
				c.Net.SetDropRate(rapid.Float64Range(0, 0.3).Draw(rt, "drop"))
			default:
				at := rapid.IntRange(0, n-1).Draw(rt, "at")
				e := rapid.IntRange(0, 6).Draw(rt, "email")
				mid := rapid.IntRange(0, 1000).Draw(rt, "mid")
				body := fmt.Sprintf(`{"type":"identify","messageId":"m%d","anonymousId":"a%d","traits":{"email":"p%d@example.com","n":%d}}`,
					mid, rapid.IntRange(0, 8).Draw(rt, "anon"), e, rapid.IntRange(0, 9).Draw(rt, "v"))
				c.Ingest(t, at, body)
				// A reused messageId is a client's retry: an edge that saw it
				// drops it as a duplicate, so only fresh messages must show.
				if !mids[mid] {
					mids[mid] = true
					keys = append(keys, profile.Identifier{Type: profile.Email, Value: fmt.Sprintf("p%d@example.com", e)})
				}
				if rapid.Bool().Draw(rt, "pause") {
					time.Sleep(time.Duration(rapid.IntRange(1, 50).Draw(rt, "ms")) * time.Millisecond) // let gossip interleave with writes
				}
			}
		}
		c.Net.Heal()
		c.Net.SetDropRate(0)
		err := edgetest.Poll(60*time.Second, func() bool {
			if !c.Converged() {
				return false
			}
			for _, k := range keys {
				if _, ok := c.Resolves(k); !ok {
					return false
				}
			}
			return true
		})
		if err != nil {
			d0 := c.Edges[0].Store.Digest()
			for i, e := range c.Edges {
				d := e.Store.Digest()
				rt.Logf("edge %d: %d buckets differ from edge 0; stats %+v", i, len(d0.Diff(&d)), e.Gossip.Stats())
			}
			seen := map[profile.Identifier]bool{}
			for _, k := range keys {
				if seen[k] {
					continue
				}
				seen[k] = true
				if _, ok := c.Resolves(k); ok {
					continue
				}
				for i, e := range c.Edges {
					got, err := e.Store.ResolveIdentifier(k)
					rt.Logf("%s on edge %d: %q %v", k.Key(), i, got, err)
				}
			}
			rt.Fatalf("cluster of %d did not converge after heal: %v", n, err)
		}
	})
}
