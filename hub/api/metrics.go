package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"ucv/hub"
)

type metrics struct {
	reg          *prometheus.Registry
	batches      *prometheus.CounterVec
	entries      prometheus.Counter
	applyLatency prometheus.Histogram
	feedRequests prometheus.Counter
	snapshots    prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ucv_hub_sync_batches_total", Help: "Sync pushes received by this node, by result (applied, duplicate, gap, malformed, error).",
		}, []string{"result"}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ucv_hub_sync_entries_applied_total", Help: "Outbox entries applied from pushes received by this node.",
		}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ucv_hub_apply_seconds", Help: "Time from a push's decode to its Raft commit (or refusal).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		feedRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ucv_hub_feed_requests_total", Help: "Change feed requests served.",
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ucv_hub_snapshot_streams_total", Help: "Snapshot streams started for bootstrapping edges.",
		}),
	}
	raftGauge := func(name, help string, f func(hub.Progress) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return f(s.node.Progress())
		})
	}
	m.reg.MustRegister(m.batches, m.entries, m.applyLatency, m.feedRequests, m.snapshots,
		raftGauge("ucv_hub_raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.",
			func(p hub.Progress) float64 { return float64(p.Role) }),
		raftGauge("ucv_hub_raft_commit_index", "Raft commit index.", func(p hub.Progress) float64 { return float64(p.CommitIndex) }),
		raftGauge("ucv_hub_raft_applied_index", "Raft applied index.", func(p hub.Progress) float64 { return float64(p.AppliedIndex) }),
		raftGauge("ucv_hub_raft_last_index", "Raft last log index.", func(p hub.Progress) float64 { return float64(p.LastIndex) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ucv_hub_edges", Help: "Edges that pushed to this node."}, func() float64 {
			s.edgesMu.Lock()
			defer s.edgesMu.Unlock()
			return float64(len(s.edges))
		}),
		collectors.NewGoCollector(),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
