package forward_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/edge/forward"
	"ucv/edge/store"
	"ucv/profile"
	"ucv/profile/catalog"
)

const writeKey = "wk_upstream_1"

// receiver is a Segment-compatible upstream on loopback. It checks every
// request the way Segment's HTTP API documents it — POST /v1/batch,
// JSON, the write key as the Basic username with an empty password, a
// body of at most maxBatch bytes holding {"batch":[…],"sentAt":…}, each
// event at most maxEvent bytes with a type and a messageId — and counts
// each messageId it accepted.
type receiver struct {
	t                  testing.TB
	srv                *httptest.Server
	maxBatch, maxEvent int

	// fail, when it returns a status, answers that status (with header
	// h) instead of accepting the batch; ids are its messageIds.
	fail func(ids []string) (status int, h http.Header)

	mu       sync.Mutex
	got      map[string]int // messageId → times accepted
	order    []string       // messageIds accepted, in arrival order
	requests int
	bodies   []int // sizes of accepted bodies
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t, got: map[string]int{}, maxBatch: forward.DefaultMaxBatchBytes, maxEvent: forward.DefaultMaxEventBytes}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	fail := r.fail
	r.mu.Unlock()
	bad := func(format string, a ...any) {
		r.t.Errorf("receiver: "+format, a...)
		http.Error(w, "bad", http.StatusBadRequest)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/v1/batch" {
		bad("%s %s, want POST /v1/batch", req.Method, req.URL.Path)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		bad("Content-Type %q", ct)
		return
	}
	if u, p, ok := req.BasicAuth(); !ok || u != writeKey || p != "" {
		bad("Basic auth user %q password %q ok %v", u, p, ok)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return // the client went away
	}
	if len(body) > r.maxBatch {
		bad("body of %d bytes, over %d", len(body), r.maxBatch)
		return
	}
	var env struct {
		Batch  []json.RawMessage `json:"batch"`
		SentAt string            `json:"sentAt"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || len(env.Batch) == 0 {
		bad("body is not a batch: %v", err)
		return
	}
	if _, err := time.Parse(time.RFC3339, env.SentAt); err != nil {
		bad("sentAt %q: %v", env.SentAt, err)
		return
	}
	ids := make([]string, len(env.Batch))
	for i, raw := range env.Batch {
		var m struct {
			Type, MessageID, Timestamp, WriteKey string
		}
		if len(raw) > r.maxEvent || json.Unmarshal(raw, &m) != nil || m.Type == "" || m.MessageID == "" || m.WriteKey != "" {
			bad("event %d of %d bytes is not a Segment message with type and messageId (and no writeKey)", i, len(raw))
			return
		}
		if _, err := time.Parse(time.RFC3339, m.Timestamp); err != nil {
			bad("event %d timestamp %q", i, m.Timestamp)
			return
		}
		ids[i] = m.MessageID
	}
	if fail != nil {
		if status, h := fail(ids); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			return
		}
	}
	r.mu.Lock()
	for _, id := range ids {
		r.got[id]++
		r.order = append(r.order, id)
	}
	r.bodies = append(r.bodies, len(body))
	r.mu.Unlock()
	w.Write([]byte(`{"success":true}`))
}

func (r *receiver) setFail(f func(ids []string) (int, http.Header)) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

func (r *receiver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

// waitAll waits until every id arrived; then it checks none arrived
// more than max times.
func (r *receiver) waitAll(t testing.TB, ids []string, maxTimes int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		missing := 0
		for _, id := range ids {
			if r.got[id] == 0 {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never arrived", missing, len(ids))
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.got[id] > maxTimes {
			t.Errorf("event %s arrived %d times, want at most %d", id, r.got[id], maxTimes)
		}
	}
}

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	o := store.DefaultOptions(path)
	o.NoSync = true // durability is cmd/ucv's kill -9 test's business
	st, err := store.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil && !strings.Contains(err.Error(), "not open") {
			t.Errorf("store invariants: %v", err)
		}
		st.Close(context.Background())
	})
	return st
}

func config(r *receiver) forward.Config {
	c := forward.DefaultConfig()
	c.URL, c.WriteKey = r.srv.URL, writeKey
	c.BackoffMin, c.BackoffMax = 2*time.Millisecond, 20*time.Millisecond
	c.PollEvery = 50 * time.Millisecond
	c.Timeout = 5 * time.Second
	return c
}

func start(t testing.TB, st *store.Store, c forward.Config) *forward.Forwarder {
	t.Helper()
	f, err := forward.New(st, c)
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	t.Cleanup(func() { f.Close(context.Background()) })
	return f
}

var normalize = profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()}

// ingest stores n events (messageIds prefix-0 …) in calls of per events
// and returns their messageIds. pad adds that many bytes to each.
func ingest(t testing.TB, st *store.Store, prefix string, n, per, pad int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i += per {
		var evs []store.Event
		for j := i; j < min(i+per, n); j++ {
			id := fmt.Sprintf("%s-%d", prefix, j)
			body := fmt.Sprintf(`{"type":"track","userId":"u%d","event":"Viewed","messageId":%q,"properties":{"pad":%q}}`, j%50, id, strings.Repeat("x", pad))
			m, err := profile.ParseMessage([]byte(body), "", time.Now(), normalize)
			if err != nil {
				t.Fatal(err)
			}
			up, err := m.Upstream()
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, store.Event{Msg: m, Forward: up})
			ids = append(ids, id)
		}
		if _, err := st.Ingest(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func waitEmpty(t testing.TB, f *forward.Forwarder) forward.Stats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := f.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if s.Pending == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox never emptied: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Events reach the upstream once each, in order, in batches within
// Segment's limits, and leave the outbox.
func TestForwardDelivers(t *testing.T) {
	r := newReceiver(t)
	r.maxBatch = 20_000
	st := openStore(t, filepath.Join(t.TempDir(), "edge.db"))
	c := config(r)
	c.MaxBatchBytes, c.MaxEventBytes = r.maxBatch, 2000
	f := start(t, st, c)
	ids := ingest(t, st, "a", 400, 37, 100)
	r.waitAll(t, ids, 1)
	s := waitEmpty(t, f)
	if s.Events != 400 || s.Batches < 400*200/20_000 {
		t.Errorf("stats = %+v, want 400 events in at least %d batches", s, 400*200/20_000)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, id := range r.order {
		if id != ids[i] {
			t.Fatalf("event %d to arrive is %s, want %s (in order)", i, id, ids[i])
		}
	}
}

// The upstream down — 503 with Retry-After, then connections refused —
// for a while: every event arrives once it is back, each once (a 5xx
// means nothing was taken), and the failures are counted.
func TestForwardReceiverDown(t *testing.T) {
	r := newReceiver(t)
	var down atomic.Bool
	down.Store(true)
	r.setFail(func([]string) (int, http.Header) {
		if down.Load() {
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"0"}}
		}
		return 0, nil
	})
	st := openStore(t, filepath.Join(t.TempDir(), "edge.db"))
	f := start(t, st, config(r))
	ids := ingest(t, st, "b", 200, 20, 50)
	waitFor(t, func() bool { s, _ := f.Stats(); return s.Failures["server_error"] >= 3 })

	// Now closed: nothing listens at the address for a while.
	r.srv.Listener.Close()
	r.srv.CloseClientConnections()
	waitFor(t, func() bool { s, _ := f.Stats(); return s.Failures["network"] >= 3 })
	more := ingest(t, st, "c", 50, 10, 50)
	if s, _ := f.Stats(); s.Pending != 250 || s.Lag <= 0 {
		t.Errorf("while down: %+v, want 250 pending with a lag", s)
	}
	// Back, on the same address.
	down.Store(false)
	r2 := restartOn(t, r)
	r2.waitAll(t, append(ids, more...), 1)
	waitEmpty(t, f)
}

// restartOn starts a new server with r's handler on r's address.
func restartOn(t testing.TB, r *receiver) *receiver {
	t.Helper()
	addr := r.srv.Listener.Addr().String()
	r.srv.Close()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			srv.Listener = ln
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen again on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Start()
	r.srv = srv
	t.Cleanup(srv.Close)
	return r
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A batch the upstream refuses (400) because of one event is split until
// that event is alone: it is dropped and counted, every other event
// arrives, and later batches are not blocked.
func TestForwardRefusedEventDoesNotBlock(t *testing.T) {
	r := newReceiver(t)
	r.setFail(func(ids []string) (int, http.Header) {
		for _, id := range ids {
			if id == "d-57" {
				return http.StatusBadRequest, nil
			}
		}
		return 0, nil
	})
	st := openStore(t, filepath.Join(t.TempDir(), "edge.db"))
	f := start(t, st, config(r))
	ids := ingest(t, st, "d", 100, 100, 20)
	later := ingest(t, st, "e", 30, 5, 20)
	var want []string
	for _, id := range append(ids, later...) {
		if id != "d-57" {
			want = append(want, id)
		}
	}
	r.waitAll(t, want, 1)
	s := waitEmpty(t, f)
	if r.count("d-57") != 0 || s.Dropped["rejected"] != 1 || s.Failures["refused"] < 2 {
		t.Errorf("refused event: arrived %d times, stats %+v; want dropped once as rejected", r.count("d-57"), s)
	}
}

// A wrong write key (401) does not drop anything: the events wait until
// the upstream takes them.
func TestForwardUnauthorizedKeepsEvents(t *testing.T) {
	r := newReceiver(t)
	var refuse atomic.Bool
	refuse.Store(true)
	r.setFail(func([]string) (int, http.Header) {
		if refuse.Load() {
			return http.StatusUnauthorized, nil
		}
		return 0, nil
	})
	st := openStore(t, filepath.Join(t.TempDir(), "edge.db"))
	f := start(t, st, config(r))
	ids := ingest(t, st, "k", 20, 20, 0)
	waitFor(t, func() bool { s, _ := f.Stats(); return s.Failures["unauthorized"] >= 5 })
	refuse.Store(false)
	r.waitAll(t, ids, 1)
	if s := waitEmpty(t, f); s.Dropped["rejected"] != 0 {
		t.Errorf("stats = %+v: a 401 dropped events", s)
	}
}

// A Retry-After on a 429 is honoured: the next attempt waits for it.
func TestForwardHonoursRetryAfter(t *testing.T) {
	r := newReceiver(t)
	var first atomic.Int64
	r.setFail(func([]string) (int, http.Header) {
		if first.CompareAndSwap(0, time.Now().UnixNano()) {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
		}
		return 0, nil
	})
	st := openStore(t, filepath.Join(t.TempDir(), "edge.db"))
	f := start(t, st, config(r))
	ids := ingest(t, st, "r", 5, 5, 0)
	r.waitAll(t, ids, 1)
	if waited := time.Since(time.Unix(0, first.Load())); waited < time.Second {
		t.Errorf("retried %v after a 429 with Retry-After: 1", waited)
	}
	if s := waitEmpty(t, f); s.Failures["throttled"] != 1 {
		t.Errorf("stats = %+v, want one throttled failure", s)
	}
}

// Stopping the forwarder and the store mid-way (receiver down) and
// starting both again resumes: everything arrives.
func TestForwardResumesAfterRestart(t *testing.T) {
	// Two receivers: the one that is down before the restart, the one
	// that is up after it. (With one receiver whose failure was switched
	// off, a request the first forwarder had abandoned could still reach
	// the handler after the switch and count as a delivery.)
	down := newReceiver(t)
	down.setFail(func([]string) (int, http.Header) { return http.StatusBadGateway, nil })
	r := newReceiver(t)
	path := filepath.Join(t.TempDir(), "edge.db")
	o := store.DefaultOptions(path)
	st, err := store.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	f, err := forward.New(st, config(down))
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	ids := ingest(t, st, "s", 120, 12, 30)
	waitFor(t, func() bool { s, _ := f.Stats(); return s.Failures["server_error"] >= 2 })
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	st2 := openStore(t, path)
	if s, err := st2.ForwardStats(); err != nil || s.Len != 120 {
		t.Fatalf("after restart: %+v, %v; want 120 pending", s, err)
	}
	f2 := start(t, st2, config(r))
	// Every event arrives; one arrives twice only if a request of f2's
	// failed after the receiver took it (a timeout on a loaded machine:
	// at least once, by design — 0034).
	r.waitAll(t, ids, 2)
	waitEmpty(t, f2)
	s, _ := f2.Stats()
	failed := 0
	for _, n := range s.Failures {
		failed += int(n)
	}
	for _, id := range ids {
		if n := r.count(id); n > 1 && failed == 0 {
			t.Errorf("event %s arrived %d times with no failed request after the restart", id, n)
		}
	}
}

// An event over MaxEventBytes is dropped and counted, never sent; the
// others go.
func TestForwardOversizeDropped(t *testing.T) {
	r := newReceiver(t)
	r.maxEvent = 2000
	st := openStore(t, filepath.Join(t.TempDir(), "edge.db"))
	c := config(r)
	c.MaxEventBytes = r.maxEvent
	f := start(t, st, c)
	small := ingest(t, st, "f", 10, 10, 10)
	big := ingest(t, st, "g", 1, 1, 5000)
	after := ingest(t, st, "h", 10, 10, 10)
	r.waitAll(t, append(small, after...), 1)
	s := waitEmpty(t, f)
	if r.count(big[0]) != 0 || s.Dropped["oversize"] != 1 {
		t.Errorf("oversize event arrived %d times; stats %+v", r.count(big[0]), s)
	}
}

// Suppressed (the hook for issue 12): those events are dropped unsent.
func TestForwardSuppressed(t *testing.T) {
	r := newReceiver(t)
	st := openStore(t, filepath.Join(t.TempDir(), "edge.db"))
	ids := ingest(t, st, "p", 50, 50, 0) // users u0…u49, one event each
	blocked, err := st.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "u7"})
	if err != nil {
		t.Fatal(err)
	}
	c := config(r)
	c.Suppressed = func(pid string) bool { return pid == blocked }
	f := start(t, st, c)
	var want []string
	for _, id := range ids {
		if id != "p-7" {
			want = append(want, id)
		}
	}
	r.waitAll(t, want, 1)
	if s := waitEmpty(t, f); r.count("p-7") != 0 || s.Dropped["suppressed"] != 1 {
		t.Errorf("suppressed event arrived %d times; stats %+v", r.count("p-7"), s)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]func(*forward.Config){
		"no url":        func(c *forward.Config) { c.URL = "" },
		"ftp":           func(c *forward.Config) { c.URL = "ftp://x" },
		"credentials":   func(c *forward.Config) { c.URL = "https://u:p@api.segment.io" },
		"no key":        func(c *forward.Config) { c.WriteKey = "" },
		"key with ':'":  func(c *forward.Config) { c.WriteKey = "a:b" },
		"small batches": func(c *forward.Config) { c.MaxBatchBytes = c.MaxEventBytes },
		"no backoff":    func(c *forward.Config) { c.BackoffMin = 0 },
	} {
		cfg := forward.DefaultConfig()
		cfg.URL, cfg.WriteKey = "https://api.segment.io", "secret-key-1"
		if err := cfg.Validate(); err != nil {
			t.Fatalf("valid config: %v", err)
		}
		c(&cfg)
		err := cfg.Validate()
		if err == nil {
			t.Errorf("%s: Validate passed", name)
		} else if strings.Contains(err.Error(), "secret-key-1") {
			t.Errorf("%s: error shows the write key: %v", name, err)
		}
	}
}

// Consent (decision 0041): an event of a person who has not granted a
// consent purpose that lists the upstream is dropped unsent; with the
// consent default granted, people who stated nothing are sent.
func TestForwardConsentPurpose(t *testing.T) {
	for _, granted := range []bool{false, true} {
		t.Run(fmt.Sprintf("default granted %v", granted), func(t *testing.T) {
			r := newReceiver(t)
			o := store.DefaultOptions(filepath.Join(t.TempDir(), "edge.db"))
			o.NoSync, o.ConsentGranted = true, granted
			st, err := store.Open(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close(context.Background()) })
			cat, _, err := catalog.ParseFile([]byte(`{"consent_purposes":{"advertising":{"destinations":["segment"]}}}`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.ReplaceCatalog(cat); err != nil {
				t.Fatal(err)
			}
			var evs []store.Event
			for i, consent := range []string{`{"Advertising":true}`, `{"advertising":false}`, `null`} {
				body := fmt.Sprintf(`{"type":"track","userId":"c%d","event":"Viewed","messageId":"c-%d","context":{"consent":{"categoryPreferences":%s}}}`, i, i, consent)
				if consent == "null" {
					body = fmt.Sprintf(`{"type":"track","userId":"c%d","event":"Viewed","messageId":"c-%d"}`, i, i)
				}
				m, err := profile.ParseMessage([]byte(body), "", time.Now(), normalize)
				if err != nil {
					t.Fatal(err)
				}
				up, _ := m.Upstream()
				evs = append(evs, store.Event{Msg: m, Forward: up})
			}
			if _, err := st.Ingest(context.Background(), evs); err != nil {
				t.Fatal(err)
			}
			c := config(r)
			c.Destination = "segment"
			f := start(t, st, c)
			want, dropped := []string{"c-0"}, uint64(2)
			if granted {
				want, dropped = []string{"c-0", "c-2"}, 1
			}
			r.waitAll(t, want, 1)
			if s := waitEmpty(t, f); r.count("c-1") != 0 || s.Dropped["no_consent"] != dropped {
				t.Errorf("declined event arrived %d times; stats %+v", r.count("c-1"), s)
			}
			if !granted && r.count("c-2") != 0 {
				t.Error("an event of a person who stated nothing was sent under consent-default denied")
			}
		})
	}
}
