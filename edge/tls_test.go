package edge_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"ucv/tlsconf/tlstest"
)

// TestNodeServesTLS: with Config.TLS the API answers over TLS on its one
// port (plain HTTP gets no answer), advertises https to analytics.js and
// exposes the certificate's expiry; a certificate rotated on disk is
// served from the next connection on, by the same running node; and
// ReloadTLS (SIGHUP) reads the files too.
func TestNodeServesTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	p := ca.Server("till-1")
	c := config(t.TempDir(), "till-1")
	c.TLS = tlstest.Load(t, p, "")
	n := start(t, c)
	if !strings.HasPrefix(n.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL = %s, want https://127.0.0.1:…", n.URL())
	}
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(ca.File()); err != nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("read CA: %v", err)
	}
	var served []string // serial numbers seen, in order
	get := func(path string) (int, string) {
		t.Helper()
		// A new client each time: a full handshake, no resumed session.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		defer client.CloseIdleConnections()
		resp, err := client.Get(n.URL() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		served = append(served, resp.TLS.PeerCertificates[0].SerialNumber.Text(16))
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("GET /healthz over TLS = %d %s", code, body)
	}
	if _, body := get("/v1/projects/any/settings"); !strings.Contains(body, `"protocol":"https"`) {
		t.Errorf("settings over TLS = %s, want protocol https", body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `ucv_tls_cert_expiry_seconds{cert="cert"}`) {
		t.Errorf("/metrics lacks the certificate's expiry")
	}

	plain := "http://" + strings.TrimPrefix(n.URL(), "https://")
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("plain HTTP to a TLS edge answered %d", resp.StatusCode)
	}
	if _, err := tls.Dial("tcp", strings.TrimPrefix(n.URL(), "https://"), &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}); err == nil {
		t.Error("a TLS 1.1 client was served")
	}

	ca.Server("till-1") // rotated on disk
	get("/healthz")
	if served[len(served)-1] == served[0] {
		t.Errorf("after rotation the node still serves certificate %s", served[0])
	}
	if err := n.ReloadTLS(); err != nil {
		t.Errorf("ReloadTLS: %v", err)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
}
