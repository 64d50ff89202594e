package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"ucv/hub/api"
	"ucv/hub/hubtest"
	"ucv/profile"
)

const admin = "admin-secret"

// pendingPair pushes two profiles with the same name and state and
// different e-mails: a pair in the default model's review band
// (probability ≈ 0.62) and so in the review queue (decision 0048).
func pendingPair(t *testing.T, url string) {
	t.Helper()
	tr := map[string]any{"firstName": "Ann", "lastName": "Lee", "address": map[string]any{"state": "IL"}}
	e := hubtest.NewEdge("store-1", 1)
	body := push(t, "e1",
		e.Delta(hubtest.Event{Profile: "pa", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("a@x.org")}, Traits: tr}),
		e.Delta(hubtest.Event{Profile: "pb", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("b@y.org")}, Traits: tr}))
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, body); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
}

func reviewQueue(t *testing.T, url string) []api.ReviewItem {
	t.Helper()
	resp, b := do(t, "GET", url+"/v1/admin/reviews", admin, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("reviews = %d %s", resp.StatusCode, b)
	}
	var rr api.ReviewsResponse
	if err := json.Unmarshal(b, &rr); err != nil {
		t.Fatal(err)
	}
	return rr.Reviews
}

func profileID(t *testing.T, url, ref string) (string, int) {
	t.Helper()
	resp, b := do(t, "GET", url+"/v1/admin/profiles/"+ref, admin, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("profile %s = %d %s", ref, resp.StatusCode, b)
	}
	var pr api.ProfileResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	return pr.ID, len(pr.Fragments)
}

func TestReviewQueue(t *testing.T) {
	_, url := newHub(t)
	pendingPair(t, url)
	rs := reviewQueue(t, url)
	if len(rs) != 1 {
		t.Fatalf("queue = %+v, want one pair", rs)
	}
	r := rs[0]
	if r.A != "pa" || r.B != "pb" || r.ClusterA != "pa" || r.ClusterB != "pb" || r.Probability <= 0 || r.Probability >= 1 {
		t.Fatalf("item = %+v", r)
	}
	// Two single records: the clusters' probability is the pair's, and a
	// ruling is worth that many records (decision 0048).
	if r.SizeA != 1 || r.SizeB != 1 || r.Pairs != 1 || r.ClusterProbability != r.Probability || r.ExpectedBenefit != r.Probability {
		t.Fatalf("item = %+v, want sizes 1, one pair, cluster probability and benefit = probability", r)
	}
	names := map[string]bool{}
	for _, l := range r.Levels {
		names[l.Comparison] = true
	}
	if !names["first_name"] || !names["last_name"] || !names["email"] || !strings.Contains(r.Summary, "last_name exact") {
		t.Fatalf("levels = %+v, summary %q; want first_name, last_name, email", r.Levels, r.Summary)
	}

	// Bad requests name the field; nothing is applied.
	for body, field := range map[string]string{
		`{"a":"pa"}`:                             "b: required",
		`{"b":"pb"}`:                             "a: required",
		`{"a":"pa","b":"pa"}`:                    "b: must differ",
		`{"a":"pa","b":"pb","x":1}`:              "x: is not a known field",
		`not json`:                               "body",
		`{"a":"email:ann@example.com","b":"pb"}`: "a: must be a profile ID",
	} {
		resp, b := do(t, "POST", url+"/v1/admin/reviews/accept", admin, []byte(body))
		if code, msg := errCode(t, b); resp.StatusCode != 400 || code != "invalid_request" || !strings.Contains(msg, field) || strings.Contains(msg, "ann@") {
			t.Errorf("accept %s = %d %s, want 400 naming %q (and no value)", body, resp.StatusCode, b, field)
		}
	}
	for tok, want := range map[string]int{"": 401, "wrong": 401, token: 403} {
		for _, p := range []string{"/v1/admin/reviews/accept", "/v1/admin/reviews/reject"} {
			if resp, b := do(t, "POST", url+p, tok, []byte(`{"a":"pa","b":"pb"}`)); resp.StatusCode != want {
				t.Errorf("%s with token %q = %d %s, want %d", p, tok, resp.StatusCode, b, want)
			}
		}
		if resp, _ := do(t, "GET", url+"/v1/admin/reviews", tok, nil); resp.StatusCode != want {
			t.Errorf("reviews with token %q = %d, want %d", tok, resp.StatusCode, want)
		}
	}
	if resp, b := do(t, "POST", url+"/v1/admin/reviews/reject", admin, []byte(`{"a":"pa","b":"nobody"}`)); resp.StatusCode != 404 {
		t.Fatalf("reject unknown pair = %d %s, want 404", resp.StatusCode, b)
	}
	if len(reviewQueue(t, url)) != 1 {
		t.Fatal("refused requests changed the queue")
	}

	// Reject: apart, and the pair leaves the queue.
	if resp, b := do(t, "POST", url+"/v1/admin/reviews/reject", admin, []byte(`{"a":"pb","b":"pa","reason":"different people"}`)); resp.StatusCode != 200 {
		t.Fatalf("reject = %d %s", resp.StatusCode, b)
	}
	if rs := reviewQueue(t, url); len(rs) != 0 {
		t.Fatalf("queue after reject = %+v", rs)
	}
	if id, n := profileID(t, url, "pb"); id != "pb" || n != 1 {
		t.Fatalf("pb after reject: cluster %s with %d fragments", id, n)
	}
	// No longer pending.
	if resp, b := do(t, "POST", url+"/v1/admin/reviews/accept", admin, []byte(`{"a":"pa","b":"pb"}`)); resp.StatusCode != 404 {
		t.Fatalf("accept after reject = %d %s, want 404", resp.StatusCode, b)
	}
}

func TestReviewAccept(t *testing.T) {
	_, url := newHub(t)
	pendingPair(t, url)
	resp, b := do(t, "POST", url+"/v1/admin/reviews/accept", admin, []byte(`{"a":"pa","b":"pb","actor":"sam","reason":"same customer"}`))
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"clusters":["pa"`) {
		t.Fatalf("accept = %d %s", resp.StatusCode, b)
	}
	if id, n := profileID(t, url, "pb"); id != "pa" || n != 2 {
		t.Fatalf("pb after accept: cluster %s with %d fragments, want pa with 2", id, n)
	}
	if rs := reviewQueue(t, url); len(rs) != 0 {
		t.Fatalf("queue after accept = %+v", rs)
	}
	_, b = do(t, "GET", url+"/v1/admin/profiles/pa", admin, nil)
	if !strings.Contains(string(b), `"actor":"sam"`) || !strings.Contains(string(b), `"reason":"same customer"`) {
		t.Fatalf("history lacks the steward's decision: %s", b)
	}
}

// TestReviewQueueOrder: the listing is the engine's queue order, highest
// expected benefit first, not record-ID order (decision 0048): the pair
// that also agrees on gender (probability ≈ 0.76) comes before the one
// agreeing on name and state only (≈ 0.62), though its IDs sort later.
func TestReviewQueueOrder(t *testing.T) {
	_, url := newHub(t)
	pendingPair(t, url)
	tr := map[string]any{"firstName": "Cy", "lastName": "Moe", "gender": "male", "address": map[string]any{"state": "WA"}}
	e := hubtest.NewEdge("store-2", 2)
	body := push(t, "e2",
		e.Delta(hubtest.Event{Profile: "qa", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("cy@x.org")}, Traits: tr}),
		e.Delta(hubtest.Event{Profile: "qb", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("moe@y.org")}, Traits: tr}))
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, body); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	rs := reviewQueue(t, url)
	if len(rs) != 2 || rs[0].A != "qa" || rs[1].A != "pa" || !(rs[0].ExpectedBenefit > rs[1].ExpectedBenefit) {
		t.Fatalf("queue = %+v, want qa/qb (higher expected benefit) before pa/pb", rs)
	}
}
