package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ucv/hub"
	"ucv/hub/identity"
)

// TestModelEndpoints: POST /v1/admin/model takes the admin token only
// (401/403 otherwise, nothing committed), refuses a bad body with a 400
// that names the problem, installs a good one through Raft, and GET
// reports the model in use without record values.
func TestModelEndpoints(t *testing.T) {
	n, url := newHub(t)
	model, err := os.ReadFile(filepath.Join("..", "testdata", "historical_50k_first1000.model"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tok    string
		status int
	}{{"", 401}, {"nope", 401}, {token, 403}} {
		idx := n.FSM().Index()
		if resp, b := do(t, "POST", url+"/v1/admin/model", c.tok, model); resp.StatusCode != c.status {
			t.Errorf("POST with token %q = %d %s, want %d", c.tok, resp.StatusCode, b, c.status)
		}
		if n.FSM().Index() != idx {
			t.Errorf("POST with token %q changed the state", c.tok)
		}
	}
	for _, c := range []struct {
		name, want string
		body       []byte
	}{
		{"empty", "body: empty", nil},
		{"json", "malformed model", []byte(`{"model": "x"}`)},
		{"truncated", "malformed model", model[:len(model)-10]},
	} {
		idx := n.FSM().Index()
		resp, b := do(t, "POST", url+"/v1/admin/model", admin, c.body)
		code, msg := errCode(t, b)
		if resp.StatusCode != 400 || code != "invalid_request" || !strings.Contains(msg, c.want) {
			t.Errorf("%s body: %d %s %q, want 400 invalid_request naming %q", c.name, resp.StatusCode, code, msg, c.want)
		}
		if n.FSM().Index() != idx {
			t.Errorf("%s body changed the state", c.name)
		}
	}
	resp, b := do(t, "GET", url+"/v1/admin/model", admin, nil)
	var before hub.ModelInfo
	if resp.StatusCode != 200 || json.Unmarshal(b, &before) != nil || before.Installed {
		t.Fatalf("GET before = %d %s, want the untrained default", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", url+"/v1/admin/model?actor=ops", admin, model)
	if resp.StatusCode != 200 {
		t.Fatalf("POST = %d %s", resp.StatusCode, b)
	}
	var set struct {
		Index uint64 `json:"index"`
		Hash  string `json:"hash"`
	}
	if err := json.Unmarshal(b, &set); err != nil || set.Hash != identity.HashOf(model) {
		t.Fatalf("POST answered %s (%v), want the model's hash", b, err)
	}
	resp, b = do(t, "GET", url+"/v1/admin/model", admin, nil)
	var after hub.ModelInfo
	if resp.StatusCode != 200 || json.Unmarshal(b, &after) != nil {
		t.Fatalf("GET after = %d %s", resp.StatusCode, b)
	}
	if !after.Installed || after.Index != set.Index || after.Actor != "ops" || after.Hash != set.Hash ||
		after.TrainedRecords != 1000 || len(after.Levels) == 0 || after.TermFrequencies["last_name"] == 0 {
		t.Errorf("GET after = %+v", after)
	}
	// The summary holds counts, never the term-frequency values (names).
	if strings.Contains(string(b), "bevan") || strings.Contains(string(b), "smith") {
		t.Errorf("GET /v1/admin/model leaks record values: %s", b)
	}
}
