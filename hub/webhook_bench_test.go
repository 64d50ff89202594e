package hub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/hub/webhook"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// benchReceiver verifies every request's signature and records, per
// delivery ID, how long after the transition ("at") it arrived.
type benchReceiver struct {
	mu      sync.Mutex
	lat     map[string]time.Duration
	dups    int
	done    chan struct{}
	want    int
	badSigs int
}

func (br *benchReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	var ev hub.WebhookEvent
	ok := webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.SignatureHeader), body, now, time.Minute) == nil &&
		json.Unmarshal(body, &ev) == nil
	br.mu.Lock()
	defer br.mu.Unlock()
	if !ok {
		br.badSigs++
		w.WriteHeader(400)
		return
	}
	if _, seen := br.lat[ev.ID]; seen {
		br.dups++
		return
	}
	br.lat[ev.ID] = now.Sub(ev.At)
	if len(br.lat) == br.want {
		close(br.done)
	}
}

// benchWebhooks pushes n profiles entering audience "vip" through a
// 3-node hub, batch profiles per sync command, one command every pace
// (0: as fast as the hub commits them), and reports deliveries per
// second (first push to last delivery) and the latency from transition
// to delivery.
func benchWebhooks(b *testing.B, n, batch int, pace time.Duration) {
	c := hubtest.NewCluster(b, 3)
	br := &benchReceiver{lat: map[string]time.Duration{}, done: make(chan struct{}), want: n}
	srv := httptest.NewServer(br)
	defer srv.Close()
	apply := func(cmd []byte) {
		if _, err := c.Apply(c.Leader(), cmd); err != nil {
			b.Fatal(err)
		}
	}
	apply(must(define(catalog.KindAudience, "vip", `{"expression":"'plan' in traits && traits.plan == 'vip'"}`)))
	apply(must(define(hub.KindDestination, "crm", destBody(srv.URL, ""))))
	e := hubtest.NewEdge("e", 1)
	var cmds [][]byte
	for i := 0; i < n; i += batch {
		var es []replication.Entry
		for j := i; j < min(i+batch, n); j++ {
			id := fmt.Sprintf("p%07d", j)
			es = append(es, e.Delta(hubtest.Event{Profile: id, Kind: profile.Identify, Traits: map[string]any{"plan": "vip"},
				IDs: []profile.Identifier{hubtest.Email(id + "@example.org")}}))
		}
		cmds = append(cmds, must(hub.MarshalSync(&hub.SyncBatch{Edge: e.Name, Entries: es})))
	}
	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(max(pace, time.Microsecond))
	defer tick.Stop()
	for _, cmd := range cmds {
		if pace > 0 {
			<-tick.C
		}
		apply(cmd)
	}
	pushed := time.Since(start)
	select {
	case <-br.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d deliveries arrived", len(br.lat), n)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	br.mu.Lock()
	defer br.mu.Unlock()
	lats := make([]time.Duration, 0, len(br.lat))
	for _, d := range br.lat {
		lats = append(lats, d)
	}
	slices.Sort(lats)
	q := func(p float64) float64 { return float64(lats[int(p*float64(len(lats)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(pushed.Seconds(), "push_s")
	b.ReportMetric((elapsed - pushed).Seconds(), "drain_s")
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(q(1), "max_ms")
	b.ReportMetric(float64(br.dups), "duplicates")
	if br.badSigs > 0 {
		b.Fatalf("%d requests with a bad signature", br.badSigs)
	}
}

// BenchmarkWebhookBurst: 20,000 profiles enter an audience as fast as
// the hub commits their sync batches (100 profiles a batch); the
// deliverer sends them to a local receiver (16 requests in flight).
// Deliveries/s is the hub's capacity; the latency includes the queue.
func BenchmarkWebhookBurst(b *testing.B) {
	for range b.N {
		benchWebhooks(b, 20_000, 100, 0)
	}
}

// BenchmarkWebhookSteady: 2,500 transitions a second (50 every 20 ms)
// for 8 s: the latency from transition to delivery at the issue's
// target rate.
func BenchmarkWebhookSteady(b *testing.B) {
	for range b.N {
		benchWebhooks(b, 20_000, 50, 20*time.Millisecond)
	}
}
