package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// lingerEvents parses n track events of users u0…u(n-1) with messageIds
// tag-0… .
func lingerEvents(tb testing.TB, tag string, n int) []Event {
	tb.Helper()
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = ev(tb, fmt.Sprintf(`{"type":"track","userId":"u%d","messageId":"%s-%d","event":"Product Viewed"}`, i, tag, i))
	}
	return evs
}

// TestApplierLingersUnderLoad: after a batch that shows load (two or
// more requests, LingerLoad or more events), the applier waits for a
// batch of LingerFill events rather than committing the one event it
// has: everything appended while it waits is committed once, together.
func TestApplierLingersUnderLoad(t *testing.T) {
	var h *lingerHooks
	s := open(t, func(o *Options) { h = lingerOpts(o, time.Minute, 4, 20) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	loadApplier(ctx, t, s, h, "b", 4) // a batch of 4 requests, 8 events
	// One event: the applier lingers for more rather than committing it.
	h.lingerToFill(ctx, t, s, "c", "d", "after lingering")
	for _, tag := range []string{"c-0", "d0-0", "d18-0"} {
		p := s.lookupMessage(t, tag)
		if p == "" {
			t.Fatalf("event %s not applied", tag)
		}
	}
}

// TestApplierDoesNotLingerForOneWriter: a writer that waits for each
// write to be applied (Ingest) sends one request per batch, so however
// large its batches the applier commits at once — with an hour's
// Linger, these Ingest calls would otherwise not return.
func TestApplierDoesNotLingerForOneWriter(t *testing.T) {
	s := open(t, func(o *Options) {
		o.Linger, o.LingerLoad, o.LingerFill = time.Hour, 1, 1<<20
		o.lingerHook = func() { t.Error("the applier lingered for a lone writer") }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := s.Ingest(ctx, lingerEvents(t, fmt.Sprintf("e%d", i), 50)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Ingest(ctx, lingerEvents(t, "f", 1)); err != nil {
		t.Fatal(err)
	}
}

// TestApplierLingerEndsOnClose: Close while the applier lingers commits
// what it holds; nothing acknowledged waits for the timer.
func TestApplierLingerEndsOnClose(t *testing.T) {
	o := DefaultOptions(t.TempDir() + "/edge.db")
	h := lingerOpts(&o, time.Hour, 2, 100)
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	loadApplier(ctx, t, s, h, "g", 2) // a batch of 2 requests, 4 events
	h.appendAndLinger(ctx, t, s, "h")
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close while lingering: %v", err)
	}
	o.applyHook, o.lingerHook = nil, nil
	s, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if s.lookupMessage(t, "h-0") == "" {
		t.Fatal("the event appended before Close was lost")
	}
}

// lookupMessage reports ("seen", or "" if not) whether messageId mid is
// in the dedupe set: set when its event was applied.
func (s *Store) lookupMessage(tb testing.TB, mid string) string {
	tb.Helper()
	var seen bool
	err := s.view(func(tx *bolt.Tx) error {
		seen = s.dedupe.seen(tx.Bucket(bucketDedupeTime), []byte(mid))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if !seen {
		return ""
	}
	return "seen"
}

// lingerHooks are the test hooks lingerOpts installs: the applier's
// first batch waits in the hook until hold is closed (held is closed
// when it gets there), and lingering gets a value, if it has room,
// whenever the applier starts to linger.
type lingerHooks struct {
	held, hold, lingering chan struct{}
}

// lingerOpts sets o's linger thresholds and the test hooks.
func lingerOpts(o *Options, linger time.Duration, load, fill int) *lingerHooks {
	h := &lingerHooks{held: make(chan struct{}), hold: make(chan struct{}), lingering: make(chan struct{}, 1)}
	var once sync.Once
	o.Linger, o.LingerLoad, o.LingerFill = linger, load, fill
	o.applyHook = func() {
		once.Do(func() {
			close(h.held)
			<-h.hold
		})
	}
	o.lingerHook = func() {
		select {
		case h.lingering <- struct{}{}:
		default:
		}
	}
	return h
}

// loadApplier appends a request of two events and waits until the
// applier holds it alone, appends reqs more (messageIds tag0-0 …),
// releases the applier and waits until all are applied: the applier's
// second batch, those reqs requests, is what the next batch takes for
// load or not.
func loadApplier(ctx context.Context, t *testing.T, s *Store, h *lingerHooks, tag string, reqs int) {
	t.Helper()
	if err := s.Append(ctx, lingerEvents(t, tag+"-first", 2)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.held:
	case <-ctx.Done():
		t.Fatal("the applier did not take the first batch")
	}
	for i := range reqs {
		if err := s.Append(ctx, lingerEvents(t, fmt.Sprintf("%s%d", tag, i), 2)); err != nil {
			t.Fatal(err)
		}
	}
	close(h.hold)
	if err := s.waitPos(ctx, s.ackedPos.Load()); err != nil {
		t.Fatal(err)
	}
}

// lingerToFill appends one event (messageId first-0), waits until the
// applier lingers rather than committing it, appends 19 more (rest0-0
// … rest18-0), waits until all are applied, and fails (saying what)
// unless they were one commit of 20 — the linger's LingerFill.
func (h *lingerHooks) lingerToFill(ctx context.Context, t *testing.T, s *Store, first, rest, what string) {
	t.Helper()
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	before := st.Commits
	h.appendAndLinger(ctx, t, s, first)
	for i := range 19 {
		if err := s.Append(ctx, lingerEvents(t, fmt.Sprintf("%s%d", rest, i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.waitPos(ctx, s.ackedPos.Load()); err != nil {
		t.Fatal(err)
	}
	if st, err = s.Stats(); err != nil {
		t.Fatal(err)
	}
	if st.Commits-before != 1 || st.LastCommitSize != 20 {
		t.Fatalf("%s: %d commits, the last of %d events; want 1 of 20", what, st.Commits-before, st.LastCommitSize)
	}
}

// appendAndLinger appends one event (messageId tag-0) and waits until
// the applier lingers rather than committing it alone.
func (h *lingerHooks) appendAndLinger(ctx context.Context, t *testing.T, s *Store, tag string) {
	t.Helper()
	if err := s.Append(ctx, lingerEvents(t, tag, 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.lingering:
	case <-ctx.Done():
		t.Fatal("the applier committed a one-event batch after a loaded one without waiting for more")
	}
}

// TestApplierLingerYieldsToAWaiter: a caller that waits for the applier
// — Ingest, or a read that must see an acknowledged event — ends its
// linger: with many concurrent Ingest callers every one of them waits,
// nothing more can come, and each batch waited out the whole linger
// (BenchmarkIngestCatalog fell from 23–31k to 2.7k events/s). With an
// hour's Linger these calls would otherwise not return.
func TestApplierLingerYieldsToAWaiter(t *testing.T) {
	var h *lingerHooks
	s := open(t, func(o *Options) { h = lingerOpts(o, time.Hour, 4, 1<<20) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	loadApplier(ctx, t, s, h, "w", 4) // a batch of 4 requests, 8 events
	// The applier lingers with one event; a read waiting for everything
	// acknowledged ends it.
	h.appendAndLinger(ctx, t, s, "x")
	if err := s.waitPos(ctx, s.ackedPos.Load()); err != nil {
		t.Fatalf("a waiter while the applier lingers: %v", err)
	}
	if s.lookupMessage(t, "x-0") == "" {
		t.Fatal("the event the waiter waited for is not applied")
	}
	// Concurrent Ingest callers: each batch they make shows load (two or
	// more requests), and each of them waits.
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if _, err := s.Ingest(ctx, lingerEvents(t, fmt.Sprintf("y%d-%d", c, i), 8)); err != nil {
					t.Errorf("Ingest while the applier lingers: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CommitsBy[CommitWaiter] == 0 {
		t.Errorf("commits by reason %v: want commits for waiters", st.CommitsBy)
	}
}

// TestApplierLingerIgnoresAStaleNudge: a waiter that a commit answered
// before the applier looked at its nudge leaves the nudge behind; the
// next linger must not take it for a new waiter and end at once (seen
// once in CI as "2 commits, the last of 11" in
// TestApplierLingersUnderLoad), nor an open transaction commit for it.
func TestApplierLingerIgnoresAStaleNudge(t *testing.T) {
	var h *lingerHooks
	s := open(t, func(o *Options) {
		h = lingerOpts(o, time.Minute, 4, 20)
		// Only the linger batches: an idle transaction commits at once.
		o.IdleCommit, o.IdleGap = -1, -1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	loadApplier(ctx, t, s, h, "s", 4)
	select { // what a served waiter's nudge leaves
	case s.nudge <- struct{}{}:
	default:
	}
	h.lingerToFill(ctx, t, s, "t", "u", "with a stale nudge")
}
