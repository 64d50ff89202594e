package store

import (
	"fmt"
	"hash/fnv"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// fnvItemHash is the digest's item hash before schema 6 (FNV-1a 64).
func fnvItemHash(kind byte, id string, payload []byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte{kind})
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum64()
}

// TestSchema5DigestHashedAgain (decision 0118): a version 5 file, its
// digest made of FNV-1a hashes, opens as version 6 with the digest hashed
// again by XXH64 — equal to a store's that wrote the same profiles
// itself — and keeps it from then on: a profile written after the open
// leaves the digest equal to one hashed from scratch.
func TestSchema5DigestHashedAgain(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	ingest(t, s,
		`{"type":"identify","userId":"ann","messageId":"a1","traits":{"email":"ann@example.com"}}`,
		`{"type":"identify","userId":"bob","messageId":"b1","traits":{"email":"bob@example.com"}}`,
		`{"type":"page","anonymousId":"anon-7","messageId":"p1","name":"Home"}`,
		`{"type":"identify","userId":"ann","anonymousId":"anon-7","messageId":"a2"}`,
		`{"type":"track","userId":"cy","messageId":"c1","event":"Order Completed","properties":{"revenue":12.5,"currency":"EUR"}}`)
	want := s.Digest()

	// Write it back as schema 5 wrote it: the same items, FNV's hashes.
	var old Digest
	opts := rewriteAs(t, s, 5, func(tx *bolt.Tx) error {
		profiles, redirects := 0, 0
		if err := tx.Bucket(bucketProfiles).ForEach(func(k, v []byte) error {
			state, err := openProfile(k, v)
			if err != nil {
				return err
			}
			old[BucketOf(string(k))] ^= fnvItemHash('p', string(k), state)
			profiles++
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRedirects).ForEach(func(k, _ []byte) error {
			old[BucketOf(string(k))] ^= fnvItemHash('r', string(k), nil)
			redirects++
			return nil
		}); err != nil {
			return err
		}
		if profiles != 3 || redirects != 1 {
			t.Errorf("file holds %d profiles and %d redirects, want 3 and 1", profiles, redirects)
		}
		return tx.Bucket(bucketMeta).Put(digestKey, old.marshal())
	})
	if len(old.Diff(&want)) == 0 {
		t.Fatal("the FNV digest equals the XXH64 one: the test cannot tell them apart")
	}

	s = reopenUpgraded(t, opts)
	if got := s.Digest(); len(got.Diff(&want)) != 0 {
		t.Fatalf("digest after opening a schema 5 file differs from the one written in %d buckets", len(got.Diff(&want)))
	}
	ingest(t, s, `{"type":"identify","userId":"ann","messageId":"a3","traits":{"plan":"gold"}}`)
	var scratch Digest
	if err := s.view(func(tx *bolt.Tx) error {
		scratch = digestScan(tx, func(int) bool { return true })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := s.Digest(); len(got.Diff(&scratch)) != 0 {
		t.Fatalf("digest kept across a write differs from one hashed from scratch in %d buckets", len(got.Diff(&scratch)))
	}
}

// BenchmarkDigestItem times the digest's hash of one profile state, as a
// write pays it twice (the state replaced and the new one), with XXH64
// and with FNV-1a, which schema 5 used, side by side (decision 0118).
func BenchmarkDigestItem(b *testing.B) {
	for _, size := range []int{1 << 10, 18 << 10} {
		state := make([]byte, size)
		for i := range state {
			state[i] = byte(i * 7)
		}
		for _, h := range []struct {
			name string
			f    func(byte, string, []byte) uint64
		}{{"xxh64", itemHash}, {"fnv1a", fnvItemHash}} {
			b.Run(fmt.Sprintf("state=%dKB/%s", size>>10, h.name), func(b *testing.B) {
				b.SetBytes(int64(size))
				var sink uint64
				for b.Loop() {
					sink ^= h.f('p', "01M98D042QZZ45QDYHXCQ7FMNN", state)
				}
				_ = sink
			})
		}
	}
}
