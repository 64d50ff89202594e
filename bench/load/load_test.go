package load

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClosedAndOpenLoopsOverHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/missing") {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	get := HTTPGet{Host: addr, Path: func(i int) string {
		if i%10 == 9 {
			return "/missing"
		}
		return "/ok"
	}}
	res, err := Closed(context.Background(), addr, get, 4, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 10 || res.Errors == 0 || res.Errors > res.Requests/5 {
		t.Fatalf("closed loop: %v; want ~10%% errors from the 404s", res)
	}
	res, err = Open(context.Background(), addr, get, 4, 200, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 {
		t.Fatalf("open loop sent %d requests, want 200/s × 0.5 s = 100", res.Requests)
	}
	if res.Quantile(0.5) <= 0 || res.Quantile(0.5) > res.Quantile(0.999) {
		t.Fatalf("quantiles: %v", res)
	}
}

func TestRedisResponse(t *testing.T) {
	for _, tt := range []struct {
		in    string
		ok    bool
		after string
	}{
		{"$5\r\nhello\r\n+NEXT", true, "+NEXT"},
		{"$-1\r\n", false, ""},
		{"-ERR wrong type\r\n", false, ""},
	} {
		r := bufio.NewReader(strings.NewReader(tt.in))
		err := RedisGet{}.Response(r)
		if (err == nil) != tt.ok {
			t.Errorf("Response(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if rest, _ := r.ReadString(0); tt.ok && rest != tt.after {
			t.Errorf("Response(%q) left %q, want %q", tt.in, rest, tt.after)
		}
	}
	if got := string(RedisGet{Key: func(int) string { return "k1" }}.Request(nil, 0)); got != "*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n" {
		t.Errorf("Request = %q", got)
	}
}
