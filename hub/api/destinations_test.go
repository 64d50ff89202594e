package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/hubtest"
	hubtoken "ucv/hub/token"
	"ucv/hub/webhook"
	"ucv/profile"
	"ucv/replication"
)

const destSecret = "s3cret-s3cret-s3cret"

// Destinations through the API: a webhook that receives a signed
// transition, its counters, and a secret that never comes back.
func TestDestinationsAPI(t *testing.T) {
	_, url := newHub(t)
	var got atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(destSecret), r.Header.Get(webhook.SignatureHeader), b, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		got.Add(1)
	}))
	defer rc.Close()
	put := func(path, body string) {
		t.Helper()
		if resp, b := do(t, "PUT", url+path, admin, []byte(body)); resp.StatusCode != 200 {
			t.Fatalf("PUT %s = %d %s", path, resp.StatusCode, b)
		}
	}
	put("/v1/admin/audiences/vip", `{"expression":"'plan' in traits && traits.plan == 'vip'"}`)
	resp, b := do(t, "PUT", url+"/v1/admin/destinations/crm", admin, fmt.Appendf(nil,
		`{"type":"webhook","url":%q,"secret":%q,"events":["audience.exited","audience.entered"],"audiences":["vip"]}`, rc.URL, destSecret))
	if resp.StatusCode != 200 {
		t.Fatalf("PUT destination = %d %s", resp.StatusCode, b)
	}
	var one struct {
		Definition struct {
			Events      []string `json:"events"`
			MaxAttempts int      `json:"max_attempts"`
			SecretSet   bool     `json:"secret_set"`
		} `json:"definition"`
		Stats struct {
			Delivered int      `json:"delivered"`
			Pending   int      `json:"pending"`
			Failed    int      `json:"failed"`
			LastError *string  `json:"last_error"`
			Oldest    *float64 `json:"oldest_pending_age_seconds"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(b, &one); err != nil || !one.Definition.SecretSet || one.Definition.MaxAttempts != hub.DefaultMaxAttempts ||
		strings.Join(one.Definition.Events, ",") != "audience.entered,audience.exited" {
		t.Fatalf("PUT answered %s (%v)", b, err)
	}
	e := hubtest.NewEdge("store-1", 1)
	d := e.Delta(hubtest.Event{Profile: "p1", Kind: profile.Identify, Traits: map[string]any{"plan": "vip"},
		IDs: []profile.Identifier{hubtest.Email("ann@example.com")}})
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", []replication.Entry{d}...)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	waitFor(t, "the delivery", func() bool {
		_, b := do(t, "GET", url+"/v1/admin/destinations/crm", admin, nil)
		return json.Unmarshal(b, &one) == nil && one.Stats.Delivered == 1 && one.Stats.Pending == 0
	})
	if got.Load() != 1 || one.Stats.LastError != nil || one.Stats.Oldest != nil {
		t.Errorf("receiver got %d, stats %+v", got.Load(), one.Stats)
	}
	if _, b := do(t, "GET", url+"/metrics", "", nil); !strings.Contains(string(b), "ucv_hub_webhook_pending 0") ||
		!strings.Contains(string(b), "ucv_hub_fragment_arena_mapped_bytes ") {
		t.Errorf("metrics lack ucv_hub_webhook_pending 0 or the fragment arena's gauges")
	}
	// An update without a secret keeps it.
	put("/v1/admin/destinations/crm", fmt.Sprintf(`{"type":"webhook","url":%q,"events":["audience.entered"],"audiences":["vip"]}`, rc.URL))
	for _, path := range []string{"/v1/admin/destinations/crm", "/v1/admin/destinations", "/v1/admin/destinations/crm/failed"} {
		resp, b := do(t, "GET", url+path, admin, nil)
		if resp.StatusCode != 200 || strings.Contains(string(b), destSecret) || strings.Contains(string(b), `"secret"`) {
			t.Errorf("GET %s = %d %s: carries the secret", path, resp.StatusCode, b)
		}
	}
	// The audience a destination names cannot go.
	resp, b = do(t, "DELETE", url+"/v1/admin/audiences/vip", admin, nil)
	if code, msg := errCode(t, b); resp.StatusCode != 409 || code != "conflict" || !strings.Contains(msg, "crm") {
		t.Errorf("DELETE the audience = %d %s, want 409 naming crm", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", url+"/v1/admin/destinations/crm/failed/replay", admin, []byte(`{"ids":["x"]}`))
	if code, msg := errCode(t, b); resp.StatusCode != 400 || code != "invalid_request" || !strings.HasPrefix(msg, "ids[0]") {
		t.Errorf("replay of a bad ID = %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "DELETE", url+"/v1/admin/destinations/crm", admin, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"dropped":0`) {
		t.Errorf("DELETE = %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, "GET", url+"/v1/admin/destinations/crm", admin, nil); resp.StatusCode != 404 {
		t.Errorf("GET a deleted destination = %d, want 404", resp.StatusCode)
	}
}

// A bad destination is a 400 naming the field and changes nothing.
func TestDestinationRefused(t *testing.T) {
	n, url := newHub(t)
	if resp, b := do(t, "PUT", url+"/v1/admin/audiences/vip", admin, []byte(`{"expression":"true"}`)); resp.StatusCode != 200 {
		t.Fatalf("PUT audience = %d %s", resp.StatusCode, b)
	}
	good := map[string]any{"type": "webhook", "url": "https://hooks.example.com/ucv", "secret": destSecret, "events": []string{"audience.entered"}}
	with := func(k string, v any) string {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, c := range []struct {
		name, path, body, field string
	}{
		{"type", "crm", with("type", "email"), "type"},
		{"no url", "crm", with("url", nil), "url"},
		{"ftp", "crm", with("url", "ftp://hooks.example.com/"), "url"},
		{"plain http off loopback", "crm", with("url", "http://hooks.example.com/"), "url"},
		{"credentials in the url", "crm", with("url", "https://u:p@hooks.example.com/"), "url"},
		{"relative url", "crm", with("url", "/hook"), "url"},
		{"no secret for a new one", "crm", with("secret", nil), "secret"},
		{"short secret", "crm", with("secret", "short"), "secret"},
		{"no events", "crm", with("events", []string{}), "events"},
		{"unknown event", "crm", with("events", []string{"audience.entered", "order.placed"}), "events[1]"},
		{"unknown audience", "crm", with("audiences", []string{"nope"}), "audiences[0]"},
		{"bad audience name", "crm", with("audiences", []string{"Not A Name"}), "audiences[0]"},
		{"max_attempts 0 is the default, 101 too many", "crm", with("max_attempts", 101), "max_attempts"},
		{"negative max_attempts", "crm", with("max_attempts", -1), "max_attempts"},
		{"max_attempts not a number", "crm", with("max_attempts", "ten"), "max_attempts"},
		{"unknown field", "crm", with("headers", map[string]string{}), "headers"},
		{"consent with spaces", "crm", with("consent", " Ads "), "consent"},
		{"bad name", "CRM!", with("type", "webhook"), "name"},
		{"not JSON", "crm", "{", "body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			idx := n.FSM().Index()
			resp, b := do(t, "PUT", url+"/v1/admin/destinations/"+c.path, admin, []byte(c.body))
			code, msg := errCode(t, b)
			if resp.StatusCode != 400 || code != "invalid_request" || !strings.HasPrefix(msg, c.field+":") {
				t.Errorf("PUT %s = %d %s, want 400 naming %s", c.body, resp.StatusCode, b, c.field)
			}
			if strings.Contains(string(b), destSecret) {
				t.Errorf("the error repeats the secret: %s", b)
			}
			if n.FSM().Index() != idx || len(n.FSM().Destinations()) != 0 {
				t.Errorf("a refused destination changed the state")
			}
		})
	}
	// Plain http to loopback is accepted.
	if resp, b := do(t, "PUT", url+"/v1/admin/destinations/local", admin, []byte(with("url", "http://127.0.0.1:9/hook"))); resp.StatusCode != 200 {
		t.Errorf("PUT loopback http = %d %s", resp.StatusCode, b)
	}
}

// Delivery results come only from the hub's own deliverer: an admin
// token cannot commit one through internal apply.
func TestDeliveryResultsOnlyFromNodes(t *testing.T) {
	n, url := newHub(t, withTokens(tokenSet(t)))
	cmd, err := hub.MarshalDelivered(&hub.Delivered{Results: []hub.DeliveryResult{{Q: 1, Outcome: webhook.Delivered}}})
	if err != nil {
		t.Fatal(err)
	}
	idx := n.FSM().Index()
	resp, b := do(t, "POST", url+"/v1/internal/apply", roleTokens[hubtoken.Admin].secret, cmd)
	if resp.StatusCode != 403 || n.FSM().Index() != idx {
		t.Errorf("internal apply of delivery results as admin = %d %s, want 403", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", url+"/v1/internal/apply", roleTokens[hubtoken.Node].secret, cmd); resp.StatusCode != 200 {
		t.Errorf("as a node = %d %s, want 200", resp.StatusCode, b)
	}
}
