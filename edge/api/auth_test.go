package api

import (
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Secrets of the read keys the tests configure (at least 16 bytes).
const (
	secretProfiles = "rk-profiles-0123456789abcdef"
	secretDecide   = "rk-decide-0123456789abcdef"
	secretStream   = "rk-stream-0123456789abcdef"
	secretBoth     = "rk-both-0123456789abcdef"
	writeKey       = "wk-web"
)

// withReadKeys configures a production edge with one write key and read
// keys of each scope ("both" has profiles and decide).
func withReadKeys(c *Config) {
	c.DevMode = false
	c.WriteKeys = map[string]string{writeKey: "web"}
	c.ReadKeys = []ReadKey{
		{Name: "crm", Secret: secretProfiles, Scopes: []Scope{ScopeProfiles}},
		{Name: "decider", Secret: secretDecide, Scopes: []Scope{ScopeDecide}},
		{Name: "streamer", Secret: secretStream, Scopes: []Scope{ScopeStream}},
		{Name: "both", Secret: secretBoth, Scopes: []Scope{ScopeProfiles, ScopeDecide}},
	}
}

func bearer(secret string) string { return "Bearer " + secret }

func basicUserPass(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// noSecret fails when r's body or headers hold one of the test secrets.
func noSecret(tb testing.TB, what string, r response) {
	tb.Helper()
	all := string(r.body)
	for k, v := range r.header {
		all += k + ": " + strings.Join(v, ",") + "\n"
	}
	for _, s := range []string{secretProfiles, secretDecide, secretStream, secretBoth, writeKey} {
		if strings.Contains(all, s) {
			tb.Errorf("%s: answer holds a secret: %s", what, all)
		}
	}
}

// Lookups need a read key with scope profiles; a write key cannot read
// (403), a decide or stream key cannot read profiles (403), no or an
// unknown credential is 401 with a challenge, and the operational
// endpoints stay open.
func TestReadKeysGuardLookups(t *testing.T) {
	e := newTestEdge(t, withReadKeys)
	e.mustPost(t, "/v1/identify", `{"userId":"u1","traits":{"email":"ann@example.com"}}`, "X-Write-Key", writeKey)

	paths := []string{"/v1/profiles/user_id:u1", "/v1/profiles/email:ann@example.com/traits", "/v1/profiles/user_id:u1/events",
		"/v1/profiles/user_id:u1/external_ids", "/v1/profiles/user_id:u1/computed", "/v1/profiles/user_id:u1/merges"}
	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
		code   string
	}{
		{"no credential", nil, 401, "unauthorized"},
		{"unknown bearer", []string{"Authorization", bearer("rk-nobody-0123456789abcdef")}, 401, "unauthorized"},
		{"malformed basic", []string{"Authorization", "Basic %%%"}, 401, "unauthorized"},
		{"basic with another key's name", []string{"Authorization", basicUserPass("decider", secretProfiles)}, 401, "unauthorized"},
		{"write key as bearer", []string{"Authorization", bearer(writeKey)}, 403, "forbidden"},
		{"write key as basic", []string{"Authorization", basic(writeKey)}, 403, "forbidden"},
		{"write key as X-Write-Key", []string{"X-Write-Key", writeKey}, 403, "forbidden"},
		{"decide key", []string{"Authorization", bearer(secretDecide)}, 403, "forbidden"},
		{"stream key", []string{"Authorization", bearer(secretStream)}, 403, "forbidden"},
		{"profiles key as bearer", []string{"Authorization", bearer(secretProfiles)}, 200, ""},
		{"profiles key as lower-case bearer", []string{"Authorization", "bearer " + secretProfiles}, 200, ""},
		{"profiles key as basic name:secret", []string{"Authorization", basicUserPass("crm", secretProfiles)}, 200, ""},
		{"profiles key as basic secret:", []string{"Authorization", basic(secretProfiles)}, 200, ""},
		{"key with profiles and decide", []string{"Authorization", bearer(secretBoth)}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range paths {
				r := e.get(t, p, tc.hdr...)
				noSecret(t, p, r)
				if tc.status == 200 {
					if r.status != 200 {
						t.Fatalf("GET %s = %d %s, want 200", p, r.status, r.body)
					}
					continue
				}
				msg := wantError(t, "GET "+p, r, tc.status, tc.code)
				if tc.status == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("GET %s: 401 without a Bearer challenge (%q)", p, r.header.Get("WWW-Authenticate"))
				}
				if strings.Contains(tc.name, "decide") && !strings.Contains(msg, `"decider" lacks scope "profiles"`) {
					t.Errorf("GET %s message %q does not say which key lacks which scope", p, msg)
				}
			}
		})
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := e.get(t, p); r.status != 200 {
			t.Errorf("GET %s without a key = %d, want 200", p, r.status)
		}
	}
}

// A read key cannot write: every way of sending it to ingest or the
// settings endpoint is 403, and nothing is stored.
func TestReadKeyCannotWrite(t *testing.T) {
	for _, dev := range []bool{false, true} {
		name := "edge"
		if dev {
			name = "dev without write keys" // takes any key, but not a read key
		}
		t.Run(name, func(t *testing.T) {
			e := newTestEdge(t, func(c *Config) {
				withReadKeys(c)
				if dev {
					c.DevMode, c.WriteKeys = true, map[string]string{}
				}
			})
			for _, tc := range []struct {
				name string
				body string
				hdr  []string
			}{
				{"bearer", `{"userId":"r1","event":"X"}`, []string{"Authorization", bearer(secretProfiles)}},
				{"basic secret:", `{"userId":"r2","event":"X"}`, []string{"Authorization", basic(secretProfiles)}},
				{"basic name:secret", `{"userId":"r3","event":"X"}`, []string{"Authorization", basicUserPass("crm", secretProfiles)}},
				{"X-Write-Key", `{"userId":"r4","event":"X"}`, []string{"X-Write-Key", secretDecide}},
				{"writeKey in the body", `{"userId":"r5","event":"X","writeKey":"` + secretStream + `"}`, []string{"Content-Type", "text/plain"}},
			} {
				r := e.post(t, "/v1/track", tc.body, tc.hdr...)
				wantError(t, tc.name, r, http.StatusForbidden, "forbidden")
				noSecret(t, tc.name, r)
			}
			r := e.get(t, "/v1/projects/"+secretProfiles+"/settings")
			wantError(t, "settings of a read key", r, http.StatusForbidden, "forbidden")
			noSecret(t, "settings", r)
			for i := 1; i <= 5; i++ {
				if _, err := e.st.LookupIdentifier(mustIdent(t, "user_id", "r"+string(rune('0'+i)))); err == nil {
					t.Errorf("profile r%d was stored by a refused request", i)
				}
			}
		})
	}
}

// Without read keys lookups are open, as they have always been on a
// loopback edge: no credential is needed and a write key is ignored.
func TestOpenReadsWithoutReadKeys(t *testing.T) {
	e := newTestEdge(t, func(c *Config) { c.DevMode = false; c.WriteKeys = map[string]string{writeKey: "web"} })
	e.mustPost(t, "/v1/identify", `{"userId":"u1"}`, "X-Write-Key", writeKey)
	e.profileOf(t, "user_id:u1")
	if r := e.get(t, "/v1/profiles/user_id:u1", "X-Write-Key", writeKey); r.status != 200 {
		t.Errorf("open lookup with a write key = %d %s, want 200", r.status, r.body)
	}
	if m := string(e.get(t, "/metrics").body); !strings.Contains(m, "ucv_insecure_open_reads 0") {
		t.Errorf("metrics lack ucv_insecure_open_reads 0")
	}
	exposed := newTestEdge(t, func(c *Config) { c.InsecureOpenReads = true })
	if m := string(exposed.get(t, "/metrics").body); !strings.Contains(m, "ucv_insecure_open_reads 1") {
		t.Errorf("metrics with InsecureOpenReads lack ucv_insecure_open_reads 1")
	}
}

// Bad read key and limit settings are refused, naming the field and
// never showing a secret.
func TestReadKeyConfigRefused(t *testing.T) {
	key := func(name, secret string, scopes ...Scope) ReadKey {
		if scopes == nil {
			scopes = []Scope{ScopeProfiles}
		}
		return ReadKey{Name: name, Secret: secret, Scopes: scopes}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"short secret", func(c *Config) { c.ReadKeys = []ReadKey{key("a", "short-secret")} }, "ReadKeys[0]: secret"},
		{"secret with a space", func(c *Config) { c.ReadKeys = []ReadKey{key("a", "rk with a space 0123456789")} }, "ReadKeys[0]: secret"},
		{"secret with a comma", func(c *Config) { c.ReadKeys = []ReadKey{key("a", "rk,with,a,comma,0123456789")} }, "ReadKeys[0]: secret"},
		{"bad name", func(c *Config) { c.ReadKeys = []ReadKey{key("a b", secretProfiles)} }, "ReadKeys[0]: name"},
		{"empty name", func(c *Config) { c.ReadKeys = []ReadKey{key("", secretProfiles)} }, "ReadKeys[0]: name"},
		{"name twice", func(c *Config) {
			c.ReadKeys = []ReadKey{key("a", secretProfiles), key("a", secretDecide)}
		}, "ReadKeys[1]: name"},
		{"secret twice", func(c *Config) {
			c.ReadKeys = []ReadKey{key("a", secretProfiles), key("b", secretProfiles)}
		}, "ReadKeys[1] (key \"b\"): secret"},
		{"secret is a write key", func(c *Config) {
			c.WriteKeys = map[string]string{secretProfiles: ""}
			c.ReadKeys = []ReadKey{key("a", secretProfiles)}
		}, "also a write key"},
		{"no scope", func(c *Config) { c.ReadKeys = []ReadKey{{Name: "a", Secret: secretProfiles}} }, "ReadKeys[0]: scopes"},
		{"unknown scope", func(c *Config) { c.ReadKeys = []ReadKey{key("a", secretProfiles, "admin")} }, "ReadKeys[0]: scopes"},
		{"open reads with read keys", func(c *Config) {
			c.ReadKeys = []ReadKey{key("a", secretProfiles)}
			c.InsecureOpenReads = true
		}, "InsecureOpenReads"},
		{"negative read rate", func(c *Config) { c.ReadKeyRate = -1 }, "ReadKeyRate"},
		{"read rate without burst", func(c *Config) { c.ReadKeyRate, c.ReadKeyBurst = 5, 0 }, "ReadKeyBurst"},
		{"write rate without burst", func(c *Config) { c.WriteKeyRate, c.WriteKeyBurst = 5, 0 }, "WriteKeyBurst"},
		{"negative conns per IP", func(c *Config) { c.MaxConnsPerIP = -1 }, "MaxConnsPerIP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.DevMode = true
			tc.mod(&c)
			_, err := New(openStore(t), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error naming %s", err, tc.want)
			}
			for _, k := range c.ReadKeys {
				if strings.Contains(err.Error(), k.Secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Each read key has its own token bucket: over it the answer is 429
// rate_limited with Retry-After, other keys are not affected, and the
// bucket refills with time.
func TestReadKeyRateLimit(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	e := newTestEdge(t, func(c *Config) {
		withReadKeys(c)
		c.ReadKeyRate, c.ReadKeyBurst = 0.5, 2
		c.Now = clk.Now
	})
	auth := []string{"Authorization", bearer(secretProfiles)}
	for i := range 2 {
		if r := e.get(t, "/v1/profiles/user_id:nobody", auth...); r.status != 404 {
			t.Fatalf("lookup %d within the burst = %d %s, want 404", i+1, r.status, r.body)
		}
	}
	r := e.get(t, "/v1/profiles/user_id:nobody", auth...)
	msg := wantError(t, "lookup over the burst", r, http.StatusTooManyRequests, "rate_limited")
	if got := r.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (one token at 0.5/s)", got)
	}
	if !strings.Contains(msg, `read key "crm"`) {
		t.Errorf("message %q does not name the key", msg)
	}
	// Another key has its own bucket.
	if r := e.get(t, "/v1/profiles/user_id:nobody", "Authorization", bearer(secretBoth)); r.status != 404 {
		t.Errorf("another key's lookup = %d %s, want 404", r.status, r.body)
	}
	// A refused request takes no token: one second later there is still
	// none (half a token), two seconds later there is one.
	clk.add(time.Second)
	r = e.get(t, "/v1/profiles/user_id:nobody", auth...)
	wantError(t, "lookup after 1 s", r, http.StatusTooManyRequests, "rate_limited")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After after 1 s = %q, want 1", got)
	}
	clk.add(time.Second)
	if r := e.get(t, "/v1/profiles/user_id:nobody", auth...); r.status != 404 {
		t.Errorf("lookup after the refill = %d %s, want 404", r.status, r.body)
	}
	m := string(e.get(t, "/metrics").body)
	for _, want := range []string{`ucv_http_rate_limited_total{kind="read",name="crm"} 2`, `ucv_http_requests_total{code="429",route="/v1/profiles/{ref}"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines([]byte(m), "429"))
		}
	}
}

// Each write key has its own token bucket, whether the key comes in a
// header or in the body (analytics.js); a refused event is not stored.
func TestWriteKeyRateLimit(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	e := newTestEdge(t, func(c *Config) {
		c.DevMode = false
		c.WriteKeys = map[string]string{writeKey: "web", "wk-pos": "pos"}
		c.WriteKeyRate, c.WriteKeyBurst = 1, 1
		c.Now = clk.Now
	})
	e.mustPost(t, "/v1/track", `{"userId":"w1","event":"X"}`, "X-Write-Key", writeKey)
	r := e.post(t, "/v1/track", `{"userId":"w2","event":"X"}`, "X-Write-Key", writeKey)
	msg := wantError(t, "second event", r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "1" || !strings.Contains(msg, `source "web"`) || strings.Contains(msg, writeKey) {
		t.Errorf("429: Retry-After %q, message %q; want 1, naming the source and not the key", r.header.Get("Retry-After"), msg)
	}
	r = e.post(t, "/v1/track", `{"userId":"w3","event":"X","writeKey":"`+writeKey+`"}`, "Content-Type", "text/plain")
	wantError(t, "key in the body", r, http.StatusTooManyRequests, "rate_limited")
	e.mustPost(t, "/v1/track", `{"userId":"w4","event":"X"}`, "X-Write-Key", "wk-pos")
	clk.add(time.Second)
	e.mustPost(t, "/v1/track", `{"userId":"w5","event":"X","writeKey":"`+writeKey+`"}`, "Content-Type", "text/plain")
	for _, id := range []string{"w2", "w3"} {
		e.absent(t, "user_id:"+id)
	}
	e.profileOf(t, "user_id:w5")
}

func TestBucket(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBucket(2, 3)
	for i := range 3 {
		if _, ok := b.take(t0); !ok {
			t.Fatalf("take %d of a full bucket of 3 refused", i+1)
		}
	}
	if wait, ok := b.take(t0); ok || wait != 500*time.Millisecond {
		t.Fatalf("take from an empty bucket = %v, %v; want refused, 500ms", wait, ok)
	}
	if _, ok := b.take(t0.Add(-time.Hour)); ok {
		t.Fatalf("a clock stepping back refilled the bucket")
	}
	if _, ok := b.take(t0.Add(500 * time.Millisecond)); !ok {
		t.Fatalf("take after 500ms at 2/s refused")
	}
	// A long pause fills the bucket to its burst, not beyond.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if _, ok := b.take(later); !ok {
			t.Fatalf("take %d after an hour refused", i+1)
		}
	}
	if _, ok := b.take(later); ok {
		t.Fatalf("the bucket held more than its burst")
	}
	if newBucket(0, 10) != nil {
		t.Errorf("rate 0 made a bucket, want no limit")
	}
	e := &rateLimitError{wait: 1500 * time.Millisecond}
	if got := e.retryAfter(); got != "2" {
		t.Errorf("Retry-After of 1.5 s = %s, want 2", got)
	}
	e.wait = time.Millisecond
	if got := e.retryAfter(); got != "1" {
		t.Errorf("Retry-After of 1 ms = %s, want 1", got)
	}
}
