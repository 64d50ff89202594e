package main

import (
	"context"
	"encoding/base64"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inproc is `ucv ARGS…` run in this process by run(), on real sockets.
type inproc struct {
	cancel         context.CancelFunc
	code           chan int
	stdout, stderr *syncBuffer
	url            string // http://127.0.0.1:PORT, whatever address it listens on
}

// runInProcess runs args and waits until the node prints its URL.
func runInProcess(t *testing.T, args ...string) *inproc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &inproc{cancel: cancel, code: make(chan int, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	go func() { p.code <- run(ctx, args, p.stdout, p.stderr) }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(p.stdout.String()); m != nil {
			u, err := url.Parse(m[1])
			if err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(u.Host)
			p.url = "http://127.0.0.1:" + port
			return p
		}
		select {
		case code := <-p.code:
			p.code <- code
			t.Fatalf("ucv %v exited %d before listening:\n%s", args, code, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ucv %v printed no URL:\n%s", args, p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop cancels the run (SIGTERM's path) and waits for it to return 0.
func (p *inproc) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	code := <-p.code
	p.code <- code
	if code != 0 {
		t.Errorf("exit %d after stop:\n%s", code, p.stderr)
	}
}

const (
	testReadSecret   = "rk-crm-Zq8vW2mN5xT7yK4p"
	testDecideSecret = "rk-recs-Hc3jL9sD6fG1aB0e"
	testWriteKey     = "wk-web-Pf4Rt8Yu2Io6"
	testSyncToken    = "st-edge-Mn1Bv5Cx9Za3"
	testGossipKey    = "c2VjcmV0LWdvc3NpcC1rZXktMzItYnl0ZXMtbG9uZyE=" // 32 bytes
)

// writeSecretFiles writes the test secrets into files of dir and returns
// the flags that name them.
func writeSecretFiles(t *testing.T, dir string) []string {
	t.Helper()
	files := map[string]string{
		"write-keys": "# the web shop\n" + testWriteKey + "=web\n",
		"read-keys":  "crm=" + testReadSecret + "\nrecs:decide=" + testDecideSecret + "\n",
		"gossip.key": testGossipKey + "\n",
		"sync-token": testSyncToken + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"--write-key-file", filepath.Join(dir, "write-keys"), "--read-key-file", filepath.Join(dir, "read-keys"),
		"--gossip-key-file", filepath.Join(dir, "gossip.key"), "--sync-token-file", filepath.Join(dir, "sync-token")}
}

// secretForms are the ways a secret could leak into text: as is, and
// base64-encoded as HTTP Basic carries it.
func secretForms() []string {
	var out []string
	for _, s := range []string{testReadSecret, testDecideSecret, testWriteKey, testSyncToken, testGossipKey} {
		out = append(out, s,
			base64.StdEncoding.EncodeToString([]byte(s+":")),
			base64.StdEncoding.EncodeToString([]byte("crm:"+s)))
	}
	// The gossip key's bytes, as a log might print them.
	raw, _ := base64.StdEncoding.DecodeString(testGossipKey)
	return append(out, string(raw))
}

// assertNoSecret fails when text holds any form of a test secret.
func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secretForms() {
		if strings.Contains(text, s) {
			t.Errorf("%s holds a secret (%.6s…):\n%s", what, s, text)
		}
	}
}

// The logs (at debug level) and the console never print a secret: not
// while starting, serving, refusing wrong keys and limiting rates,
// syncing with the hub under the sync token, gossiping under the gossip
// key, nor stopping; usage errors and help do not either.
func TestSecretsNeverLogged(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"dev", "--data-dir", filepath.Join(dir, "data"), "--http-addr", "127.0.0.1:0", "--log-level", "debug",
		"--gossip-addr", "127.0.0.1:0", "--read-key-rate", "1", "--read-key-burst", "3"}, writeSecretFiles(t, dir)...)
	p := runInProcess(t, args...)
	read := []string{"Authorization", "Bearer " + testReadSecret}
	for _, c := range []struct {
		method, path, body string
		hdr                []string
		want               int
	}{
		{"POST", "/v1/identify", `{"userId":"s1","traits":{"email":"sec@example.com"}}`, []string{"X-Write-Key", testWriteKey}, 200},
		{"POST", "/v1/track", `{"userId":"s1","event":"X","writeKey":"` + testWriteKey + `"}`, []string{"Content-Type", "text/plain"}, 200},
		{"POST", "/v1/track", `{"userId":"s1","event":"X"}`, []string{"Authorization", "Bearer " + testReadSecret}, 403},
		{"POST", "/v1/track", `{"userId":"s1","event":"X","writeKey":"` + testDecideSecret + `"}`, nil, 403},
		{"GET", "/v1/projects/" + testReadSecret + "/settings", "", nil, 403},
		{"GET", "/v1/profiles/user_id:s1", "", []string{"Authorization", "Bearer " + testWriteKey}, 403},
		{"GET", "/v1/profiles/user_id:s1", "", []string{"Authorization", "Bearer " + testDecideSecret}, 403},
		{"GET", "/v1/profiles/user_id:s1", "", []string{"Authorization", "Bearer " + testReadSecret + "x"}, 401},
		{"GET", "/v1/profiles/user_id:s1", "", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("crm:"+testReadSecret))}, 200},
		{"GET", "/v1/profiles/user_id:s1", "", read, 200},
	} {
		if code, body := httpDo(t, c.method, p.url+c.path, c.body, c.hdr...); code != c.want {
			t.Errorf("%s %s = %d %s, want %d", c.method, c.path, code, body, c.want)
		}
	}
	limited := false
	for range 5 {
		code, _ := httpDo(t, "GET", p.url+"/v1/profiles/user_id:s1", "", read...)
		limited = limited || code == 429
	}
	if !limited {
		t.Errorf("5 lookups at 1/s with a burst of 3 were never refused 429")
	}
	// The edge syncs to the dev hub under the sync token.
	hubURL := devHubURL(t, &node{stdout: p.stdout})
	waitBody(t, hubURL+"/v1/admin/profiles/user_id:s1", `"s1"`)
	p.stop(t)
	logs := p.stderr.String()
	for _, want := range []string{`"msg":"gossip started"`, `"encrypted":true`, `"read_keys":2`, `"msg":"edge stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s (is this the run the test means?):\n%s", want, logs)
		}
	}
	assertNoSecret(t, "stderr (logs)", logs)
	assertNoSecret(t, "stdout", p.stdout.String())

	// Secrets from the environment never show in help; malformed secret
	// flags are refused without echoing them.
	t.Setenv("UCV_READ_KEYS", "crm="+testReadSecret)
	t.Setenv("UCV_SYNC_TOKEN", testSyncToken)
	t.Setenv("UCV_GOSSIP_KEY", testGossipKey)
	t.Setenv("UCV_WRITE_KEYS", testWriteKey)
	for _, cmd := range []string{"edge", "dev"} {
		code, stdout, stderr := runCmd(t, cmd, "-h")
		if code != 0 {
			t.Errorf("ucv %s -h: exit %d", cmd, code)
		}
		assertNoSecret(t, "ucv "+cmd+" -h", stdout+stderr)
	}
	for _, bad := range [][]string{
		{"--read-key", testReadSecret},                                   // no NAME=
		{"--read-key", testReadSecret + "=crm"},                          // swapped: the "secret" is short
		{"--read-key", "crm:" + testDecideSecret + "=" + testReadSecret}, // the scope is a secret
		{"--read-key", "crm=" + testReadSecret, "--read-key-file", filepath.Join(dir, "read-keys")},
		{"--sync-token", testSyncToken + " " + testSyncToken},
		{"--gossip-addr", "127.0.0.1:0", "--gossip-key", testWriteKey},
		{"--write-key", testWriteKey + ":x"},
	} {
		code, stdout, stderr := runCmd(t, append([]string{"edge", "--data-dir", filepath.Join(dir, "never")}, bad...)...)
		if code != 2 {
			t.Errorf("ucv edge %v: exit %d, want 2", bad, code)
		}
		assertNoSecret(t, "usage error", stdout+stderr)
	}
}

// `ucv edge` refuses to serve lookups without read keys on an address
// others can reach, and `ucv dev` to listen anywhere but loopback: one
// line naming the way out, exit 2, nothing started.
func TestEdgeRefusesExposure(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"edge on 0.0.0.0 without read keys", []string{"edge", "--write-key", "k", "--http-addr", "0.0.0.0:0"}, []string{"--read-key", "--insecure-open-reads"}},
		{"edge on a host name without read keys", []string{"edge", "--write-key", "k", "--http-addr", "edge-1.store.example:8080"}, []string{"--read-key"}},
		{"dev on 0.0.0.0", []string{"dev", "--http-addr", "0.0.0.0:0"}, []string{"loopback only", "--http-addr"}},
		{"dev with read keys on 0.0.0.0", []string{"dev", "--http-addr", "0.0.0.0:0", "--read-key", "crm=" + testReadSecret}, []string{"loopback only"}},
		{"dev gossip on 0.0.0.0", []string{"dev", "--http-addr", "127.0.0.1:0", "--gossip-addr", "0.0.0.0:0"}, []string{"loopback only", "--gossip-addr"}},
		{"open reads and read keys", []string{"edge", "--write-key", "k", "--http-addr", "0.0.0.0:0", "--insecure-open-reads", "--read-key", "crm=" + testReadSecret}, []string{"contradicts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			code, stdout, stderr := runCmd(t, append(tc.args, "--data-dir", data)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stdout %q, stderr %q)", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not name %s", stderr, w)
				}
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("stderr is not one line: %q", stderr)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the refused node created its data directory (%v)", err)
			}
		})
	}
}

// With --insecure-open-reads an edge on 0.0.0.0 serves lookups without
// a key, warns in its log and says so on /metrics; with a read key it
// needs no such flag and serves lookups to the key only.
func TestEdgeOffLoopback(t *testing.T) {
	p := runInProcess(t, "edge", "--data-dir", t.TempDir(), "--write-key", "k", "--http-addr", "0.0.0.0:0", "--insecure-open-reads")
	if code, body := httpDo(t, "GET", p.url+"/v1/profiles/user_id:nobody", ""); code != 404 {
		t.Errorf("open lookup = %d %s, want 404", code, body)
	}
	waitBody(t, p.url+"/metrics", "ucv_insecure_open_reads 1")
	p.stop(t)
	if !strings.Contains(p.stderr.String(), `"level":"WARN","msg":"insecure: profile lookups need no read key`) {
		t.Errorf("no insecure warning in the log:\n%s", p.stderr)
	}

	p = runInProcess(t, "edge", "--data-dir", t.TempDir(), "--write-key", "k", "--http-addr", "0.0.0.0:0", "--read-key", "crm="+testReadSecret)
	if code, body := httpDo(t, "GET", p.url+"/v1/profiles/user_id:nobody", ""); code != 401 {
		t.Errorf("lookup without a key = %d %s, want 401", code, body)
	}
	if code, body := httpDo(t, "GET", p.url+"/v1/profiles/user_id:nobody", "", "Authorization", "Bearer "+testReadSecret); code != 404 {
		t.Errorf("lookup with the read key = %d %s, want 404", code, body)
	}
	if !strings.Contains(p.stdout.String(), `curl -H "Authorization: Bearer $READ_KEY"`) {
		t.Errorf("the console's lookup example sends no read key:\n%s", p.stdout)
	}
	waitBody(t, p.url+"/metrics", "ucv_insecure_open_reads 0")
}

// The documented deployment passes every secret in files: the process's
// command line and environment hold none, and the edge enforces them.
func TestSecretsOffCommandLine(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	args := append([]string{"edge", "--data-dir", filepath.Join(dir, "data"), "--http-addr", "127.0.0.1:0", "--node-name", "till-9",
		"--gossip-addr", "127.0.0.1:0"}, writeSecretFiles(t, dir)...)
	n := start(t, bin, nil, args...)
	for _, f := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(n.cmd.Process.Pid), f))
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		assertNoSecret(t, "/proc/PID/"+f, strings.ReplaceAll(string(b), "\x00", " "))
	}
	if code, body := httpDo(t, "POST", n.url+"/v1/track", `{"userId":"f1","event":"X"}`, "X-Write-Key", testWriteKey); code != 200 {
		t.Errorf("ingest with the write key from the file = %d %s", code, body)
	}
	if code, body := httpDo(t, "GET", n.url+"/v1/profiles/user_id:f1", ""); code != 401 {
		t.Errorf("lookup without a key on loopback, read keys set = %d %s, want 401", code, body)
	}
	if code, body := httpDo(t, "GET", n.url+"/v1/profiles/user_id:f1", "", "Authorization", "Bearer "+testReadSecret); code != 200 {
		t.Errorf("lookup with the read key from the file = %d %s", code, body)
	}
	n.stop(t, syscall.SIGTERM)
	assertNoSecret(t, "the edge's logs", n.stderr.String())
}
