package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// The profiling endpoints answer on a loopback listener of their own and
// stop with it; any other address is refused.
func TestStartDebug(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, _, err := startDebug("0.0.0.0:0", log); !errors.Is(err, errUsage) {
		t.Fatalf("startDebug(0.0.0.0:0) = %v, want a usage error", err)
	}
	stop, addr, err := startDebug("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if code, body, err := get("/debug/pprof/"); err != nil || code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("GET /debug/pprof/ = %d, %v; body %.200q", code, err, body)
	}
	if code, body, err := get("/debug/pprof/trace?seconds=0.2"); err != nil || code != 200 || !strings.HasPrefix(body, "go ") {
		t.Fatalf("GET trace = %d, %v; body starts %.20q, want a Go execution trace", code, err, body)
	}
	if code, _, err := get("/v1/profiles/x"); err != nil || code != 404 {
		t.Fatalf("GET /v1/profiles/x on the debug listener = %d, %v; want 404 (nothing else is served)", code, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get("/debug/pprof/"); err == nil {
		t.Fatal("the debug listener answers after stop")
	}
}
