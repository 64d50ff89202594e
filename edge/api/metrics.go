package api

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"ucv/edge/store"
	"ucv/profile"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (so several servers can live in one test process). Labels never carry
// identifiers or path parameters.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	events     *prometheus.CounterVec
	duplicates prometheus.Counter
	rejects    *prometheus.CounterVec
	perIngest  prometheus.Histogram
	handler    fasthttp.RequestHandler
}

func newMetrics(st Store, extra ...prometheus.Collector) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ucv_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ucv_http_request_duration_seconds",
			Help: "Time from routing a request to its answer, by route and status code.",
			// Lookups are sub-millisecond; ingest waits for an fsync.
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ucv_http_requests_in_flight",
			Help: "Requests being handled.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ucv_events_ingested_total",
			Help: "Events stored (duplicates excluded), by message type.",
		}, []string{"type"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ucv_events_duplicate_total",
			Help: "Events dropped because their messageId was already seen.",
		}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ucv_events_rejected_total",
			Help: "Events refused as invalid (batch items answered in \"rejected\", single messages answered 4xx), by reason: too_large, identifier, timestamp, invalid.",
		}, []string{"reason"}),
		perIngest: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ucv_ingest_request_events",
			Help:    "Events per accepted ingest request (one store.Ingest call).",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500},
		}),
	}
	for _, k := range []profile.Kind{profile.Identify, profile.Track, profile.Page, profile.Screen, profile.Group, profile.Alias} {
		m.events.WithLabelValues(string(k)) // export zeros
	}
	for _, r := range rejectReasons {
		m.rejects.WithLabelValues(r)
	}
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.events, m.duplicates, m.rejects, m.perIngest,
		&storeCollector{st: st},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.reg.MustRegister(extra...)
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return m
}

// observe records one answered request.
func (m *metrics) observe(route string, code int, d time.Duration) {
	c := statusLabel(code)
	m.requests.WithLabelValues(route, c).Inc()
	m.latency.WithLabelValues(route, c).Observe(d.Seconds())
}

// ingested records what one successful store.Ingest did.
func (m *metrics) ingested(msgs []*profile.Message, res store.IngestResult) {
	m.perIngest.Observe(float64(len(msgs)))
	m.duplicates.Add(float64(res.Duplicates))
	for i, msg := range msgs {
		if i < len(res.ProfileIDs) && res.ProfileIDs[i] == "" {
			continue // duplicate
		}
		m.events.WithLabelValues(string(msg.Kind)).Inc()
	}
}

// rejected counts one refused event.
func (m *metrics) rejected(err error) {
	m.rejects.WithLabelValues(rejectReason(err)).Inc()
}

// rejectReasons are the values of ucv_events_rejected_total's reason.
var rejectReasons = []string{"too_large", "identifier", "timestamp", "invalid"}

// rejectReason labels why an event was refused: one of rejectReasons,
// never a field value or a client's trait key.
func rejectReason(err error) string {
	var fe *profile.FieldError
	switch {
	case errors.Is(err, profile.ErrTooLarge):
		return "too_large"
	case errors.As(err, &fe):
		f := fe.Field
		if rest, ok := strings.CutPrefix(f, "batch["); ok {
			if _, after, ok := strings.Cut(rest, "]."); ok {
				f = after
			}
		}
		switch f {
		case "timestamp", "originalTimestamp", "sentAt", "receivedAt":
			return "timestamp"
		case "userId", "anonymousId", "previousId", "traits.email", "traits.phone", "context.device.id":
			return "identifier"
		}
		if strings.HasPrefix(f, "context.externalIds") {
			return "identifier"
		}
	}
	return "invalid"
}

var statusLabels = map[int]string{200: "200", 204: "204", 400: "400", 401: "401", 403: "403", 404: "404", 405: "405", 408: "408",
	413: "413", 414: "414", 431: "431", 500: "500", 503: "503", 507: "507"}

func statusLabel(code int) string {
	if s, ok := statusLabels[code]; ok {
		return s
	}
	return strconv.Itoa(code)
}

// storeCollector reads store.Stats once per scrape.
type storeCollector struct{ st Store }

var (
	descUp          = prometheus.NewDesc("ucv_store_up", "1 if the store answered Stats at scrape time.", nil, nil)
	descWritable    = prometheus.NewDesc("ucv_store_writable", "1 unless the latest write was refused by the file system (full, read-only).", nil, nil)
	descProfiles    = prometheus.NewDesc("ucv_store_profiles", "Profiles stored (canonical, not redirects).", nil, nil)
	descIdentifiers = prometheus.NewDesc("ucv_store_identifiers", "Entries in the identifier index.", nil, nil)
	descOutbox      = prometheus.NewDesc("ucv_store_outbox_length", "Deltas waiting to be shipped to the hub.", nil, nil)
	descDBBytes     = prometheus.NewDesc("ucv_store_db_bytes", "Size of the database file in bytes.", nil, nil)
	descCommit      = prometheus.NewDesc("ucv_store_last_commit_events", "Events folded into the most recent group commit.", nil, nil)
	descCommits     = prometheus.NewDesc("ucv_store_commits_total", "Transactions (fsyncs) committed since the store opened.", nil, nil)
	descCommitSizes = prometheus.NewDesc("ucv_store_commit_events", "Events per group commit (batch size) since the store opened.", nil, nil)
	descSkipped     = prometheus.NewDesc("ucv_identity_links_skipped_total",
		"Identifiers of ingested events that identity resolution left out of the link (the event was stored), by reason: blocked value, type limit (e.g. a shared till's device ID), or a hub cannot-link.",
		[]string{"reason"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descWritable, descProfiles, descIdentifiers, descOutbox, descDBBytes, descCommit, descCommits, descCommitSizes, descSkipped} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.st.Stats()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	writable := 1.0
	if c.st.Writable() != nil {
		writable = 0
	}
	ch <- prometheus.MustNewConstMetric(descWritable, prometheus.GaugeValue, writable)
	ch <- prometheus.MustNewConstMetric(descProfiles, prometheus.GaugeValue, float64(st.Profiles))
	ch <- prometheus.MustNewConstMetric(descIdentifiers, prometheus.GaugeValue, float64(st.Identifiers))
	ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(st.OutboxLen))
	ch <- prometheus.MustNewConstMetric(descDBBytes, prometheus.GaugeValue, float64(st.DBBytes))
	ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, float64(st.LastCommitSize))
	ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(st.Commits))
	for r, n := range st.LinksSkipped {
		ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(n), store.SkipReason(r).String())
	}
	if len(st.CommitEvents) == len(store.CommitSizeBounds) {
		buckets := make(map[float64]uint64, len(st.CommitEvents))
		for i, ub := range store.CommitSizeBounds {
			buckets[ub] = st.CommitEvents[i]
		}
		ch <- prometheus.MustNewConstHistogram(descCommitSizes, uint64(st.Commits), float64(st.CommitEventsSum), buckets)
	}
}
