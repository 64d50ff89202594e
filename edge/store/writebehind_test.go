package store

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// commitsBy returns the applier's commits by reason, without waiting.
func commitsBy(t *testing.T, s *Store) [NumCommitReasons]int64 {
	t.Helper()
	st, err := s.CommittedStats()
	if err != nil {
		t.Fatal(err)
	}
	return st.CommitsBy
}

// reasonsBetween lists the commits by reason that happened between a
// and b.
func reasonsBetween(a, b [NumCommitReasons]int64) map[string]int64 {
	m := map[string]int64{}
	for r := range a {
		if d := b[r] - a[r]; d != 0 {
			m[CommitReason(r).String()] = d
		}
	}
	return m
}

// Writes behind ride the applier's open transaction: queued while it
// holds one with more batches behind, a cursor save, an outbox trim and
// the hub-sync time make it commit nothing more — one idle commit holds
// everything — and are durable after it, the trim bounded by the
// cursor saved behind it. A durable SetCursor in the same place is the
// control: it makes the applier commit for it.
func TestWritesBehindRideTheOpenTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := openHeld(t, 10, true, nil)
	b0 := commitsBy(t, h.s)
	// 91 events, each an outbox entry (sequences 1…91): the first batch
	// in the applier's open transaction, nine queued behind it.
	h.load(ctx, t, "wb", 9, 10)
	h.stops[0].release()
	h.wait(ctx, t, 1)
	synced := time.UnixMilli(1_800_000_000_000)
	if err := h.s.SetCursorBehind("peer", 40); err != nil {
		t.Fatal(err)
	}
	if err := h.s.TrimOutboxBehind(60); err != nil { // bounded by the cursor above: up to 40
		t.Fatal(err)
	}
	if err := h.s.SetHubSyncedAtBehind(synced); err != nil {
		t.Fatal(err)
	}
	if v, err := h.s.Cursor("peer"); err != nil || v != 0 {
		t.Fatalf("cursor before the commit = %d, %v; want 0", v, err)
	}
	if got := h.s.HubSyncedAt(); !got.Equal(synced) {
		t.Errorf("HubSyncedAt = %v before the commit, want %v at once", got, synced)
	}
	h.stops[1].release()
	h.s.settled(ctx, t)
	// The writes behind are the last requests queued: the commit that
	// holds them is the last, and counted before it is made.
	for {
		v, err := h.s.Cursor("peer")
		if err != nil {
			t.Fatal(err)
		}
		if v == 40 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("cursor %d, want 40 saved with the applier's commit", v)
		}
		time.Sleep(time.Millisecond)
	}
	if got := reasonsBetween(b0, commitsBy(t, h.s)); len(got) != 1 || got["idle"] != 1 {
		t.Errorf("ten batches and three writes behind: commits by reason %v, want one idle", got)
	}
	var first, ms uint64
	if err := h.s.view(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketOutbox).Cursor().First(); k != nil {
			first = readU64(k)
		}
		ms = readU64(tx.Bucket(bucketMeta).Get(hubSyncKey))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if first != 41 {
		t.Errorf("outbox starts at %d after the trim, want 41 (the cursor saved behind bounds it)", first)
	}
	if int64(ms) != synced.UnixMilli() {
		t.Errorf("hub sync time stored %d, want %d", ms, synced.UnixMilli())
	}

	// The control: a durable save in the same place waits for, and
	// makes, a commit of its own.
	c := openHeld(t, 10, true, nil)
	b0 = commitsBy(t, c.s)
	c.load(ctx, t, "wc", 9, 10)
	c.stops[0].release()
	c.wait(ctx, t, 1)
	saved := make(chan error, 1)
	go func() { saved <- c.s.SetCursor("peer", 40) }()
	waitUntil(func() bool { return c.s.waiting.Load() == 1 })
	c.stops[1].release()
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
	c.s.settled(ctx, t)
	if got := reasonsBetween(b0, commitsBy(t, c.s)); got["waiter"] == 0 {
		t.Errorf("a durable save under load: commits by reason %v, want waiter commits", got)
	}
}
