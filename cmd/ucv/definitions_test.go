package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStandaloneDefinitions runs a standalone edge (no hub) with a
// definitions file: lookups show its computed traits; SIGHUP loads a
// changed file; a broken file on SIGHUP leaves the definitions in force;
// a broken file at start stops the edge with the field named; a
// definitions file beside a hub is refused.
func TestStandaloneDefinitions(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	defs := filepath.Join(dir, "definitions.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(defs, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"computed_traits": {"orders_30d": {"event": "Order Completed", "aggregate": "count", "window": "30d"}}}`)
	n := start(t, bin, nil, "dev", "--no-hub", "--data-dir", filepath.Join(dir, "data"), "--http-addr", "127.0.0.1:0", "--definitions", defs)
	order := `{"userId":"d1","event":"Order Completed","messageId":"o-1","properties":{"total":12.5,"currency":"EUR"}}`
	if code, body := httpDo(t, "POST", n.url+"/v1/track", order); code != 200 {
		t.Fatalf("track = %d %s", code, body)
	}
	waitBody(t, n.url+"/v1/profiles/user_id:d1", `"orders_30d":1`)

	write(`{"computed_traits": {"orders_30d": {"event": "Order Completed", "aggregate": "count", "window": "30d"},
		"spend": {"event": "Order Completed", "aggregate": "sum", "property": "total", "description": "lifetime spend"}}}`)
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The order was ingested before "spend" existed, so its total was not
	// kept: spend starts at 0 and counts what comes after (decision 0032).
	waitBody(t, n.url+"/v1/profiles/user_id:d1", `"orders_30d":1`, `"spend":0`)
	if code, body := httpDo(t, "POST", n.url+"/v1/track", strings.Replace(order, "o-1", "o-2", 1)); code != 200 {
		t.Fatalf("track = %d %s", code, body)
	}
	waitBody(t, n.url+"/v1/profiles/user_id:d1", `"orders_30d":2`, `"spend":12.5`)

	write(`{"computed_traits": {"orders_30d": {"event": "Order Completed", "aggregate": "median", "property": "total"}}}`)
	n.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n.stderr.String(), "definitions reload on SIGHUP failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged:\n%s", n.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, body := httpDo(t, "GET", n.url+"/v1/profiles/user_id:d1", ""); !strings.Contains(string(body), `"spend":12.5`) {
		t.Fatalf("a broken file replaced the definitions: %s", body)
	}
	n.stop(t, syscall.SIGTERM)

	// A broken file at start: the edge does not start, and says why.
	out, err := exec.Command(bin, "dev", "--no-hub", "--data-dir", filepath.Join(dir, "data"), "--http-addr", "127.0.0.1:0", "--definitions", defs).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "aggregate") {
		t.Fatalf("start with a broken definitions file: err=%v\n%s", err, out)
	}
	// Beside a hub, a definitions file is refused.
	out, err = exec.Command(bin, "edge", "--data-dir", filepath.Join(dir, "data2"), "--http-addr", "127.0.0.1:0", "--hub", "http://127.0.0.1:1", "--write-key", "k=pos", "--sync-token", "t", "--definitions", defs).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "standalone") {
		t.Fatalf("--definitions with --hub: err=%v\n%s", err, out)
	}
}
