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

// dialEdge opens a raw connection to e.
func dialEdge(t *testing.T, e *testEdge) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestIdleTimeout: a kept-alive connection waiting for its next request
// longer than IdleTimeout is closed — not before — while one that keeps
// asking, for longer than every limit in total, is served throughout:
// the limits restart with every request (conntimeout.go).
func TestIdleTimeout(t *testing.T) {
	const idle = time.Second
	e := newTestEdge(t, func(c *Config) {
		c.ReadTimeout, c.IdleTimeout, c.WriteTimeout = 200*time.Millisecond, idle, 200*time.Millisecond
	})
	get := "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"

	busy := dialEdge(t, e)
	br := bufio.NewReader(busy)
	start := time.Now()
	for i := 0; time.Since(start) < 5*idle/2; i++ {
		if _, err := io.WriteString(busy, get); err != nil {
			t.Fatalf("request %d after %v: %v", i, time.Since(start), err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d after %v: %v", i, time.Since(start), err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("response %d: %d", i, res.StatusCode)
		}
		time.Sleep(idle / 10)
	}

	quiet := dialEdge(t, e)
	if _, err := io.WriteString(quiet, get); err != nil {
		t.Fatal(err)
	}
	qr := bufio.NewReader(quiet)
	res, err := http.ReadResponse(qr, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	answered := time.Now()
	quiet.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := qr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, %v; want the server to close it", n, err)
	}
	if waited := time.Since(answered); waited < idle {
		t.Fatalf("idle connection closed after %v, before IdleTimeout %v", waited, idle)
	}
}

// TestSlowRequestTimeout: a request whose bytes keep trickling in, each
// well within ReadTimeout of the last, is still answered 408 once
// ReadTimeout has passed since its first byte (a slow-loris client), on
// a new connection and on a kept-alive one.
func TestSlowRequestTimeout(t *testing.T) {
	const read = 300 * time.Millisecond
	e := newTestEdge(t, func(c *Config) { c.ReadTimeout = read })
	for _, kept := range []bool{false, true} {
		c := dialEdge(t, e)
		br := bufio.NewReader(c)
		if kept {
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		// 80 header bytes and more, one every 30 ms: 2.4 s at least,
		// 8× ReadTimeout.
		req := "GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Slow: " + strings.Repeat("a", 80)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range len(req) {
				if _, err := c.Write([]byte{req[i]}); err != nil {
					return
				}
				time.Sleep(30 * time.Millisecond)
			}
		}()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("kept-alive %v: %v", kept, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("kept-alive %v: status %d, want 408", kept, res.StatusCode)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("kept-alive %v: answered after %v, ReadTimeout is %v", kept, took, read)
		}
		c.Close()
		<-done
	}
}

// TestContinueBodyTimeout: after the interim 100 Continue of an Expect:
// 100-continue request, a body that never comes is still bounded by
// ReadTimeout from the request's first byte (408), not by IdleTimeout.
func TestContinueBodyTimeout(t *testing.T) {
	e := newTestEdge(t, func(c *Config) { c.ReadTimeout, c.IdleTimeout = 300*time.Millisecond, time.Minute })
	c := dialEdge(t, e)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /v1/track HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 40\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("interim response %q, %v", line, err)
	}
	if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after the interim status line: %q, %v", blank, err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a body that never came: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", res.StatusCode)
	}
}
