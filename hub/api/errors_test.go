package api_test

import (
	"net/http"
	"strings"
	"testing"

	"ucv/replication"
)

// The hub answers errors in the edge's vocabulary, with messages free of
// Go package prefixes.
func TestErrorVocabulary(t *testing.T) {
	_, url := newHub(t)
	vocabulary := map[string]bool{"invalid_request": true, "unauthorized": true, "forbidden": true, "not_found": true,
		"conflict": true, "method_not_allowed": true, "payload_too_large": true, "unavailable": true, "internal": true}
	for _, c := range []struct {
		name, method, path, tok string
		body                    []byte
		status                  int
		code                    string
	}{
		{"no route", "GET", "/v1/nothing", "", nil, 404, "not_found"},
		{"no token", "POST", "/v1/sync/push", "", nil, 401, "unauthorized"},
		{"other role", "GET", "/v1/admin/status", token, nil, 403, "forbidden"},
		{"malformed push", "POST", "/v1/sync/push", token, []byte{byte(replication.MsgSyncPush), 0x93}, 400, "invalid_request"},
		{"bad query", "GET", "/v1/sync/feed?cursor=x", token, nil, 400, "invalid_request"},
		{"missing field", "POST", "/v1/admin/unmerge", "admin-secret", []byte(`{"a":"p1"}`), 400, "invalid_request"},
		{"unknown profile", "GET", "/v1/admin/profiles/nobody", "admin-secret", nil, 404, "not_found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := do(t, c.method, url+c.path, c.tok, c.body)
			code, msg := errCode(t, b)
			if resp.StatusCode != c.status || code != c.code || !vocabulary[code] {
				t.Fatalf("= %d %s %q, want %d %s", resp.StatusCode, code, msg, c.status, c.code)
			}
			for _, prefix := range []string{"api: ", "hub: ", "replication: ", "codec: "} {
				if strings.Contains(msg, prefix) {
					t.Errorf("message %q has the Go prefix %q", msg, prefix)
				}
			}
			if msg == "" {
				t.Error("empty message")
			}
		})
	}
}

// The Bearer scheme is case-insensitive.
func TestBearerCaseInsensitive(t *testing.T) {
	_, url := newHub(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		req, _ := http.NewRequest("GET", url+"/v1/admin/status", nil)
		req.Header.Set("Authorization", scheme+" admin-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s scheme = %d, want 200", scheme, resp.StatusCode)
		}
	}
}
