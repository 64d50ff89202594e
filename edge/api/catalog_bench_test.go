package api

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"ucv/edge/store"
	"ucv/profile"
	"ucv/profile/catalog/catalogtest"
)

// BenchmarkLookupCatalog is issue 10's lookup measurement: the handler's
// read path (as BenchmarkLookup) for profiles stored with no definitions
// and with the benchmark catalog (20 computed traits, 100 audiences) in
// force — the views are pre-rendered either way, so the target is no
// change beyond noise. It reports the median and p99 of single lookups.
// Run: go test -run '^$' -bench LookupCatalog -benchtime 200000x -count 3 ./edge/api
func BenchmarkLookupCatalog(b *testing.B) {
	for _, defs := range []string{"none", "100-audiences"} {
		b.Run("catalog="+defs, func(b *testing.B) {
			st := openStore(b)
			if defs != "none" {
				if _, err := st.ReplaceCatalog(catalogtest.Catalog(b).Catalog()); err != nil {
					b.Fatal(err)
				}
			}
			srv, err := New(st, func() Config { c := DefaultConfig(); c.DevMode = true; return c }())
			if err != nil {
				b.Fatal(err)
			}
			var evs []store.Event
			for i := range 1000 {
				for _, body := range []string{
					fmt.Sprintf(`{"type":"identify","userId":"u%d","traits":{"email":"u%d@example.com","plan":"pro","city":"Oslo"}}`, i, i),
					fmt.Sprintf(`{"type":"track","userId":"u%d","event":"Order Completed","properties":{"total":%d.5,"currency":"EUR","store":"s1"}}`, i, 10+i%50),
				} {
					m, err := profile.ParseMessage([]byte(body), "", srv.cfg.Now(), profile.ParseOptions{Normalize: srv.cfg.Normalize})
					if err != nil {
						b.Fatal(err)
					}
					evs = append(evs, store.Event{Msg: m})
				}
			}
			if _, err := st.Ingest(context.Background(), evs); err != nil {
				b.Fatal(err)
			}
			var req fasthttp.Request
			req.SetRequestURI("/v1/profiles/email:u42@example.com")
			var ctx fasthttp.RequestCtx
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t := time.Now()
				ctx.Init(&req, nil, nil)
				srv.handle(&ctx)
				lat = append(lat, time.Since(t))
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d", ctx.Response.StatusCode())
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "µs-p50")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "µs-p99")
			b.ReportMetric(float64(len(ctx.Response.Body())), "body-bytes")
		})
	}
}
