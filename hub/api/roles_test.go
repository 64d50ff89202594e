package api_test

import (
	"strings"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// TestRoles: every protected route answers 401 to a missing or unknown
// token, 403 "forbidden" to the other role's valid token (changing
// nothing), and lets its own role through.
func TestRoles(t *testing.T) {
	n, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com")}})
	d2 := e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{hubtest.Anon("a2")}})
	routes := []struct {
		method, path string
		body         []byte
		own          string // the token of the route's role
	}{
		{"POST", "/v1/sync/push", push(t, "e1", d1, d2), token},
		{"GET", "/v1/sync/feed?cursor=0", nil, token},
		{"GET", "/v1/sync/snapshot", nil, token},
		{"GET", "/v1/internal/peers", nil, token},
		{"POST", "/v1/admin/join", []byte(`{}`), admin},
		{"POST", "/v1/admin/remove", []byte(`{}`), admin},
		{"GET", "/v1/admin/status", nil, admin},
		{"GET", "/v1/admin/profiles/p1", nil, admin},
		{"GET", "/v1/admin/profiles/p1/why", nil, admin},
		{"POST", "/v1/admin/merge", []byte(`{"a":"p1","b":"p2"}`), admin},
		{"POST", "/v1/admin/unmerge", []byte(`{"a":"p1","b":"p2"}`), admin},
		{"GET", "/v1/admin/reviews", nil, admin},
		{"POST", "/v1/admin/reviews/accept", []byte(`{"a":"p1","b":"p2"}`), admin},
		{"POST", "/v1/admin/reviews/reject", []byte(`{"a":"p1","b":"p2"}`), admin},
	}
	for _, r := range routes {
		other := admin
		if r.own == admin {
			other = token
		}
		for _, c := range []struct {
			tok    string
			status int
			code   string
		}{{"", 401, "unauthorized"}, {"nope", 401, "unauthorized"}, {other, 403, "forbidden"}} {
			idx := n.FSM().Index()
			resp, b := do(t, r.method, url+r.path, c.tok, r.body)
			if code, _ := errCode(t, b); resp.StatusCode != c.status || code != c.code {
				t.Errorf("%s %s with token %q = %d %s, want %d %s", r.method, r.path, c.tok, resp.StatusCode, b, c.status, c.code)
			}
			if n.FSM().Index() != idx {
				t.Errorf("%s %s with token %q changed the state", r.method, r.path, c.tok)
			}
		}
	}
	// Its own token passes the door (what follows is the handler's answer).
	for _, r := range routes {
		if resp, b := do(t, r.method, url+r.path, r.own, r.body); resp.StatusCode == 401 || resp.StatusCode == 403 {
			t.Errorf("%s %s with its own token = %d %s", r.method, r.path, resp.StatusCode, b)
		}
	}

	// The leader's internal endpoint takes either token at the door, then
	// the command's own role: an edge's sync token cannot commit a
	// steward's merge through it, nor the admin token a sync batch.
	merge, err := hub.MarshalMerge(&hub.Merge{A: "p1", B: "p2", Actor: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	sync, err := hub.MarshalSync(&hub.SyncBatch{Edge: "e2", Entries: []replication.Entry{d1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		tok    string
		cmd    []byte
		status int
	}{
		{"merge, no token", "", merge, 401},
		{"merge, sync token", token, merge, 403},
		{"sync, admin token", admin, sync, 403},
		{"merge, admin token", admin, merge, 200},
		{"sync, sync token", token, sync, 200},
	} {
		before := n.FSM().Clusters()
		resp, b := do(t, "POST", url+"/v1/internal/apply", c.tok, c.cmd)
		if resp.StatusCode != c.status {
			t.Errorf("internal apply %s = %d %s, want %d", c.name, resp.StatusCode, b, c.status)
		}
		if c.status == 403 && len(n.FSM().Clusters()) != len(before) {
			t.Errorf("internal apply %s changed the clusters", c.name)
		}
		if c.status == 403 && !strings.Contains(string(b), `"forbidden"`) {
			t.Errorf("internal apply %s = %s, want code forbidden", c.name, b)
		}
	}
	if got := n.FSM().Clusters(); len(got["p1"]) != 2 {
		t.Errorf("clusters after the admin's merge = %v, want p1 and p2 merged", got)
	}
}

// TestForwardRoles: a follower forwards an edge's batch with the sync
// token and a steward's merge with the admin token, so both commit
// through the leader's role-checked internal endpoint.
func TestForwardRoles(t *testing.T) {
	nodes := newAPICluster(t, new(hubtest.Network), 2)
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Anon("a1")}})
	d2 := e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{hubtest.Anon("a2")}})
	if resp, b := do(t, "POST", nodes[1].url+"/v1/sync/push", token, push(t, "e1", d1, d2)); resp.StatusCode != 200 {
		t.Fatalf("push via the follower = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", nodes[1].url+"/v1/admin/merge", admin, []byte(`{"a":"p1","b":"p2","actor":"test"}`)); resp.StatusCode != 200 {
		t.Fatalf("merge via the follower = %d %s", resp.StatusCode, b)
	}
	if got := nodes[0].hub.FSM().Clusters(); len(got["p1"]) != 2 {
		t.Fatalf("leader's clusters = %v, want p1 and p2 merged", got)
	}
}
