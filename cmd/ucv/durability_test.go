package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/bench/edgebench"
)

// startEdge starts `ucv edge` on an OS-chosen loopback port.
func startEdge(t *testing.T, bin, dataDir string) *edgebench.Proc {
	t.Helper()
	p, err := edgebench.StartEdge(bin, dataDir, "--node-name", "till-1", "--write-key", "pos-key=pos")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKill9LosesNothingAcknowledged drives a real `ucv edge` process with
// concurrent order streams, SIGKILLs it at random moments and restarts it,
// then retries every unacknowledged event (same messageId, as a Segment
// client does). Every user's order count and revenue must equal exactly
// what was sent: nothing acknowledged lost, nothing counted twice.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test")
	}
	kills := 20
	if v, err := strconv.Atoi(os.Getenv("UCV_KILLS")); err == nil && v > 0 {
		kills = v // make soak sets 1000
	}
	bin := buildUCV(t)
	dataDir := t.TempDir()
	var cur atomic.Pointer[edgebench.Proc]
	cur.Store(startEdge(t, bin, dataDir))
	t.Cleanup(func() { cur.Load().Kill() })

	const writers, users = 8, 16
	client := &http.Client{Timeout: 3 * time.Second}
	var (
		mu       sync.Mutex
		sent     = map[int]map[string]bool{} // user → messageIds sent
		unacked  = map[string]int{}          // messageId → user
		acked    atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		postBody = func(user int, mid string) []byte {
			return fmt.Appendf(nil, `{"userId":"user-%d","messageId":%q,"event":"Order Completed","properties":{"total":1.25,"currency":"EUR"}}`, user, mid)
		}
	)
	// send posts one event; its error says why it was not acknowledged.
	send := func(user int, mid string) error {
		req, err := http.NewRequest(http.MethodPost, "http://"+cur.Load().Addr+"/v1/track", bytes.NewReader(postBody(user, mid)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Write-Key", "pos-key")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
		}
		return nil
	}
	post := func(user int, mid string) bool { return send(user, mid) == nil }
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				user := (w*7 + i) % users
				mid := fmt.Sprintf("w%d-%d", w, i)
				mu.Lock()
				if sent[user] == nil {
					sent[user] = map[string]bool{}
				}
				sent[user][mid] = true
				unacked[mid] = user
				mu.Unlock()
				if post(user, mid) {
					acked.Add(1)
					mu.Lock()
					delete(unacked, mid)
					mu.Unlock()
				} else {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range kills {
		time.Sleep(time.Duration(20+rng.IntN(120)) * time.Millisecond)
		cur.Load().Kill()
		cur.Store(startEdge(t, bin, dataDir))
		if k == kills-1 {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Client retries: resend everything never acknowledged, from as many
	// clients as wrote (with 1,000 kills that is hundreds of thousands of
	// posts; one at a time they took most of the soak's 44 minutes). An
	// event may fail now and then under load (a client timeout); the
	// edge fails the test if it refuses one event for a whole minute.
	type retry struct {
		mid  string
		user int
	}
	retries := make(chan retry)
	var (
		refusedMu sync.Mutex
		refused   error
		failures  atomic.Int64
	)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range retries {
				var since time.Time
				for {
					err := send(r.user, r.mid)
					if err == nil {
						break
					}
					failures.Add(1)
					if since.IsZero() {
						since = time.Now()
					} else if time.Since(since) > time.Minute {
						refusedMu.Lock()
						refused = fmt.Errorf("event %s refused for a minute, last: %w", r.mid, err)
						refusedMu.Unlock()
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	for mid, user := range unacked {
		retries <- retry{mid, user}
	}
	close(retries)
	wg.Wait()
	if refused != nil {
		t.Fatal(refused)
	}
	if n := failures.Load(); n > 0 {
		t.Logf("%d retries failed and were sent again", n)
	}
	total := 0
	for user, mids := range sent {
		total += len(mids)
		resp, err := client.Get(fmt.Sprintf("http://%s/v1/profiles/user_id:user-%d", cur.Load().Addr, user))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Computed struct {
				OrderCount      int64 `json:"order_count"`
				LifetimeRevenue map[string]struct {
					MinorUnits int64 `json:"minor_units"`
				} `json:"lifetime_revenue"`
			} `json:"computed"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("user-%d: decode profile: %v", user, err)
		}
		if v.Computed.OrderCount != int64(len(mids)) {
			t.Errorf("user-%d: %d orders stored, %d sent (each exactly once expected)", user, v.Computed.OrderCount, len(mids))
		}
		if got, want := v.Computed.LifetimeRevenue["EUR"].MinorUnits, int64(125*len(mids)); got != want {
			t.Errorf("user-%d: revenue %d minor units, want %d", user, got, want)
		}
	}
	t.Logf("%d kills; %d events sent, %d acknowledged before retries, %d retried", kills, total, acked.Load(), len(unacked))
	if acked.Load() == 0 {
		t.Fatal("no event was ever acknowledged")
	}
}
