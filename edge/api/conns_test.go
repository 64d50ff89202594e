package api

import (
	"bufio"
	"io"
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
