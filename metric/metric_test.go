package metric_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"ucv/metric"
)

type stats struct{ up, seen float64 }

var (
	descUp   = metric.NewDesc("t_up", "Up.")
	descSeen = metric.NewDesc("t_seen_total", "Seen, by kind.", "kind")
	descSize = metric.NewDesc("t_size", "Sizes.")
)

func (s *stats) Describe(d func(*metric.Desc)) { d(descUp); d(descSeen); d(descSize) }

func (s *stats) Collect(e *metric.Emitter) {
	e.Gauge(descUp, s.up)
	e.Counter(descSeen, s.seen, "a")
	e.Histogram(descSize, 3, 7, map[float64]uint64{1: 1, 5: 3})
}

func scrape(t *testing.T, r *metric.Registry) string {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRegistryServesEveryKind(t *testing.T) {
	r := metric.NewRegistry()
	r.Counter("t_requests_total", "Requests.").Add(2)
	r.CounterVec("t_events_total", "Events, by type.", "type").With("track").Inc()
	g := r.Gauge("t_in_flight", "In flight.")
	g.Inc()
	g.Inc()
	g.Dec()
	r.GaugeFunc("t_edges", "Edges.", func() float64 { return 4 })
	r.Histogram("t_latency_seconds", "Latency.", metric.ExponentialBuckets(0.001, 10, 3)).Observe(0.005)
	r.HistogramVec("t_route_seconds", "Latency by route.", []float64{1}, "route").With("lookup").Observe(0.5)
	r.Register(&stats{up: 1, seen: 9})
	out := scrape(t, r)
	for _, want := range []string{
		"t_requests_total 2",
		`t_events_total{type="track"} 1`,
		"t_in_flight 1",
		"t_edges 4",
		`t_latency_seconds_bucket{le="0.01"} 1`,
		`t_route_seconds_count{route="lookup"} 1`,
		"t_up 1",
		`t_seen_total{kind="a"} 9`,
		`t_size_bucket{le="5"} 3`,
		"t_size_sum 7",
		"go_goroutines ",
		"process_",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q:\n%s", want, out)
		}
	}
}

// Registries are independent: the same names in two do not collide.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := metric.NewRegistry(), metric.NewRegistry()
	a.Counter("t_x_total", "X.").Inc()
	b.Counter("t_x_total", "X.")
	if out := scrape(t, b); !strings.Contains(out, "t_x_total 0") {
		t.Fatalf("b's counter = %s", out)
	}
}
