package api

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"ucv/edge/store"
	"ucv/metric"
	"ucv/profile"
)

// metrics are the server's metrics, in a registry of its own (so several
// servers can live in one test process). Labels never carry identifiers
// or path parameters.
type metrics struct {
	reg       *metric.Registry
	requests  metric.CounterVec
	latency   metric.HistogramVec
	inFlight  metric.Gauge
	rejects   metric.CounterVec
	perIngest metric.Histogram
	// amountsUnread counts accepted orders whose amount could not be
	// read, by the property (decision 0120).
	amountsUnread metric.CounterVec
	// rateLimited counts 429s by key kind and name; insecureOpenReads is
	// Config.InsecureOpenReads.
	rateLimited       metric.CounterVec
	insecureOpenReads metric.Gauge
	handler           fasthttp.RequestHandler
	// lookupOK are the series of a lookup answered 200, resolved once:
	// With's label lookup allocates, and lookups are the hot path.
	lookupOK struct {
		requests metric.Counter
		latency  metric.Histogram
	}
}

func newMetrics(st Store, extra ...metric.Collector) *metrics {
	r := metric.NewRegistry()
	m := &metrics{
		reg: r,
		requests: r.CounterVec("ucv_http_requests_total",
			"HTTP requests answered, by route and status code.", "route", "code"),
		latency: r.HistogramVec("ucv_http_request_duration_seconds",
			"Time from routing a request to its answer, by route and status code.",
			// Lookups are sub-millisecond; ingest waits for an fsync.
			[]float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
			"route", "code"),
		inFlight: r.Gauge("ucv_http_requests_in_flight", "Requests being handled."),
		rejects: r.CounterVec("ucv_events_rejected_total",
			"Events refused as invalid (batch items answered in \"rejected\", single messages answered 4xx), by reason: too_large, identifier, timestamp, invalid.",
			"reason"),
		amountsUnread: r.CounterVec("ucv_events_amount_unread_total",
			"Accepted order events counted without an amount because their total, revenue or value property was not a number (answered in \"warnings\"), by the property read.",
			"field"),
		perIngest: r.Histogram("ucv_ingest_request_events", "Events per accepted ingest request (one store.Append call).",
			[]float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500}),
		rateLimited: r.CounterVec("ucv_http_rate_limited_total",
			"Requests refused 429 because their key was over its rate limit, by kind (read, write) and name (the read key's name, the write key's source label; never a secret).",
			"kind", "name"),
		insecureOpenReads: r.Gauge("ucv_insecure_open_reads",
			"1 while profile lookups need no read key on an address others can reach (--insecure-open-reads): anyone who reaches this edge can read profiles."),
	}
	for _, reason := range rejectReasons {
		m.rejects.With(reason)
	}
	for _, f := range []string{"properties.total", "properties.revenue", "properties.value"} {
		m.amountsUnread.With(f)
	}
	m.lookupOK.requests = m.requests.With(routeProfile, statusLabel(fasthttp.StatusOK))
	m.lookupOK.latency = m.latency.With(routeProfile, statusLabel(fasthttp.StatusOK))
	r.Register(&storeCollector{st: st})
	for _, c := range extra {
		r.Register(c)
	}
	m.handler = fasthttpadaptor.NewFastHTTPHandler(r.Handler())
	return m
}

// observe records one answered request.
func (m *metrics) observe(route string, code int, d time.Duration) {
	if route == routeProfile && code == fasthttp.StatusOK {
		m.lookupOK.requests.Inc()
		m.lookupOK.latency.Observe(d.Seconds())
		return
	}
	c := statusLabel(code)
	m.requests.With(route, c).Inc()
	m.latency.With(route, c).Observe(d.Seconds())
}

// ingested records one successful store.Append. What the events did
// (stored, duplicate) is known only once the store applies them: the
// store counts that (storeCollector).
func (m *metrics) ingested(msgs []*profile.Message) {
	m.perIngest.Observe(float64(len(msgs)))
}

// rejected counts one refused event.
func (m *metrics) rejected(err error) {
	m.rejects.With(rejectReason(err)).Inc()
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
	413: "413", 414: "414", 429: "429", 431: "431", 500: "500", 503: "503", 507: "507"}

func statusLabel(code int) string {
	if s, ok := statusLabels[code]; ok {
		return s
	}
	return strconv.Itoa(code)
}

// storeCollector reads store.Stats once per scrape.
type storeCollector struct{ st Store }

var (
	descUp          = metric.NewDesc("ucv_store_up", "1 if the store answered Stats at scrape time.")
	descWritable    = metric.NewDesc("ucv_store_writable", "1 unless the latest write was refused by the file system (full, read-only).")
	descProfiles    = metric.NewDesc("ucv_store_profiles", "Profiles stored (canonical, not redirects).")
	descIdentifiers = metric.NewDesc("ucv_store_identifiers", "Entries in the identifier index.")
	descOutbox      = metric.NewDesc("ucv_store_outbox_length", "Deltas waiting to be shipped to the hub.")
	descDBBytes     = metric.NewDesc("ucv_store_db_bytes", "Size of the database file in bytes.")
	descDedupe      = metric.NewDesc("ucv_store_dedupe_entries", "MessageIds remembered for deduplication (those stored within --dedupe-window), each held in memory at about 56 bytes.")
	descCommit      = metric.NewDesc("ucv_store_last_commit_events", "Events folded into the most recent group commit.")
	descCommits     = metric.NewDesc("ucv_store_commits_total", "Transactions (fsyncs) committed since the store opened.")
	descCommitSizes = metric.NewDesc("ucv_store_commit_events", "Events per group commit (batch size) since the store opened.")
	descCommitsBy   = metric.NewDesc("ucv_store_applier_commits_total",
		"The applier's commits since the store opened, by why it committed the transaction it keeps open across batches under load: idle (nothing more queued, nobody waiting), waiter (a read, an Ingest caller or another write waited), request (a peer's changes or the hub's clusters), age, events, closing, every_batch (--apply-commit-age 0).",
		"reason")
	descMismatches = metric.NewDesc("ucv_store_checksum_mismatches_total",
		"Stored records that failed their checksum when read or used since the store opened, by record: view (rebuilt from the profile's state) or state (set aside until a peer or the hub sends its copy).",
		"record")
	descRepairing  = metric.NewDesc("ucv_store_profiles_repairing", "Profiles whose damaged state waits for a replica's copy (lookups of them answer 500).")
	descRepaired   = metric.NewDesc("ucv_store_profiles_repaired_total", "Damaged profiles repaired from a peer's or the hub's copy since the store opened.")
	descSuppressed = metric.NewDesc("ucv_edge_events_suppressed_total",
		"Events accepted (200) and dropped because an identifier of theirs is on the suppression list, since the store opened.")
	descCompactions = metric.NewDesc("ucv_store_compactions_total", "Rewrites of the data file (after erasures) since the store opened.")
	descEvents      = metric.NewDesc("ucv_events_ingested_total", "Events stored (duplicates excluded), by message type, counted when the store applies them.", "type")
	descDuplicates  = metric.NewDesc("ucv_events_duplicate_total", "Events dropped because their messageId was already seen.")
	descApplyLag    = metric.NewDesc("ucv_store_apply_lag_events",
		"Events acknowledged (durable in the write-ahead log) and not yet applied to the data file, at scrape time.")
	descApplySecs = metric.NewDesc("ucv_store_apply_seconds_total",
		"Time the applier spent committing logged events to the data file since the store opened; its rate near 1 means the applier bounds ingest.")
	descFlushSecs = metric.NewDesc("ucv_store_flush_seconds_total",
		"Part of ucv_store_apply_seconds_total the applier's commits spent storing and rendering the profiles they touched (each once per commit).")
	descTxCommitSecs = metric.NewDesc("ucv_store_tx_commit_seconds_total",
		"Part of ucv_store_apply_seconds_total spent in the data file's commits (writing the dirty pages, two fdatasyncs).")
	descApplyRate = metric.NewDesc("ucv_store_apply_rate_events",
		"The applier's measured rate: logged events applied per second of its busy time (a moving average; 0 before the first sample). The log's appender paces acknowledgements at it past the soft lag bound.")
	descPaceSecs = metric.NewDesc("ucv_store_pace_seconds_total",
		"Time the write-ahead log's appender waited to admit groups at the applier's rate (the lag past its soft bound) since the store opened.")
	descLogSyncs    = metric.NewDesc("ucv_store_log_syncs_total", "Write-ahead log writes (one fdatasync each, per group of requests) since the store opened.")
	descLedSyncs    = metric.NewDesc("ucv_store_log_syncs_led_total", "Of ucv_store_log_syncs_total, the writes a request's own handler made, finding the log's appender idle (no hand-off to it and back).")
	descDeferred    = metric.NewDesc("ucv_store_events_deferred_total", "Events the applier applied when committing, several profiles at once on every core, instead of one at a time as it resolved them (decision 0121), since the store opened.")
	descLogSyncSecs = metric.NewDesc("ucv_store_log_sync_seconds_total",
		"Time spent in write-ahead log writes and their fdatasyncs since the store opened; divided by ucv_store_log_syncs_total, the floor of an ingest's acknowledgement.")
	descReadWaits = metric.NewDesc("ucv_store_read_waits_total",
		"Lookups answered from memory that first waited for the applier, since the store opened: only those asking for a profile an acknowledged, not yet applied event can change (read-your-writes).")
	descReadOverlays = metric.NewDesc("ucv_store_read_overlays_total",
		"Lookups answered from memory with the acknowledged, not yet applied events of their profile applied to the view instead of waiting for the applier, since the store opened.")
	descSkipped = metric.NewDesc("ucv_identity_links_skipped_total",
		"Identifiers of ingested events that identity resolution left out of the link (the event was stored), by reason: blocked value, type limit (e.g. a shared till's device ID), or a hub cannot-link.",
		"reason")
)

func (c *storeCollector) Describe(describe func(*metric.Desc)) {
	for _, d := range []*metric.Desc{descUp, descWritable, descProfiles, descIdentifiers, descOutbox, descDBBytes, descDedupe, descCommit, descCommits, descCommitSizes, descCommitsBy, descSkipped,
		descMismatches, descRepairing, descRepaired, descSuppressed, descCompactions, descEvents, descDuplicates,
		descApplyLag, descApplySecs, descFlushSecs, descTxCommitSecs, descApplyRate, descPaceSecs, descLogSyncs, descLedSyncs, descDeferred, descLogSyncSecs, descReadWaits, descReadOverlays} {
		describe(d)
	}
}

func (c *storeCollector) Collect(e *metric.Emitter) {
	st, err := c.st.CommittedStats() // a scrape never makes the applier commit
	if err != nil {
		e.Gauge(descUp, 0)
		return
	}
	e.Gauge(descUp, 1)
	writable := 1.0
	if c.st.Writable() != nil {
		writable = 0
	}
	e.Gauge(descWritable, writable)
	e.Gauge(descProfiles, float64(st.Profiles))
	e.Gauge(descIdentifiers, float64(st.Identifiers))
	e.Gauge(descOutbox, float64(st.OutboxLen))
	e.Gauge(descDBBytes, float64(st.DBBytes))
	e.Gauge(descDedupe, float64(st.DedupeEntries))
	e.Gauge(descCommit, float64(st.LastCommitSize))
	e.Counter(descCommits, float64(st.Commits))
	e.Counter(descMismatches, float64(st.ViewMismatches), "view")
	e.Counter(descMismatches, float64(st.StateMismatches), "state")
	e.Gauge(descRepairing, float64(st.Repairing))
	e.Counter(descRepaired, float64(st.Repaired))
	e.Counter(descSuppressed, float64(st.Suppressed))
	e.Counter(descCompactions, float64(st.Compactions))
	for _, k := range []profile.Kind{profile.Identify, profile.Track, profile.Page, profile.Screen, profile.Group, profile.Alias} {
		e.Counter(descEvents, float64(st.Ingested[k]), string(k)) // zeros exported too
	}
	e.Counter(descDuplicates, float64(st.Duplicates))
	e.Gauge(descApplyLag, float64(st.ApplyLagEvents))
	e.Counter(descApplySecs, st.ApplySeconds)
	e.Counter(descFlushSecs, st.FlushSeconds)
	e.Counter(descTxCommitSecs, st.TxCommitSeconds)
	e.Gauge(descApplyRate, st.ApplyRate)
	e.Counter(descPaceSecs, st.PaceSeconds)
	e.Counter(descLogSyncs, float64(st.LogSyncs))
	e.Counter(descLedSyncs, float64(st.LedSyncs))
	e.Counter(descDeferred, float64(st.DeferredEvents))
	e.Counter(descLogSyncSecs, st.LogSyncSeconds)
	e.Counter(descReadWaits, float64(st.ReadWaits))
	e.Counter(descReadOverlays, float64(st.ReadOverlays))
	for r, n := range st.CommitsBy {
		e.Counter(descCommitsBy, float64(n), store.CommitReason(r).String())
	}
	for r, n := range st.LinksSkipped {
		e.Counter(descSkipped, float64(n), store.SkipReason(r).String())
	}
	if len(st.CommitEvents) == len(store.CommitSizeBounds) {
		buckets := make(map[float64]uint64, len(st.CommitEvents))
		for i, ub := range store.CommitSizeBounds {
			buckets[ub] = st.CommitEvents[i]
		}
		e.Histogram(descCommitSizes, uint64(st.Commits), float64(st.CommitEventsSum), buckets)
	}
}
