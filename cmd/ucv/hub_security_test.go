package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ucv/gcpolicy"
	"ucv/hub/api"
	"ucv/hub/token"
)

// TestParseHubSecretFiles: every secret flag of `ucv hub` has a -file
// variant and a UCV_* variable for each; the command line wins over the
// environment, a flag and its -file together (or both variables) are
// refused, and the help never shows a secret taken from the environment.
func TestParseHubSecretFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nodeF, syncF, adminF := file("node", "node.secret\n"), file("sync", " st\r\n"), file("admin", "at")
	base := []string{"--data-dir", dir}
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    [3]string // node, sync, admin
		wantErr string
	}{
		{name: "flags", args: []string{"--node-token-file", nodeF, "--sync-token-file", syncF, "--admin-token-file", adminF},
			want: [3]string{"node.secret", "st", "at"}},
		{name: "variables", env: map[string]string{"UCV_NODE_TOKEN_FILE": nodeF, "UCV_SYNC_TOKEN_FILE": syncF, "UCV_ADMIN_TOKEN_FILE": adminF},
			want: [3]string{"node.secret", "st", "at"}},
		{name: "command line wins over the variables", args: []string{"--sync-token-file", syncF}, env: map[string]string{"UCV_SYNC_TOKEN": "old"},
			want: [3]string{"", "st", ""}},
		{name: "both variables", env: map[string]string{"UCV_NODE_TOKEN": "n", "UCV_NODE_TOKEN_FILE": nodeF}, wantErr: "set UCV_NODE_TOKEN or UCV_NODE_TOKEN_FILE, not both"},
		{name: "secret variables", env: map[string]string{"UCV_NODE_TOKEN": "n", "UCV_SYNC_TOKEN": "s", "UCV_ADMIN_TOKEN": "a"},
			want: [3]string{"n", "s", "a"}},
		{name: "flag and file", args: []string{"--admin-token", "x", "--admin-token-file", adminF}, wantErr: "give --admin-token or --admin-token-file, not both"},
		{name: "white space inside", args: []string{"--node-token", "a b"}, wantErr: "--node-token: must be one token"},
		{name: "missing file", args: []string{"--sync-token-file", filepath.Join(dir, "nope")}, wantErr: "--sync-token-file: open"},
		{name: "same shortcut twice", args: []string{"--sync-token", "x", "--admin-token", "x"}, wantErr: "must differ"},
		{name: "bad rate", args: []string{"--rate-limit", "-1"}, wantErr: "--rate-limit"},
		{name: "bad burst", args: []string{"--rate-burst", "0"}, wantErr: "--rate-burst"},
		{name: "bad cap", args: []string{"--max-conns-per-ip", "many"}, wantErr: "--max-conns"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, ok := parseHubCase(t, append(base, c.args...), c.env, c.wantErr)
			if !ok {
				return
			}
			if got := [3]string{cfg.nodeToken, cfg.syncToken, cfg.adminToken}; got != c.want {
				t.Errorf("node, sync, admin tokens = %q, want %q", got, c.want)
			}
		})
	}
	var help bytes.Buffer
	env := map[string]string{"UCV_NODE_TOKEN": "node-secret-in-env", "UCV_SYNC_TOKEN": "sync-secret-in-env", "UCV_ADMIN_TOKEN": "admin-secret-in-env"}
	if _, err := parseHubFlags([]string{"-h"}, func(k string) string { return env[k] }, &help); err == nil || !strings.Contains(help.String(), "-node-token-file") {
		t.Fatalf("ucv hub -h = %v:\n%s", err, help.String())
	}
	if strings.Contains(help.String(), "in-env") {
		t.Errorf("the help shows a secret taken from the environment:\n%s", help.String())
	}
	cfg, err := parseHubFlags(base, func(string) string { return "" }, new(bytes.Buffer))
	def := api.DefaultConfig()
	if err != nil || cfg.rateLimit != def.RateLimit || cfg.rateBurst != def.RateBurst || cfg.maxConns != def.MaxConns || cfg.maxConnsPerIP != def.MaxConnsPerIP {
		t.Errorf("default limits = %v %d %d %d (%v), want the API's defaults", cfg.rateLimit, cfg.rateBurst, cfg.maxConns, cfg.maxConnsPerIP, err)
	}
}

// TestHubRefusesToServeExposed: a hub whose HTTP API or Raft listens
// beyond loopback starts only with both tokens and TLS, or --insecure
// (which it logs).
func TestHubRefusesToServeExposed(t *testing.T) {
	// Through startHubNode: refused before Raft starts, listener closed.
	dir := t.TempDir()
	_, err := startHubNode(hubConfig{dataDir: dir, httpAddr: "0.0.0.0:0", raftAddr: "127.0.0.1:0", nodeID: "h",
		shutdownTimeout: time.Second, peerInterval: time.Second}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "refusing to serve the HTTP API on ") ||
		!strings.Contains(err.Error(), "without tokens (--tokens-file) or TLS") || !strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("startHubNode on 0.0.0.0 without tokens or TLS = %v, want a refusal naming what is missing and --insecure", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused hub wrote %d entries to its data dir", len(ents))
	}

	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8300}
	wild := &net.TCPAddr{IP: net.IPv4zero, Port: 8300}
	lan := &net.TCPAddr{IP: net.IPv4(10, 0, 1, 2), Port: 8300}
	tokens := api.DefaultConfig()
	tokens.AdminToken = "at"
	for _, c := range []struct {
		name     string
		http     net.Addr
		raft     string
		acfg     api.Config
		tls      bool
		insecure bool
		refused  string
	}{
		{"loopback, open", loop, "127.0.0.1:8301", api.DefaultConfig(), false, false, ""},
		{"localhost raft", loop, "localhost:8301", api.DefaultConfig(), false, false, ""},
		{"ipv6 loopback", &net.TCPAddr{IP: net.IPv6loopback, Port: 1}, "[::1]:8301", api.DefaultConfig(), false, false, ""},
		{"wildcard, open", wild, "127.0.0.1:8301", api.DefaultConfig(), false, false, "without tokens (--tokens-file) or TLS"},
		{"lan, tokens, no TLS", lan, "127.0.0.1:8301", tokens, false, false, "the HTTP API on 10.0.1.2:8300 without TLS"},
		{"lan, TLS, no tokens", lan, "127.0.0.1:8301", api.DefaultConfig(), true, false, "without tokens (--tokens-file)"},
		{"raft beyond loopback", loop, "10.0.1.2:8301", tokens, false, false, "refusing to serve Raft on 10.0.1.2:8301 without TLS"},
		{"raft on a host name", loop, "hub-1.example:8301", tokens, false, false, "Raft on hub-1.example:8301"},
		{"lan, tokens and TLS", lan, "10.0.1.2:8301", tokens, true, false, ""},
		{"lan, --insecure", lan, "0.0.0.0:8301", api.DefaultConfig(), false, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			err := checkHubExposure(hubConfig{raftAddr: c.raft, tls: c.tls, insecure: c.insecure}, c.http, c.acfg,
				slog.New(slog.NewJSONHandler(&logs, nil)))
			switch {
			case c.refused == "" && err != nil:
				t.Fatalf("checkHubExposure = %v, want it to start", err)
			case c.refused != "" && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.refused)):
				t.Fatalf("checkHubExposure = %v, want a refusal containing %q", err, c.refused)
			case c.insecure && !strings.Contains(logs.String(), `"msg":"insecure: serving beyond loopback"`):
				t.Fatalf("--insecure started without a warning:\n%s", logs.String())
			}
		})
	}
}

// TestHubWithTokensFile runs a hub from a tokens file made by `ucv tokens
// create` and `ucv tokens hash`: the admin token reads status, the
// edge's token does not but gets the snapshot, an unknown one is refused
// — and no secret or hash reaches the log. A `ucv edge` given its token
// and --edge-id (the token's name) syncs.
func TestHubWithTokensFile(t *testing.T) {
	dir := t.TempDir()
	var lines strings.Builder
	create := func(name, role string) string {
		t.Helper()
		secretFile := filepath.Join(dir, name+".secret")
		code, out, errOut := runCmd(t, "tokens", "create", "--name", name, "--role", role, "--secret-file", secretFile, "--cost", "4")
		if code != 0 {
			t.Fatalf("ucv tokens create: exit %d: %s", code, errOut)
		}
		lines.WriteString(out)
		b, err := os.ReadFile(secretFile)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(secretFile); fi.Mode().Perm() != 0o600 {
			t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
		}
		return strings.TrimSpace(string(b))
	}
	edge, node := create("store-1", "sync"), create("hub-nodes", "node")
	stdin = strings.NewReader("ops-secret-1234\n")
	t.Cleanup(func() { stdin = os.Stdin })
	code, hash, errOut := runCmd(t, "tokens", "hash", "--cost", "4")
	if code != 0 {
		t.Fatalf("ucv tokens hash: exit %d: %s", code, errOut)
	}
	fmt.Fprintf(&lines, "# operators\nops admin %s", hash)
	tokensFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokensFile, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if set, err := token.Load(tokensFile); err != nil || set.Len() != 3 {
		t.Fatalf("the tokens file ucv tokens made: %v (%d tokens)", err, set.Len())
	}
	nodeFile := filepath.Join(dir, "node.secret2")
	if err := os.WriteFile(nodeFile, []byte(node+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	cfg, err := parseHubFlags([]string{"--data-dir", filepath.Join(dir, "hub"), "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0",
		"--node-id", "hub-1", "--bootstrap", "--tokens-file", tokensFile, "--node-token-file", nodeFile, "--log-level", "debug"},
		func(string) string { return "" }, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	h, err := startHubNode(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	waitFor(t, 20*time.Second, "the hub to lead", func() bool {
		code, _ := httpDo(t, "GET", h.url+"/readyz", "")
		return code == 200
	})
	if code, b := httpDo(t, "GET", h.url+"/v1/admin/status", "", "Authorization", "Bearer ops-secret-1234"); code != 200 {
		t.Errorf("status with the admin token = %d %s", code, b)
	}
	if code, b := httpDo(t, "GET", h.url+"/v1/admin/status", "", "Authorization", "Bearer "+edge); code != 403 {
		t.Errorf("status with the edge's token = %d %s, want 403", code, b)
	}
	if code, b := httpDo(t, "GET", h.url+"/v1/sync/feed", "", "Authorization", "Bearer wrong-secret"); code != 401 {
		t.Errorf("feed with a wrong token = %d %s, want 401", code, b)
	}
	if code, b := httpDo(t, "GET", h.url+"/v1/sync/snapshot", "", "Authorization", "Bearer "+edge); code != 200 {
		t.Errorf("snapshot for the edge = %d %.100s", code, b)
	}
	for _, secret := range []string{edge, node, "ops-secret-1234", "wrong-secret", hash} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret or hash:\n%s", logs.String())
		}
	}

	// A `ucv edge` named by --edge-id after its token syncs with it.
	bin := buildUCV(t)
	e := start(t, bin, nil, "edge", "--data-dir", filepath.Join(dir, "edge"), "--http-addr", "127.0.0.1:0", "--write-key", "k",
		"--hub", h.url, "--sync-token-file", filepath.Join(dir, "store-1.secret"), "--edge-id", "store-1")
	if code, b := httpDo(t, "POST", e.url+"/v1/identify", `{"userId":"u1","traits":{"plan":"gold"}}`, "X-Write-Key", "k"); code != 200 {
		t.Fatalf("identify = %d %s", code, b)
	}
	waitFor(t, 20*time.Second, "the hub to take store-1's push", func() bool {
		_, b := httpDo(t, "GET", h.url+"/v1/admin/status", "", "Authorization", "Bearer ops-secret-1234")
		return strings.Contains(string(b), `"edge":"store-1","seq":1`)
	})
	e.stop(t, syscall.SIGTERM)
	if strings.Contains(e.stderr.String(), edge) {
		t.Errorf("the edge's log holds its sync token:\n%s", e.stderr.String())
	}

	// --node-token must be a node token of the file.
	cfg.nodeToken = edge
	if _, err := startHubNode(cfg, slog.New(slog.DiscardHandler)); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--node-token is not a node token") {
		t.Errorf("startHubNode with an edge's token as --node-token = %v, want a usage error", err)
	}
}

// TestParseHubGCFlags: --memory-limit-mb and --gc-percent (and their
// variables) become the hub's collector policy, --hot-fragments its
// decoded-fragment bound; 0 leaves the defaults; nonsense is a usage
// error naming the flag.
func TestParseHubGCFlags(t *testing.T) {
	base := []string{"--data-dir", t.TempDir()}
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    gcpolicy.Policy
		wantErr string
	}{
		{name: "defaults"},
		{name: "flags", args: []string{"--memory-limit-mb", "2048", "--gc-percent", "150", "--hot-fragments", "200000", "--procs", "3"}, want: gcpolicy.Policy{LimitBytes: 2 << 30, GCPercent: 150, Procs: 3}},
		{name: "variables", env: map[string]string{"UCV_MEMORY_LIMIT_MB": "512", "UCV_GC_PERCENT": "-1", "UCV_HOT_FRAGMENTS": "-1"}, want: gcpolicy.Policy{LimitBytes: 512 << 20, GCPercent: -1}},
		{name: "negative limit", args: []string{"--memory-limit-mb", "-5"}, wantErr: "--memory-limit-mb"},
		{name: "limit not a number", args: []string{"--memory-limit-mb", "8G"}, wantErr: "--memory-limit-mb"},
		{name: "percent below -1", args: []string{"--gc-percent", "-2"}, wantErr: "--gc-percent"},
		{name: "percent not a number", args: []string{"--gc-percent", "off"}, wantErr: "--gc-percent"},
		{name: "hot fragments below -1", args: []string{"--hot-fragments", "-2"}, wantErr: "--hot-fragments"},
		{name: "procs too many", args: []string{"--procs", "5000"}, wantErr: "--procs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, ok := parseHubCase(t, append(base, c.args...), c.env, c.wantErr)
			if !ok {
				return
			}
			if cfg.gc != c.want {
				t.Errorf("policy %+v, want %+v", cfg.gc, c.want)
			}
			if want := map[string]int{"flags": 200000, "variables": -1}[c.name]; cfg.hotFragments != want {
				t.Errorf("hot fragments %d, want %d", cfg.hotFragments, want)
			}
		})
	}
}

// parseHubCase runs parseHubFlags on args with env as the environment.
// With wantErr it checks for a usage error containing it and reports
// false; otherwise it fails on any error and returns the config.
func parseHubCase(t *testing.T, args []string, env map[string]string, wantErr string) (hubConfig, bool) {
	t.Helper()
	cfg, err := parseHubFlags(args, func(k string) string { return env[k] }, new(bytes.Buffer))
	if wantErr != "" {
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("parseHubFlags = %v, want a usage error containing %q", err, wantErr)
		}
		return cfg, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg, true
}
