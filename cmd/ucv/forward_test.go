package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/bench/edgebench"
)

// TestKill9ForwardsEverythingAcknowledged runs `ucv edge --forward-url`
// against a slow Segment-compatible receiver in this process, sends
// batches from concurrent clients, SIGKILLs the edge at random moments
// (mid-forward: the receiver holds each request for a while) and
// restarts it. Every event the edge acknowledged must reach the receiver
// — at least once, with its messageId — and nothing it never accepted.
func TestKill9ForwardsEverythingAcknowledged(t *testing.T) {
	bin := buildUCV(t)
	const upstreamKey = "wk_segment_src"
	var (
		mu       sync.Mutex
		got      = map[string]int{}
		requests atomic.Int64
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if u, p, ok := r.BasicAuth(); !ok || u != upstreamKey || p != "" || r.URL.Path != "/v1/batch" {
			t.Errorf("receiver: %s with Basic user %q password %q", r.URL.Path, u, p)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body struct {
			Batch []struct {
				MessageID string `json:"messageId"`
				Type      string `json:"type"`
			} `json:"batch"`
			SentAt string `json:"sentAt"`
		}
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			// The edge was killed while sending: a cut body is not a
			// malformed batch, and its events were never acknowledged
			// upstream, so the restarted edge sends them again.
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := json.Unmarshal(raw, &body); err != nil || len(body.Batch) == 0 || body.SentAt == "" {
			t.Errorf("receiver: not a Segment batch: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(30 * time.Millisecond) // slow: kills land mid-request
		mu.Lock()
		for _, m := range body.Batch {
			if m.Type != "track" {
				t.Errorf("receiver: type %q", m.Type)
			}
			got[m.MessageID]++
		}
		mu.Unlock()
		w.Write([]byte(`{"success":true}`))
	}))
	defer recv.Close()

	dataDir := t.TempDir()
	start := func() *edgebench.Proc {
		p, err := edgebench.StartEdge(bin, dataDir, "--node-name", "till-1", "--write-key", "pos-key=pos",
			"--forward-url", recv.URL, "--forward-write-key", upstreamKey)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var cur atomic.Pointer[edgebench.Proc]
	cur.Store(start())
	t.Cleanup(func() { cur.Load().Kill() })

	client := &http.Client{Timeout: 3 * time.Second}
	var (
		amu   sync.Mutex
		acked = map[string]bool{}
		sent  = map[string]bool{}
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var items []string
				var mids []string
				for j := range 10 {
					mid := fmt.Sprintf("w%d-%d-%d", w, i, j)
					mids = append(mids, mid)
					items = append(items, fmt.Sprintf(`{"type":"track","userId":"u-%d","event":"Viewed","messageId":%q}`, (w+j)%7, mid))
				}
				amu.Lock()
				for _, m := range mids {
					sent[m] = true
				}
				amu.Unlock()
				req, _ := http.NewRequest(http.MethodPost, "http://"+cur.Load().Addr+"/v1/batch",
					bytes.NewReader([]byte(`{"batch":[`+strings.Join(items, ",")+`]}`)))
				req.Header.Set("X-Write-Key", "pos-key")
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					amu.Lock()
					for _, m := range mids {
						acked[m] = true
					}
					amu.Unlock()
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 6 {
		time.Sleep(time.Duration(80+rng.IntN(200)) * time.Millisecond)
		cur.Load().Kill()
		cur.Store(start())
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()

	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for m := range acked {
			if got[m] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events never reached the upstream", missing, len(acked))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for m, n := range got {
		if !sent[m] {
			t.Errorf("upstream got %s, which no client sent", m)
		}
		dups += n - 1
	}
	t.Logf("6 kills; %d events acknowledged, %d reached the upstream (%d unacknowledged ones too), %d sent twice or more, in %d requests",
		len(acked), len(got), len(got)-len(acked), dups, requests.Load())
	if len(acked) == 0 {
		t.Fatal("no event was acknowledged")
	}
}

// nodeConfig turns the forwarding flags into the node's configuration,
// and refuses a URL the forwarder cannot use without showing the key.
func TestForwardNodeConfig(t *testing.T) {
	base := func() edgeConfig {
		return edgeConfig{dataDir: t.TempDir(), httpAddr: "127.0.0.1:0", nodeName: "till-1", writeKeys: map[string]string{"k": ""},
			defaultRegion: "US", forwardURL: "https://api.segment.io", forwardKey: "wk-secret-1", forwardMaxMB: 64}
	}
	nc, err := nodeConfig(base(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if nc.Forward == nil || nc.Forward.URL != "https://api.segment.io" || nc.Forward.WriteKey != "wk-secret-1" || nc.Store.MaxForwardBytes != 64<<20 {
		t.Errorf("forward config = %+v, cap %d", nc.Forward, nc.Store.MaxForwardBytes)
	}
	bad := base()
	bad.forwardURL = "ftp://api.segment.io"
	_, err = nodeConfig(bad, nil)
	if !errors.Is(err, errUsage) || strings.Contains(err.Error(), "wk-secret-1") {
		t.Errorf("nodeConfig(ftp URL) = %v, want a usage error without the key", err)
	}
	for mb, want := range map[int64]int64{0: 0, -1: -1 << 20, 300: 300 << 20} {
		c := base()
		c.viewMemoryMB = mb
		if nc, err := nodeConfig(c, nil); err != nil || nc.Store.ViewMemoryBytes != want {
			t.Errorf("--view-memory-mb %d: ViewMemoryBytes %d (%v), want %d", mb, nc.Store.ViewMemoryBytes, err, want)
		}
	}
	// --apply-linger: a duration is the store's Linger; 0 (never) is
	// the store's negative, since its 0 is the default.
	for d, want := range map[time.Duration]time.Duration{0: -1, 5 * time.Millisecond: 5 * time.Millisecond, 20 * time.Millisecond: 20 * time.Millisecond} {
		c := base()
		c.applyLinger = d
		if nc, err := nodeConfig(c, nil); err != nil || nc.Store.Linger != want {
			t.Errorf("--apply-linger %v: Linger %v (%v), want %v", d, nc.Store.Linger, err, want)
		}
	}
	// --apply-commit-age likewise: 0 (commit every batch) is negative.
	for d, want := range map[time.Duration]time.Duration{0: -1, 250 * time.Millisecond: 250 * time.Millisecond, time.Second: time.Second} {
		c := base()
		c.applyCommitAge = d
		if nc, err := nodeConfig(c, nil); err != nil || nc.Store.CommitAge != want {
			t.Errorf("--apply-commit-age %v: CommitAge %v (%v), want %v", d, nc.Store.CommitAge, err, want)
		}
	}
	// --apply-commit-events and --dedupe-window as they are.
	c := base()
	c.applyCommitEvents, c.dedupeWindow = 32768, 24*time.Hour
	if nc, err := nodeConfig(c, nil); err != nil || nc.Store.CommitEvents != 32768 || nc.Store.DedupeWindow != 24*time.Hour {
		t.Errorf("--apply-commit-events 32768 --dedupe-window 24h: CommitEvents %d, DedupeWindow %v (%v)", nc.Store.CommitEvents, nc.Store.DedupeWindow, err)
	}
	// --apply-idle-commit likewise: 0 (commit at once) is negative.
	for d, want := range map[time.Duration]time.Duration{0: -1, 5 * time.Millisecond: 5 * time.Millisecond, 20 * time.Millisecond: 20 * time.Millisecond} {
		c := base()
		c.applyIdleCommit = d
		if nc, err := nodeConfig(c, nil); err != nil || nc.Store.IdleCommit != want {
			t.Errorf("--apply-idle-commit %v: IdleCommit %v (%v), want %v", d, nc.Store.IdleCommit, err, want)
		}
	}
	// --apply-idle-gap likewise: 0 (IdleCommit alone) is negative.
	for d, want := range map[time.Duration]time.Duration{0: -1, time.Millisecond: time.Millisecond, 2 * time.Millisecond: 2 * time.Millisecond} {
		c := base()
		c.applyIdleGap = d
		if nc, err := nodeConfig(c, nil); err != nil || nc.Store.IdleGap != want {
			t.Errorf("--apply-idle-gap %v: IdleGap %v (%v), want %v", d, nc.Store.IdleGap, err, want)
		}
	}
	// --apply-pace-above likewise: 0 (never pace) is negative.
	for n, want := range map[int]int{0: -1, 4096: 4096, 8192: 8192} {
		c := base()
		c.applyPaceAbove = n
		if nc, err := nodeConfig(c, nil); err != nil || nc.Store.PaceAbove != want {
			t.Errorf("--apply-pace-above %d: PaceAbove %d (%v), want %d", n, nc.Store.PaceAbove, err, want)
		}
	}
	// --apply-priority is the store's ApplierPriority, 0 included.
	for _, p := range []int{-10, 0, 5} {
		c := base()
		c.applyPriority = p
		if nc, err := nodeConfig(c, nil); err != nil || nc.Store.ApplierPriority != p {
			t.Errorf("--apply-priority %d: ApplierPriority %d (%v)", p, nc.Store.ApplierPriority, err)
		}
	}
	off := base()
	off.forwardURL, off.forwardKey = "", ""
	if nc, err := nodeConfig(off, nil); err != nil || nc.Forward != nil {
		t.Errorf("without --forward-url: Forward = %+v, %v", nc.Forward, err)
	}
}
