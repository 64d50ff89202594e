package catalog_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"ucv/profile/catalog"
	"ucv/profile/catalog/catalogtest"
)

// BenchmarkEvaluate is the cost of evaluating a changed profile: 20
// computed traits and 100 audiences, on a profile of 100 events (the
// reference profile's size) and of 1,000. Target (issue 10): ≤ 50 µs for
// the 100-event profile.
func BenchmarkEvaluate(b *testing.B) {
	comp := catalogtest.Catalog(b)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, n := range []int{100, 1000} {
		p := catalogtest.Profile(comp, n, now)
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var in int
			for b.Loop() {
				in = len(comp.Evaluate(p, now).Audiences)
			}
			b.ReportMetric(float64(in), "audiences")
		})
	}
}

// BenchmarkReevaluate is the cost per changed profile on ingest, where
// the edge evaluates incrementally: after one more event of each kind
// on the 100-event profile, only the audiences reading what it changed
// are evaluated again (catalog.Reevaluate).
func BenchmarkReevaluate(b *testing.B) {
	comp := catalogtest.Catalog(b)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := catalogtest.Profile(comp, 100, now)
	prev := comp.Evaluate(p, now)
	for _, ev := range []string{"Product Viewed", "Order Completed"} {
		ch := catalog.Change{LastSeen: true, Events: []string{ev}, Orders: ev == "Order Completed"}
		b.Run("event="+strings.ReplaceAll(ev, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				comp.Reevaluate(p, now, prev.Audiences, prev.Next, ch)
			}
		})
	}
}
