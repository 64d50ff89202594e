package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var gossipLine = regexp.MustCompile(`gossip:\s+(\S+)`)

// gossipEdge is a `ucv edge` subprocess with gossip on.
type gossipEdge struct {
	cmd      *exec.Cmd
	url      string
	gossip   string
	stderrMu sync.Mutex
	stderr   strings.Builder
}

func (g *gossipEdge) Write(p []byte) (int, error) {
	g.stderrMu.Lock()
	defer g.stderrMu.Unlock()
	return g.stderr.Write(p)
}

func (g *gossipEdge) log() string {
	g.stderrMu.Lock()
	defer g.stderrMu.Unlock()
	return g.stderr.String()
}

// startGossipEdge runs `ucv edge` with gossip and waits until it prints
// its HTTP and gossip addresses.
func startGossipEdge(t *testing.T, bin, name, data, gossipAddr, key string, join ...string) *gossipEdge {
	t.Helper()
	return startGossipEdgeWith(t, bin, name, data, gossipAddr, key, nil, join...)
}

// startGossipEdgeWith is startGossipEdge with extra flags (e.g. --hub).
func startGossipEdgeWith(t *testing.T, bin, name, data, gossipAddr, key string, extra []string, join ...string) *gossipEdge {
	t.Helper()
	args := append([]string{"edge", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--node-name", name, "--write-key", "k=pos",
		"--gossip-addr", gossipAddr, "--gossip-key", key}, extra...)
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	g := &gossipEdge{cmd: exec.Command(bin, args...)}
	g.cmd.Stderr = g
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		g.cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				g.url = m[1]
			}
			if m := gossipLine.FindStringSubmatch(sc.Text()); m != nil {
				g.gossip = m[1]
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not print its gossip address:\n%s", name, g.log())
	}
	return g
}

// waitLookup polls a lookup until it answers 200 with want in the body.
func waitLookup(t *testing.T, g *gossipEdge, path, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := httpDo(t, "GET", g.url+path, "")
		if code == 200 && strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s%s = %d %s after 30 s; log:\n%s", g.url, path, code, body, g.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGossipProcesses: three `ucv edge` processes gossip on loopback; an
// event posted to one is visible at the other two; one is killed with
// SIGKILL, misses an event, restarts and catches up.
func TestGossipProcesses(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	a := startGossipEdge(t, bin, "till-a", filepath.Join(dir, "a"), "127.0.0.1:0", key)
	b := startGossipEdge(t, bin, "till-b", filepath.Join(dir, "b"), "127.0.0.1:0", key, a.gossip)
	c := startGossipEdge(t, bin, "till-c", filepath.Join(dir, "c"), "127.0.0.1:0", key, a.gossip)

	post := func(g *gossipEdge, i int) {
		t.Helper()
		body := fmt.Sprintf(`{"userId":"g-%d","messageId":"gm-%d","traits":{"email":"g%d@example.com"}}`, i, i, i)
		if code, resp := httpDo(t, "POST", g.url+"/v1/identify", body, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("ingest = %d %s", code, resp)
		}
	}
	post(a, 1)
	for _, g := range []*gossipEdge{b, c} {
		waitLookup(t, g, "/v1/profiles/email:g1@example.com", `"value":"g-1"`)
	}

	// Kill c; it misses g-2; restarted on its data and address, it catches up.
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	post(b, 2)
	waitLookup(t, a, "/v1/profiles/email:g2@example.com", `"value":"g-2"`)
	c2 := startGossipEdge(t, bin, "till-c", filepath.Join(dir, "c"), c.gossip, key, a.gossip)
	waitLookup(t, c2, "/v1/profiles/email:g2@example.com", `"value":"g-2"`)
	waitLookup(t, c2, "/v1/profiles/email:g1@example.com", `"value":"g-1"`)
	// Exactly once across edges (issue 9 §1): a till retries an order at
	// another till after the first one's copy reached it by gossip; every
	// edge counts the order once.
	order := `{"userId":"g-9","messageId":"order-retried","event":"Order Completed","properties":{"total":"59.90","currency":"EUR"}}`
	for _, g := range []*gossipEdge{a, b} {
		if code, resp := httpDo(t, "POST", g.url+"/v1/track", order, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("ingest = %d %s", code, resp)
		}
		for _, o := range []*gossipEdge{a, b, c2} {
			waitLookup(t, o, "/v1/profiles/user_id:g-9", `"order_count":1`)
		}
	}
	post(c2, 3) // a marker from the third till: once it is everywhere, so is every copy of the order
	for _, g := range []*gossipEdge{a, b} {
		waitLookup(t, g, "/v1/profiles/email:g3@example.com", `"value":"g-3"`)
	}
	for _, g := range []*gossipEdge{a, b, c2} {
		waitLookup(t, g, "/v1/profiles/user_id:g-9", `"lifetime_revenue":{"EUR":{"amount":"59.90","minor_units":5990}}`)
	}
	code, metrics := httpDo(t, "GET", c2.url+"/metrics", "")
	if code != 200 || !strings.Contains(string(metrics), "ucv_gossip_members") {
		t.Fatalf("metrics = %d, no ucv_gossip_members", code)
	}
}
