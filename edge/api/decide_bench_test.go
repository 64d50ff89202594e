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
// impressions). It reports each route's median and p99 latency and
// throughput (b.N requests of each), and decide's throughput as a
// fraction of the lookup's.
// Run: go test -run '^$' -bench DecideHTTP -benchtime 40000x -count 3 ./edge/api
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
	// Lookups and decisions alternate in rounds, so both see the same
	// machine (other work on these cores moves both, not one).
	const rounds = 10
	for _, conns := range []int{1, 50} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			hc := &fasthttp.HostClient{Addr: addr, MaxConns: conns}
			per := max(b.N/rounds, 1)
			lat := map[string][]time.Duration{}
			spent := map[string]time.Duration{}
			for round := range rounds {
				for _, route := range []string{"lookup", "decide"} {
					if round%2 == 1 { // alternate which goes first
						route = map[string]string{"lookup": "decide", "decide": "lookup"}[route]
					}
					l, d, err := load(hc, conns, per, routes[route])
					if err != nil {
						b.Fatalf("%s: %v", route, err)
					}
					lat[route] = append(lat[route], l...)
					spent[route] += d
				}
			}
			b.StopTimer()
			for _, route := range []string{"lookup", "decide"} {
				l := lat[route]
				slices.Sort(l)
				b.ReportMetric(float64(l[len(l)/2].Nanoseconds())/1000, route+"-µs-p50")
				b.ReportMetric(float64(l[len(l)*99/100].Nanoseconds())/1000, route+"-µs-p99")
				b.ReportMetric(float64(len(l))/spent[route].Seconds(), route+"-req/s")
			}
			b.ReportMetric(spent["lookup"].Seconds()/spent["decide"].Seconds(), "decide/lookup-throughput")
		})
	}
}

// load sends n requests to url(i) from conns goroutines, back to back,
// and returns each one's latency and the time they took together.
func load(hc *fasthttp.HostClient, conns, n int, url func(i int) string) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range conns {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req.SetRequestURI(url(i))
				t := time.Now()
				err := hc.Do(req, resp)
				lat[i] = time.Since(t)
				if err != nil || resp.StatusCode() != 200 {
					failed.Store(fmt.Errorf("%v %d %s", err, resp.StatusCode(), resp.Body()))
					return
				}
			}
		})
	}
	wg.Wait()
	if f, ok := failed.Load().(error); ok {
		return nil, 0, f
	}
	return lat, time.Since(start), nil
}
