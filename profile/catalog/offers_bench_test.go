package catalog_test

import (
	"testing"
	"time"

	"ucv/profile/catalog"
	"ucv/profile/catalog/catalogtest"
)

// BenchmarkRank is what ranking the 50 benchmark offers adds to every
// view rendering (edge/store, decision 0039), on the 100-event
// reference profile with its memberships known; BenchmarkDecide is
// deciding one placement at read time from the profile alone (the slow
// path: explain, stale views), audiences evaluated as offers need them.
func BenchmarkRank(b *testing.B) {
	comp, err := catalog.Compile(catalogtest.WithOffers(b, catalogtest.Catalog(b).Catalog()))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := catalogtest.Profile(comp, 100, now)
	auds := comp.Evaluate(p, now).Audiences
	b.Run("rank", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			r, _ := comp.Rank(p, now, auds)
			n = len(r)
		}
		b.ReportMetric(float64(n), "eligible")
	})
	b.Run("decide", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			comp.Decide(p, now, "checkout", 3, false)
		}
	})
}
