package catalog_test

import (
	"fmt"
	"testing"
	"time"

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
