package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"ucv/hub/api"
	"ucv/hub/hubtest"
	"ucv/profile"
)

// TestProfileByTypeValue: GET /v1/admin/profiles/{type:value} finds the
// person through the hub's identifier index, normalizing the value as
// edges do; when a steward's unmerge leaves two people holding one
// e-mail, the answer is the cluster with the smallest ID and names both
// holders. Misses and bad values never echo the value.
func TestProfileByTypeValue(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	body := push(t, "e1",
		e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{hubtest.Email("ann@example.com"), hubtest.Anon("a2")}}),
		e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com"), hubtest.Anon("a1")}}))
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, body); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	get := func(ref string) api.ProfileResponse {
		t.Helper()
		resp, b := do(t, "GET", url+"/v1/admin/profiles/"+ref, admin, nil)
		var pr api.ProfileResponse
		if err := json.Unmarshal(b, &pr); resp.StatusCode != 200 || err != nil {
			t.Fatalf("profile %s = %d %s", ref, resp.StatusCode, b)
		}
		return pr
	}
	if pr := get("email:%20ANN@example.com"); pr.ID != "p1" || len(pr.Fragments) != 2 || pr.Holders != nil {
		t.Fatalf("by e-mail = %s %d fragments, holders %v; want p1 with both, one holder", pr.ID, len(pr.Fragments), pr.Holders)
	}
	if resp, b := do(t, "POST", url+"/v1/admin/unmerge", admin, []byte(`{"a":"p1","b":"p2"}`)); resp.StatusCode != 200 {
		t.Fatalf("unmerge = %d %s", resp.StatusCode, b)
	}
	if pr := get("email:ann@example.com"); pr.ID != "p1" || !slices.Equal(pr.Holders, []string{"p1", "p2"}) || pr.HoldersTotal != 2 {
		t.Fatalf("by e-mail after unmerge = %s, holders %v (%d); want p1, holders p1 p2", pr.ID, pr.Holders, pr.HoldersTotal)
	}
	if pr := get("anonymous_id:a2"); pr.ID != "p2" || pr.Holders != nil {
		t.Fatalf("by anonymousId = %s, holders %v; want p2 alone", pr.ID, pr.Holders)
	}
	for _, c := range []struct {
		ref, code string
		status    int
	}{
		{"email:bob@example.com", "not_found", 404},
		{"email:bob@example.com/why", "not_found", 404},
		{"email:not-an-address", "invalid_request", 400},
	} {
		resp, b := do(t, "GET", url+"/v1/admin/profiles/"+c.ref, admin, nil)
		code, msg := errCode(t, b)
		if resp.StatusCode != c.status || code != c.code {
			t.Errorf("profile %s = %d %s, want %d %s", c.ref, resp.StatusCode, b, c.status, c.code)
		}
		if _, v, _ := strings.Cut(strings.TrimSuffix(c.ref, "/why"), ":"); strings.Contains(msg, v) {
			t.Errorf("profile %s: error %q echoes the value", c.ref, msg)
		}
	}
}
