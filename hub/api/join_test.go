package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"ucv/hub/api"
	"ucv/hub/hubtest"
)

// A node started with neither bootstrap nor a join holds no Raft
// configuration: /readyz says it waits to be joined (503), not just that
// no leader is known, until a member adds it.
func TestReadyzSaysWaitsToBeJoined(t *testing.T) {
	nw := new(hubtest.Network)
	h0 := startNode(t, nw, "h0", true)
	waitFor(t, "h0 leads", h0.hub.IsLeader)
	h1 := startNode(t, nw, "h1", false)

	resp, b := do(t, "GET", h1.url+"/readyz", "", nil)
	if code, msg := errCode(t, b); resp.StatusCode != http.StatusServiceUnavailable || code != "unavailable" || !strings.Contains(msg, "waits to be joined") {
		t.Fatalf("readyz of an unjoined node = %d %s, want 503 saying it waits to be joined", resp.StatusCode, b)
	}
	if resp, b := do(t, "GET", h0.url+"/readyz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("readyz of the leader = %d %s", resp.StatusCode, b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h1.peers.Join(ctx, h0.url, h1.hub.RaftAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "h1 ready once joined", func() bool {
		resp, _ := do(t, "GET", h1.url+"/readyz", "", nil)
		return resp.StatusCode == 200
	})
}

// Join sent to a follower follows the leader's URL the follower names
// (LeaderURLHeader) and succeeds there.
func TestJoinThroughFollower(t *testing.T) {
	nw := new(hubtest.Network)
	nodes := newAPICluster(t, nw, 2)
	via := nodes[1]
	if via.hub.IsLeader() {
		via = nodes[0]
	}
	var logs syncBuffer
	h2 := startNode(t, nw, "h2", false, func(c *api.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h2.peers.Join(ctx, via.url, h2.hub.RaftAddr()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "following the leader") {
		t.Errorf("the join did not follow the leader the follower named:\n%s", logs.String())
	}
	if got := members(t, nodes[0].hub); len(got) != 3 {
		t.Fatalf("members after joining through a follower = %v, want 3", got)
	}
	// The answer's peer map taught h2 every node's URL.
	for _, nd := range nodes {
		if u, ok := h2.peers.URL(nd.hub.ID()); !ok || u != nd.url {
			t.Errorf("h2 knows %s at %q, want %q", nd.hub.ID(), u, nd.url)
		}
	}
}

// Join gives up only when its context ends, and says so.
func TestJoinEndsWithContext(t *testing.T) {
	h := startNode(t, new(hubtest.Network), "h0", false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.peers.Join(ctx, "http://127.0.0.1:1", h.hub.RaftAddr()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Join with a cancelled context = %v, want context.Canceled", err)
	}
	if err := h.peers.Join(context.Background(), "hub:8300", h.hub.RaftAddr()); err == nil {
		t.Fatal("Join accepted a URL without a scheme")
	}
}
