package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// heldApplier is a store whose applier commits batches of at most
// batchEvents events, never lingers, may keep a transaction open for an
// hour, and stops in applyHook before its first batch — and, with
// second, before its second — until released there.
type heldApplier struct {
	s     *Store
	stops [2]stop
}

// stop is one place the applier is held: held is closed when it gets
// there, release lets it go on.
type stop struct {
	held    chan struct{}
	release func()
}

func openHeld(t *testing.T, batchEvents int, second bool, failing func(Event) error) *heldApplier {
	t.Helper()
	h := &heldApplier{}
	var holds [2]chan struct{}
	for i := range h.stops {
		hold := make(chan struct{})
		var once sync.Once
		holds[i] = hold
		h.stops[i] = stop{held: make(chan struct{}), release: func() { once.Do(func() { close(hold) }) }}
	}
	calls := 0
	h.s = open(t, func(o *Options) {
		o.MaxBatchEvents, o.Linger = batchEvents, -1
		o.CommitAge, o.CommitEvents = time.Hour, 1<<20
		o.applyHook = func() {
			calls++ // the applier's goroutine only
			if calls == 1 || (calls == 2 && second) {
				close(h.stops[calls-1].held)
				<-holds[calls-1]
			}
		}
		o.applyErr = failing
	})
	for _, st := range h.stops {
		t.Cleanup(st.release) // before the store's Close (cleanups run last first)
	}
	return h
}

// wait waits until the applier is held at stop i.
func (h *heldApplier) wait(ctx context.Context, t *testing.T, i int) {
	t.Helper()
	select {
	case <-h.stops[i].held:
	case <-ctx.Done():
		t.Fatalf("the applier did not reach stop %d", i)
	}
}

// load appends one event and waits until the applier holds it alone,
// then appends reqs requests of per events each (messageIds
// tag<i>-<j>): the applier takes them as reqs batches once released.
func (h *heldApplier) load(ctx context.Context, t *testing.T, tag string, reqs, per int) {
	t.Helper()
	if err := h.s.Append(ctx, lingerEvents(t, tag+"-first", 1)); err != nil {
		t.Fatal(err)
	}
	h.wait(ctx, t, 0)
	for i := range reqs {
		if err := h.s.Append(ctx, lingerEvents(t, fmt.Sprintf("%s%d", tag, i), per)); err != nil {
			t.Fatal(err)
		}
	}
}

// openHeldOpen opens a store held at its second stop with the first
// of ten batches (tag-first, tag0…tag8) applied in an open transaction
// and nine queued.
func openHeldOpen(ctx context.Context, t *testing.T, tag string) *heldApplier {
	t.Helper()
	h := openHeld(t, 10, true, nil)
	h.load(ctx, t, tag, 9, 10)
	h.stops[0].release()
	h.wait(ctx, t, 1)
	// The applier is parked in its hook: what it owns may be read.
	if h.s.open.tx == nil || len(h.s.open.reqs) != 1 {
		t.Fatal("the applier did not keep its first batch's transaction open with more queued")
	}
	return h
}

// settled waits, without counting as a waiter (waitPos would make the
// applier commit), until everything acknowledged is applied.
func (s *Store) settled(ctx context.Context, t *testing.T) {
	t.Helper()
	pos := s.ackedPos.Load()
	for {
		ch := s.appliedChan()
		if s.appliedPos.Load() >= pos {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("applied position %d, want %d", s.appliedPos.Load(), pos)
		}
	}
}

// TestOpenTransactionSpansBatches: under load — more queued after each
// batch, nobody waiting — the applier applies batch after batch in one
// transaction and commits them once, when the queue is empty; every
// event is then stored, and the transaction left no lag behind.
func TestOpenTransactionSpansBatches(t *testing.T) {
	h := openHeld(t, 10, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := h.s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	before := st.Commits
	h.load(ctx, t, "a", 9, 10) // the held batch, then nine of 10 events
	h.stops[0].release()
	h.s.settled(ctx, t)
	st, err = h.s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Commits-before != 1 || st.LastCommitSize != 91 {
		t.Fatalf("%d commits, the last of %d events; want one of all 91 (ten batches)", st.Commits-before, st.LastCommitSize)
	}
	if st.ApplyLagEvents != 0 {
		t.Errorf("ApplyLagEvents = %d after everything committed", st.ApplyLagEvents)
	}
	for _, mid := range []string{"a-first-0", "a0-0", "a8-9"} {
		if h.s.lookupMessage(t, mid) == "" {
			t.Errorf("event %s not stored", mid)
		}
	}
}

// TestOpenTransactionCommitsForAWaiter: a read that must see what was
// acknowledged (waitApplied, as Outbox, Stats and the read fence wait)
// makes the applier commit after every batch instead of keeping its
// transaction open; without the waiter the same load is one commit
// (TestOpenTransactionSpansBatches).
func TestOpenTransactionCommitsForAWaiter(t *testing.T) {
	h := openHeld(t, 10, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := h.s.commits.Load()
	h.load(ctx, t, "w", 9, 10)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		h.s.waitApplied()
	}()
	waitUntil(func() bool { return h.s.waiting.Load() == 1 })
	h.stops[0].release()
	select {
	case <-waited:
	case <-ctx.Done():
		t.Fatal("the waiter was not answered")
	}
	if got := h.s.commits.Load() - before; got != 10 {
		t.Fatalf("%d commits while a reader waited, want one a batch (10)", got)
	}
}

// TestOpenTransactionCommitsForAWrite: a write transaction of another
// kind (dbUpdate) asked for while the applier's is open — held before
// its second batch, the first applied in it — makes the applier commit
// after that batch instead of keeping it open, and gets in.
func TestOpenTransactionCommitsForAWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := openHeldOpen(ctx, t, "x")
	if !h.s.keepOpen() {
		t.Fatal("with more queued and nobody waiting the transaction would not stay open")
	}
	wrote := make(chan error, 1)
	go func() { wrote <- h.s.SetPosition("opentx-test", 7) }()
	waitUntil(func() bool { return h.s.waiting.Load() == 1 })
	if h.s.keepOpen() {
		t.Fatal("a write waits, yet the transaction would stay open")
	}
	h.stops[1].release()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	h.s.settled(ctx, t)
	if v, err := h.s.Position("opentx-test"); err != nil || v != 7 {
		t.Fatalf("Position = %d, %v; want 7", v, err)
	}
	if h.s.lookupMessage(t, "x8-9") == "" {
		t.Fatal("the last batch was not stored")
	}
}

// TestOpenTransactionFailureKeepsEarlierBatches: a batch that fails in
// the open transaction rolls back the batches applied before it in that
// transaction too; they are applied again and stored, and only the
// failing request is dropped, with its error.
func TestOpenTransactionFailureKeepsEarlierBatches(t *testing.T) {
	errBad := errors.New("the test's failing event")
	h := openHeld(t, 10, false, func(e Event) error {
		if e.Msg.MessageID == "bad-0" {
			return errBad
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := h.s.commits.Load()
	h.load(ctx, t, "f", 4, 10) // the held batch, then four of 10 events
	r, err := h.s.appendRequest(ctx, 0, lingerEvents(t, "bad", 1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // and batches after the failing one
		if err := h.s.Append(ctx, lingerEvents(t, fmt.Sprintf("g%d", i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	h.stops[0].release()
	h.s.settled(ctx, t)
	if !errors.Is(r.err, errBad) {
		t.Errorf("the failing request's error: %v, want the test's", r.err)
	}
	for _, mid := range []string{"f-first-0", "f0-0", "f3-9", "g0-0", "g2-9"} {
		if h.s.lookupMessage(t, mid) == "" {
			t.Errorf("event %s was lost", mid)
		}
	}
	if h.s.lookupMessage(t, "bad-0") != "" {
		t.Error("the failing event was stored")
	}
	if h.s.commits.Load()-before < 2 {
		t.Error("the failure did not end the open transaction")
	}
}

// TestOpenTransactionCommitsOnClose: Close while the applier holds an
// open transaction with more queued lets it apply the rest and commit
// everything before the file closes — nothing is left to the log's
// replay — and the events are there after reopening.
func TestOpenTransactionCommitsOnClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := openHeldOpen(ctx, t, "c")
	acked := h.s.ackedPos.Load()
	closed := make(chan error, 1)
	go func() { closed <- h.s.Close(ctx) }()
	h.stops[1].release()
	if err := <-closed; err != nil {
		t.Fatalf("Close with a transaction open: %v", err)
	}
	if got := h.s.appliedPos.Load(); got != acked {
		t.Fatalf("applied position %d after Close, want %d: the open transaction was not committed", got, acked)
	}
	s2, err := Open(h.s.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	for _, mid := range []string{"c-first-0", "c0-0", "c8-9"} {
		if s2.lookupMessage(t, mid) == "" {
			t.Errorf("event %s lost across Close", mid)
		}
	}
}

// TestIdleCommitWaitsForMoreOrAWaiter (decision 0107): with nothing
// queued the applier keeps its transaction open until it is IdleCommit
// old, so events posted one at a time commit together; a read that
// waits for them wakes it at once (the nudge), however far off the due
// time; and Close commits an idle transaction rather than leave it to
// the log.
func TestIdleCommitWaitsForMoreOrAWaiter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const idle = 2 * time.Second
	s := open(t, func(o *Options) { o.IdleCommit, o.IdleGap = idle, -1 })
	before := time.Now()
	for i := range 5 { // users u0…u4, one event each, each acknowledged before the next
		if err := s.Append(ctx, walEvents(t, i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if time.Since(before) < idle/2 { // the appends were quick: nothing can be due yet
		if st, err := s.CommittedStats(); err != nil || st.Profiles != 0 || s.commits.Load() != 0 {
			t.Fatalf("before IdleCommit: %d profiles committed, %d commits (%v), want none", st.Profiles, s.commits.Load(), err)
		}
	}
	s.settled(ctx, t) // not a waiter: the applier commits when the transaction is due
	if took := time.Since(before); took < idle {
		t.Errorf("committed %v after the first append, before IdleCommit (%v)", took, idle)
	}
	if st, err := s.CommittedStats(); err != nil || st.Profiles != 5 || st.LastCommitSize != 5 {
		t.Fatalf("after IdleCommit: %d profiles, last commit of %d events (%v), want 5 in one", st.Profiles, st.LastCommitSize, err)
	}
	if s.commits.Load() != 1 || s.commitsBy[CommitIdle].Load() != 1 {
		t.Fatalf("%d commits, %d idle, want the one", s.commits.Load(), s.commitsBy[CommitIdle].Load())
	}

	// An hour's IdleCommit: only a nudge, or Close, ends the transaction.
	idling := make(chan struct{}, 10)
	h := open(t, func(o *Options) {
		o.IdleCommit, o.IdleGap = time.Hour, -1
		o.idleHook = func() { idling <- struct{}{} }
	})
	if err := h.Append(ctx, walEvents(t, 0, 1)); err != nil {
		t.Fatal(err)
	}
	<-idling // applied, and the applier waits with the transaction open
	if err := h.waitPos(ctx, h.ackedPos.Load()); err != nil {
		t.Fatalf("a read waiting for the event: %v (the applier was not woken)", err)
	}
	if h.commitsBy[CommitWaiter].Load() != 1 {
		t.Errorf("commits by a waiter = %d, want 1", h.commitsBy[CommitWaiter].Load())
	}
	for i := 1; i <= 2; i++ {
		if err := h.Append(ctx, walEvents(t, i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	<-idling
	if h.openEvents.Load() != 2 {
		<-idling // the two appends were applied in two batches
	}
	if err := h.Close(ctx); err != nil {
		t.Fatalf("Close with an idle transaction open: %v", err)
	}
	if segs, _ := filepath.Glob(filepath.Join(h.opts.Path+".wal", "*"+walExt)); len(segs) != 0 {
		t.Errorf("log segments left after Close: %v (the open transaction was not committed)", segs)
	}
	h2 := reopenClosed(t, h)
	if st, err := h2.CommittedStats(); err != nil || st.Profiles != 3 {
		t.Errorf("after reopening: %d profiles (%v), want 3", st.Profiles, err)
	}
}

// TestIdleCommitAfterAQuietGap (decision 0113): with nothing queued and
// nothing arriving for IdleGap, the applier commits without waiting out
// IdleCommit, and nobody has to wait for it: those who see only what is
// committed (the change stream, gossip, hub sync, the forwarder wait on
// Changed) get an isolated event within about IdleGap. With an hour's
// IdleCommit and no gap the commit would not come.
func TestIdleCommitAfterAQuietGap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := open(t, func(o *Options) { o.IdleCommit, o.IdleGap = time.Hour, time.Millisecond })
	for i := range 3 {
		changed := s.Changed() // before the event: its commit closes it
		if err := s.Append(ctx, walEvents(t, i, 1)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("event %d: not committed after a quiet gap (IdleCommit an hour)", i)
		}
	}
	if got := s.commitsBy[CommitIdle].Load(); got != 3 || s.commitsBy[CommitWaiter].Load() != 0 {
		t.Errorf("commits idle %d, by a waiter %d: want 3 idle, none by a waiter", got, s.commitsBy[CommitWaiter].Load())
	}
	if st, err := s.CommittedStats(); err != nil || st.Profiles != 3 {
		t.Errorf("committed: %d profiles (%v), want 3", st.Profiles, err)
	}
}

// TestIdleCommitIgnoresAStaleNudge: a nudge left by a waiter an earlier
// commit served does not commit an open transaction that is not due:
// the applier goes back to waiting (idleHook again), nothing committed.
func TestIdleCommitIgnoresAStaleNudge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	idling := make(chan struct{}, 10)
	s := open(t, func(o *Options) {
		o.IdleCommit, o.IdleGap = time.Hour, -1
		o.idleHook = func() { idling <- struct{}{} }
	})
	if err := s.Append(ctx, walEvents(t, 0, 1)); err != nil {
		t.Fatal(err)
	}
	<-idling // applied; the transaction is open, not due for an hour
	s.nudge <- struct{}{}
	select {
	case <-idling: // back to waiting
	case <-ctx.Done():
		t.Fatal("the applier did not go back to waiting after a stale nudge")
	}
	if n := s.commits.Load(); n != 0 {
		t.Fatalf("%d commits after a stale nudge, want none (nobody waits, nothing is due)", n)
	}
	if err := s.waitPos(ctx, s.ackedPos.Load()); err != nil { // a real waiter still commits it
		t.Fatal(err)
	}
	if n := s.commitsBy[CommitWaiter].Load(); n != 1 {
		t.Fatalf("commits by a waiter = %d, want 1", n)
	}
}
