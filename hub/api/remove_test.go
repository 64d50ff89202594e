package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/api"
	"ucv/hub/hubtest"
)

// newAPICluster runs n hubs on nw, each behind its API; nodes 1.. join
// through node 0 with Peers.Join, as `ucv hub --join` does.
func newAPICluster(t *testing.T, nw *hubtest.Network, n int, opts ...func(*api.Config)) []apiNode {
	t.Helper()
	nodes := make([]apiNode, n)
	for i := range nodes {
		nodes[i] = startNode(t, nw, fmt.Sprintf("h%d", i), i == 0, opts...)
		if i == 0 {
			waitFor(t, "node 0 leads", nodes[0].hub.IsLeader)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := nodes[i].peers.Join(ctx, nodes[0].url, nodes[i].hub.RaftAddr())
		cancel()
		if err != nil {
			t.Fatalf("join h%d: %v", i, err)
		}
	}
	// Formed: every node holds every member and knows the leader. A join
	// returns once a quorum has the change, and a follower that has not
	// heard from the leader yet answers 503 (no leader known) — right for
	// a client, which retries, but not what these tests are about.
	waitFor(t, "every node to know the leader and all members", func() bool {
		for _, nd := range nodes {
			if id, _ := nd.hub.Leader(); id == "" {
				return false
			}
			if ms, err := nd.hub.Members(); err != nil || len(ms) != n {
				return false
			}
		}
		return true
	})
	return nodes
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func members(t *testing.T, h *hub.Server) []string {
	t.Helper()
	ms, err := h.Members()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestRemoveMember(t *testing.T) {
	nodes := newAPICluster(t, new(hubtest.Network), 3)
	if m := members(t, nodes[0].hub); len(m) != 3 {
		t.Fatalf("members = %v, want 3", m)
	}
	// Bad input and no token, on a follower (answered before any relay).
	for body, field := range map[string]string{`{}`: "id: required", `{"id":1}`: "id: must be a string, not a number", `{"id":"h2","x":1}`: "x: is not a known field"} {
		resp, b := do(t, "POST", nodes[1].url+"/v1/admin/remove", admin, []byte(body))
		if code, msg := errCode(t, b); resp.StatusCode != 400 || code != "invalid_request" || !strings.Contains(msg, field) {
			t.Errorf("remove %s = %d %s, want 400 naming %q", body, resp.StatusCode, b, field)
		}
	}
	for tok, want := range map[string]int{"": 401, token: 403} {
		if resp, _ := do(t, "POST", nodes[1].url+"/v1/admin/remove", tok, []byte(`{"id":"h2"}`)); resp.StatusCode != want {
			t.Errorf("remove with token %q = %d, want %d", tok, resp.StatusCode, want)
		}
	}
	// Unknown member: 404, relayed through the follower.
	if resp, b := do(t, "POST", nodes[1].url+"/v1/admin/remove", admin, []byte(`{"id":"h9"}`)); resp.StatusCode != 404 || !strings.Contains(string(b), "h9 is not a member") {
		t.Fatalf("remove h9 = %d %s, want 404", resp.StatusCode, b)
	}
	// Through the follower h1: relayed to the leader, which removes h2.
	resp, b := do(t, "POST", nodes[1].url+"/v1/admin/remove", admin, []byte(`{"id":"h2"}`))
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"removed":"h2"`) {
		t.Fatalf("remove h2 via h1 = %d %s", resp.StatusCode, b)
	}
	if m := members(t, nodes[0].hub); len(m) != 2 || m[0] != "h0" || m[1] != "h1" {
		t.Fatalf("leader's members = %v, want [h0 h1]", m)
	}
	waitFor(t, "h1 sees h2 removed", func() bool { return len(members(t, nodes[1].hub)) == 2 })
	// The two left still commit: a push through h1 is acknowledged.
	e := hubtest.NewEdge("store-1", 1)
	if resp, b := do(t, "POST", nodes[1].url+"/v1/sync/push", token, push(t, "e1", e.Delta(hubtest.Event{Profile: "p1"}))); resp.StatusCode != 200 {
		t.Fatalf("push after remove = %d %s", resp.StatusCode, b)
	}
	// Directly at the leader, h2 again is now unknown.
	if resp, b := do(t, "POST", nodes[0].url+"/v1/admin/remove", admin, []byte(`{"id":"h2"}`)); resp.StatusCode != 404 {
		t.Fatalf("remove h2 twice = %d %s, want 404", resp.StatusCode, b)
	}
}
