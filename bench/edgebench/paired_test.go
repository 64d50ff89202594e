package edgebench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// respServer answers RESP GETs on a loopback socket: a value for keys
// under limit, nil beyond.
func respServer(t *testing.T, limit int) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					var lines [5]string
					for i := range lines {
						l, err := r.ReadString('\n')
						if err != nil {
							return
						}
						lines[i] = strings.TrimSpace(l)
					}
					var k int
					fmt.Sscanf(lines[4], "key:%d", &k)
					if k >= limit {
						c.Write([]byte("$-1\r\n"))
						continue
					}
					v := bytes.Repeat([]byte("v"), 1000+k%7)
					fmt.Fprintf(c, "$%d\r\n%s\r\n", len(v), v)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// httpServer serves /v1/profiles/user_id:uN with 200 below limit, 404 beyond.
func httpServer(t *testing.T, limit int) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var k int
		if _, err := fmt.Sscanf(r.URL.Path, "/v1/profiles/user_id:u%d", &k); err != nil || k >= limit {
			http.NotFound(w, r)
			return
		}
		w.Write(bytes.Repeat([]byte("p"), 1600+k%5))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestPairedMeasuresBothSides(t *testing.T) {
	res, err := Paired(PairedConfig{EdgeAddr: httpServer(t, 100), RedisAddr: respServer(t, 100),
		Keys: 100, Duration: 300 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Edge.N == 0 || res.Edge.N != res.Redis.N {
		t.Fatalf("requests: edge %d, redis %d; want equal and > 0", res.Edge.N, res.Redis.N)
	}
	for name, s := range map[string]PairedSide{"edge": res.Edge, "redis": res.Redis} {
		if !(0 < s.P50 && s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
			t.Fatalf("%s: percentiles out of order: %+v", name, s)
		}
	}
}

func TestPairedRefusesMisses(t *testing.T) {
	// Keys beyond what the servers hold: the edge side answers 404 …
	if _, err := Paired(PairedConfig{EdgeAddr: httpServer(t, 0), RedisAddr: respServer(t, 100),
		Keys: 50, Duration: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("edge misses: err = %v, want HTTP 404", err)
	}
	// … and the redis side a nil.
	if _, err := Paired(PairedConfig{EdgeAddr: httpServer(t, 100), RedisAddr: respServer(t, 0),
		Keys: 50, Duration: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "key missing") {
		t.Fatalf("redis misses: err = %v, want key missing", err)
	}
}

func TestSummarizeCountsSharedOutliers(t *testing.T) {
	ms := time.Millisecond
	// Edge outliers at 10 ms and 100 ms; redis's at 12 ms only.
	lat := []time.Duration{10 * time.Microsecond, 2 * ms, 20 * time.Microsecond, 3 * ms}
	at := []time.Duration{0, 10 * ms, 50 * ms, 100 * ms}
	other := []time.Duration{10 * time.Microsecond, 1 * ms, 10 * time.Microsecond}
	otherAt := []time.Duration{1 * ms, 12 * ms, 60 * ms}
	s := summarize(lat, at, other, otherAt)
	if s.N != 4 || s.Slow != 2 || s.SlowWithOtherSlowNear != 1 || s.Max != 3*ms {
		t.Fatalf("summary %+v: want N 4, Slow 2, one near redis's, Max 3ms", s)
	}
}

func TestParseHead(t *testing.T) {
	for _, tc := range []struct {
		head           string
		status, length int
		bad            bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1643", 200, 1643, false},
		{"HTTP/1.1 404 Not Found\r\ncontent-length:  9", 404, 9, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", 0, 0, true},
		{"SSH-2.0-OpenSSH", 0, 0, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: -3", 0, 0, true},
	} {
		status, length, err := parseHead([]byte(tc.head))
		if (err != nil) != tc.bad || status != tc.status || length != tc.length {
			t.Errorf("parseHead(%q) = %d, %d, %v", tc.head, status, length, err)
		}
	}
}

func TestSingleMeasuresOneSide(t *testing.T) {
	for _, redis := range []bool{false, true} {
		addr := httpServer(t, 100)
		if redis {
			addr = respServer(t, 100)
		}
		s, err := Single(SingleConfig{Addr: addr, Redis: redis, Keys: 100, Duration: 200 * time.Millisecond, Seed: 1})
		if err != nil {
			t.Fatalf("redis=%v: %v", redis, err)
		}
		if s.N == 0 || !(0 < s.P50 && s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
			t.Fatalf("redis=%v: %+v: want requests and ordered percentiles", redis, s)
		}
	}
	// A miss fails the run, as in Paired.
	if _, err := Single(SingleConfig{Addr: httpServer(t, 0), Keys: 50, Duration: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("edge misses: err = %v, want HTTP 404", err)
	}
	if _, err := Single(SingleConfig{Addr: respServer(t, 0), Redis: true, Keys: 50, Duration: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "key missing") {
		t.Fatalf("redis misses: err = %v, want key missing", err)
	}
}
