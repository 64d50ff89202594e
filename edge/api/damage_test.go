package api

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucv/edge/store"
)

// TestDamagedProfileAnswers500: a byte flipped on disk inside a stored
// view is not served: the lookup answers 500 in the error vocabulary
// (no Go error text, no identifier), /metrics counts the mismatch, and
// other profiles are served as before.
func TestDamagedProfileAnswers500(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	opts := store.DefaultOptions(path)
	opts.NoSync = true
	// The damage is written under the running store: its in-memory read
	// index would go on serving the copy it verified before (store's
	// TestMemoryKeepsVerifiedCopyOfDamagedView); this test is about the
	// file's path.
	opts.ViewMemoryBytes = -1
	st, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	e := serveStore(t, st)
	e.mustPost(t, "/v1/identify", `{"userId":"dmg-1","traits":{"email":"dmg@example.com","plan":"zz-marker-plan"}}`)
	e.mustPost(t, "/v1/identify", `{"userId":"ok-1","traits":{"plan":"fine"}}`)
	if r := e.get(t, "/v1/profiles/user_id:dmg-1"); r.status != http.StatusOK {
		t.Fatalf("lookup before damage = %d %s", r.status, r.body)
	}
	// Everything acknowledged applied (Stats waits for it), so no commit
	// moves the pages under the bytes flipped below. (A lookup waits
	// only for its own profile's events.)
	if _, err := st.Stats(); err != nil {
		t.Fatal(err)
	}

	// Flip a bit of the marker wherever it is stored: in the view (and
	// maybe in the compressed state). bbolt's memory map sees the write.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("zz-marker-plan")
	n := 0
	for off := bytes.Index(b, marker); off >= 0; {
		if _, err := f.WriteAt([]byte{b[off+3] ^ 0x01}, int64(off+3)); err != nil {
			t.Fatal(err)
		}
		n++
		next := bytes.Index(b[off+1:], marker)
		if next < 0 {
			break
		}
		off += 1 + next
	}
	f.Close()
	if n == 0 {
		t.Fatal("marker not found in the data file")
	}

	r := e.get(t, "/v1/profiles/user_id:dmg-1")
	code, msg := r.errorCode(t)
	if r.status != http.StatusInternalServerError || code != "internal" {
		t.Fatalf("lookup of a damaged view = %d %s, want 500 internal", r.status, r.body)
	}
	if strings.Contains(msg, "store:") || strings.Contains(msg, "dmg") || !strings.Contains(msg, "damaged") {
		t.Errorf("message %q: want it to say the copy is damaged, without Go prefixes or identifiers", msg)
	}
	if r := e.get(t, "/v1/profiles/user_id:ok-1"); r.status != http.StatusOK {
		t.Errorf("lookup of an intact profile = %d %s", r.status, r.body)
	}
	// A write is committed after the repair the lookup asked for.
	e.mustPost(t, "/v1/track", `{"userId":"ok-1","event":"Later"}`)
	// Once applied: a scrape does not wait for the applier.
	counted := func(text string) bool {
		return strings.Contains(text, `ucv_store_checksum_mismatches_total{record="view"} 1`) ||
			strings.Contains(text, `ucv_store_checksum_mismatches_total{record="state"} 1`)
	}
	m := []byte(e.metricsWhen(t, counted))
	if !counted(string(m)) {
		t.Errorf("metrics count no checksum mismatch:\n%s", grepLines(m, "ucv_store_"))
	}
}

// serveStore serves st on a real 127.0.0.1 socket in dev mode until the
// test ends.
func serveStore(tb testing.TB, st *store.Store) *testEdge {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.DevMode = true
	cfg.NodeName = "test-edge"
	srv, err := New(st, cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		<-served
	})
	return &testEdge{url: "http://" + ln.Addr().String(), st: st, srv: srv}
}

// grepLines returns the lines of b that contain s.
func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
