package gossip_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"ucv/edge/edgetest"
	"ucv/edge/gossip"
	"ucv/edge/store"
	"ucv/profile"
)

// lanTimers puts memberlist's LAN defaults back on an in-memory node
// (edgetest.FastConfig shrinks them): gossip every 200 ms to 3 nodes,
// probe every 1 s, push/pull every 30 s.
func lanTimers(cfg *gossip.Config) {
	lan := memberlist.DefaultLANConfig()
	ml := cfg.Memberlist
	ml.GossipInterval, ml.GossipNodes = lan.GossipInterval, lan.GossipNodes
	ml.ProbeInterval, ml.ProbeTimeout = lan.ProbeInterval, lan.ProbeTimeout
	ml.SuspicionMult, ml.PushPullInterval = lan.SuspicionMult, lan.PushPullInterval
	ml.GossipToTheDeadTime, ml.RetransmitMult = lan.GossipToTheDeadTime, lan.RetransmitMult
	ml.TCPTimeout = lan.TCPTimeout
}

// ucvTimers puts the timers `ucv edge` ships with (gossip.DefaultConfig:
// memberlist's LAN timers but gossip every 50 ms, push/pull every 5 s,
// RetransmitMult 6) on an in-memory node.
func ucvTimers(cfg *gossip.Config) {
	lanTimers(cfg)
	def := gossip.DefaultConfig().Memberlist
	cfg.Memberlist.GossipInterval, cfg.Memberlist.PushPullInterval, cfg.Memberlist.RetransmitMult = def.GossipInterval, def.PushPullInterval, def.RetransmitMult
}

func quantile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	i := int(q*float64(len(ds))+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// BenchmarkConvergence measures the time from an event's commit at one
// edge until it is visible (its new identifier resolves) on every edge,
// for N edges, 0 % and 10 % packet loss, with memberlist's LAN timers,
// with the timers `ucv edge` ships (ucvTimers) and with the tuned timers
// of edgetest.FastConfig; and the bytes on the
// in-memory wire per delta (all gossip and membership traffic during the
// run, divided by the deltas). Run with -benchtime 1x:
//
//	go test -run '^$' -bench Convergence -benchtime 1x -timeout 60m ./edge/gossip
//
// UCV_BENCH_NODES=5,10 limits the sizes, UCV_BENCH_TIMERS=ucv,lan the
// timer sets.
func BenchmarkConvergence(b *testing.B) {
	sizes := []int{5, 10, 25, 50}
	if v := os.Getenv("UCV_BENCH_NODES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, _ := strconv.Atoi(f)
			sizes = append(sizes, n)
		}
	}
	modes := []string{"tuned", "lan", "ucv"}
	if v := os.Getenv("UCV_BENCH_TIMERS"); v != "" {
		modes = strings.Split(v, ",")
	}
	for _, timers := range modes {
		for _, n := range sizes {
			for _, loss := range []float64{0, 0.10} {
				b.Run(fmt.Sprintf("timers=%s/N=%d/loss=%.0f%%", timers, n, loss*100), func(b *testing.B) {
					opts := edgetest.Options{Seed: 7}
					switch timers {
					case "lan":
						opts.Gossip = lanTimers
					case "ucv":
						opts.Gossip = ucvTimers
					}
					c := edgetest.NewCluster(b, n, opts)
					defer c.Close()
					c.Net.SetDropRate(loss)
					const deltas = 40
					rng := rand.New(rand.NewPCG(uint64(n), 1))
					var lat []time.Duration
					bytes0 := c.Net.PacketBytes.Load()
					start := time.Now()
					for k := range deltas {
						at := rng.IntN(n)
						mail := fmt.Sprintf("n%d-k%d@example.com", n, k)
						t0 := time.Now()
						c.Ingest(b, at, fmt.Sprintf(`{"type":"identify","userId":"u%d-%d","messageId":"m%d","traits":{"email":%q}}`, n, k, k, mail))
						id := profile.Identifier{Type: profile.Email, Value: mail}
						if err := edgetest.Poll(60*time.Second, func() bool { _, ok := c.Resolves(id); return ok }); err != nil {
							b.Fatalf("delta %d not everywhere: %v", k, err)
						}
						lat = append(lat, time.Since(t0))
					}
					elapsed := time.Since(start)
					wire := c.Net.PacketBytes.Load() - bytes0
					var built, sent uint64
					for _, e := range c.Edges {
						st := e.Gossip.Stats()
						built += st.SentBytes
						sent += st.Sent
					}
					b.ReportMetric(float64(quantile(lat, 0.5).Milliseconds()), "p50-ms")
					b.ReportMetric(float64(quantile(lat, 0.99).Milliseconds()), "p99-ms")
					b.ReportMetric(float64(wire)/deltas, "wire-B/delta")
					if sent > 0 {
						b.ReportMetric(float64(built)/float64(sent), "msg-B")
					}
					b.ReportMetric(elapsed.Seconds(), "s")
				})
			}
		}
	}
}

// BenchmarkCatchUp measures how long an edge that missed changes takes to
// catch up by anti-entropy: one edge holds UCV_BENCH_CATCHUP (default
// 100,000) profiles, a new edge joins and bootstraps until the digests
// agree.
func BenchmarkCatchUp(b *testing.B) {
	total := 100_000
	if v, err := strconv.Atoi(os.Getenv("UCV_BENCH_CATCHUP")); err == nil && v > 0 {
		total = v
	}
	c := edgetest.NewCluster(b, 1, edgetest.Options{Seed: 1})
	defer c.Close()
	a := c.Edges[0].Store
	const per = 1000
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := w * per; from < total; from += 2 * per {
				evs := make([]store.Event, 0, per)
				for i := from; i < min(from+per, total); i++ {
					m, err := profile.ParseMessage(fmt.Appendf(nil, `{"type":"identify","userId":"u%d","messageId":"m%d","traits":{"email":"p%d@example.com","plan":"gold"}}`, i, i, i), "", time.Now(), profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
					if err != nil {
						b.Error(err)
						return
					}
					evs = append(evs, store.Event{Msg: m})
				}
				if _, err := a.Ingest(context.Background(), evs); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ResetTimer()
	start := time.Now()
	c.Add(b)
	c.Wait(b, 30*time.Minute, "catch-up", c.Converged)
	d := time.Since(start)
	b.ReportMetric(d.Seconds(), "s")
	b.ReportMetric(float64(total)/d.Seconds(), "changes/s")
}
