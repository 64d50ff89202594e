package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"ucv/hub/api"
	"ucv/hub/hubtest"
	"ucv/profile"
)

func TestWhy(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	body := push(t, "e1",
		e.Delta(hubtest.Event{Profile: "p1", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("ann@example.com")}}),
		e.Delta(hubtest.Event{Profile: "p2", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("ann@example.com"), hubtest.Anon("a2")}}))
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, body); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", url+"/v1/admin/unmerge", admin, []byte(`{"a":"p1","b":"p2","actor":"sam","reason":"two people"}`)); resp.StatusCode != 200 {
		t.Fatalf("unmerge = %d %s", resp.StatusCode, b)
	}
	why := func(ref string) api.WhyResponse {
		t.Helper()
		resp, b := do(t, "GET", url+"/v1/admin/profiles/"+ref+"/why", admin, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("why %s = %d %s", ref, resp.StatusCode, b)
		}
		if strings.Contains(string(b), "ann@example.com") && strings.Contains(string(b), `"text"`) {
			for _, l := range strings.Split(string(b), `"text":`)[1:] {
				if txt, _, _ := strings.Cut(l, `","`); strings.Contains(txt, "ann@") {
					t.Errorf("text carries an identifier value: %s", txt)
				}
			}
		}
		var w api.WhyResponse
		if err := json.Unmarshal(b, &w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := why("anonymous_id:a2")
	if w.ID != "p2" || len(w.Reasons) != 2 {
		t.Fatalf("why = %+v, want p2 with a merge and a split", w)
	}
	if txt := w.Reasons[0].Text; !strings.Contains(txt, "p1 and p2 were merged into p1") || !strings.Contains(txt, "share the same email") {
		t.Errorf("merge reason = %q", txt)
	}
	if w.Reasons[0].Comparison == "" || w.Reasons[0].Event.Kind != "merge" {
		t.Errorf("merge reason lacks the comparison or the event: %+v", w.Reasons[0])
	}
	if txt := w.Reasons[1].Text; !strings.Contains(txt, "p1 was split into p1, p2 by a steward's decision (sam)") || !strings.Contains(txt, `"two people"`) {
		t.Errorf("split reason = %q", txt)
	}
	if resp, _ := do(t, "GET", url+"/v1/admin/profiles/nobody/why", admin, nil); resp.StatusCode != 404 {
		t.Errorf("why nobody = %d, want 404", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", url+"/v1/admin/profiles/p1/why", "", nil); resp.StatusCode != 401 {
		t.Errorf("why without token = %d, want 401", resp.StatusCode)
	}
}
