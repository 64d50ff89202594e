package store

import (
	"path/filepath"
	"testing"

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
