package api

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// keptConn is a keep-alive client connection that has had one request
// answered, so the server has accepted it and holds a worker for it.
type keptConn struct {
	c  net.Conn
	rd *bufio.Reader
}

// dialServed opens a connection and sends GET /healthz on it; it returns
// the connection and the answer's status.
func dialServed(tb testing.TB, url string) (*keptConn, int) {
	tb.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	// A bound for a broken server, not a timing assertion.
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	kc := &keptConn{c: c, rd: bufio.NewReader(c)}
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"); err != nil {
		tb.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(kc.rd, nil)
	if err != nil {
		tb.Fatalf("read answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return kc, resp.StatusCode
}

// MaxConnsPerIP: a client IP over the cap gets 429 and its connection
// closed while its other connections keep working; once one closes, a new
// one is served.
func TestMaxConnsPerIP(t *testing.T) {
	e := newTestEdge(t, func(c *Config) { c.MaxConnsPerIP = 2 })
	a, code := dialServed(t, e.url)
	if code != 200 {
		t.Fatalf("first connection = %d, want 200", code)
	}
	if _, code := dialServed(t, e.url); code != 200 {
		t.Fatalf("second connection = %d, want 200", code)
	}
	if _, code := dialServed(t, e.url); code != http.StatusTooManyRequests {
		t.Fatalf("third connection from the same IP = %d, want 429", code)
	}
	a.c.Close()
	// The server counts a connection down once it sees it closed: wait
	// for that (a condition, not a time).
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, code := dialServed(t, e.url)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new connection after one closed = %d, want 200", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Concurrency: connections over the total cap get 503 and are closed.
func TestConcurrencyCap(t *testing.T) {
	e := newTestEdge(t, func(c *Config) { c.Concurrency = 2; c.MaxConnsPerIP = 0 })
	for i := range 2 {
		if _, code := dialServed(t, e.url); code != 200 {
			t.Fatalf("connection %d = %d, want 200", i+1, code)
		}
	}
	if _, code := dialServed(t, e.url); code != http.StatusServiceUnavailable {
		t.Fatalf("connection over the cap = %d, want 503", code)
	}
}

// selfSigned returns a TLS certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "edge"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Over a TLS listener (how the edge node serves TLS), a connection over
// MaxConnsPerIP is closed without writing: writing would start its
// handshake and block the accept loop on a client that never sends a
// hello. The next client is served.
func TestConnCapsOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	cfg := DefaultConfig()
	cfg.DevMode = true
	cfg.MaxConnsPerIP = 1
	srv, err := New(openStore(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- srv.Serve(tls.NewListener(plain, &tls.Config{Certificates: []tls.Certificate{cert}}))
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := plain.Addr().String()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxConnsPerHost: 1}, Timeout: 30 * time.Second}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("first TLS request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("first TLS request = %d, want 200", resp.StatusCode)
	}

	// A second connection from the same IP that never says hello.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// A bound for a broken server, not a timing assertion.
	idle.SetDeadline(time.Now().Add(20 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the refused idle connection read %d bytes, %v; want it closed (EOF)", n, err)
	}

	// The accept loop is free: once the first connection closes, a new
	// client is served.
	client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS request served after the refusal: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
