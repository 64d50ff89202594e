package api

import (
	"math"
	"net/http"
	"time"

	"ucv/hub"
	"ucv/hub/arena"
	"ucv/metric"
)

type metrics struct {
	reg          *metric.Registry
	batches      metric.CounterVec
	entries      metric.Counter
	applyLatency metric.Histogram
	feedRequests metric.Counter
	feedWaiting  metric.Gauge
	snapshots    metric.Counter
	authFailures metric.Counter
	rateLimited  metric.Counter
	connsRefused metric.CounterVec
}

func newMetrics(s *Server) *metrics {
	r := metric.NewRegistry()
	m := &metrics{
		reg: r,
		batches: r.CounterVec("ucv_hub_sync_batches_total",
			"Sync pushes received by this node, by result (applied, duplicate, gap, malformed, forbidden, error).", "result"),
		entries: r.Counter("ucv_hub_sync_entries_applied_total", "Outbox entries applied from pushes received by this node."),
		applyLatency: r.Histogram("ucv_hub_apply_seconds", "Time from a push's decode to its Raft commit (or refusal).",
			metric.ExponentialBuckets(0.0005, 2, 16)),
		feedRequests: r.Counter("ucv_hub_feed_requests_total", "Change feed requests served."),
		feedWaiting:  r.Gauge("ucv_hub_feed_waiting", "Change feed long-polls parked on this node, waiting for news (about one per connected edge)."),
		snapshots:    r.Counter("ucv_hub_snapshot_streams_total", "Snapshot streams started for bootstrapping edges."),
		authFailures: r.Counter("ucv_hub_auth_failures_total", "Requests whose token matched none (answered 401)."),
		rateLimited:  r.Counter("ucv_hub_rate_limited_total", "Requests over their token's or client IP's rate limit (answered 429)."),
		connsRefused: r.CounterVec("ucv_hub_http_conns_refused_total",
			"Connections closed at accept for being over a cap, by cap (total, per_ip).", "cap"),
	}
	progress := func(name, help string, f func(hub.Progress) float64) {
		r.GaugeFunc(name, help, func() float64 { return f(s.node.Progress()) })
	}
	progress("ucv_hub_raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.",
		func(p hub.Progress) float64 { return float64(p.Role) })
	progress("ucv_hub_raft_commit_index", "Raft commit index.", func(p hub.Progress) float64 { return float64(p.CommitIndex) })
	progress("ucv_hub_raft_applied_index", "Raft applied index.", func(p hub.Progress) float64 { return float64(p.AppliedIndex) })
	progress("ucv_hub_raft_last_index", "Raft last log index.", func(p hub.Progress) float64 { return float64(p.LastIndex) })
	r.GaugeFunc("ucv_hub_edges", "Edges that pushed to this node.", func() float64 {
		s.edgesMu.Lock()
		defer s.edgesMu.Unlock()
		n := 0
		for _, in := range s.edges {
			if !in.last.IsZero() {
				n++
			}
		}
		return float64(n)
	})
	dests := func(f func(hub.DestinationStatus) float64, agg func(a, b float64) float64) func() float64 {
		return func() float64 {
			var v float64
			for _, st := range s.node.FSM().Destinations() {
				v = agg(v, f(st))
			}
			return v
		}
	}
	arenaStat := func(name, help string, f func(arena.Stats) float64) {
		r.GaugeFunc(name, help, func() float64 { return f(s.node.FSM().ArenaStats()) })
	}
	arenaStat("ucv_hub_fragment_arena_mapped_bytes", "Bytes of the fragment arena mapped: cold fragments' encodings off the heap, live and garbage (docs/decisions/0066-hub-fragments-off-the-heap.md); 0 with --heap-fragments.",
		func(a arena.Stats) float64 { return float64(a.Mapped) })
	arenaStat("ucv_hub_fragment_arena_live_bytes", "Bytes of fragment encodings in the arena that the state holds.",
		func(a arena.Stats) float64 { return float64(a.Live) })
	arenaStat("ucv_hub_fragment_arena_garbage_bytes", "Bytes of released encodings still mapped (a compaction pass frees chunks mostly garbage).",
		func(a arena.Stats) float64 { return float64(a.Garbage) })
	sum := func(a, b float64) float64 { return a + b }
	r.GaugeFunc("ucv_hub_webhook_pending", "Webhook deliveries queued, every destination (docs/decisions/0036-webhooks.md).",
		dests(func(st hub.DestinationStatus) float64 { return float64(st.Pending) }, sum))
	r.GaugeFunc("ucv_hub_webhook_dead_letters", "Webhook deliveries in the dead-letter lists, every destination.",
		dests(func(st hub.DestinationStatus) float64 { return float64(st.DeadLetters) }, sum))
	r.GaugeFunc("ucv_hub_webhook_oldest_pending_seconds", "Age of the oldest queued webhook delivery, any destination (0: none queued).",
		dests(func(st hub.DestinationStatus) float64 {
			if st.OldestPending.IsZero() {
				return 0
			}
			return time.Since(st.OldestPending).Seconds()
		}, math.Max))
	return m
}

func (m *metrics) handler() http.Handler { return m.reg.Handler() }
