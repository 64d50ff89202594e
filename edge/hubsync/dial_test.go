package hubsync

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// The backoff doubles from MinBackoff, is capped by LinkBackoff when no
// hub was reached and by MaxBackoff otherwise, and keeps at least half
// of its value (jitter takes at most the other half).
func TestBackoff(t *testing.T) {
	c := &Client{cfg: DefaultConfig()}
	for failed := range 40 {
		for _, link := range []bool{false, true} {
			limit := c.cfg.MaxBackoff
			if link {
				limit = c.cfg.LinkBackoff
			}
			want := min(c.cfg.MinBackoff<<min(failed, 20), limit)
			for range 20 {
				if got := c.backoff(failed, link); got < want/2 || got > want {
					t.Fatalf("backoff(%d, link %v) = %s, want in [%s, %s]", failed, link, got, want/2, want)
				}
			}
		}
	}
}

// A connection to the hub probes when idle and, on Linux, gives up on
// unacknowledged data after UserTimeout.
func TestDialSocketOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := DefaultConfig()
	d := &dialer{timeout: cfg.DialTimeout, stagger: cfg.DialStagger, keepAlive: cfg.KeepAlive, userTimeout: cfg.UserTimeout}
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	get := func(level, opt int) int {
		var v int
		var gerr error
		if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil || gerr != nil {
			t.Fatalf("getsockopt %d/%d: %v %v", level, opt, err, gerr)
		}
		return v
	}
	if get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
		t.Error("SO_KEEPALIVE is off")
	}
	checkUserTimeout(t, get, cfg.UserTimeout)
}

// A port that refuses ends the dial at once, without waiting out
// DialTimeout on further attempts.
func TestDialRefusedFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := &dialer{timeout: time.Minute, stagger: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		_, err := d.DialContext(context.Background(), "tcp", addr)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial a closed port: %v, want connection refused", err)
		}
	case <-time.After(30 * time.Second): // a minute's DialTimeout would still be running
		t.Fatal("dial of a closed port did not fail fast")
	}
}

// A hub that accepts a request and never answers holds a push no longer
// than RequestTimeout, and the failure counts as the hub unreachable.
func TestRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := DefaultConfig()
	cfg.URLs, cfg.Edge, cfg.RequestTimeout = []string{srv.URL}, "e1", 200*time.Millisecond
	c, err := New(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, _, err := c.do(context.Background(), http.MethodPost, "/v1/sync/push", []byte("x"))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("request to a silent hub: %v, want an unreachable hub past its deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a request to a silent hub outlived RequestTimeout")
	}
}
