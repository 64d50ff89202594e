package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ucv/edge/store"
)

// raw writes req on a fresh connection as it is, then reads one answer.
// The test clients never send more than the server reads, so the server
// closes cleanly and the answer is not lost to a reset.
func (e *testEdge) raw(tb testing.TB, req string) response {
	tb.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	// A bound for a broken server, not a timing assertion.
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.WriteString(c, req); err != nil {
		tb.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tb.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantError fails unless r is status with the error code.
func wantError(tb testing.TB, what string, r response, status int, code string) string {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("%s = %d %s, want %d", what, r.status, truncate(r.body), status)
	}
	got, msg := r.errorCode(tb)
	if got != code {
		tb.Fatalf("%s code = %q (%s), want %q", what, got, msg, code)
	}
	return msg
}

// analytics.js on a site with big cookies sends well over fasthttp's
// default 4 KiB of headers; they are accepted up to MaxHeaderBytes.
func TestLargeHeadersAccepted(t *testing.T) {
	e := newTestEdge(t, nil)
	cookie := "session=" + strings.Repeat("c", 16<<10)
	e.mustPost(t, "/v1/track", `{"userId":"cookie","event":"Viewed"}`, "Cookie", cookie)
	e.profileOf(t, "user_id:cookie")
}

// A request head that does not fit is 414 when the request line is
// what does not fit, 431 when the headers are, never 413.
func TestHeadTooLarge(t *testing.T) {
	e := newTestEdge(t, nil)
	limit := e.srv.cfg.MaxHeaderBytes

	line := "GET /v1/profiles/user_id:" // never ends within the limit
	r := e.raw(t, line+strings.Repeat("u", limit-len(line)))
	msg := wantError(t, "long request line", r, http.StatusRequestURITooLong, "uri_too_long")
	if !strings.Contains(msg, "request line") {
		t.Errorf("message %q does not name the request line", msg)
	}

	head := "POST /v1/track HTTP/1.1\r\nHost: edge\r\nCookie: "
	r = e.raw(t, head+strings.Repeat("c", limit-len(head)))
	msg = wantError(t, "large headers", r, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large")
	if !strings.Contains(msg, "headers") {
		t.Errorf("message %q does not name the headers", msg)
	}
}

// A request not received within ReadTimeout is answered 408.
func TestRequestTimeout(t *testing.T) {
	e := newTestEdge(t, func(c *Config) { c.ReadTimeout = 200 * time.Millisecond })
	for name, req := range map[string]string{
		"headers": "POST /v1/track HTTP/1.1\r\nHost: edge\r\nContent-Type: applic",
		"body":    "POST /v1/track HTTP/1.1\r\nHost: edge\r\nContent-Length: 60\r\n\r\n{\"userId\":\"slow\",",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.raw(t, req)
			wantError(t, "stalled "+name, r, http.StatusRequestTimeout, "request_timeout")
		})
	}
	e.absent(t, "user_id:slow")
}

// Content codings and auth schemes are case-insensitive.
func TestCaseInsensitiveEncodingAndAuth(t *testing.T) {
	e := newTestEdge(t, func(c *Config) {
		c.DevMode = false
		c.WriteKeys = map[string]string{"k1": ""}
	})
	var buf bytes.Buffer
	gz := func(s string) []byte {
		buf.Reset()
		w := gzip.NewWriter(&buf)
		w.Write([]byte(s))
		w.Close()
		return bytes.Clone(buf.Bytes())
	}
	for _, enc := range []string{"GZIP", "Gzip", "x-gzip", "X-GZIP", " gzip "} {
		uid := "enc-" + strings.ToLower(strings.TrimSpace(enc))
		r := e.do(t, http.MethodPost, "/v1/track", gz(`{"userId":"`+uid+`","event":"Zipped"}`), "Content-Encoding", enc, "X-Write-Key", "k1")
		if r.status != http.StatusOK {
			t.Errorf("Content-Encoding %q = %d %s, want 200", enc, r.status, r.body)
		}
	}
	e.profileOf(t, "user_id:enc-x-gzip")
	for _, auth := range []string{"bearer k1", "Bearer k1", "BEARER k1", "BASIC " + strings.TrimPrefix(basic("k1"), "Basic "), "basic " + strings.TrimPrefix(basic("k1"), "Basic ")} {
		e.mustPost(t, "/v1/track", `{"userId":"auth","event":"x"}`, "Authorization", auth)
	}
	r := e.post(t, "/v1/track", `{"userId":"auth2","event":"x"}`, "Authorization", "bearer nope")
	wantError(t, "unknown bearer key", r, http.StatusUnauthorized, "unauthorized")
}

// 405 answers carry Allow with the methods the route really serves.
func TestAllowHeaders(t *testing.T) {
	e := newTestEdge(t, nil)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/track", "POST, OPTIONS"},
		{http.MethodDelete, "/v1/batch", "POST, OPTIONS"},
		{http.MethodPost, "/v1/profiles/user_id:u", "GET, HEAD"},
		{http.MethodOptions, "/v1/profiles/user_id:u/traits", "GET, HEAD"},
		{http.MethodPut, "/v1/projects/k/settings", "GET, HEAD, OPTIONS"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPost, "/readyz", "GET, HEAD"},
		{http.MethodDelete, "/metrics", "GET, HEAD"},
	} {
		r := e.do(t, tc.method, tc.path, nil)
		wantError(t, tc.method+" "+tc.path, r, http.StatusMethodNotAllowed, "method_not_allowed")
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

// With an origin list, browsers on listed origins get CORS answers
// (preflights included) and others are refused; non-browser clients are
// unaffected.
func TestCORSOrigins(t *testing.T) {
	e := newTestEdge(t, func(c *Config) { c.CORSOrigins = []string{"https://shop.example", "http://localhost:3000/"} })
	const shop, evil = "https://shop.example", "https://evil.example"

	r := e.do(t, http.MethodOptions, "/v1/t", nil, "Origin", shop, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != shop ||
		r.header.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Content-Type") ||
		r.header.Get("Vary") != "Origin" {
		t.Errorf("preflight from %s = %d %v", shop, r.status, r.header)
	}
	r = e.do(t, http.MethodOptions, "/v1/projects/k/settings", nil, "Origin", "http://LOCALHOST:3000", "Access-Control-Request-Method", "GET")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Methods") != "GET, HEAD, OPTIONS" {
		t.Errorf("settings preflight = %d %v", r.status, r.header)
	}
	r = e.do(t, http.MethodOptions, "/v1/t", nil, "Origin", evil, "Access-Control-Request-Method", "POST")
	msg := wantError(t, "preflight from "+evil, r, http.StatusForbidden, "forbidden")
	if !strings.Contains(msg, "Origin") || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused preflight: message %q, ACAO %q", msg, r.header.Get("Access-Control-Allow-Origin"))
	}

	// analytics.js posts text/plain without a preflight: refusing is what
	// makes the list bind.
	r = e.post(t, "/v1/t", `{"type":"track","event":"x","anonymousId":"from-evil"}`, "Content-Type", "text/plain", "Origin", evil)
	wantError(t, "POST from "+evil, r, http.StatusForbidden, "forbidden")
	e.absent(t, "anonymous_id:from-evil")

	r = e.post(t, "/v1/t", `{"type":"track","event":"x","anonymousId":"from-shop"}`, "Content-Type", "text/plain", "Origin", shop)
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != shop {
		t.Errorf("POST from %s = %d, ACAO %q", shop, r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	e.mustPost(t, "/v1/track", `{"event":"x","userId":"server-side"}`) // no Origin
	e.profileOf(t, "anonymous_id:from-shop")

	// The default, "*", lets any origin in.
	d := newTestEdge(t, nil)
	r = d.do(t, http.MethodOptions, "/v1/batch", nil, "Origin", evil, "Access-Control-Request-Method", "POST")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("default preflight = %d, ACAO %q; want 204 *", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
}

// Without --public-url the settings endpoint advertises the address the
// edge listens on, never the client's Host header.
func TestSettingsIgnoresHostHeader(t *testing.T) {
	e := newTestEdge(t, nil)
	req, _ := http.NewRequest(http.MethodGet, e.url+"/v1/projects/wk/settings", nil)
	req.Host = "evil.example"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Integrations map[string]map[string]any `json:"integrations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	seg := doc.Integrations["Segment.io"]
	if want := strings.TrimPrefix(e.url, "http://") + "/v1"; seg["apiHost"] != want || seg["protocol"] != "http" {
		t.Errorf("apiHost = %v over %v, want %s over http", seg["apiHost"], seg["protocol"], want)
	}
}

// faultySwitch is a store.Options.FailWrites the test turns on and off.
type faultySwitch struct{ err atomic.Pointer[error] }

func (f *faultySwitch) set(errno syscall.Errno) {
	if errno == 0 {
		f.err.Store(nil)
		return
	}
	var err error = &os.PathError{Op: "write", Path: "edge.db", Err: errno}
	f.err.Store(&err)
}

func (f *faultySwitch) fail() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

// A full or read-only disk makes ingest answer 507/503 with a code that
// says so (nothing is stored, nothing acknowledged) and /readyz report
// not-ready, until writes work again.
func TestDiskFull(t *testing.T) {
	var f faultySwitch
	e := startEdge(t, openStore(t, func(o *store.Options) { o.FailWrites = f.fail }), nil)
	e.mustPost(t, "/v1/track", `{"userId":"before","event":"x"}`)

	f.set(syscall.ENOSPC)
	r := e.post(t, "/v1/track", `{"userId":"full1","event":"x"}`)
	msg := wantError(t, "ingest on a full disk", r, http.StatusInsufficientStorage, "storage_full")
	if !strings.Contains(msg, "disk is full") {
		t.Errorf("message %q does not say the disk is full", msg)
	}
	r = e.post(t, "/v1/batch", `{"batch":[{"type":"track","userId":"full2","event":"x"},{"type":"track","userId":"full3"}]}`)
	wantError(t, "batch on a full disk", r, http.StatusInsufficientStorage, "storage_full")
	r = e.get(t, "/readyz")
	wantError(t, "readyz on a full disk", r, http.StatusServiceUnavailable, "storage_full")
	if m := string(e.get(t, "/metrics").body); !strings.Contains(m, "ucv_store_writable 0") {
		t.Errorf("metrics lack ucv_store_writable 0")
	}
	for _, ref := range []string{"user_id:full1", "user_id:full2"} {
		e.absent(t, ref)
	}

	f.set(syscall.EROFS)
	r = e.post(t, "/v1/identify", `{"userId":"ro"}`)
	wantError(t, "ingest on a read-only disk", r, http.StatusServiceUnavailable, "storage_unavailable")
	wantError(t, "readyz on a read-only disk", e.get(t, "/readyz"), http.StatusServiceUnavailable, "storage_unavailable")

	// Room again: /readyz probes and turns ready without waiting for
	// traffic (a not-ready edge gets none).
	f.set(0)
	if r := e.get(t, "/readyz"); r.status != http.StatusOK {
		t.Fatalf("readyz after the disk recovered = %d %s, want 200", r.status, r.body)
	}
	if m := string(e.get(t, "/metrics").body); !strings.Contains(m, "ucv_store_writable 1") {
		t.Errorf("metrics lack ucv_store_writable 1")
	}
	e.mustPost(t, "/v1/track", `{"userId":"full1","event":"x"}`)
	e.profileOf(t, "user_id:full1")
	e.absent(t, "user_id:ro")
}

// Edge errors speak one vocabulary, and messages carry no Go package
// prefixes.
func TestErrorVocabulary(t *testing.T) {
	e := newTestEdge(t, func(c *Config) {
		c.DevMode = false
		c.WriteKeys = map[string]string{"k1": ""}
		c.CORSOrigins = []string{"https://shop.example"}
	})
	vocabulary := map[string]bool{codeInvalid: true, codeUnauthorized: true, codeForbidden: true, codeNotFound: true,
		codeMethod: true, codeTimeout: true, codeTooLarge: true, codeURITooLong: true, codeHeadersTooLarge: true,
		codeInternal: true, codeOverloaded: true, codeUnavailable: true, codeStorageUnavailable: true, codeStorageFull: true}
	key := []string{"X-Write-Key", "k1"}
	for _, r := range []response{
		e.post(t, "/v1/track", `{"userId":"u"}`, key...),
		e.post(t, "/v1/track", `{`, key...),
		e.post(t, "/v1/track", `{"userId":"u","event":"x"}`),
		e.post(t, "/v1/track", `{"userId":"u","event":"x"}`, "X-Write-Key", "k1", "Origin", "https://evil.example"),
		e.post(t, "/v1/track", `{"userId":"u","event":"x"}`, "X-Write-Key", "k1", "Content-Encoding", "br"),
		e.get(t, "/v1/profiles/user_id:nobody"),
		e.get(t, "/v1/profiles/email:not-an-address"),
		e.get(t, "/v1/nothing"),
		e.do(t, http.MethodPut, "/v1/track", nil),
		e.post(t, "/v1/track", `{"userId":"u","event":"x","properties":{"a":"`+strings.Repeat("y", 40<<10)+`"}}`, key...),
	} {
		code, msg := r.errorCode(t)
		if !vocabulary[code] {
			t.Errorf("code %q (%d) is not in the vocabulary", code, r.status)
		}
		for _, prefix := range []string{"api: ", "store: ", "profile: ", "hub: ", "replication: "} {
			if strings.Contains(msg, prefix) {
				t.Errorf("message %q has the Go prefix %q", msg, prefix)
			}
		}
	}
}

// A wildcard listen address is advertised by host name, which browsers
// can reach; a specific one as it is.
func TestAdvertisedAddress(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no host name")
	}
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, net.JoinHostPort(host, "8080")},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, net.JoinHostPort(host, "8080")},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 80}, "10.0.0.7:80"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "[::1]:80"},
	} {
		if got := Advertised(tc.addr); got != tc.want {
			t.Errorf("Advertised(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// A client clock that contradicts itself no longer back-dates events
// (they were stored in 1734): the event is dated at receipt, and
// first_seen stays right.
func TestClockSkewOverHTTP(t *testing.T) {
	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newTestEdge(t, func(c *Config) { c.Now = func() time.Time { return received } })
	e.mustPost(t, "/v1/track", `{"userId":"far","event":"x","originalTimestamp":"2326-01-01T00:00:00Z","sentAt":"2026-03-01T12:00:00Z"}`)
	e.mustPost(t, "/v1/batch", `{"sentAt":"9999-01-01T00:00:00Z","batch":[
		{"type":"track","userId":"b9999","event":"x","originalTimestamp":"2026-03-01T11:59:00Z"},
		{"type":"identify","userId":"b9999","originalTimestamp":"2026-03-01T11:58:00Z"}]}`)
	// A device an hour behind is still corrected exactly.
	e.mustPost(t, "/v1/track", `{"userId":"behind","event":"x","originalTimestamp":"2026-03-01T10:55:00Z","sentAt":"2026-03-01T11:00:00Z"}`)
	for ref, want := range map[string]string{
		"user_id:far":    "2026-03-01T12:00:00Z",
		"user_id:b9999":  "2026-03-01T12:00:00Z",
		"user_id:behind": "2026-03-01T11:55:00Z",
	} {
		p := e.profileOf(t, ref)
		got, err := time.Parse(time.RFC3339Nano, p["first_seen"].(string))
		if w, _ := time.Parse(time.RFC3339, want); err != nil || !got.Equal(w) {
			t.Errorf("%s first_seen = %v, want %s", ref, p["first_seen"], want)
		}
	}
}
