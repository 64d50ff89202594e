package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/edge/hubsync"
	"ucv/edge/store"
	"ucv/gcpolicy"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
	"ucv/tlsconf/tlstest"
)

// startBenchHubs runs a 3-node hub in this process on loopback (Raft over
// TCP, the HTTP API, the same code as `ucv hub`) and waits until every
// node knows the leader and every member's URL.
func startBenchHubs(b *testing.B) []*hubNode {
	b.Helper()
	hubs, _ := startBenchHubsTLS(b, nil)
	return hubs
}

// startBenchHubsTLS is startBenchHubs; with ca, the nodes run as `ucv hub
// --tls-cert --tls-key --tls-client-ca` does (HTTPS requiring client
// certificates on sync, Raft over mutual TLS, node certificates of ca)
// with the shortcut tokens "st" and "at", and the client it returns
// presents an edge's certificate and the sync token. Without ca, the
// client is plain HTTP.
func startBenchHubsTLS(b *testing.B, ca *tlstest.CA) ([]*hubNode, *http.Client) {
	b.Helper()
	hubGC(b)
	dir := b.TempDir()
	log := slog.New(slog.DiscardHandler)
	client := &http.Client{Timeout: 30 * time.Second}
	if ca != nil {
		l := tlstest.Load(b, ca.Client("bench-edge"), ca.File())
		client.Transport = bearer{rt: l.Transport(), token: "st"}
	}
	status := func(url string) (string, int) {
		if ca == nil {
			return hubStatusURL(url)
		}
		return hubStatusWith(&http.Client{Timeout: 2 * time.Second, Transport: bearer{rt: client.Transport.(bearer).rt, token: "at"}}, url)
	}
	var hubs []*hubNode
	for i := range 3 {
		cfg := hubConfig{dataDir: filepath.Join(dir, fmt.Sprint("hub-", i+1)), httpAddr: "127.0.0.1:0", raftAddr: "127.0.0.1:0",
			nodeID: fmt.Sprint("hub-", i+1), bootstrap: i == 0, shutdownTimeout: 10 * time.Second, peerInterval: 200 * time.Millisecond}
		if ca != nil {
			p := ca.Node(cfg.nodeID)
			cfg.tlsCert, cfg.tlsKey, cfg.tlsClientCA = p.Cert, p.Key, ca.File()
			cfg.syncToken, cfg.adminToken = "st", "at"
		}
		if i > 0 {
			cfg.join = hubs[0].url
		}
		h, err := startHubNode(cfg, log)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close(context.Background()) })
		hubs = append(hubs, h)
		deadline := time.Now().Add(20 * time.Second)
		for {
			if l, n := status(h.url); l == "hub-1" && n >= i+1 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("hub-%d did not join", i+1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, h := range hubs {
		for {
			if _, n := status(h.url); n == 3 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("hubs did not learn each other's URLs")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return hubs, client
}

// bearer adds a bearer token to every request.
type bearer struct {
	rt    http.RoundTripper
	token string
}

func (t bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.rt.RoundTrip(r)
}

// BenchmarkHubSyncPush measures deltas/s committed through a 3-node hub on
// loopback: 6 edges push batches of 500 outbox entries concurrently over
// HTTP, two to each node (followers forward to the leader); a push
// returns after the Raft commit — in plain HTTP and Raft, and as a
// secure deployment runs (HTTPS with the edge's client certificate, Raft
// and forwarding over mutual TLS). Run: make bench, or
// go test -run '^$' -bench HubSyncPush -benchtime 120000x ./cmd/ucv
func BenchmarkHubSyncPush(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchHubSyncPush(b, nil) })
	b.Run("mtls", func(b *testing.B) { benchHubSyncPush(b, tlstest.NewCA(b)) })
}

func benchHubSyncPush(b *testing.B, ca *tlstest.CA) {
	hubs, client := startBenchHubsTLS(b, ca)
	const edges, batch = 6, 500
	per := max(b.N/edges, 1)
	bodies := make([][][]byte, edges)
	for e := range edges {
		ed := hubtest.NewEdge(fmt.Sprint("edge-", e), crdt.ReplicaID(1000+e))
		var es []replication.Entry
		for i := range per {
			es = append(es, ed.Delta(hubtest.Event{Profile: fmt.Sprintf("e%d-p%d", e, i%2000), Name: "Order Completed", Revenue: 1.25,
				IDs: []profile.Identifier{hubtest.Anon(fmt.Sprintf("e%d-a%d", e, i%2000))}}))
		}
		for len(es) > 0 {
			n := min(batch, len(es))
			body, err := replication.MarshalSyncPush(&replication.SyncPush{Edge: fmt.Sprint("edge-", e), First: es[0].Seq, Entries: es[:n]})
			if err != nil {
				b.Fatal(err)
			}
			bodies[e] = append(bodies[e], body)
			es = es[n:]
		}
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for e := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, body := range bodies[e] {
				if err := postPush(client, hubs[e%3].url, body); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(per*edges)/elapsed.Seconds(), "deltas/s")
}

// benchEdge is an edge store syncing with the hub in this process.
type benchEdge struct {
	st *store.Store
	c  *hubsync.Client
}

func startBenchEdge(b *testing.B, name string, urls []string) *benchEdge {
	b.Helper()
	o := store.DefaultOptions(filepath.Join(b.TempDir(), "edge.db"))
	o.NodeName = name
	st, err := store.Open(o)
	if err != nil {
		b.Fatal(err)
	}
	hc := hubsync.DefaultConfig()
	hc.URLs, hc.Edge = urls, fmt.Sprintf("%016x", uint64(st.Node()))
	c, err := hubsync.New(st, hc)
	if err != nil {
		b.Fatal(err)
	}
	c.Start()
	b.Cleanup(func() {
		c.Close(context.Background())
		st.Close(context.Background())
	})
	return &benchEdge{st: st, c: c}
}

// BenchmarkHubEdgeToEdge measures the latency from an event ingested
// (durably) at edge A to its profile being visible at edge B: A pushes to
// one node of a 3-node hub, B long-polls another's feed. Each iteration
// ingests one identify with a new anonymousId and polls B's store every
// 0.5 ms. Reports p50/p99 in ms. Run: make bench, or
// go test -run '^$' -bench HubEdgeToEdge -benchtime 300x ./cmd/ucv
func BenchmarkHubEdgeToEdge(b *testing.B) {
	hubs := startBenchHubs(b)
	a := startBenchEdge(b, "store-a", []string{hubs[1].url, hubs[2].url, hubs[0].url})
	bb := startBenchEdge(b, "store-b", []string{hubs[2].url, hubs[0].url, hubs[1].url})
	opts := profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		anon := fmt.Sprintf("lat-%d-%d", i, time.Now().UnixNano())
		m, err := profile.ParseMessage(fmt.Appendf(nil, `{"type":"identify","anonymousId":%q,"messageId":%q,"traits":{"plan":"gold"}}`, anon, anon), "", time.Now(), opts)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := a.st.Ingest(context.Background(), []store.Event{{Msg: m}}); err != nil {
			b.Fatal(err)
		}
		id := profile.Identifier{Type: profile.AnonymousID, Value: anon}
		for {
			if _, err := bb.st.LookupIdentifier(id); err == nil {
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("event %d not visible at edge B after 10 s", i)
			}
			time.Sleep(500 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
}

// BenchmarkHubNewPeople measures new-person events/s through a 3-node
// hub on loopback, every event a new person (an identify with an e-mail
// and one trait, BenchmarkHubCatchUp's load when UCV_CATCHUP_PROFILES =
// UCV_CATCHUP_EVENTS): four edges push batches of 1,000 concurrently,
// one to each node and the fourth to the leader; one op is one event.
// The pushes are built before the timer, so the process's CPU during
// the run is the hub's (three replicas on the machine's cores).
//
//	go test -run '^$' -bench HubNewPeople -benchtime 200000x ./cmd/ucv
func BenchmarkHubNewPeople(b *testing.B) {
	hubs := startBenchHubs(b)
	const edges, batch = 4, 1000
	per := max(b.N/edges, 1)
	bodies := make([][][]byte, edges)
	for e := range edges {
		name := fmt.Sprint("new-", e)
		ed := hubtest.NewEdge(name, crdt.ReplicaID(6000+e))
		for done := 0; done < per; {
			var es []replication.Entry
			for ; len(es) < batch && done < per; done++ {
				es = append(es, ed.Delta(hubtest.Event{Profile: fmt.Sprintf("N%d-%08d", e, done), Kind: profile.Identify,
					IDs:    []profile.Identifier{hubtest.Email(fmt.Sprintf("n%d-%d@example.com", e, done))},
					Traits: map[string]any{"plan": "gold"}}))
			}
			body, err := replication.MarshalSyncPush(&replication.SyncPush{Edge: name, First: es[0].Seq, Entries: es})
			if err != nil {
				b.Fatal(err)
			}
			bodies[e] = append(bodies[e], body)
		}
	}
	client := &http.Client{Timeout: 60 * time.Second}
	runtime.GC()
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for e := range edges {
		wg.Go(func() {
			for _, body := range bodies[e] {
				if err := postPush(client, hubs[e%len(hubs)].url, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(per*edges)/took.Seconds(), "events/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(per*edges), "cpu-µs/event")
}

// hubGC applies to the benchmark's process the collector policy `ucv
// hub` applies to its own (runHub: the defaults, or GOGC and GOMEMLIMIT
// from the environment), as the in-process nodes stand for hub
// processes, and restores the settings after the benchmark.
func hubGC(b *testing.B) {
	gc, limit := gcpolicy.Current()
	b.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
	a, err := gcpolicy.Apply(hubConfig{}.gc, os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("hub GC policy: GOGC %d, memory limit %d MiB", a.GCPercent, a.LimitBytes>>20)
}

// processCPU returns the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
