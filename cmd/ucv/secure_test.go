package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecureDeployment runs the deployment README's "Deploying securely"
// describes, as processes: a private CA and certificates made by `ucv
// tls`, a tokens file made by `ucv tokens`, three `ucv hub` nodes with
// Raft over mutual TLS and HTTPS with client certificates required on
// sync, two `ucv edge` processes of different stores serving HTTPS,
// syncing over mutual TLS under their certificates' names, with write
// and read keys from files. Orders at both edges converge on both (each
// message once, a retried one included); reads need a read key, the
// admin API a token; the leader is killed and the two left carry on; no
// secret is on any process's command line.
func TestSecureDeployment(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	d := filepath.Join(dir, "tls")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("ucv %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	run("tls", "ca", "create", "--dir", d)
	for _, h := range []string{"hub-1", "hub-2", "hub-3"} {
		run("tls", "cert", "create", "--dir", d, "--server", "--client", "--name", h, "--ip", "127.0.0.1")
	}
	for _, s := range []string{"store-1", "store-2"} {
		run("tls", "cert", "create", "--dir", d, "--server", "--name", s+"-api", "--ip", "127.0.0.1")
		run("tls", "cert", "create", "--dir", d, "--client", "--name", s)
	}
	tokens := run("tokens", "create", "--name", "ops", "--role", "admin", "--secret-file", filepath.Join(dir, "ops.token")) +
		run("tokens", "create", "--name", "hubs", "--role", "node", "--secret-file", filepath.Join(dir, "node.token"))
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokensFile := write("hub-tokens", tokens)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	opsToken := read("ops.token")
	const writeKey, readKey = "wk_pos_7c1e9a3f5b2d4e6a", "crm-3b8f1d6a9c2e4f70"
	writeKeys, readKeys := write("write-keys", writeKey+"=pos\n"), write("read-keys", "crm="+readKey+"\n")

	ca := filepath.Join(d, "ca.pem")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(t, ca)}}}
	do := func(method, url, body, token string) (int, string) {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	hubArgs := func(id string) []string {
		return []string{"--data-dir", filepath.Join(dir, id), "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0",
			"--node-id", id, "--tls-cert", filepath.Join(d, id+".pem"), "--tls-key", filepath.Join(d, id+"-key.pem"),
			"--tls-client-ca", ca, "--tokens-file", tokensFile, "--node-token-file", filepath.Join(dir, "node.token")}
	}
	status := func(h *hubProc) (leader string, members int) {
		code, body := do("GET", h.url+"/v1/admin/status", "", opsToken)
		var s struct {
			Leader string            `json:"leader"`
			Peers  []json.RawMessage `json:"peers"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
			return "", 0
		}
		return s.Leader, len(s.Peers)
	}
	h1 := startHubArgs(t, bin, append(hubArgs("hub-1"), "--bootstrap")...)
	if !strings.HasPrefix(h1.url, "https://") {
		t.Fatalf("hub URL %s, want https", h1.url)
	}
	waitFor(t, 20*time.Second, "hub-1 leads", func() bool { l, _ := status(h1); return l == "hub-1" })
	h2 := startHubArgs(t, bin, append(hubArgs("hub-2"), "--join", h1.url)...)
	h3 := startHubArgs(t, bin, append(hubArgs("hub-3"), "--join", h2.url)...)
	hubs := map[string]*hubProc{"hub-1": h1, "hub-2": h2, "hub-3": h3}
	var last string
	waitFor(t, 30*time.Second, "three members, one leader, over mutual TLS", func() bool {
		for id, h := range hubs {
			l, n := status(h)
			last = fmt.Sprintf("%s: leader %q, %d members", id, l, n)
			if l != "hub-1" || n != 3 {
				return false
			}
		}
		return true
	}, &last)

	urls := h1.url + "," + h2.url + "," + h3.url
	edgeProc := func(store string) *node {
		return start(t, bin, nil, "edge", "--data-dir", filepath.Join(dir, store), "--http-addr", "127.0.0.1:0", "--node-name", store,
			"--write-key-file", writeKeys, "--read-key-file", readKeys,
			"--tls-cert", filepath.Join(d, store+"-api.pem"), "--tls-key", filepath.Join(d, store+"-api-key.pem"),
			"--hub", urls, "--hub-ca", ca, "--edge-id", store,
			"--tls-client-cert", filepath.Join(d, store+".pem"), "--tls-client-key", filepath.Join(d, store+"-key.pem"))
	}
	edges := []*node{edgeProc("store-1"), edgeProc("store-2")}
	track := func(n *node, mid string) {
		t.Helper()
		body := fmt.Sprintf(`{"userId":"vip-1","messageId":%q,"event":"Order Completed","properties":{"total":"10.00","currency":"EUR"}}`, mid)
		if code, b := do("POST", n.url+"/v1/track", body, writeKey); code != 200 {
			t.Fatalf("POST %s/v1/track = %d %s", n.url, code, b)
		}
	}
	orders := func(n *node) string {
		code, b := do("GET", n.url+"/v1/profiles/user_id:vip-1", "", readKey)
		return fmt.Sprintf("%d %.600s", code, b)
	}
	converged := func(want int) {
		t.Helper()
		for i, n := range edges {
			waitFor(t, 30*time.Second, fmt.Sprintf("edge %d to show %d orders", i, want), func() bool {
				last = orders(n)
				return strings.Contains(last, fmt.Sprintf(`"order_count":%d,`, want))
			}, &last)
		}
	}
	for _, n := range edges {
		if !strings.HasPrefix(n.url, "https://") {
			t.Fatalf("edge URL %s, want https", n.url)
		}
	}
	track(edges[0], "order-1")
	track(edges[1], "order-2")
	track(edges[1], "order-1") // a client's retry at the other store
	converged(2)

	// Reads need the read key; the write key cannot read; the admin API
	// needs its token, which the hub's roles check. The edges converged
	// through whichever hub node they reached: hub-2 may apply the last
	// order a moment later.
	waitFor(t, 30*time.Second, "hub-2 to hold vip-1", func() bool {
		code, b := do("GET", h2.url+"/v1/admin/profiles/user_id:vip-1", "", opsToken)
		last = fmt.Sprintf("%d %.300s", code, b)
		return code == 200
	}, &last)
	for _, tc := range []struct {
		url, token string
		want       int
	}{
		{edges[0].url + "/v1/profiles/user_id:vip-1", "", 401},
		{edges[0].url + "/v1/profiles/user_id:vip-1", writeKey, 403},
		{h2.url + "/v1/admin/profiles/user_id:vip-1", "", 401},
		{h2.url + "/v1/admin/profiles/user_id:vip-1", opsToken, 200},
	} {
		if code, b := do("GET", tc.url, "", tc.token); code != tc.want {
			t.Errorf("GET %s = %d %.200s, want %d", tc.url, code, b, tc.want)
		}
	}
	// Plain HTTP reaches neither an edge nor a hub.
	for _, u := range []string{edges[0].url, h1.url} {
		plain := "http://" + strings.TrimPrefix(u, "https://")
		if resp, err := http.Get(plain + "/healthz"); err == nil {
			if resp.StatusCode == 200 {
				t.Errorf("plain HTTP to %s answered 200", u)
			}
			resp.Body.Close()
		}
	}

	// The leader dies; the two left elect a leader over mutual TLS and
	// the edges' next orders still meet.
	h1.cmd.Process.Kill()
	h1.cmd.Wait()
	waitFor(t, 30*time.Second, "a new leader among hub-2 and hub-3", func() bool {
		l2, _ := status(h2)
		l3, _ := status(h3)
		last = l2 + " / " + l3
		return l2 != "" && l2 != "hub-1" && l2 == l3
	}, &last)
	track(edges[0], "order-3")
	track(edges[1], "order-4")
	converged(4)

	// No secret is on any process's command line (`ps`).
	secrets := []string{writeKey, readKey, opsToken, read("node.token")}
	procs := []*exec.Cmd{h2.cmd, h3.cmd, edges[0].cmd, edges[1].cmd}
	for _, c := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("a secret is on the command line of %s", strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
	}
}
