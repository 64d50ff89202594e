package edge_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ucv/edge"
	"ucv/edge/api"
	"ucv/edge/gossip"
)

// production returns a node configuration with a write key, not in dev
// mode, on addr.
func production(dir, addr string) edge.Config {
	c := config(dir, "till-1")
	c.HTTPAddr = addr
	c.API.DevMode = false
	c.API.WriteKeys = map[string]string{"wk": "pos"}
	return c
}

var readKey = api.ReadKey{Name: "crm", Secret: "rk-crm-0123456789abcdef", Scopes: []api.Scope{api.ScopeProfiles}}

// What counts as loopback: a dev node may listen there only, and an
// edge without read keys needs InsecureOpenReads anywhere else.
func TestLoopbackRules(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		loopback bool
	}{
		{"127.0.0.1:8080", true},
		{"127.3.4.5:0", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LocalHost:0", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"[::]:8080", false},
		{"10.0.0.3:8080", false},
		{"[fe80::1%eth0]:8080", false},
		{"edge-1.store.local:8080", false},
		{"127.0.0.1.nip.io:8080", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			dev := config(t.TempDir(), "dev")
			dev.HTTPAddr = tc.addr
			err := dev.Validate()
			if tc.loopback != (err == nil) {
				t.Errorf("dev on %s: Validate = %v, want loopback %v", tc.addr, err, tc.loopback)
			}
			if err != nil && !strings.Contains(err.Error(), "loopback only") {
				t.Errorf("dev on %s: error %q does not say dev listens on loopback only", tc.addr, err)
			}
			open := production(t.TempDir(), tc.addr)
			err = open.Validate()
			if tc.loopback != (err == nil) {
				t.Errorf("edge without read keys on %s: Validate = %v, want loopback %v", tc.addr, err, tc.loopback)
			}
			if err != nil && (!strings.Contains(err.Error(), "--read-key") || !strings.Contains(err.Error(), "--insecure-open-reads")) {
				t.Errorf("edge on %s: error %q names neither --read-key nor --insecure-open-reads", tc.addr, err)
			}
			open.InsecureOpenReads = true
			if err := open.Validate(); err != nil {
				t.Errorf("edge with InsecureOpenReads on %s: Validate = %v", tc.addr, err)
			}
			keyed := production(t.TempDir(), tc.addr)
			keyed.API.ReadKeys = []api.ReadKey{readKey}
			if err := keyed.Validate(); err != nil {
				t.Errorf("edge with a read key on %s: Validate = %v", tc.addr, err)
			}
		})
	}
}

// A refused exposure or API configuration starts nothing: no data
// directory, no listener.
func TestNodeRefusesExposure(t *testing.T) {
	gc := gossip.DefaultConfig()
	gc.Dev = true
	gc.Memberlist.BindAddr = "0.0.0.0"
	for _, tc := range []struct {
		name string
		cfg  func(dir string) edge.Config
		want string
	}{
		{"edge without read keys on 0.0.0.0", func(dir string) edge.Config { return production(dir, "0.0.0.0:0") }, "no read keys"},
		{"dev on 0.0.0.0", func(dir string) edge.Config {
			c := config(dir, "dev")
			c.HTTPAddr = "0.0.0.0:0"
			return c
		}, "loopback only"},
		{"dev gossip on 0.0.0.0", func(dir string) edge.Config {
			c := config(dir, "dev")
			c.Gossip = &gc
			return c
		}, "--gossip-addr"},
		{"a bad read key (the API's config is checked first too)", func(dir string) edge.Config {
			c := production(dir, "0.0.0.0:0")
			c.API.ReadKeys = []api.ReadKey{{Name: "crm", Secret: "short", Scopes: []api.Scope{api.ScopeProfiles}}}
			return c
		}, "ReadKeys[0]: secret"},
		{"open reads with read keys", func(dir string) edge.Config {
			c := production(dir, "0.0.0.0:0")
			c.API.ReadKeys = []api.ReadKey{readKey}
			c.InsecureOpenReads = true
			return c
		}, "contradicts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			_, err := edge.New(tc.cfg(dir))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error saying %q", err, tc.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the refused node created its data directory (%v)", err)
			}
		})
	}
}

// logRecorder is a slog handler that keeps every message.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

// count returns how many messages start with prefix.
func (r *logRecorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// An edge with open reads off loopback serves (it was told to), warns
// again and again in its log, and says so on /metrics; on loopback the
// same flag warns nothing.
func TestInsecureOpenReadsWarns(t *testing.T) {
	rec := &logRecorder{}
	c := production(t.TempDir(), "0.0.0.0:0")
	c.InsecureOpenReads = true
	c.OpenReadsWarnEvery = 5 * time.Millisecond
	c.Logger = slog.New(rec)
	n := start(t, c)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(n.URL(), "http://"))
	url := "http://127.0.0.1:" + port
	if code, body := do(t, "GET", url+"/v1/profiles/user_id:nobody", ""); code != 404 {
		t.Fatalf("open lookup = %d %s, want 404", code, body)
	}
	waitBody(t, url+"/metrics", "ucv_insecure_open_reads 1")
	deadline := time.Now().Add(10 * time.Second)
	for rec.count("insecure:") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d insecure warnings, want them repeated", rec.count("insecure:"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	quiet := &logRecorder{}
	c = production(t.TempDir(), "127.0.0.1:0")
	c.InsecureOpenReads = true
	c.OpenReadsWarnEvery = time.Millisecond
	c.Logger = slog.New(quiet)
	n = start(t, c)
	waitBody(t, n.URL()+"/metrics", "ucv_insecure_open_reads 0")
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := quiet.count("insecure:"); got != 0 {
		t.Errorf("a loopback edge warned %d times about open reads", got)
	}
}

// An edge with read keys on 0.0.0.0 serves lookups to its keys only.
func TestNodeReadKeysOffLoopback(t *testing.T) {
	c := production(t.TempDir(), "0.0.0.0:0")
	c.API.ReadKeys = []api.ReadKey{readKey}
	n := start(t, c)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(n.URL(), "http://"))
	url := "http://127.0.0.1:" + port + "/v1/profiles/user_id:nobody"
	if code, body := do(t, "GET", url, ""); code != 401 {
		t.Errorf("lookup without a key = %d %s, want 401", code, body)
	}
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readKey.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("lookup with the read key = %d, want 404", resp.StatusCode)
	}
}
