package edge_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucv/edge"
	"ucv/edge/edgetest"
	"ucv/edge/gossip"
	"ucv/edge/store"
)

// config returns a dev-mode node configuration on a free loopback port
// with its data in dir.
func config(dir, name string) edge.Config {
	c := edge.DefaultConfig()
	c.DataDir, c.HTTPAddr, c.Name = dir, "127.0.0.1:0", name
	c.API.DevMode = true
	c.TrimEvery = 20 * time.Millisecond
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

func start(t *testing.T, c edge.Config) *edge.Node {
	t.Helper()
	n, err := edge.New(c)
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	return n
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitBody polls url until its body holds want (10 s).
func waitBody(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := do(t, "GET", url, "")
		if code == 200 && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %s; want %q", url, code, body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A node serves as soon as New returns, keeps what it acknowledged
// across Close and a new node on the same directory, and Close is
// idempotent.
func TestNodeLifecycle(t *testing.T) {
	dir := t.TempDir()
	n, err := edge.New(config(dir, "till-1"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, "POST", n.URL()+"/v1/identify", `{"userId":"u1","traits":{"plan":"gold"}}`); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-n.Stopped():
	default:
		t.Fatal("Stopped is not closed after Close")
	}
	if err := n.Err(); err != nil {
		t.Fatalf("Err after Close = %v", err)
	}
	if _, err := http.Get(n.URL() + "/healthz"); err == nil {
		t.Fatal("the API still answers after Close")
	}
	n2 := start(t, config(dir, "till-1"))
	waitBody(t, n2.URL()+"/v1/profiles/user_id:u1", `"plan":"gold"`)
}

// Bad configuration is refused before anything starts, naming the field.
func TestNodeConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*edge.Config)
		want string
	}{
		{"no data dir", func(c *edge.Config) { c.DataDir = "" }, "DataDir"},
		{"no name", func(c *edge.Config) { c.Name = "" }, "Name"},
		{"bad address", func(c *edge.Config) { c.HTTPAddr = "8080" }, "HTTPAddr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config(t.TempDir(), "till-1")
			tc.edit(&c)
			if _, err := edge.New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// A damaged data file is refused with a *store.FileError that says the
// edge is a replica; with Recover the file is moved aside and an empty
// replica serves.
func TestNodeDamagedFile(t *testing.T) {
	dir := t.TempDir()
	n := start(t, config(dir, "till-1"))
	if code, body := do(t, "POST", n.URL()+"/v1/identify", `{"userId":"u1"}`); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, edge.DataFile)
	edgetest.TruncateUsed(t, path)
	_, err := edge.New(config(dir, "till-1"))
	var fe *store.FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "replica") || !strings.Contains(err.Error(), "--recover") {
		t.Fatalf("New on a truncated file = %v, want a FileError telling how to recover", err)
	}
	c := config(dir, "till-1")
	c.Recover = true
	r := start(t, c)
	if code, _ := do(t, "GET", r.URL()+"/v1/profiles/user_id:u1", ""); code != 404 {
		t.Fatalf("the recovered replica answers %d for u1; want an empty replica (404)", code)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged files kept aside: %v, want one", aside)
	}
}

// Two nodes of one store gossip in process over real loopback sockets:
// an event at one shows at the other — the multi-process gossip test's
// scenario without processes.
func TestNodesGossip(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	gc := func(join ...string) *gossip.Config {
		g := gossip.DefaultConfig()
		g.Memberlist.BindAddr, g.Memberlist.BindPort, g.Memberlist.AdvertisePort = "127.0.0.1", 0, 0
		g.SecretKey, g.Join = key, join
		return &g
	}
	ca := config(t.TempDir(), "till-a")
	ca.Gossip = gc()
	a := start(t, ca)
	cb := config(t.TempDir(), "till-b")
	cb.Gossip = gc(a.Gossip().Addr())
	b := start(t, cb)
	if code, body := do(t, "POST", a.URL()+"/v1/track", `{"userId":"g1","messageId":"o1","event":"Order Completed","properties":{"total":"5.00","currency":"EUR"}}`); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	waitBody(t, b.URL()+"/v1/profiles/user_id:g1", `"order_count":1`)
	// The same order retried at the other till counts once (issue 9 §1).
	if code, body := do(t, "POST", b.URL()+"/v1/track", `{"userId":"g1","messageId":"o1","event":"Order Completed","properties":{"total":"5.00","currency":"EUR"}}`); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	if code, body := do(t, "POST", b.URL()+"/v1/identify", `{"userId":"marker","messageId":"m1"}`); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	waitBody(t, a.URL()+"/v1/profiles/user_id:marker", `"marker"`)
	for _, n := range []*edge.Node{a, b} {
		waitBody(t, n.URL()+"/v1/profiles/user_id:g1", `"lifetime_revenue":{"EUR":{"amount":"5.00","minor_units":500}}`)
	}
}
