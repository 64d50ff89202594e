package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

var (
	outboxGauge = regexp.MustCompile(`(?m)^ucv_store_outbox_length (\d+)$`)
	lagGauge    = regexp.MustCompile(`(?m)^ucv_store_apply_lag_events (\d+)$`)
)

// TestStandaloneEdgeTrimsOutbox: an edge without a hub keeps no deltas
// nobody will read — its outbox empties after ingest, so its disk holds
// profiles, not history. When it is later given a hub, the hub finds the
// early sequences gone and the edge resyncs its full state: the profile
// written while standalone reaches the hub whole.
func TestStandaloneEdgeTrimsOutbox(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "edge")
	edge := func(args ...string) *node {
		return start(t, bin, nil, append([]string{"edge", "--data-dir", data, "--http-addr", "127.0.0.1:0",
			"--node-name", "till-1", "--write-key", "k"}, args...)...)
	}
	n := edge()
	for i, body := range []string{
		`{"userId":"u1","traits":{"email":"ann@example.org","plan":"gold"},"messageId":"m1"}`,
		`{"userId":"u1","event":"Order Completed","properties":{"total":12.5,"currency":"EUR"},"messageId":"m2"}`,
		`{"userId":"u2","traits":{"plan":"free"},"messageId":"m3"}`,
	} {
		path := "/v1/identify"
		if i == 1 {
			path = "/v1/track"
		}
		if code, b := httpDo(t, "POST", n.url+path, body, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("POST %s = %d %s", path, code, b)
		}
	}
	var gauge string
	waitFor(t, 15*time.Second, "the standalone edge's outbox to empty", func() bool {
		// A scrape shows what is committed: the outbox's length counts
		// once nothing acknowledged is left to apply (the lag is read
		// before the length).
		_, b := httpDo(t, "GET", n.url+"/metrics", "")
		m, lag := outboxGauge.FindSubmatch(b), lagGauge.FindSubmatch(b)
		if m == nil || lag == nil {
			gauge = "no ucv_store_outbox_length or ucv_store_apply_lag_events in /metrics"
			return false
		}
		gauge = "outbox length " + string(m[1]) + ", apply lag " + string(lag[1])
		return string(m[1]) == "0" && string(lag[1]) == "0"
	}, &gauge)
	code, b := httpDo(t, "GET", n.url+"/v1/profiles/user_id:u1", "")
	if code != 200 {
		t.Fatalf("lookup after trim = %d %s", code, b)
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		t.Fatalf("lookup body %s: %v", b, err)
	}
	n.stop(t, syscall.SIGTERM)

	h := startTestHub(t, dir, "hub-1")
	n = edge("--hub", h.url)
	var state string
	waitFor(t, 30*time.Second, "the trimmed profile to reach the hub by resync", func() bool {
		p, err := h.node.FSM().Profile(v.ID)
		if err != nil {
			state = err.Error()
			return false
		}
		orders := p.Profile.Count("orders")
		state = fmt.Sprintf("orders %d", orders)
		return orders == 1 && p.Profile.Identities.Has("email:ann@example.org")
	}, &state)
	// The log line goes through os/exec's stderr copier, not ordered
	// with the hub's state: wait for it too.
	state = "no resync logged"
	waitFor(t, 10*time.Second, "the edge to log its resync", func() bool {
		return regexp.MustCompile(`resync`).MatchString(n.stderr.String())
	}, &state)
	n.stop(t, syscall.SIGTERM)
}
