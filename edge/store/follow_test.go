package store

import (
	"context"
	"testing"
	"time"

	"ucv/replication"
)

// TestCommittedReadsLeaveTheTransactionOpen: the outbox readers that
// follow commits (gossip, hub push) read what is committed without
// waiting, so they do not end the applier's open transaction
// (decision 0097): with a batch applied in it and nine queued, they
// return at once, without that batch's entries, and the transaction
// stays open; Outbox, which waits, would end it.
func TestCommittedReadsLeaveTheTransactionOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := openHeldOpen(ctx, t, "r")
	var last uint64
	var es []replication.Entry
	read := make(chan error, 1)
	go func() {
		var err error
		if last, err = h.s.CommittedLastSeq(); err == nil {
			es, err = h.s.CommittedOutbox(0, 1000)
		}
		read <- err
	}()
	waited := make(chan struct{})
	go func() { // a read that waited would show here (and end the transaction)
		waitUntil(func() bool { return h.s.waiting.Load() != 0 || len(read) > 0 })
		close(waited)
	}()
	<-waited
	if h.s.waiting.Load() != 0 {
		t.Fatal("a committed read waited for the applier")
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if len(es) > 0 && es[len(es)-1].Seq != last {
		t.Fatalf("CommittedOutbox ends at %d, CommittedLastSeq says %d", es[len(es)-1].Seq, last)
	}
	if h.s.waiting.Load() != 0 || !h.s.keepOpen() {
		t.Fatal("a committed read made the applier commit")
	}
	lastSeq := make(chan uint64, 1)
	go func() {
		v, _ := h.s.LastSeq()
		lastSeq <- v
	}()
	waitUntil(func() bool { return h.s.waiting.Load() == 1 })
	if h.s.keepOpen() {
		t.Fatal("LastSeq waits, yet the transaction would stay open")
	}
	h.stops[1].release()
	all := <-lastSeq
	h.s.settled(ctx, t)
	if all <= last {
		t.Fatalf("LastSeq after the open batches = %d, not past the committed %d", all, last)
	}
	now, err := h.s.CommittedLastSeq()
	if err != nil || now < all {
		t.Fatalf("CommittedLastSeq once committed = %d, %v; want at least %d", now, err, all)
	}
}

// TestCommitReasons: the applier counts why it commits (Stats.CommitsBy,
// ucv_store_applier_commits_total): a transaction spanning batches that
// ends with the queue empty is one idle commit; a waiter makes every
// batch a waiter commit, the last one (with the queue empty) too; an
// event cap makes events commits.
func TestCommitReasons(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	by := func(s *Store) [NumCommitReasons]int64 {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.CommitsBy
	}
	diff := reasonsBetween

	h := openHeld(t, 10, false, nil)
	b0 := by(h.s)
	h.load(ctx, t, "i", 9, 10)
	h.stops[0].release()
	h.s.settled(ctx, t)
	if got := diff(b0, by(h.s)); len(got) != 1 || got["idle"] != 1 {
		t.Errorf("ten batches in one transaction: commits by reason %v, want one idle", got)
	}

	w := openHeld(t, 10, false, nil)
	b0 = by(w.s)
	w.load(ctx, t, "w", 9, 10)
	done := make(chan struct{})
	go func() { defer close(done); w.s.waitApplied() }()
	waitUntil(func() bool { return w.s.waiting.Load() == 1 })
	w.stops[0].release()
	<-done
	w.s.settled(ctx, t)
	if got := diff(b0, by(w.s)); len(got) != 1 || got["waiter"] != 10 {
		t.Errorf("ten batches with a waiter: commits by reason %v, want 10 waiter", got)
	}

	e := openHeld(t, 10, false, nil)
	e.s.opts.CommitEvents = 25 // before the applier reads it: it is held
	b0 = by(e.s)
	e.load(ctx, t, "e", 9, 10)
	e.stops[0].release()
	e.s.settled(ctx, t)
	// 1+10+10+10 ≥ 25, 10+10+10 ≥ 25, then the last two batches.
	if got := diff(b0, by(e.s)); len(got) != 2 || got["events"] != 2 || got["idle"] != 1 {
		t.Errorf("91 events in batches of 10 and a cap of 25: commits by reason %v, want 2 events and 1 idle", got)
	}
}

// TestApplyClustersAtMovesThePositionWithThePage: a feed page and the
// feed position are one commit; a page the store rejects a cluster of
// (a clock far ahead) leaves the position, so the page is read again;
// an empty page moves the position alone.
func TestApplyClustersAtMovesThePositionWithThePage(t *testing.T) {
	ctx := context.Background()
	src := open(t)
	r := ingest(t, src, `{"type":"identify","userId":"u-ann","messageId":"m1","traits":{"plan":"gold"}}`)
	id := r.ProfileIDs[0]
	page := []replication.FeedItem{{ID: id, Fragments: []string{id}, State: encode(t, stateOf(t, src, id))}}

	s := open(t)
	commits := s.commits.Load()
	res, err := s.ApplyClustersAt(ctx, page, 0, "feed-test", 42)
	if err != nil || res.Applied != 1 {
		t.Fatalf("ApplyClustersAt = %+v, %v", res, err)
	}
	if v, err := s.Position("feed-test"); err != nil || v != 42 {
		t.Fatalf("Position after the page = %d, %v; want 42", v, err)
	}
	if n := s.commits.Load() - commits; n != 1 {
		t.Errorf("the page and its position took %d commits, want 1", n)
	}
	if v, _ := lookup(t, s, "user_id", "u-ann"); v.ID != id {
		t.Errorf("u-ann is on %q after the page, want %s", v.ID, id)
	}
	if _, err := s.ApplyClustersAt(ctx, nil, 0, "feed-test", 50); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Position("feed-test"); v != 50 {
		t.Fatalf("Position after an empty page = %d, want 50", v)
	}

	// A store whose clock is two days behind the page's state rejects it.
	late := open(t, func(o *Options) { o.Now = func() time.Time { return time.Now().Add(-48 * time.Hour) } })
	if err := late.SetPosition("feed-test", 7); err != nil {
		t.Fatal(err)
	}
	res, err = late.ApplyClustersAt(ctx, page, 0, "feed-test", 42)
	if err != nil || res.Rejected != 1 {
		t.Fatalf("ApplyClustersAt on a late clock = %+v, %v; want the cluster rejected", res, err)
	}
	if v, _ := late.Position("feed-test"); v != 7 {
		t.Fatalf("Position after a rejected page = %d, want 7 (unmoved)", v)
	}
}
