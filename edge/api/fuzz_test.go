package api

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzIngest drives the request handler with arbitrary bodies on every
// ingest endpoint: it must never panic and never answer 5xx.
func FuzzIngest(f *testing.F) {
	paths := []string{"/v1/identify", "/v1/track", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias", "/v1/batch"}
	seeds := []string{
		`{"userId":"u1","traits":{"email":"a@example.com"}}`,
		`{"anonymousId":"a1","event":"x","properties":{"total":"1.5","currency":"EUR"}}`,
		`{"batch":[{"type":"track","userId":"u","event":"e"}],"context":{"device":{"id":"d"}}}`,
		`{"userId":"u","previousId":"p"}`,
		`{"userId":"u","groupId":"g","context":{"externalIds":[{"id":"1","type":"crm"}]}}`,
		`{"userId":"u","event":"e","timestamp":"2015-2-02T00:30:08.276Z","sentAt":"x"}`,
		`{`, `[]`, "\xff", `{"batch":[]}`,
	}
	if dir := specDirOrEmpty(); dir != "" {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, fn := range files {
			if b, err := os.ReadFile(fn); err == nil {
				seeds = append(seeds, string(b))
			}
		}
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	st := openStore(f)
	cfg := DefaultConfig()
	cfg.DevMode = true
	srv, err := New(st, cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		var req fasthttp.Request
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(paths[int(route)%len(paths)])
		req.SetBody(body)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, nil, nil)
		srv.handle(&ctx)
		if code := ctx.Response.StatusCode(); code >= 500 {
			t.Fatalf("POST %s = %d %s", paths[int(route)%len(paths)], code, ctx.Response.Body())
		}
	})
}

func specDirOrEmpty() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		d := filepath.Join(dir, "shared", "data", "segment-spec")
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// FuzzRoute drives the router and lookup path parsing with arbitrary
// methods, paths and queries: no panic, no 5xx.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{
		"/v1/profiles/email:Ann@Example.com", "/v1/profiles/user_id:u%2F1/events?limit=3&cursor=MTox",
		"/v1/profiles/x/traits?include=a,b", "/v1/profiles/%C3%28", "/v1/profiles/:", "/v1/projects/k/settings",
		"/v1/profiles/phone:+1%20415%20555%200100/computed", "/healthz", "/metrics", "//v1//profiles",
	} {
		f.Add("GET", s)
	}
	st := openStore(f)
	cfg := DefaultConfig()
	cfg.DevMode = true
	srv, err := New(st, cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, uri string) {
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(uri)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, nil, nil)
		srv.handle(&ctx)
		if code := ctx.Response.StatusCode(); code >= 500 {
			t.Fatalf("%s %q = %d %s", method, uri, code, ctx.Response.Body())
		}
	})
}
