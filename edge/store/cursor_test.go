package store

import (
	"bytes"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"
)

// TestSeekBucketGetIsBucketGet checks seekBucket.Get against bbolt's own
// Get on a real file: a committed tree of up to 2,000 keys (many pages),
// then, in one write transaction, puts (empty values too), deletes and
// nested buckets, with a probe after each — present keys, absent keys
// between, before and after the stored ones.
func TestSeekBucketGetIsBucketGet(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "seek.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.ByteRange('a', 'h'), 1, 5)
		// A committed tree first (many pages), then operations on it.
		err := db.Update(func(tx *bolt.Tx) error {
			if tx.Bucket([]byte("b")) != nil {
				if err := tx.DeleteBucket([]byte("b")); err != nil {
					return err
				}
			}
			raw, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			for range rapid.IntRange(0, 2000).Draw(t, "stored") {
				if err := raw.Put(key.Draw(t, "sk"), bytes.Repeat([]byte{'v'}, rapid.IntRange(0, 100).Draw(t, "len"))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			raw := tx.Bucket([]byte("b"))
			sb := newSeekBucket(raw)
			for i := range rapid.IntRange(1, 300).Draw(t, "ops") {
				k := key.Draw(t, "k")
				switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
				case op < 5:
					v := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "v")
					if raw.Bucket(k) == nil {
						if err := sb.Put(k, v); err != nil {
							return err
						}
					}
				case op < 7:
					if raw.Bucket(k) == nil {
						if err := sb.Delete(k); err != nil {
							return err
						}
					}
				case op < 8:
					if raw.Get(k) == nil && raw.Bucket(k) == nil {
						if _, err := raw.CreateBucket(k); err != nil {
							return err
						}
					}
				}
				probe := key.Draw(t, "probe")
				got, want := sb.Get(probe), raw.Get(probe)
				if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("op %d: Get(%q) = %q (nil %v), bbolt %q (nil %v)", i, probe, got, got == nil, want, want == nil)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
