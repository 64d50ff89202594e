package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIngestAndLookup(t *testing.T) {
	e := newTestEdge(t, nil)
	e.mustPost(t, "/v1/identify", `{"userId":"u/1","traits":{"email":"Ann@Example.com","plan":"pro"},"messageId":"m1"}`)

	byEmail := e.profileOf(t, "email:Ann@Example.com") // normalized on lookup
	id, _ := byEmail["id"].(string)
	if id == "" {
		t.Fatalf("profile has no id: %v", byEmail)
	}
	for _, ref := range []string{"email:ann%40example.com", "user_id:u%2F1", "userId:u%2F1", id} {
		r := e.get(t, "/v1/profiles/"+ref)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", ref, r.status, r.body)
		}
		if got := r.json(t)["id"]; got != id {
			t.Errorf("GET %s id = %v, want %s", ref, got, id)
		}
		if v := r.header.Get("X-Profile-Version"); v == "" || v != byEmail["version"] {
			t.Errorf("GET %s X-Profile-Version = %q, want %v", ref, v, byEmail["version"])
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
	}
	for _, k := range []string{"id", "traits", "identities", "computed", "consent", "version", "replica"} {
		if _, ok := byEmail[k]; !ok {
			t.Errorf("profile lacks %q: %v", k, byEmail)
		}
	}
	if got := byEmail["traits"].(map[string]any)["plan"]; got != "pro" {
		t.Errorf("traits.plan = %v, want pro", got)
	}
	if ids := identities(t, byEmail); !slices.Contains(ids, "email:ann@example.com") || !slices.Contains(ids, "user_id:u/1") {
		t.Errorf("identities = %v", ids)
	}
	computed := byEmail["computed"].(map[string]any)
	if d, ok := computed["days_since_last_seen"]; !ok || d == nil {
		t.Errorf("computed.days_since_last_seen = %v (present %v), want a number", d, ok)
	}
	wantReplica := map[string]any{"node": "test-edge", "stale_ms": nil, "hub_synced_at": nil}
	if diff := cmp.Diff(byEmail["replica"], any(wantReplica)); diff != "" {
		t.Errorf("replica (-got +want):\n%s", diff)
	}
	e.absent(t, "email:bob@example.com")
}

func TestSegmentAliasesAndCORS(t *testing.T) {
	e := newTestEdge(t, nil)
	// analytics.js posts text/plain to /v1/t with the key in the body.
	e.mustPost(t, "/v1/t", `{"type":"track","event":"Viewed","anonymousId":"a-1","writeKey":"any"}`, "Content-Type", "text/plain")
	e.profileOf(t, "anonymous_id:a-1")
	r := e.do(t, http.MethodOptions, "/v1/t", nil, "Origin", "https://shop.example", "Access-Control-Request-Method", "POST")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("OPTIONS /v1/t = %d, ACAO %q; want 204 *", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	r = e.post(t, "/v1/t", `{"type":"track","writeKey":"any"}`, "Content-Type", "text/plain")
	if r.status != http.StatusBadRequest || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("bad /v1/t = %d, ACAO %q; want 400 with CORS so the browser can read it", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	r = e.get(t, "/v1/projects/wk1/settings", "Host", "edge.local:8080")
	if r.status != http.StatusOK {
		t.Fatalf("settings = %d %s", r.status, r.body)
	}
	seg := r.json(t)["integrations"].(map[string]any)["Segment.io"].(map[string]any)
	if seg["apiKey"] != "wk1" || seg["apiHost"] == nil || !strings.HasSuffix(seg["apiHost"].(string), "/v1") {
		t.Errorf("settings Segment.io = %v", seg)
	}
}

func TestSettingsPublicURL(t *testing.T) {
	e := newTestEdge(t, func(c *Config) { c.PublicURL = "https://edge-1.store.example/" })
	seg := e.get(t, "/v1/projects/wk1/settings").json(t)["integrations"].(map[string]any)["Segment.io"].(map[string]any)
	if seg["apiHost"] != "edge-1.store.example/v1" || seg["protocol"] != "https" {
		t.Errorf("Segment.io = %v, want apiHost edge-1.store.example/v1 over https", seg)
	}
}

func TestWriteKeys(t *testing.T) {
	e := newTestEdge(t, func(c *Config) {
		c.DevMode = false
		c.WriteKeys = map[string]string{"k1": "till-3"}
	})
	body := func(uid string) string { return fmt.Sprintf(`{"userId":%q,"event":"Paid"}`, uid) }
	for _, tc := range []struct {
		name string
		hdr  []string
		body string
	}{
		{"no key", nil, body("nokey")},
		{"wrong basic", []string{"Authorization", basic("nope")}, body("wrongbasic")},
		{"malformed basic", []string{"Authorization", "Basic !!!"}, body("malformed")},
		{"wrong header", []string{"X-Write-Key", "nope"}, body("wrongheader")},
		{"wrong body key", nil, `{"userId":"wrongbody","event":"Paid","writeKey":"nope"}`},
		{"right body key, wrong header", []string{"X-Write-Key", "nope"}, `{"userId":"mixed","event":"Paid","writeKey":"k1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, "/v1/track", tc.body, tc.hdr...)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status = %d %s, want 401", r.status, r.body)
			}
			if code, _ := r.errorCode(t); code != "unauthorized" {
				t.Errorf("code = %q, want unauthorized", code)
			}
		})
	}
	for _, uid := range []string{"nokey", "wrongbasic", "malformed", "wrongheader", "wrongbody", "mixed"} {
		e.absent(t, "user_id:"+uid)
	}
	e.mustPost(t, "/v1/track", body("basic"), "Authorization", basic("k1"))
	e.mustPost(t, "/v1/track", body("header"), "X-Write-Key", "k1")
	e.mustPost(t, "/v1/track", `{"userId":"inbody","event":"Paid","writeKey":"k1"}`)
	p := e.profileOf(t, "user_id:basic")
	if src := p["sources"]; !cmp.Equal(src, any([]any{"till-3"})) {
		t.Errorf("sources = %v, want [till-3]", src)
	}
	e.profileOf(t, "user_id:header")
	e.profileOf(t, "user_id:inbody")
	if r := e.get(t, "/v1/projects/nope/settings"); r.status != http.StatusUnauthorized {
		t.Errorf("settings with unknown key = %d, want 401", r.status)
	}
	if r := e.get(t, "/v1/projects/k1/settings"); r.status != http.StatusOK {
		t.Errorf("settings with k1 = %d, want 200", r.status)
	}
}

// TestBadInput covers issue 3's "Bad input" list: each case gets a 4xx
// naming the field and stores nothing.
func TestBadInput(t *testing.T) {
	e := newTestEdge(t, nil)
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	bigTrait := strings.Repeat("x", 9<<10)
	var tooMany strings.Builder
	tooMany.WriteString(`{"batch":[`)
	for i := range 2501 {
		if i > 0 {
			tooMany.WriteString(",")
		}
		fmt.Fprintf(&tooMany, `{"type":"track","userId":"many","event":"e%d"}`, i)
	}
	tooMany.WriteString(`]}`)
	for _, tc := range []struct {
		name, path, body string
		status           int
		field            string // must appear in the message
		secret           string // must not appear in the message
		uid              string // user ID that must stay unknown
	}{
		{"malformed JSON", "/v1/track", `{"userId":"bad1","event":"x"`, 400, "body", "", "bad1"},
		{"not an object", "/v1/track", `["userId","bad2"]`, 400, "body", "", "bad2"},
		{"trailing data", "/v1/identify", `{"userId":"bad3"} {"userId":"bad3"}`, 400, "body", "", "bad3"},
		{"userId wrong type", "/v1/identify", `{"userId":{"id":"bad4"}}`, 400, "userId", "", "bad4"},
		{"traits wrong type", "/v1/identify", `{"userId":"bad5","traits":"vip"}`, 400, "traits", "", "bad5"},
		{"event wrong type", "/v1/track", `{"userId":"bad6","event":42}`, 400, "event", "", "bad6"},
		{"timestamp wrong type", "/v1/track", `{"userId":"bad7","event":"x","timestamp":17}`, 400, "timestamp", "", "bad7"},
		{"no user ID", "/v1/track", `{"event":"x","traits":{"email":"bad8@example.com"}}`, 400, "userId", "bad8@example.com", ""},
		{"invalid email", "/v1/identify", `{"userId":"bad9","traits":{"email":"ann.secret@@example"}}`, 400, "traits.email", "ann.secret", "bad9"},
		{"invalid phone", "/v1/identify", `{"userId":"bad10","traits":{"phone":"+1 555 0100 99999"}}`, 400, "traits.phone", "555", "bad10"},
		{"batch not JSON", "/v1/batch", `{"batch":[{"type":"track","userId":"bad11"`, 400, "body", "", "bad11"},
		{"batch sentAt not a time", "/v1/batch", `{"sentAt":"soon","batch":[{"type":"track","userId":"bad20","event":"x"}]}`, 400, "sentAt", "", "bad20"},
		{"event older than 5 years", "/v1/track", `{"userId":"bad21","event":"x","timestamp":"2001-09-09T01:46:40Z"}`, 400, "timestamp", "", "bad21"},
		{"timestamp in year 1", "/v1/track", `{"userId":"bad22","event":"x","originalTimestamp":"0001-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:00Z"}`, 400, "originalTimestamp", "", "bad22"},
		{"NUL in userId", "/v1/identify", `{"userId":"bad23\u0000"}`, 400, "userId", "", "bad23"},
		{"NUL in event name", "/v1/track", `{"userId":"bad24","event":"Paid\u0000"}`, 400, "event", "", "bad24"},
		{"NUL in trait key", "/v1/identify", `{"userId":"bad25","traits":{"ti\u0000er":"gold"}}`, 400, "traits", "", "bad25"},
		{"NUL in e-mail", "/v1/identify", `{"userId":"bad26","traits":{"email":"bad26@example.com\u0000"}}`, 400, "traits.email", "bad26@", "bad26"},
		{"type contradicts endpoint", "/v1/track", `{"type":"identify","userId":"bad12","event":"x"}`, 400, "type", "", "bad12"},
		{"event over 32 KB", "/v1/identify", `{"userId":"bad13","traits":{"a":"` + strings.Repeat("y", 33<<10) + `"}}`, 413, "body", "", "bad13"},
		{"batch over 500 KB", "/v1/batch", `{"batch":[{"type":"identify","userId":"bad14","traits":{"a":"` + strings.Repeat("y", 510<<10) + `"}}]}`, 413, "body", "", "bad14"},
		{"batch over 2500 events", "/v1/batch", tooMany.String(), 400, "batch", "", "many"},
		{"invalid UTF-8", "/v1/identify", "{\"userId\":\"bad15\",\"traits\":{\"name\":\"\xff\xfe\"}}", 400, "body", "", "bad15"},
		{"deeply nested", "/v1/track", `{"userId":"bad16","event":"x","properties":` + deep + `}`, 400, "body", "", "bad16"},
		{"huge trait value", "/v1/identify", `{"userId":"bad17","traits":{"bio":"` + bigTrait + `"}}`, 400, "traits.bio", "", "bad17"},
		{"batch not an array", "/v1/batch", `{"batch":{"type":"track"}}`, 400, "batch", "", ""},
		{"empty body", "/v1/identify", ``, 400, "body", "", ""},
		{"alias without previousId", "/v1/alias", `{"userId":"bad18"}`, 400, "previousId", "", "bad18"},
		{"bad externalIds", "/v1/track", `{"userId":"bad19","event":"x","context":{"externalIds":[{"id":"1","type":"has space"}]}}`, 400, "context.externalIds[0].type", "", "bad19"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("status = %d %s, want %d", r.status, truncate(r.body), tc.status)
			}
			code, msg := r.errorCode(t)
			wantCode := map[int]string{400: "invalid_request", 413: "payload_too_large"}[tc.status]
			if code != wantCode {
				t.Errorf("code = %q, want %q", code, wantCode)
			}
			if !strings.Contains(msg, tc.field) {
				t.Errorf("message %q does not name %q", msg, tc.field)
			}
			if tc.secret != "" && strings.Contains(msg, tc.secret) {
				t.Errorf("message %q echoes the value", msg)
			}
			if tc.uid != "" {
				e.absent(t, "user_id:"+tc.uid)
			}
		})
	}
	e.absent(t, "email:bad8@example.com")
	if st, err := e.st.Stats(); err != nil || st.Profiles != 0 {
		t.Errorf("Stats = %+v, %v; want no profiles", st, err)
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// TestBatchKeepsValidItems: an invalid item no longer loses the batch's
// good events (Segment SDKs do not retry a 4xx). The valid items are
// stored, the invalid ones listed in a 200, and counted by reason.
func TestBatchKeepsValidItems(t *testing.T) {
	e := newTestEdge(t, nil)
	body := `{"batch":[
		{"type":"identify","userId":"b1","traits":{"email":"b1@example.com"}},
		{"type":"identify","userId":"b3","traits":{"email":"not an email"}},
		{"type":"track","userId":"b2","event":"Paid"},
		{"type":"purchase","userId":"b4"},
		{"type":"track","userId":"b5","event":"Old","timestamp":"2001-09-09T01:46:40Z"}
	],"context":{"traits":{"tier":"gold"}}}`
	r := e.post(t, "/v1/batch", body)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d %s, want 200", r.status, r.body)
	}
	var got struct {
		Success  bool `json:"success"`
		Rejected []struct {
			Index int         `json:"index"`
			Error errorDetail `json:"error"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("answer %s: %v", r.body, err)
	}
	if !got.Success || len(got.Rejected) != 3 {
		t.Fatalf("answer = %s, want success and 3 rejected items", r.body)
	}
	for i, want := range []struct {
		index int
		field string
	}{{1, "batch[1].traits.email"}, {3, "batch[3].type"}, {4, "batch[4].timestamp"}} {
		rj := got.Rejected[i]
		if rj.Index != want.index || rj.Error.Code != "invalid_request" || !strings.HasPrefix(rj.Error.Message, want.field+": ") {
			t.Errorf("rejected[%d] = %+v, want index %d, invalid_request naming %s", i, rj, want.index, want.field)
		}
		if strings.Contains(rj.Error.Message, "not an email") {
			t.Errorf("rejected[%d] message %q echoes the value", i, rj.Error.Message)
		}
	}
	for _, ref := range []string{"user_id:b1", "user_id:b2", "email:b1@example.com"} {
		p := e.profileOf(t, ref)
		if tier := p["traits"].(map[string]any)["tier"]; tier != "gold" {
			t.Errorf("%s traits.tier = %v: the envelope context was not merged in", ref, tier)
		}
	}
	for _, ref := range []string{"user_id:b3", "user_id:b4", "user_id:b5"} {
		e.absent(t, ref)
	}

	// Nothing valid: still a 200 (as Segment answers), nothing stored.
	r = e.post(t, "/v1/batch", `{"batch":[{"type":"track","userId":"b6"}]}`)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"rejected":[{"index":0,"error":{"code":"invalid_request","message":"batch[0].event: `) {
		t.Fatalf("all-invalid batch = %d %s, want 200 listing item 0", r.status, r.body)
	}
	e.absent(t, "user_id:b6")

	metrics := string(e.get(t, "/metrics").body)
	for _, want := range []string{
		`ucv_events_rejected_total{reason="identifier"} 1`,
		`ucv_events_rejected_total{reason="invalid"} 2`,
		`ucv_events_rejected_total{reason="timestamp"} 1`,
		`ucv_events_rejected_total{reason="too_large"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestDuplicatesNotCounted(t *testing.T) {
	e := newTestEdge(t, nil)
	body := `{"userId":"d1","event":"Order Completed","messageId":"dup-1","properties":{"total":"10.00","currency":"EUR"}}`
	e.mustPost(t, "/v1/track", body)
	e.mustPost(t, "/v1/track", body) // a retry: 200, changes nothing
	p := e.profileOf(t, "user_id:d1")
	if n := p["computed"].(map[string]any)["order_count"]; fmt.Sprint(n) != "1" {
		t.Errorf("order_count = %v after a retried event, want 1", n)
	}
}
