package forward

import (
	"time"

	"ucv/metric"
)

// failure says why an attempt to send a batch failed.
type failure int

// Reasons of failed attempts (ucv_forward_failures_total{reason}).
const (
	failNetwork   failure = iota // connection refused, reset, DNS
	failTimeout                  // no answer within Config.Timeout
	failServer                   // 5xx or 408
	failThrottled                // 429
	failAuth                     // 401, 403: the write key
	failEndpoint                 // 404, 405, 3xx: the URL
	failRefused                  // another 4xx: the batch itself
	numFailures
)

func (r failure) String() string {
	return [...]string{"network", "timeout", "server_error", "throttled", "unauthorized", "bad_endpoint", "refused"}[r]
}

// dropReason says why an event was deleted unsent.
type dropReason int

// Reasons of dropped events (ucv_forward_dropped_total{reason}).
const (
	dropOversize   dropReason = iota // over Config.MaxEventBytes
	dropRejected                     // the upstream refused it alone (4xx)
	dropDamaged                      // its stored record failed its checksum
	dropSuppressed                   // Config.Suppressed
	dropNoConsent                    // the person has not granted the destination's consent purposes
	numDrops
)

func (r dropReason) String() string {
	return [...]string{"oversize", "rejected", "damaged", "suppressed", "no_consent"}[r]
}

// Stats are a Forwarder's counters and its outbox's gauges.
type Stats struct {
	// Pending and PendingBytes are the events queued and their stored
	// size; Lag is how long ago the oldest was accepted (0 when none).
	Pending      int
	PendingBytes int64
	Lag          time.Duration
	// Batches and Events count what the upstream took (2xx) since Start.
	Batches, Events uint64
	// Failures counts failed attempts by reason (failure.String), since
	// Start; Dropped counts events deleted unsent by reason, plus
	// "outbox_full": over the file's life, those the store's cap evicted.
	Failures map[string]uint64
	Dropped  map[string]uint64
	// LastSuccess is when the upstream last answered 2xx (zero: never,
	// since Start).
	LastSuccess time.Time
}

// Stats returns the current statistics; it reads the store's gauges.
func (f *Forwarder) Stats() (Stats, error) {
	f.settled.Lock()
	defer f.settled.Unlock()
	fs, err := f.st.ForwardStats()
	if err != nil {
		return Stats{}, err
	}
	s := Stats{
		Pending: fs.Len, PendingBytes: fs.Bytes,
		Batches: f.batches.Load(), Events: f.events.Load(),
		Failures: map[string]uint64{}, Dropped: map[string]uint64{"outbox_full": fs.Evicted},
	}
	if !fs.Oldest.IsZero() {
		s.Lag = max(f.cfg.Now().Sub(fs.Oldest), 0)
	}
	for r := range numFailures {
		s.Failures[r.String()] = f.failures[r].Load()
	}
	for r := range numDrops {
		s.Dropped[r.String()] = f.dropped[r].Load()
	}
	if ms := f.lastOK.Load(); ms != 0 {
		s.LastSuccess = time.UnixMilli(ms).UTC()
	}
	return s, nil
}

// Collector exports Stats on /metrics (ucv_forward_*).
func (f *Forwarder) Collector() metric.Collector { return collector{f} }

type collector struct{ f *Forwarder }

func desc(name, help string, labels ...string) *metric.Desc {
	return metric.NewDesc("ucv_forward_"+name, help, labels...)
}

var (
	descPending  = desc("outbox_events", "Accepted events waiting to be forwarded upstream.")
	descBytes    = desc("outbox_bytes", "Stored size of the events waiting to be forwarded.")
	descLag      = desc("lag_seconds", "Age of the oldest event waiting to be forwarded (0 when none).")
	descBatches  = desc("batches_total", "Batches the upstream accepted (2xx).")
	descEvents   = desc("events_total", "Events the upstream accepted.")
	descFailures = desc("failures_total", "Failed attempts to send a batch, by reason: network, timeout, server_error (5xx, 408), throttled (429), unauthorized (401, 403), bad_endpoint (404, 405, 3xx), refused (other 4xx: the batch is split and retried).", "reason")
	descDropped  = desc("dropped_total", "Events deleted unsent, by reason: oversize, rejected (the upstream refused the event alone), damaged, suppressed, no_consent (the person has not granted a consent purpose that lists the destination), outbox_full (evicted by the outbox's cap).", "reason")
	descLastOK   = desc("last_success_timestamp_seconds", "When the upstream last accepted a batch (0: not since start).")
)

func (c collector) Describe(describe func(*metric.Desc)) {
	for _, d := range []*metric.Desc{descPending, descBytes, descLag, descBatches, descEvents, descFailures, descDropped, descLastOK} {
		describe(d)
	}
}

func (c collector) Collect(e *metric.Emitter) {
	s, err := c.f.Stats()
	if err != nil {
		return // the store is closed: nothing to report
	}
	e.Gauge(descPending, float64(s.Pending))
	e.Gauge(descBytes, float64(s.PendingBytes))
	e.Gauge(descLag, s.Lag.Seconds())
	e.Counter(descBatches, float64(s.Batches))
	e.Counter(descEvents, float64(s.Events))
	for r, v := range s.Failures {
		e.Counter(descFailures, float64(v), r)
	}
	for r, v := range s.Dropped {
		e.Counter(descDropped, float64(v), r)
	}
	var last float64
	if !s.LastSuccess.IsZero() {
		last = float64(s.LastSuccess.UnixMilli()) / 1000
	}
	e.Gauge(descLastOK, last)
}
