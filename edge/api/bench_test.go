package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/valyala/fasthttp"

	"ucv/edge/store"
	"ucv/profile"
)

// BenchmarkLookup measures the handler's read path (no socket): route,
// the in-memory read index (or, for a key that needs normalizing, parse
// and normalize it and the store's lookup), tail, metrics. The memory
// path allocates nothing (TestLookupAllocatesNothing).
func BenchmarkLookup(b *testing.B) {
	st := openStore(b)
	srv, err := New(st, func() Config { c := DefaultConfig(); c.DevMode = true; return c }())
	if err != nil {
		b.Fatal(err)
	}
	var evs []store.Event
	for i := range 1000 {
		m, err := profile.ParseMessage([]byte(fmt.Sprintf(`{"userId":"u%d","traits":{"email":"u%d@example.com","plan":"pro","city":"Oslo"}}`, i, i)), profile.Identify, srv.cfg.Now(), profile.ParseOptions{Normalize: srv.cfg.Normalize})
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, store.Event{Msg: m})
	}
	if _, err := st.Ingest(context.Background(), evs); err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/v1/profiles/user_id:u42", "/v1/profiles/email:u42@example.com"} {
		b.Run(path, func(b *testing.B) {
			var req fasthttp.Request
			req.SetRequestURI(path)
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, nil, nil) // allocates: once, as fasthttp does per connection
			b.ReportAllocs()
			for b.Loop() {
				req.CopyTo(&ctx.Request)
				ctx.Response.Reset()
				srv.handle(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d", ctx.Response.StatusCode())
				}
			}
		})
	}
}

// TestLookupAllocatesNothing: a lookup the store answers from memory
// allocates nothing in the handler (route, auth, the read index, the
// tail, headers, metrics), by identifier and by profile ID.
func TestLookupAllocatesNothing(t *testing.T) {
	st := openStore(t)
	srv, err := New(st, func() Config { c := DefaultConfig(); c.DevMode = true; return c }())
	if err != nil {
		t.Fatal(err)
	}
	m, err := profile.ParseMessage([]byte(`{"userId":"u1","traits":{"email":"u1@example.com","plan":"pro"}}`), profile.Identify, srv.cfg.Now(), profile.ParseOptions{Normalize: srv.cfg.Normalize})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Ingest(context.Background(), []store.Event{{Msg: m}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/profiles/user_id:u1", "/v1/profiles/email:u1@example.com", "/v1/profiles/" + res.ProfileIDs[0]} {
		if n, _ := handlerAllocs(t, srv, path); n != 0 {
			t.Errorf("%s: %v allocations per lookup in the best of 5 runs, want 0", path, n)
		}
	}
}

// handlerAllocs serves GET path in process (ctx initialised once, as
// fasthttp does per connection) and returns the fewest allocations per
// request in five runs of AllocsPerRun, and the last response. It fails
// the test unless the answer is 200. AllocsPerRun counts the whole
// process's allocations, so the store's background goroutines (sweep,
// compaction, the log's applier) can add some to a run on a busy
// machine; they only ever add. A handler that allocates shows in every
// attempt.
func handlerAllocs(t *testing.T, srv *Server, path string) (float64, *fasthttp.Response) {
	t.Helper()
	var req fasthttp.Request
	req.SetRequestURI(path)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	run := func() {
		req.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		srv.handle(&ctx)
	}
	run()
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("%s: status %d", path, ctx.Response.StatusCode())
	}
	n := testing.AllocsPerRun(100, run)
	for attempt := 1; attempt < 5 && n != 0; attempt++ {
		n = min(n, testing.AllocsPerRun(100, run))
	}
	return n, &ctx.Response
}
