package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucv/crdt/codec"
)

func TestMsgpack(t *testing.T) {
	e := newTestEdge(t, nil)
	e.mustPost(t, "/v1/identify", `{"userId":"mp1","traits":{"age":42,"ratio":0.5,"name":"Ann"}}`)
	js := e.profileOf(t, "user_id:mp1")
	for _, path := range []string{"/v1/profiles/user_id:mp1", "/v1/profiles/user_id:mp1/traits"} {
		r := e.get(t, path, "Accept", "application/msgpack")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/msgpack" {
			t.Fatalf("GET %s = %d %q, want 200 application/msgpack", path, r.status, r.header.Get("Content-Type"))
		}
		v, err := codec.UnmarshalValue(r.body)
		if err != nil {
			t.Fatalf("decode msgpack: %v", err)
		}
		m := v.(map[string]any)
		if m["id"] != js["id"] {
			t.Errorf("msgpack id = %v, want %v", m["id"], js["id"])
		}
		traits := m["traits"].(map[string]any)
		if fmt.Sprint(traits["age"]) != "42" || traits["name"] != "Ann" || fmt.Sprint(traits["ratio"]) != "0.5" {
			t.Errorf("msgpack traits = %v", traits)
		}
		if _, ok := m["replica"]; !ok {
			t.Errorf("msgpack answer lacks replica")
		}
	}
}

func TestNotFoundAndBadLookups(t *testing.T) {
	e := newTestEdge(t, nil)
	r := e.get(t, "/v1/profiles/01HZZZZZZZZZZZZZZZZZZZZZZZ")
	if r.status != http.StatusNotFound {
		t.Fatalf("status = %d", r.status)
	}
	var body map[string]map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(body, map[string]map[string]string{"error": {"code": "not_found", "message": "profile not found"}}); diff != "" {
		t.Errorf("404 body (-got +want):\n%s", diff)
	}
	r = e.get(t, "/v1/profiles/email:ghost.person@example.com")
	if r.status != http.StatusNotFound || strings.Contains(string(r.body), "ghost") {
		t.Errorf("unknown e-mail = %d %s, want 404 without the address", r.status, r.body)
	}
	for _, tc := range []struct{ path, field string }{
		{"/v1/profiles/email:not-an-email", "identifier"},
		{"/v1/profiles/phone:12", "identifier"},
		{"/v1/profiles/bad%20type:x", "identifier"},
		{"/v1/profiles/user_id:%C3%28", "profile reference"},
		{"/v1/profiles/user_id:%20", "identifier"},
		{"/v1/profiles/user_id:u/events?limit=0", "limit"},
		{"/v1/profiles/user_id:u/events?limit=101", "limit"},
		{"/v1/profiles/user_id:u/events?limit=x", "limit"},
		{"/v1/profiles/user_id:u/events?cursor=%21%21", "cursor"},
	} {
		r := e.get(t, tc.path)
		if r.status != http.StatusBadRequest {
			t.Errorf("GET %s = %d %s, want 400", tc.path, r.status, r.body)
			continue
		}
		if code, msg := r.errorCode(t); code != "invalid_request" || !strings.Contains(msg, tc.field) {
			t.Errorf("GET %s = %s %q, want invalid_request naming %q", tc.path, code, msg, tc.field)
		}
	}
	for _, p := range []string{"/v1/nothing", "/v1/profiles/x/unknown", "/v2/track"} {
		if r := e.get(t, p); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.status)
		}
	}
	if r := e.get(t, "/v1/track"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/track = %d, want 405", r.status)
	}
	if r := e.post(t, "/v1/profiles/user_id:u", "{}"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/profiles/… = %d, want 405", r.status)
	}
}

func TestSubResources(t *testing.T) {
	e := newTestEdge(t, nil)
	e.mustPost(t, "/v1/identify", `{"userId":"s1","traits":{"email":"s1@example.com","plan":"pro","city":"Oslo"},"timestamp":"2024-01-01T00:00:00Z","messageId":"i1"}`)
	for i := range 5 {
		e.mustPost(t, "/v1/track", fmt.Sprintf(`{"userId":"s1","event":"Viewed %d","timestamp":"2024-01-0%dT00:00:00Z","messageId":"t%d"}`, i, i+2, i))
	}
	e.mustPost(t, "/v1/track", `{"userId":"s1","event":"Order Completed","properties":{"total":"19.90","currency":"EUR"},"timestamp":"2024-02-01T00:00:00Z","messageId":"o1"}`)
	e.mustPost(t, "/v1/track", `{"userId":"s1","event":"Tie","timestamp":"2024-02-01T00:00:00Z","messageId":"o0"}`)

	whole := e.profileOf(t, "user_id:s1")
	id := whole["id"].(string)

	r := e.get(t, "/v1/profiles/email:s1@example.com/traits?include=plan,missing")
	if r.status != http.StatusOK {
		t.Fatalf("traits = %d %s", r.status, r.body)
	}
	tr := r.json(t)
	if diff := cmp.Diff(tr["traits"], any(map[string]any{"plan": "pro"})); diff != "" {
		t.Errorf("traits?include (-got +want):\n%s", diff)
	}
	if tr["id"] != id || tr["version"] != whole["version"] || r.header.Get("X-Profile-Version") != whole["version"] {
		t.Errorf("traits id/version = %v/%v (header %q), want %s/%v", tr["id"], tr["version"], r.header.Get("X-Profile-Version"), id, whole["version"])
	}
	if _, ok := tr["replica"]; !ok {
		t.Errorf("traits answer lacks replica")
	}
	if all := e.get(t, "/v1/profiles/"+id+"/traits").json(t)["traits"].(map[string]any); len(all) != 3 {
		t.Errorf("traits = %v, want 3", all)
	}

	// Events: newest first, pages of 3 joined by the cursor.
	var got []string
	path := "/v1/profiles/user_id:s1/events?limit=3"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("cursor does not end")
		}
		r := e.get(t, path)
		if r.status != http.StatusOK {
			t.Fatalf("events = %d %s", r.status, r.body)
		}
		m := r.json(t)
		data := m["data"].([]any)
		if len(data) > 3 {
			t.Fatalf("page of %d events, limit 3", len(data))
		}
		for _, d := range data {
			got = append(got, d.(map[string]any)["message_id"].(string))
		}
		next := m["cursor"].(map[string]any)["next"]
		path = ""
		if next != nil {
			path = "/v1/profiles/user_id:s1/events?limit=3&cursor=" + next.(string)
		}
	}
	want := []string{"o1", "o0", "t4", "t3", "t2", "t1", "t0", "i1"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("events across pages (-got +want):\n%s", diff)
	}
	first := e.get(t, "/v1/profiles/user_id:s1/events").json(t)["data"].([]any)[0].(map[string]any)
	if first["type"] != "track" || first["name"] != "Order Completed" || first["timestamp"] != "2024-02-01T00:00:00Z" {
		t.Errorf("first event = %v", first)
	}

	ext := e.get(t, "/v1/profiles/user_id:s1/external_ids").json(t)["data"].([]any)
	var keys []string
	for _, x := range ext {
		m := x.(map[string]any)
		keys = append(keys, m["type"].(string)+":"+m["value"].(string))
	}
	if !slices.Contains(keys, "email:s1@example.com") || !slices.Contains(keys, "user_id:s1") {
		t.Errorf("external_ids = %v", keys)
	}

	comp := e.get(t, "/v1/profiles/user_id:s1/computed").json(t)["computed"].(map[string]any)
	if fmt.Sprint(comp["order_count"]) != "1" {
		t.Errorf("computed.order_count = %v, want 1", comp["order_count"])
	}
	if rev := comp["lifetime_revenue"].(map[string]any)["EUR"].(map[string]any)["amount"]; rev != "19.90" {
		t.Errorf("lifetime_revenue.EUR = %v, want 19.90", rev)
	}

	merges := e.get(t, "/v1/profiles/user_id:s1/merges").json(t)["data"].([]any)
	if len(merges) != 0 {
		t.Errorf("merges = %v, want none", merges)
	}
	e.absent(t, "user_id:nobody/traits")
	for _, sub := range []string{"traits", "events", "external_ids", "computed", "merges"} {
		if r := e.get(t, "/v1/profiles/01HZZZZZZZZZZZZZZZZZZZZZZZ/"+sub); r.status != http.StatusNotFound {
			t.Errorf("unknown profile /%s = %d, want 404", sub, r.status)
		}
	}
}

func TestMergesAndRedirects(t *testing.T) {
	e := newTestEdge(t, nil)
	e.mustPost(t, "/v1/track", `{"anonymousId":"anon-m","event":"Browsed"}`)
	e.mustPost(t, "/v1/identify", `{"userId":"um","traits":{"email":"um@example.com"}}`)
	a := e.profileOf(t, "anonymous_id:anon-m")["id"].(string)
	u := e.profileOf(t, "user_id:um")["id"].(string)
	if a == u {
		t.Fatalf("two people share profile %s before they are linked", a)
	}
	// Linking the anonymous ID to the known user merges the profiles.
	e.mustPost(t, "/v1/identify", `{"userId":"um","anonymousId":"anon-m"}`)
	canon := min(a, u)
	absorbed := max(a, u)
	for _, ref := range []string{"anonymous_id:anon-m", "user_id:um", a, u} {
		if got := e.profileOf(t, ref)["id"]; got != canon {
			t.Errorf("GET %s id = %v, want canonical %s", ref, got, canon)
		}
	}
	merges := e.get(t, "/v1/profiles/"+absorbed+"/merges").json(t)["data"].([]any)
	if len(merges) != 1 {
		t.Fatalf("merges = %v, want one", merges)
	}
	rec := merges[0].(map[string]any)
	if rec["from"] != absorbed || rec["into"] != canon || rec["reason"] == "" {
		t.Errorf("merge record = %v", rec)
	}
	// The anonymous history shows on the known profile.
	evs := e.get(t, "/v1/profiles/user_id:um/events").json(t)["data"].([]any)
	var names []string
	for _, ev := range evs {
		names = append(names, fmt.Sprint(ev.(map[string]any)["name"]))
	}
	if !slices.Contains(names, "Browsed") {
		t.Errorf("events of the known profile = %v, want the anonymous Browsed", names)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newTestEdge(t, nil)
	if r := e.get(t, "/healthz"); r.status != http.StatusOK || string(r.body) != `{"status":"ok"}` {
		t.Errorf("healthz = %d %s", r.status, r.body)
	}
	if r := e.get(t, "/readyz"); r.status != http.StatusOK {
		t.Errorf("readyz = %d %s", r.status, r.body)
	}
	e.mustPost(t, "/v1/identify", `{"userId":"h1","messageId":"h-1"}`)
	e.mustPost(t, "/v1/identify", `{"userId":"h1","messageId":"h-1"}`)
	e.mustPost(t, "/v1/batch", `{"batch":[{"type":"track","userId":"h2","anonymousId":"undefined","event":"x"},{"type":"page","userId":"h2"}]}`)
	e.post(t, "/v1/track", `{`)
	e.profileOf(t, "user_id:h1")
	e.absent(t, "user_id:nobody")

	wants := []string{
		`ucv_http_requests_total{code="200",route="/v1/identify"} 2`,
		`ucv_http_requests_total{code="400",route="/v1/track"} 1`,
		`ucv_http_requests_total{code="404",route="/v1/profiles/{ref}"} 1`,
		`ucv_http_request_duration_seconds_bucket{code="200",route="/v1/profiles/{ref}",le="0.001"}`,
		`ucv_events_ingested_total{type="identify"} 1`,
		`ucv_events_ingested_total{type="track"} 1`,
		`ucv_events_ingested_total{type="page"} 1`,
		`ucv_events_duplicate_total 1`,
		`ucv_ingest_request_events_bucket{le="2"} 3`,
		`ucv_store_profiles 2`,
		`ucv_store_up 1`,
		`ucv_store_db_bytes `,
		`ucv_store_dedupe_entries 3`, // the three events stored, the duplicate not again
		`ucv_store_last_commit_events `,
		`ucv_store_commits_total `,
		`ucv_store_commit_events_bucket{le="1"} `,
		`ucv_store_commit_events_count `,
		`ucv_store_apply_lag_events `,
		`ucv_store_apply_seconds_total `,
		`ucv_store_flush_seconds_total `,
		`ucv_store_tx_commit_seconds_total `,
		`ucv_store_apply_rate_events `,
		`ucv_store_pace_seconds_total 0`, // nothing near the soft bound
		`ucv_store_log_syncs_total 3`,    // identify, identify (a duplicate, logged all the same), batch
		`ucv_store_log_sync_seconds_total `,
		`ucv_identity_links_skipped_total{reason="blocked"} 1`, // the "undefined" anonymousId
		`ucv_identity_links_skipped_total{reason="limit"} 0`,
		`ucv_identity_links_skipped_total{reason="apart"} 0`,
		`go_goroutines `,
	}
	text := e.metricsWith(t, wants...)
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, "h1") || strings.Contains(text, "h2") {
		t.Errorf("metrics mention a user ID")
	}

	// A closed store is not ready; the process is still healthy.
	if err := e.st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := e.get(t, "/readyz"); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the store closed = %d %s, want 503", r.status, r.body)
	}
	if r := e.get(t, "/healthz"); r.status != http.StatusOK {
		t.Errorf("healthz with the store closed = %d, want 200", r.status)
	}
	r := e.post(t, "/v1/track", `{"userId":"late","event":"x"}`)
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("ingest with the store closed = %d %s, want 503", r.status, r.body)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"default needs keys", func(*Config) {}, false},
		{"keys", func(c *Config) { c.WriteKeys = map[string]string{"k": ""} }, true},
		{"dev", func(c *Config) { c.DevMode = true }, true},
		{"key with colon", func(c *Config) { c.WriteKeys = map[string]string{"a:b": ""} }, false},
		{"event limit over Segment's", func(c *Config) { c.DevMode = true; c.MaxEventBytes = 64 << 10 }, false},
		{"batch limit under event limit", func(c *Config) { c.DevMode = true; c.MaxBatchBytes = 1 }, false},
		{"bad public URL", func(c *Config) { c.DevMode = true; c.PublicURL = "edge:8080" }, false},
		{"zero timeout", func(c *Config) { c.DevMode = true; c.IngestTimeout = 0 }, false},
		{"no clock", func(c *Config) { c.DevMode = true; c.Now = nil }, false},
		{"origins", func(c *Config) {
			c.DevMode = true
			c.CORSOrigins = []string{"https://shop.example", "http://localhost:3000"}
		}, true},
		{"origin with a path", func(c *Config) { c.DevMode = true; c.CORSOrigins = []string{"https://shop.example/app"} }, false},
		{"origin without scheme", func(c *Config) { c.DevMode = true; c.CORSOrigins = []string{"shop.example"} }, false},
		{"no event age bound", func(c *Config) { c.DevMode = true; c.MaxEventAge = 0 }, true},
		{"negative event age", func(c *Config) { c.DevMode = true; c.MaxEventAge = -time.Hour }, false},
		{"headers under 16 KiB", func(c *Config) { c.DevMode = true; c.MaxHeaderBytes = 8 << 10 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// metricsWith returns the text of /metrics once it holds every one of
// wants, or after 10 s (the caller then reports what is missing): a
// scrape does not wait for the applier (Store.CommittedStats), so counts
// of events just acknowledged show once they are applied.
func (e *testEdge) metricsWith(t *testing.T, wants ...string) string {
	t.Helper()
	return e.metricsWhen(t, func(text string) bool {
		for _, w := range wants {
			if !strings.Contains(text, w) {
				return false
			}
		}
		return true
	})
}

// metricsWhen returns the text of /metrics once ok holds for it, or
// after 10 s.
func (e *testEdge) metricsWhen(t *testing.T, ok func(text string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.get(t, "/metrics")
		if r.status != http.StatusOK {
			t.Fatalf("metrics = %d", r.status)
		}
		if ok(string(r.body)) || time.Now().After(deadline) {
			return string(r.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
