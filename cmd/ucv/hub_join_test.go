package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A hub started with neither --bootstrap nor --join logs that it waits
// to be joined and /readyz says so; a bootstrapped one says neither.
func TestHubWithoutBootstrapOrJoinSaysItWaits(t *testing.T) {
	dir := t.TempDir()
	start := func(id string, bootstrap bool) (*hubNode, *syncBuffer) {
		t.Helper()
		logs := &syncBuffer{}
		h, err := startHubNode(hubConfig{dataDir: filepath.Join(dir, id), httpAddr: "127.0.0.1:0", raftAddr: "127.0.0.1:0",
			nodeID: id, bootstrap: bootstrap, shutdownTimeout: 10 * time.Second, peerInterval: time.Second},
			slog.New(slog.NewJSONHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(context.Background()) })
		return h, logs
	}
	h, logs := start("lonely", false)
	if !strings.Contains(logs.String(), `"msg":"waiting to be joined`) {
		t.Fatalf("no log line saying the hub waits to be joined:\n%s", logs.String())
	}
	code, body := httpDo(t, "GET", h.url+"/readyz", "")
	if code != 503 || !strings.Contains(string(body), "waits to be joined") {
		t.Fatalf("readyz = %d %s, want 503 saying the node waits to be joined", code, body)
	}

	b, blogs := start("first", true)
	waitFor(t, 20*time.Second, "the bootstrapped node to lead", func() bool { l, _ := hubStatusURL(b.url); return l == "first" })
	if strings.Contains(blogs.String(), "waiting to be joined") {
		t.Fatalf("a bootstrapped hub says it waits to be joined:\n%s", blogs.String())
	}
}
