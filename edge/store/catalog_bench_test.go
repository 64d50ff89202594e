package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/profile/catalog"
	"ucv/profile/catalog/catalogtest"
)

// BenchmarkIngestCatalog is issue 10's ingest measurement: the store's
// events/s from 64 concurrent single-event callers (as the HTTP layer
// calls it), durable (fsync, as in production) and CPU-bound (NoSync),
// with no definitions and with the benchmark
// catalog (20 computed traits, 100 audiences) in force, on returning
// users (1,000 profiles) and mostly new ones (100,000). Orders and
// product views alternate. Target: ≤ 15 % fewer events/s with the
// catalog. Run with -benchtime 20000x -count 6 and compare medians.
func BenchmarkIngestCatalog(b *testing.B) {
	for _, sync := range []string{"off", "fsync"} {
		for _, users := range []uint64{1000, 100000} {
			for _, defs := range []string{"none", "100-audiences", "100-audiences+50-offers"} {
				b.Run(fmt.Sprintf("sync=%s/users=%d/catalog=%s", sync, users, defs), func(b *testing.B) {
					ingestCatalog(b, sync == "off", users, defs)
				})
			}
		}
	}
}

func ingestCatalog(b *testing.B, noSync bool, users uint64, defs string) {
	{
		{
			{
				s := open(b, func(o *Options) { o.NoSync = noSync })
				if defs != "none" {
					c := catalogtest.Catalog(b).Catalog()
					if defs == "100-audiences+50-offers" { // issue 11: decisions ranked at write time
						c = catalogtest.WithOffers(b, c)
					}
					if _, err := s.ReplaceCatalog(c); err != nil {
						b.Fatal(err)
					}
				}
				evs := make([]Event, 4096)
				for i := range evs {
					u := (uint64(i)*2654435761 + 12345) % users
					if i%2 == 0 {
						evs[i] = ev(b, fmt.Sprintf(`{"type":"track","userId":"u%d","event":"Order Completed","properties":{"total":%d.99,"currency":"EUR","store":"s%d"}}`, u, 10+i%90, i%4))
					} else {
						evs[i] = ev(b, fmt.Sprintf(`{"type":"track","userId":"u%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}`, u, i%500))
					}
				}
				ingestConcurrently(b, 64, evs, "cat", func(e Event) error {
					_, err := s.Ingest(context.Background(), []Event{e})
					return err
				})
			}
		}
	}
}

// BenchmarkSweep is the cost of the time sweep: profiles whose
// evaluation changes with time (here every day, through
// days_since(last_seen) in the benchmark catalog) are rendered again
// through the committer, sweepBatch per transaction. It reports the cost
// per profile re-rendered and what that comes to for 1M profiles per
// hour when each changes once a day (1M/24 re-renders an hour).
func BenchmarkSweep(b *testing.B) {
	const profiles = 5000
	clk := newTestClock(t0)
	s := open(b, func(o *Options) { o.Now = clk.now; o.NoSync = true; o.SweepInterval = time.Hour })
	if _, err := s.ReplaceCatalog(catalogtest.Catalog(b).Catalog()); err != nil {
		b.Fatal(err)
	}
	evs := make([]Event, 0, profiles)
	for i := range profiles {
		evs = append(evs, ev(b, fmt.Sprintf(`{"type":"track","userId":"u%d","event":"Order Completed","messageId":"m%d","timestamp":%q,"properties":{"total":%d.5,"currency":"EUR"}}`,
			i, i, t0.Add(-time.Duration(i%1440)*time.Minute).Format(time.RFC3339), 10+i%90)))
	}
	for c := range slices.Chunk(evs, 1000) {
		if _, err := s.Ingest(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	s.sweep(context.Background(), true)
	b.ResetTimer()
	rendered := 0
	for i := range b.N {
		clk.set(t0.Add(time.Duration(i+1) * 24 * time.Hour)) // a day on: every profile is due
		var due int
		s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketDue).Cursor()
			for k, _ := c.First(); k != nil && int64(readU64(k[:8])) <= clk.now().UnixMilli(); k, _ = c.Next() {
				due++
			}
			return nil
		})
		if err := s.sweep(context.Background(), false); err != nil {
			b.Fatal(err)
		}
		rendered += due
	}
	perProfile := b.Elapsed().Seconds() / float64(rendered)
	b.ReportMetric(perProfile*1e6, "µs/re-render")
	b.ReportMetric(perProfile*1e6/24, "core-s/1M-profiles/hour")
	_ = catalog.NowGranularity
}
