package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"ucv/edge/store"
	"ucv/profile"
)

// testEdge is a Server on a real 127.0.0.1 socket over a real store.
type testEdge struct {
	url string
	st  *store.Store
	srv *Server
}

// newTestEdge starts an edge in dev mode (unless mod changes it) and
// stops it, then checks the store, when the test ends.
func newTestEdge(tb testing.TB, mod func(*Config)) *testEdge {
	tb.Helper()
	return startEdge(tb, openStore(tb), mod)
}

// startEdge serves st like newTestEdge.
func startEdge(tb testing.TB, st *store.Store, mod func(*Config)) *testEdge {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.DevMode = true
	cfg.NodeName = "test-edge"
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(st, cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return &testEdge{url: "http://" + ln.Addr().String(), st: st, srv: srv}
}

// openStore opens a store in a temp dir (fsync off: these tests are
// about HTTP, not durability), applies mods to its options, and closes
// it at cleanup.
func openStore(tb testing.TB, mods ...func(*store.Options)) *store.Store {
	tb.Helper()
	opts := store.DefaultOptions(filepath.Join(tb.TempDir(), "edge.db"))
	opts.NodeName = "test-edge"
	opts.NoSync = true
	for _, mod := range mods {
		mod(&opts)
	}
	st, err := store.Open(opts)
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Close(context.Background()); err != nil {
			tb.Errorf("store.Close: %v", err)
		}
	})
	return st
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("decode %q: %v", r.body, err)
	}
	return m
}

// errorCode returns the error body's code and message, failing when the
// body is not {"error":{"code":…,"message":…}}.
func (r response) errorCode(tb testing.TB) (code, msg string) {
	tb.Helper()
	var e struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil || e.Error.Code == nil || e.Error.Message == nil {
		tb.Fatalf("error body %q is not {\"error\":{\"code\",\"message\"}} (%v)", r.body, err)
	}
	return *e.Error.Code, *e.Error.Message
}

var client = &http.Client{Timeout: 30 * time.Second}

// do sends one request; hdr is a list of name, value pairs.
func (e *testEdge) do(tb testing.TB, method, path string, body []byte, hdr ...string) response {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		tb.Fatalf("request: %v", err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *testEdge) post(tb testing.TB, path, body string, hdr ...string) response {
	tb.Helper()
	return e.do(tb, http.MethodPost, path, []byte(body), hdr...)
}

func (e *testEdge) get(tb testing.TB, path string, hdr ...string) response {
	tb.Helper()
	return e.do(tb, http.MethodGet, path, nil, hdr...)
}

// mustPost posts and fails unless the answer is 200 {"success":true}.
func (e *testEdge) mustPost(tb testing.TB, path, body string, hdr ...string) {
	tb.Helper()
	r := e.post(tb, path, body, hdr...)
	if r.status != http.StatusOK || string(r.body) != `{"success":true}` {
		tb.Fatalf("POST %s = %d %s, want 200 {\"success\":true}", path, r.status, r.body)
	}
}

// profileOf looks a profile up and fails unless it is found.
func (e *testEdge) profileOf(tb testing.TB, ref string) map[string]any {
	tb.Helper()
	r := e.get(tb, "/v1/profiles/"+ref)
	if r.status != http.StatusOK {
		tb.Fatalf("GET /v1/profiles/%s = %d %s, want 200", ref, r.status, r.body)
	}
	return r.json(tb)
}

// absent fails unless the lookup answers 404 not_found.
func (e *testEdge) absent(tb testing.TB, ref string) {
	tb.Helper()
	r := e.get(tb, "/v1/profiles/"+ref)
	if r.status != http.StatusNotFound {
		tb.Fatalf("GET /v1/profiles/%s = %d %s, want 404", ref, r.status, r.body)
	}
	if code, _ := r.errorCode(tb); code != "not_found" {
		tb.Fatalf("GET /v1/profiles/%s code = %q, want not_found", ref, code)
	}
}

func basic(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
}

// identities returns the profile's identifiers as "type:value" keys.
func identities(tb testing.TB, p map[string]any) []string {
	tb.Helper()
	list, ok := p["identities"].([]any)
	if !ok {
		tb.Fatalf("identities = %T, want a list", p["identities"])
	}
	var out []string
	for _, e := range list {
		m := e.(map[string]any)
		out = append(out, m["type"].(string)+":"+m["value"].(string))
	}
	return out
}

func mustIdent(tb testing.TB, typ, v string) profile.Identifier {
	tb.Helper()
	id, err := profile.NewIdentifier("test", profile.IDType(typ), v, profile.DefaultNormalizeOptions())
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
