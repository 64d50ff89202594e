package api

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"ucv/edge/store"
	"ucv/profile"
	"ucv/profile/catalog/catalogtest"
)

// BenchmarkDecideHTTP is issue 11's decision measurement: GET
// /v1/decide (50 offers at the placement, the benchmark catalog's 100
// audiences and 20 computed traits) against the plain lookup, over real
// sockets on loopback, with 1 and 50 connections (one goroutine each,
// requests back to back; client and server share the machine). 1000
// profiles, each with an identify and 12 track events (orders, views,
// impressions). It reports the median and p99 latency and the
// throughput.
// Run: go test -run '^$' -bench DecideHTTP -benchtime 20000x ./edge/api
func BenchmarkDecideHTTP(b *testing.B) {
	st := openStore(b)
	if _, err := st.ReplaceCatalog(catalogtest.WithOffers(b, catalogtest.Catalog(b).Catalog())); err != nil {
		b.Fatal(err)
	}
	srv, err := New(st, func() Config { c := DefaultConfig(); c.DevMode = true; return c }())
	if err != nil {
		b.Fatal(err)
	}
	const profiles = 1000
	var evs []store.Event
	events := []string{"Order Completed", "Product Viewed", "Product Added", "Checkout Started", "Signed In", "Offer Shown"}
	for i := range profiles {
		bodies := []string{fmt.Sprintf(`{"type":"identify","userId":"u%d","traits":{"email":"u%d@example.com","plan":"pro","city":"Oslo"},"context":{"consent":{"categoryPreferences":{"marketing":%t}}}}`, i, i, i%2 == 0)}
		for j := range 12 {
			bodies = append(bodies, fmt.Sprintf(`{"type":"track","userId":"u%d","event":%q,"properties":{"total":%d.5,"currency":"EUR","store":"s%d","offer_id":"o%02d"}}`,
				i, events[(i+j)%len(events)], 10+(i+j)%50, j%4, (i+j)%50))
		}
		for _, body := range bodies {
			m, err := profile.ParseMessage([]byte(body), "", srv.cfg.Now(), profile.ParseOptions{Normalize: srv.cfg.Normalize})
			if err != nil {
				b.Fatal(err)
			}
			evs = append(evs, store.Event{Msg: m})
		}
	}
	for chunk := range slices.Chunk(evs, 1000) {
		if _, err := st.Ingest(context.Background(), chunk); err != nil {
			b.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
	addr := ln.Addr().String()
	routes := map[string]func(i int) string{
		"lookup": func(i int) string {
			return fmt.Sprintf("http://%s/v1/profiles/email:u%d@example.com", addr, i%profiles)
		},
		"decide": func(i int) string {
			return fmt.Sprintf("http://%s/v1/decide/email:u%d@example.com?placement=checkout&limit=3", addr, i%profiles)
		},
	}
	for _, conns := range []int{1, 50} {
		for _, route := range []string{"lookup", "decide"} {
			b.Run(fmt.Sprintf("route=%s/conns=%d", route, conns), func(b *testing.B) {
				hc := &fasthttp.HostClient{Addr: addr, MaxConns: conns}
				urls := make([]string, profiles)
				for i := range urls {
					urls[i] = routes[route](i)
				}
				lat := make([]time.Duration, b.N)
				var next atomic.Int64
				var wg sync.WaitGroup
				var failed atomic.Value
				b.ResetTimer()
				start := time.Now()
				for range conns {
					wg.Go(func() {
						req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
						defer fasthttp.ReleaseRequest(req)
						defer fasthttp.ReleaseResponse(resp)
						for {
							i := int(next.Add(1)) - 1
							if i >= b.N {
								return
							}
							req.SetRequestURI(urls[i%profiles])
							t := time.Now()
							err := hc.Do(req, resp)
							lat[i] = time.Since(t)
							if err != nil || resp.StatusCode() != 200 {
								failed.Store(fmt.Sprintf("%v %d %s", err, resp.StatusCode(), resp.Body()))
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				if f := failed.Load(); f != nil {
					b.Fatalf("request failed: %v", f)
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "µs-p50")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "µs-p99")
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			})
		}
	}
}
