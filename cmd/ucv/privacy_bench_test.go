package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"ucv/edge/store"
	"ucv/hub"
	"ucv/profile"
)

// BenchmarkErasureCompletion measures issue 12's erasure completion
// time: a 3-node hub in this process (sealed Raft files, as `ucv hub`)
// and 10 online edges syncing with it (real bbolt files, HTTP on
// loopback). Each iteration identifies a new person at one edge, waits
// until the hub resolves them, then times an erase request from the
// leader's commit to "done": every edge has erased, compacted its file
// and confirmed, and every hub node has shredded its files. Reports
// p50/p99 in ms (target p99 ≤ 5 s). Run: make bench, or
// go test -run '^$' -bench ErasureCompletion -benchtime 20x ./cmd/ucv
func BenchmarkErasureCompletion(b *testing.B) {
	hubs := startBenchHubs(b)
	urls := []string{hubs[0].url, hubs[1].url, hubs[2].url}
	const edges = 10
	es := make([]*benchEdge, edges)
	opts := profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()}
	ingest := func(e *benchEdge, body string) {
		m, err := profile.ParseMessage([]byte(body), "", time.Now(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.st.Ingest(context.Background(), []store.Event{{Msg: m}}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range es {
		es[i] = startBenchEdge(b, fmt.Sprint("store-", i), slices.Concat(urls[i%3:], urls[:i%3]))
		// Some people each, so compaction copies a real file.
		for j := range 200 {
			ingest(es[i], fmt.Sprintf(`{"type":"identify","userId":"u-%d-%d","messageId":"m-%d-%d","traits":{"plan":"gold","email":"p%d.%d@example.com"}}`, i, j, i, j, i, j))
		}
	}
	leaderOf := func() *hub.Server {
		for _, h := range hubs {
			if h.node.IsLeader() {
				return h.node
			}
		}
		b.Fatal("no leader")
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(leaderOf().FSM().Edges()) < edges {
		if time.Now().After(deadline) {
			b.Fatalf("the hub knows %d edges, want %d", len(leaderOf().FSM().Edges()), edges)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		email := fmt.Sprintf("erase-%d-%d@example.com", i, time.Now().UnixNano())
		ingest(es[i%edges], fmt.Sprintf(`{"type":"identify","userId":"e-%d","messageId":"e-%s","traits":{"email":%q,"name":"Erin Example"}}`, i, email, email))
		ld := leaderOf()
		id := profile.Identifier{Type: profile.Email, Value: email}
		for {
			if _, _, err := ld.FSM().ProfileByIdentifier(id.Key()); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
		start := time.Now()
		st, err := ld.RequestPrivacy(ctx, hub.PrivacyErase, id, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for {
			got, err := ld.FSM().PrivacyRequest(st.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.Status == hub.StatusDone {
				break
			}
			if time.Since(start) > 60*time.Second {
				b.Fatalf("erasure %d not done after 60 s: %+v", i, got)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
}
