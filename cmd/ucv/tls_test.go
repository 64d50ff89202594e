package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"ucv/edge"
)

// tlsCmd runs `ucv tls …` and fails the test unless it exits 0.
func tlsCmd(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(t, append([]string{"tls"}, args...)...)
	if code != 0 {
		t.Fatalf("ucv tls %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// pool returns a pool of the PEM certificates in file.
func pool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", file)
	}
	return p
}

// TestTLSCommands: `ucv tls ca create` and `ucv tls cert create` write
// the files the issue names, keys 0600, certificates that chain to the
// CA with the usages and addresses asked for; bad arguments are usage
// errors and existing files are kept unless --force.
func TestTLSCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	out := tlsCmd(t, "ca", "create", "--dir", dir)
	if !strings.Contains(out, filepath.Join(dir, "ca.pem")) {
		t.Errorf("ca create printed %q", out)
	}
	tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--name", "till-3", "--ip", "10.0.0.3", "--dns", "till-3.shop.example")
	tlsCmd(t, "cert", "create", "--dir", dir, "--client", "--name", "till-3-client")
	tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--client", "--name", "hub-1", "--ip", "10.0.1.1,10.0.1.11")
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{"ca.pem", 0o644}, {"ca-key.pem", 0o600}, {"till-3.pem", 0o644}, {"till-3-key.pem", 0o600},
		{"till-3-client.pem", 0o644}, {"till-3-client-key.pem", 0o600}, {"hub-1.pem", 0o644}, {"hub-1-key.pem", 0o600}} {
		fi, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		if fi.Mode().Perm() != f.mode {
			t.Errorf("%s mode = %v, want %v", f.name, fi.Mode().Perm(), f.mode)
		}
	}
	roots := pool(t, filepath.Join(dir, "ca.pem"))
	for _, c := range []struct {
		name string
		eku  x509.ExtKeyUsage
		host string
	}{
		{"till-3", x509.ExtKeyUsageServerAuth, "10.0.0.3"},
		{"till-3", x509.ExtKeyUsageServerAuth, "till-3.shop.example"},
		{"till-3-client", x509.ExtKeyUsageClientAuth, ""},
		{"hub-1", x509.ExtKeyUsageServerAuth, "10.0.1.11"},
		{"hub-1", x509.ExtKeyUsageClientAuth, ""},
	} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, c.name+".pem"), filepath.Join(dir, c.name+"-key.pem"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if pair.Leaf.Subject.CommonName != c.name {
			t.Errorf("%s: common name %q", c.name, pair.Leaf.Subject.CommonName)
		}
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: c.host, KeyUsages: []x509.ExtKeyUsage{c.eku}}); err != nil {
			t.Errorf("%s for %v %q: %v", c.name, c.eku, c.host, err)
		}
	}

	before, _ := os.ReadFile(filepath.Join(dir, "till-3.pem"))
	for _, bad := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"ca", "create", "--dir", dir}, 1, "exists"},
		{[]string{"cert", "create", "--dir", dir, "--server", "--name", "till-3"}, 1, "exists"},
		{[]string{"cert", "create", "--dir", dir, "--server"}, 2, "--name"},
		{[]string{"cert", "create", "--dir", dir, "--name", "x"}, 2, "--server, --client"},
		{[]string{"cert", "create", "--dir", dir, "--client", "--name", "x", "--ip", "10.0.0.1"}, 2, "server certificates"},
		{[]string{"cert", "create", "--dir", dir, "--server", "--name", "x", "--ip", "ten"}, 2, "not an IP"},
		{[]string{"cert", "create", "--dir", dir, "--server", "--name", "../x"}, 2, "name"},
		{[]string{"cert", "create", "--dir", t.TempDir(), "--server", "--name", "x"}, 1, "ucv tls ca create"},
		{[]string{"cert", "delete"}, 2, "cert create"},
	} {
		code, _, stderr := runCmd(t, append([]string{"tls"}, bad.args...)...)
		if code != bad.code || !strings.Contains(stderr, bad.msg) {
			t.Errorf("ucv tls %s: exit %d %q, want %d …%s…", strings.Join(bad.args, " "), code, stderr, bad.code, bad.msg)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "till-3.pem")); string(after) != string(before) {
		t.Error("a refused cert create changed the existing certificate")
	}
	tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--name", "till-3", "--force")
	if after, _ := os.ReadFile(filepath.Join(dir, "till-3.pem")); string(after) == string(before) {
		t.Error("cert create --force kept the old certificate")
	}
}

// parseHub parses `ucv hub` arguments and starts the node in this
// process; it is closed when the test ends.
func parseHub(t *testing.T, log *slog.Logger, args ...string) *hubNode {
	t.Helper()
	cfg, err := parseHubFlags(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	h, err := startHubNode(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func hubArgs(id, data string, tlsArgs ...string) []string {
	return append([]string{"--data-dir", data, "--node-id", id, "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0",
		"--admin-token", "at", "--peer-interval", "100ms"}, tlsArgs...)
}

// TestSecureClusterInProcess: files made by `ucv tls` run a hub cluster
// over mutual TLS (join and forwarding over HTTPS with node
// certificates, Raft over mutual TLS) and an edge that serves HTTPS and
// syncs with its client certificate through a follower; a hub node with
// another CA's certificate cannot join.
func TestSecureClusterInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	tlsCmd(t, "ca", "create", "--dir", dir)
	for _, n := range []string{"hub-1", "hub-2"} {
		tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--client", "--name", n)
	}
	tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--name", "till-1")
	tlsCmd(t, "cert", "create", "--dir", dir, "--client", "--name", "till-1-client")
	evil := filepath.Join(t.TempDir(), "evil")
	tlsCmd(t, "ca", "create", "--dir", evil)
	tlsCmd(t, "cert", "create", "--dir", evil, "--server", "--client", "--name", "hub-3")
	ca := filepath.Join(dir, "ca.pem")
	nodeTLS := func(d, name string) []string {
		return []string{"--tls-cert", filepath.Join(d, name+".pem"), "--tls-key", filepath.Join(d, name+"-key.pem"), "--tls-client-ca", ca}
	}
	quiet := slog.New(slog.DiscardHandler)

	h1 := parseHub(t, quiet, append(hubArgs("hub-1", t.TempDir(), nodeTLS(dir, "hub-1")...), "--bootstrap")...)
	if !strings.HasPrefix(h1.url, "https://") {
		t.Fatalf("hub URL %s, want https", h1.url)
	}
	waitFor(t, 20*time.Second, "hub-1 to lead", h1.node.IsLeader)
	h2 := parseHub(t, quiet, append(hubArgs("hub-2", t.TempDir(), nodeTLS(dir, "hub-2")...), "--join", h1.url)...)
	members := func() int { ms, _ := h1.node.Members(); return len(ms) }
	waitFor(t, 20*time.Second, "hub-2 to join over mutual TLS", func() bool { return members() == 2 })
	waitFor(t, 20*time.Second, "hub-2 to follow hub-1 over Raft", func() bool { id, _ := h2.node.Leader(); return id == "hub-1" })

	// The edge: HTTPS for its callers, its client certificate for the
	// hub, pointed at the follower (which forwards to the leader).
	cfg, err := parseEdgeFlags("edge", []string{"--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--node-name", "till-1",
		"--write-key", "wk", "--hub", h2.url, "--hub-ca", ca,
		"--tls-cert", filepath.Join(dir, "till-1.pem"), "--tls-key", filepath.Join(dir, "till-1-key.pem"),
		"--tls-client-cert", filepath.Join(dir, "till-1-client.pem"), "--tls-client-key", filepath.Join(dir, "till-1-client-key.pem")},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nodeConfig(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	n, err := edge.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(t, ca)}}}
	req, _ := http.NewRequest("POST", n.URL()+"/v1/track", strings.NewReader(`{"userId":"u1","event":"Signed Up","messageId":"m1"}`))
	req.Header.Set("X-Write-Key", "wk")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("track over HTTPS: %v", err)
	}
	resp.Body.Close()
	const edgeID = "till-1-client" // the name of its client certificate
	waitFor(t, 20*time.Second, "the edge's push on the leader (via the follower)", func() bool { return h1.node.FSM().EdgeSeq(edgeID) >= 1 })
	waitFor(t, 20*time.Second, "the push replicated to the follower", func() bool { return h2.node.FSM().EdgeSeq(edgeID) >= 1 })

	// hub-3 trusts the cluster's CA but holds another CA's certificate:
	// its join is refused at the handshake, again and again.
	logs := &syncBuffer{}
	parseHub(t, slog.New(slog.NewTextHandler(logs, nil)), append(hubArgs("hub-3", t.TempDir(),
		"--tls-cert", filepath.Join(evil, "hub-3.pem"), "--tls-key", filepath.Join(evil, "hub-3-key.pem"), "--tls-client-ca", ca),
		"--join", h1.url)...)
	waitFor(t, 20*time.Second, "hub-3's join to fail twice", func() bool { return strings.Count(logs.String(), "join failed") >= 2 })
	if ms, _ := h1.node.Members(); len(ms) != 2 {
		t.Errorf("members after hub-3's attempts: %v, want hub-1 and hub-2", ms)
	}
	if !strings.Contains(logs.String(), "certificate") {
		t.Errorf("hub-3's log does not say its certificate was refused:\n%s", logs)
	}

	// Every node's /metrics shows its certificate's expiry.
	_, body := httpsGet(t, h1.url+"/metrics", ca)
	for _, m := range []string{`ucv_tls_cert_expiry_seconds{cert="tls-cert"}`, `ucv_tls_cert_expiry_seconds{cert="tls-client-ca"}`} {
		if !strings.Contains(body, m) {
			t.Errorf("hub /metrics lacks %s", m)
		}
	}
	_, body = httpsGet(t, n.URL()+"/metrics", ca)
	for _, m := range []string{`{cert="tls-cert"}`, `{cert="tls-client-cert"}`, `{cert="hub-ca"}`} {
		if !strings.Contains(body, "ucv_tls_cert_expiry_seconds"+m) {
			t.Errorf("edge /metrics lacks ucv_tls_cert_expiry_seconds%s", m)
		}
	}
}

// httpsGet GETs url with a new client trusting ca (no session resumed)
// and returns the serial number of the server's certificate and the
// body.
func httpsGet(t *testing.T, url, ca string) (serial, body string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(t, ca)}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.TLS.PeerCertificates[0].SerialNumber.Text(16), string(b)
}

var hubURL = regexp.MustCompile(`serving (https://\S+),`)

// TestHubReloadsOnSIGHUP: `ucv hub` with --tls-cert reads its
// certificate again on SIGHUP (file polling off here, so only the signal
// can have done it) and keeps serving: the same listener presents the
// new certificate.
func TestHubReloadsOnSIGHUP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	tlsCmd(t, "ca", "create", "--dir", dir)
	tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--name", "hub-1")
	ca := filepath.Join(dir, "ca.pem")
	cfg, err := parseHubFlags(append(hubArgs("hub-1", t.TempDir(), "--tls-cert", filepath.Join(dir, "hub-1.pem"),
		"--tls-key", filepath.Join(dir, "hub-1-key.pem")), "--bootstrap"), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.tlsPoll = -1 // only SIGHUP reloads
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runHubNode(ctx, cfg, stdout, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ucv hub: %v", err)
		}
	}()
	var url string
	waitFor(t, 20*time.Second, "the hub's URL", func() bool {
		m := hubURL.FindStringSubmatch(stdout.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	first, _ := httpsGet(t, url+"/healthz", ca)
	tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--name", "hub-1", "--force")
	if again, _ := httpsGet(t, url+"/healthz", ca); again != first {
		t.Fatal("the new certificate was served before SIGHUP with polling off")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the new certificate after SIGHUP", func() bool {
		s, _ := httpsGet(t, url+"/healthz", ca)
		return s != first
	})
}

// TestCertificateKinds: an edge refuses a hub node's certificate (its key
// would open the hub's Raft port); a hub with --tls-client-ca refuses one
// that is not a node's; half a pair or a client CA without a certificate
// is a usage error.
func TestCertificateKinds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	tlsCmd(t, "ca", "create", "--dir", dir)
	tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--client", "--name", "hub-1")
	tlsCmd(t, "cert", "create", "--dir", dir, "--server", "--name", "web")
	f := func(name string) (string, string) {
		return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	}
	hubCert, hubKey := f("hub-1")
	webCert, webKey := f("web")
	ca := filepath.Join(dir, "ca.pem")
	none := func(string) string { return "" }
	for what, args := range map[string][]string{
		"a node certificate for the API":      {"--tls-cert", hubCert, "--tls-key", hubKey},
		"a node certificate for the hub link": {"--hub", "https://127.0.0.1:1", "--hub-ca", ca, "--tls-client-cert", hubCert, "--tls-client-key", hubKey},
	} {
		cfg, err := parseEdgeFlags("edge", append([]string{"--data-dir", t.TempDir(), "--write-key", "wk"}, args...), none, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := nodeConfig(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "hub node's certificate") {
			t.Errorf("edge with %s: %v, want refused as a hub node's certificate", what, err)
		}
	}
	cfg, err := parseHubFlags(hubArgs("hub-1", t.TempDir(), "--tls-cert", webCert, "--tls-key", webKey, "--tls-client-ca", ca), none, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := startHubNode(cfg, slog.New(slog.DiscardHandler)); err == nil {
		h.Close(context.Background())
		t.Error("a hub with --tls-client-ca started with a server-only certificate")
	} else if !strings.Contains(err.Error(), "not a hub node's certificate") {
		t.Errorf("hub with a server-only certificate: %v", err)
	}
	for what, args := range map[string][]string{
		"hub: --tls-cert alone":           append(hubArgs("h", "d"), "--tls-cert", hubCert),
		"hub: --tls-client-ca alone":      append(hubArgs("h", "d"), "--tls-client-ca", ca),
		"hub: an http --join with TLS":    append(hubArgs("h", "d"), "--tls-cert", hubCert, "--tls-key", hubKey, "--join", "http://127.0.0.1:1"),
		"edge: --tls-key alone":           {"--data-dir", "d", "--write-key", "wk", "--tls-key", webKey},
		"edge: --hub-ca without --hub":    {"--data-dir", "d", "--write-key", "wk", "--hub-ca", ca},
		"edge: --hub-ca with an http hub": {"--data-dir", "d", "--write-key", "wk", "--hub", "http://127.0.0.1:1", "--hub-ca", ca},
	} {
		var err error
		if strings.HasPrefix(what, "hub") {
			_, err = parseHubFlags(args, none, io.Discard)
		} else {
			_, err = parseEdgeFlags("edge", args, none, io.Discard)
		}
		if !errors.Is(err, errUsage) {
			t.Errorf("%s: %v, want a usage error", what, err)
		}
	}
}
