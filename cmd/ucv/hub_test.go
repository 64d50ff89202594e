package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var hubServing = regexp.MustCompile(`serving (https?://\S+), raft on (\S+)`)

// hubProc is a `ucv hub` subprocess.
type hubProc struct {
	cmd       *exec.Cmd
	url, raft string
	mu        sync.Mutex
	stderr    strings.Builder
}

func (h *hubProc) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stderr.Write(p)
}

// startHub runs `ucv hub` and waits until it prints its URL.
func startHub(t testing.TB, bin, data, httpAddr, raftAddr string, args ...string) *hubProc {
	t.Helper()
	return startHubArgs(t, bin, append([]string{"--data-dir", data, "--http-addr", httpAddr,
		"--raft-addr", raftAddr, "--node-id", "hub-1", "--sync-token", "st", "--admin-token", "at"}, args...)...)
}

// startHubArgs runs `ucv hub` with exactly args and waits until it
// prints its URL and Raft address.
func startHubArgs(t testing.TB, bin string, args ...string) *hubProc {
	t.Helper()
	h := &hubProc{cmd: exec.Command(bin, append([]string{"hub"}, args...)...)}
	h.cmd.Stderr = h
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := hubServing.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
	}()
	select {
	case m := <-found:
		h.url, h.raft = m[1], m[2]
	case <-time.After(30 * time.Second):
		h.mu.Lock()
		defer h.mu.Unlock()
		t.Fatalf("ucv hub did not print its URL:\n%s", h.stderr.String())
	}
	return h
}

func (h *hubProc) stop(t testing.TB) {
	t.Helper()
	h.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			h.mu.Lock()
			defer h.mu.Unlock()
			t.Fatalf("hub exit: %v\n%s", err, h.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hub did not exit 30 s after SIGTERM")
	}
}

// waitBody polls GET url until the body holds every want (20 s).
func waitBody(t *testing.T, url string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var body []byte
	for time.Now().Before(deadline) {
		_, body = httpDo(t, "GET", url, "")
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(string(body), w)
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s never held %q; last body:\n%s", url, want, body)
}

// TestHubSyncProcesses: one `ucv hub` and two `ucv edge` of different
// stores (no gossip). An identify with an e-mail at edge 1 and a track
// with the same e-mail under another anonymousId at edge 2 become one
// profile with both histories on both edges. With the hub stopped the
// edges keep ingesting; after it returns everything converges.
func TestHubSyncProcesses(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	h := startHub(t, bin, filepath.Join(dir, "hub"), "127.0.0.1:0", "127.0.0.1:0", "--bootstrap")
	edge := func(name string) *node {
		return start(t, bin, nil, "edge", "--data-dir", filepath.Join(dir, name), "--http-addr", "127.0.0.1:0",
			"--node-name", name, "--write-key", "k=pos", "--hub", h.url, "--sync-token", "st")
	}
	e1, e2 := edge("store-1"), edge("store-2")
	post := func(n *node, path, body string) {
		t.Helper()
		if code, b := httpDo(t, "POST", n.url+path, body, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("POST %s = %d %s", path, code, b)
		}
	}
	post(e1, "/v1/identify", `{"anonymousId":"anon-1","traits":{"email":"Ann@Example.com","name":"Ann"},"messageId":"m1"}`)
	post(e2, "/v1/track", `{"anonymousId":"anon-2","event":"Shoes Viewed","context":{"traits":{"email":"ann@example.com"}},"messageId":"m2"}`)
	for _, n := range []*node{e1, e2} {
		waitBody(t, n.url+"/v1/profiles/email:ann@example.com", `"anon-1"`, `"anon-2"`, `"hub_synced_at":"`)
		waitBody(t, n.url+"/v1/profiles/anonymous_id:anon-2/events", `"Shoes Viewed"`, `"identify"`)
	}
	// The hub is down: the edges keep ingesting and serving.
	httpAddr := strings.TrimPrefix(h.url, "http://")
	h.stop(t)
	post(e1, "/v1/track", `{"anonymousId":"anon-1","event":"Offline At Store 1","messageId":"m3"}`)
	post(e2, "/v1/track", `{"anonymousId":"anon-2","event":"Offline At Store 2","messageId":"m4"}`)
	waitBody(t, e1.url+"/v1/profiles/anonymous_id:anon-1/events", `"Offline At Store 1"`)
	// It returns (same addresses and data): the edges drain and catch up.
	startHub(t, bin, filepath.Join(dir, "hub"), httpAddr, h.raft)
	for _, n := range []*node{e1, e2} {
		waitBody(t, n.url+"/v1/profiles/email:ann@example.com/events", `"Offline At Store 1"`, `"Offline At Store 2"`, `"Shoes Viewed"`)
	}
}
