// Package metric is the one home of the Prometheus client library: the
// counters, gauges and histograms ucv's HTTP servers export, the
// collectors that read a component's statistics at scrape time, their
// registry and its /metrics handler. Other packages describe metrics with
// these types and never import Prometheus, so the library can be
// upgraded or replaced here alone.
//
// Every type is safe for concurrent use. Constructors panic on a
// programming error — an invalid name, a name registered twice, labels
// that do not match — as Prometheus's Must* functions do; metrics are
// declared once, at startup.
package metric

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds one server's metrics. Each server has its own, so
// several can live in one process (tests, `ucv dev`).
type Registry struct{ reg *prometheus.Registry }

// NewRegistry returns a registry holding the Go runtime's and the
// process's standard metrics (go_*, process_*).
func NewRegistry() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the registry in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Counter is a monotonic count.
type Counter struct{ c prometheus.Counter }

// Inc adds 1.
func (c Counter) Inc() { c.c.Inc() }

// Add adds v, which must not be negative.
func (c Counter) Add(v float64) { c.c.Add(v) }

// Counter registers and returns a counter.
func (r *Registry) Counter(name, help string) Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	r.reg.MustRegister(c)
	return Counter{c}
}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct{ v *prometheus.CounterVec }

// With returns the counter of the given label values, in the order the
// labels were declared; it creates it at zero on first use.
func (v CounterVec) With(values ...string) Counter { return Counter{v.v.WithLabelValues(values...)} }

// CounterVec registers and returns a counter family with the given
// label names.
func (r *Registry) CounterVec(name, help string, labels ...string) CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.reg.MustRegister(v)
	return CounterVec{v}
}

// Gauge is a value that goes up and down.
type Gauge struct{ g prometheus.Gauge }

// Inc adds 1.
func (g Gauge) Inc() { g.g.Inc() }

// Dec subtracts 1.
func (g Gauge) Dec() { g.g.Dec() }

// Set sets the value.
func (g Gauge) Set(v float64) { g.g.Set(v) }

// Gauge registers and returns a gauge.
func (r *Registry) Gauge(name, help string) Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	r.reg.MustRegister(g)
	return Gauge{g}
}

// GaugeFunc registers a gauge whose value f returns at each scrape. f
// must be safe for concurrent use and must not block.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Histogram counts observations into buckets.
type Histogram struct{ h prometheus.Observer }

// Observe records v.
func (h Histogram) Observe(v float64) { h.h.Observe(v) }

// Histogram registers and returns a histogram with the given upper
// bucket bounds (increasing).
func (r *Registry) Histogram(name, help string, buckets []float64) Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	r.reg.MustRegister(h)
	return Histogram{h}
}

// HistogramVec is a family of histograms told apart by label values.
type HistogramVec struct{ v *prometheus.HistogramVec }

// With returns the histogram of the given label values (see
// CounterVec.With).
func (v HistogramVec) With(values ...string) Histogram {
	return Histogram{v.v.WithLabelValues(values...)}
}

// HistogramVec registers and returns a histogram family.
func (r *Registry) HistogramVec(name, help string, buckets []float64, labels ...string) HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.reg.MustRegister(v)
	return HistogramVec{v}
}

// ExponentialBuckets returns count bucket bounds starting at start, each
// factor times the one before.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	return prometheus.ExponentialBuckets(start, factor, count)
}

// Desc describes a metric a Collector emits: its name, help and label
// names. Create each once (a package-level variable).
type Desc struct{ d *prometheus.Desc }

// NewDesc returns the description of a metric with the given label
// names.
func NewDesc(name, help string, labels ...string) *Desc {
	return &Desc{prometheus.NewDesc(name, help, labels, nil)}
}

// Collector computes metrics when the registry is scraped, typically
// from a component's Stats snapshot. Describe must name every Desc that
// Collect may emit; both must be safe for concurrent use, and Collect
// must not block for long (it runs inside a scrape).
type Collector interface {
	Describe(describe func(*Desc))
	Collect(e *Emitter)
}

// Register adds c to the registry.
func (r *Registry) Register(c Collector) {
	r.reg.MustRegister(collector{c})
}

// Emitter receives a Collector's metrics during one scrape; it is valid
// only inside Collect.
type Emitter struct{ ch chan<- prometheus.Metric }

// Gauge emits the value of a gauge, with one value per label of d.
func (e *Emitter) Gauge(d *Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d.d, prometheus.GaugeValue, v, labels...)
}

// Counter emits the value of a counter, with one value per label of d.
func (e *Emitter) Counter(d *Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d.d, prometheus.CounterValue, v, labels...)
}

// Histogram emits a histogram: count observations summing to sum, and
// for each upper bound the number of observations at or below it
// (cumulative).
func (e *Emitter) Histogram(d *Desc, count uint64, sum float64, buckets map[float64]uint64, labels ...string) {
	e.ch <- prometheus.MustNewConstHistogram(d.d, count, sum, buckets, labels...)
}

// collector adapts a Collector to Prometheus.
type collector struct{ c Collector }

func (a collector) Describe(ch chan<- *prometheus.Desc) {
	a.c.Describe(func(d *Desc) { ch <- d.d })
}

func (a collector) Collect(ch chan<- prometheus.Metric) {
	a.c.Collect(&Emitter{ch: ch})
}
