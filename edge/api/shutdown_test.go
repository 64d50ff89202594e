package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ucv/edge/store"
)

// TestShutdownKeepsAcknowledged shuts the server down under concurrent
// ingest: every event answered 200 is in the store after it is closed and
// reopened, and no client sees a 5xx.
func TestShutdownKeepsAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	opts := store.DefaultOptions(path)
	st, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DevMode = true
	srv, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/v1/track"

	var (
		mu    sync.Mutex
		acked []string
		bad   []string
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				uid := fmt.Sprintf("w%d-%d", w, i)
				resp, err := c.Post(url, "application/json", strings.NewReader(fmt.Sprintf(`{"userId":%q,"event":"x"}`, uid)))
				if err != nil {
					return // the server is gone: this event was never acknowledged
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch {
				case resp.StatusCode == http.StatusOK:
					acked = append(acked, uid)
					if len(acked) >= 40 {
						once.Do(func() { close(enough) })
					}
				case resp.StatusCode >= 500:
					bad = append(bad, fmt.Sprintf("%s: %d", uid, resp.StatusCode))
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatal("no 40 acknowledged events in 30 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	wg.Wait()
	if err := st.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(bad) > 0 {
		t.Errorf("5xx answers during shutdown: %v", bad)
	}

	st, err = store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	for _, uid := range acked {
		if _, err := st.LookupIdentifier(mustIdent(t, "user_id", uid)); err != nil {
			t.Errorf("acknowledged %s: %v", uid, err)
		}
	}
	t.Logf("%d events acknowledged before shutdown", len(acked))
}
