package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestTrimOutboxChunks: trimOutbox deletes exactly the oldest entries up
// to upTo, at most limit (all when negative), across its listing chunks,
// and keeps the outbox gauge — checked on a bbolt file against the
// entries left.
func TestTrimOutboxChunks(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "trim.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const total = 25_000 // more than two chunks
	fill := func() {
		err := db.Update(func(tx *bolt.Tx) error {
			tx.DeleteBucket(bucketOutbox)
			b, err := tx.CreateBucket(bucketOutbox)
			if err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			for i := uint64(1); i <= total; i++ {
				if err := b.Put(u64(i), []byte("delta")); err != nil {
					return err
				}
			}
			return meta.Put(outboxKey, u64(total))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		upTo       uint64
		limit, cut int
	}{
		{upTo: total, limit: -1, cut: total},
		{upTo: 12_345, limit: -1, cut: 12_345},
		{upTo: total, limit: 10_000, cut: 10_000},
		{upTo: total, limit: 20_001, cut: 20_001},
		{upTo: 9_999, limit: 10_000, cut: 9_999},
		{upTo: 0, limit: -1, cut: 0},
		{upTo: total, limit: 0, cut: 0},
	} {
		fill()
		var n int
		err := db.Update(func(tx *bolt.Tx) error {
			var err error
			n, err = trimOutbox(tx, c.upTo, c.limit)
			return err
		})
		if err != nil || n != c.cut {
			t.Fatalf("trimOutbox(upTo %d, limit %d) = %d, %v; want %d", c.upTo, c.limit, n, err, c.cut)
		}
		db.View(func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bucketOutbox).Cursor().First()
			left := tx.Bucket(bucketOutbox).Stats().KeyN
			if left != total-c.cut || (left > 0 && readU64(k) != uint64(c.cut+1)) {
				t.Fatalf("upTo %d, limit %d: %d entries left, first %d; want %d from %d", c.upTo, c.limit, left, readU64(k), total-c.cut, c.cut+1)
			}
			if g := readU64(tx.Bucket(bucketMeta).Get(outboxKey)); g != uint64(total-c.cut) {
				t.Fatalf("upTo %d, limit %d: gauge %d, want %d", c.upTo, c.limit, g, total-c.cut)
			}
			return nil
		})
	}
}

// TestTrimOutboxForWaitsForTheApplier: an outbox trim (the upkeep of an
// edge without a hub, once a second) does not cut the applier's open
// transaction short — the applier, held with a batch applied and more
// queued, commits once, when its queue empties ("idle"), not for the
// trim ("waiter") — and the trim then runs, deleting every entry
// committed by then.
func TestTrimOutboxForWaitsForTheApplier(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var holds, helds [2]chan struct{}
	for i := range holds {
		holds[i], helds[i] = make(chan struct{}), make(chan struct{})
	}
	var once [2]sync.Once
	release := func(i int) { once[i].Do(func() { close(holds[i]) }) }
	calls := 0
	s := open(t, func(o *Options) {
		o.MaxBatchEvents, o.Linger = 10, -1
		o.CommitAge, o.CommitEvents = time.Hour, 1<<20
		o.applyHook = func() { // before the applier applies a batch
			calls++ // the applier's goroutine only
			if i := calls - 3; i == 0 || i == 1 {
				close(helds[i])
				<-holds[i]
			}
		}
	})
	t.Cleanup(func() { release(0); release(1) }) // before the store's Close
	held := func(i int) {
		t.Helper()
		select {
		case <-helds[i]:
		case <-ctx.Done():
			t.Fatalf("the applier did not reach hold %d", i)
		}
	}
	// Two events applied alone and committed (outbox entries 1, 2).
	for i := range 2 {
		if _, err := s.Ingest(ctx, lingerEvents(t, fmt.Sprintf("c%d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	// The third batch is held before it is applied; two more queue
	// behind it, so the applier keeps its transaction open after it and
	// is held again, before the fourth.
	if err := s.Append(ctx, lingerEvents(t, "o", 1)); err != nil {
		t.Fatal(err)
	}
	held(0)
	for i := range 2 {
		if err := s.Append(ctx, lingerEvents(t, fmt.Sprintf("q%d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	release(0)
	held(1)
	if s.open.tx == nil {
		t.Fatal("the applier did not keep its transaction open with more queued")
	}
	b0 := commitsBy(t, s)
	type result struct {
		n   int
		err error
	}
	trimmed := make(chan result, 1)
	go func() {
		n, err := s.TrimOutboxFor(100)
		trimmed <- result{n, err}
	}()
	// Time for the trim to reach the write lock the open transaction
	// holds (with less, the test passes without telling anything).
	time.Sleep(50 * time.Millisecond)
	if w := s.waiting.Load(); w != 0 {
		t.Errorf("the trim counts as %d waiter(s) of the applier's commit, want none", w)
	}
	select {
	case r := <-trimmed:
		t.Fatalf("the trim ran (%d, %v) while the applier's transaction was open", r.n, r.err)
	default:
	}
	release(1)
	var r result
	select {
	case r = <-trimmed:
	case <-ctx.Done():
		t.Fatal("the trim did not run after the applier committed")
	}
	if r.err != nil || r.n != 5 {
		t.Errorf("trim = %d, %v; want the 5 entries committed by then", r.n, r.err)
	}
	if got := reasonsBetween(b0, commitsBy(t, s)); len(got) != 1 || got["idle"] != 1 {
		t.Errorf("commits by reason %v while the trim waited, want one idle", got)
	}
}
