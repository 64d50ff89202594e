package forward_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/edge/forward"
	"ucv/edge/store"
	"ucv/profile"
)

// benchEvents returns n events of ~600 bytes (a typical track call from
// a web library: context, properties) with their upstream forms.
func benchEvents(tb testing.TB, prefix string, n int) []store.Event {
	tb.Helper()
	evs := make([]store.Event, n)
	for i := range evs {
		body := fmt.Sprintf(`{"type":"track","userId":"user-%d","anonymousId":"anon-%d","event":"Product Viewed","messageId":"%s-%d",`+
			`"properties":{"product_id":"sku-%d","category":"Shoes","price":59.9,"currency":"EUR"},`+
			`"context":{"library":{"name":"analytics.js","version":"5.2.0"},"page":{"path":"/p/%d","url":"https://shop.example/p/%d"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36","ip":"203.0.113.7"}}`,
			i%5000, i%5000, prefix, i, i%300, i%300, i%300)
		m, err := profile.ParseMessage([]byte(body), "", time.Now(), normalize)
		if err != nil {
			tb.Fatal(err)
		}
		up, err := m.Upstream()
		if err != nil {
			tb.Fatal(err)
		}
		evs[i] = store.Event{Msg: m, Forward: up}
	}
	return evs
}

// countingReceiver is a minimal upstream: it checks the write key, reads
// the body and counts the events by their messageId keys (decoding the
// JSON would charge the upstream's work to the forwarder on 2 cores).
func countingReceiver(tb testing.TB) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	key := []byte(`"messageId":`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, _, _ := r.BasicAuth(); u != writeKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		c := 0
		for i := 0; i+len(key) <= len(b); i++ {
			if b[i] == '"' && string(b[i:i+len(key)]) == string(key) {
				c++
			}
		}
		n.Add(int64(c))
	}))
	tb.Cleanup(srv.Close)
	return srv, &n
}

// BenchmarkForwardDrain: a backlog of b.N events (an outage's worth),
// forwarded from a durable store (fsync per delete) to a loopback
// upstream; events/s is the rate it drains at.
func BenchmarkForwardDrain(b *testing.B) {
	srv, got := countingReceiver(b)
	st, err := store.Open(store.DefaultOptions(filepath.Join(b.TempDir(), "edge.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	evs := benchEvents(b, "d", b.N)
	for i := 0; i < len(evs); i += 1000 {
		if _, err := st.Ingest(context.Background(), evs[i:min(i+1000, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	c := forward.DefaultConfig()
	c.URL, c.WriteKey = srv.URL, writeKey
	f, err := forward.New(st, c)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	f.Start()
	for got.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	f.Close(context.Background())
	s, _ := f.Stats()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	b.ReportMetric(float64(s.Batches), "batches")
}

// BenchmarkForwardUnderIngest: 8 writers ingest b.N events in batches of
// 100 as fast as the durable store takes them while the forwarder runs;
// it reports both rates, the largest backlog seen, and how long the
// backlog took to drain after ingest stopped. Forwarding keeps up when
// fwd-events/s ≈ ingest-events/s and the drain is about one batch.
// forward=off ingests the same events without forwarding: what the
// outbox costs ingest.
func BenchmarkForwardUnderIngest(b *testing.B) {
	b.Run("forward=on", func(b *testing.B) { benchUnderIngest(b, true) })
	b.Run("forward=off", func(b *testing.B) { benchUnderIngest(b, false) })
}

func benchUnderIngest(b *testing.B, on bool) {
	srv, got := countingReceiver(b)
	st, err := store.Open(store.DefaultOptions(filepath.Join(b.TempDir(), "edge.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	evs := benchEvents(b, "u", b.N)
	if !on {
		for i := range evs {
			evs[i].Forward = nil
		}
	}
	c := forward.DefaultConfig()
	c.URL, c.WriteKey = srv.URL, writeKey
	f, err := forward.New(st, c)
	if err != nil {
		b.Fatal(err)
	}
	var maxPending atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if s, err := st.ForwardStats(); err == nil && int64(s.Len) > maxPending.Load() {
				maxPending.Store(int64(s.Len))
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	f.Start()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(100)) - 100
				if i >= len(evs) {
					return
				}
				if _, err := st.Ingest(context.Background(), evs[i:min(i+100, len(evs))]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ingested := time.Since(start)
	for on && got.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	all := time.Since(start)
	b.StopTimer()
	close(stop)
	watch.Wait()
	f.Close(context.Background())
	b.ReportMetric(float64(b.N)/ingested.Seconds(), "ingest-events/s")
	if !on {
		return
	}
	b.ReportMetric(float64(b.N)/all.Seconds(), "fwd-events/s")
	b.ReportMetric(float64(maxPending.Load()), "max-pending")
	b.ReportMetric(float64((all - ingested).Milliseconds()), "drain-ms")
}
