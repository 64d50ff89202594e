package store

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkMemIndexBytes measures the read index's live heap per
// profile: profiles of ~1.6 KB views with three identifiers each, the
// index built again beside the one Open built, heap measured after GC.
// The records keep their JSON (a bound on the views held, decision 0109)
// so that the rebuilt index holds every view, as the applier's
// publications fill it without one.
func BenchmarkMemIndexBytes(b *testing.B) {
	s := open(b, func(o *Options) { o.NoSync = true; o.Populate = false }, withViewBodies)
	const n = 20000
	bio := strings.Repeat("x", 900)
	for from := 0; from < n; from += 1000 {
		var evs []Event
		for i := from; i < from+1000; i++ {
			evs = append(evs, ev(b, fmt.Sprintf(`{"type":"identify","userId":"u%d","anonymousId":"a%d","messageId":"m%d","traits":{"email":"u%d@example.com","plan":"pro","city":"Oslo","bio":%q}}`, i, i, i, i, bio)))
		}
		if _, err := s.Ingest(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	for b.Loop() {
		old := s.mem
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := s.buildMemIndex(0); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(old)
	}
	st := s.MemoryStats()
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/profile")
	b.ReportMetric(float64(st.ViewBytes)/n, "view-B/profile")
	b.ReportMetric(float64(st.Identifiers)/n, "identifiers/profile")
}
