package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/cespare/xxhash/v2"
	bolt "go.etcd.io/bbolt"

	"ucv/replication"
)

// DigestBuckets is the number of buckets the store's digest splits
// profiles and redirects into for anti-entropy.
const DigestBuckets = 256

// Digest summarizes the replicated state: per bucket, the XOR of a 64-bit
// hash of every (profile ID, encoded state) and of every merged-away ID.
// Encodings are canonical, so two replicas holding the same state have
// equal digests; a differing bucket names what to exchange. It is kept
// incrementally on every write and persisted with each commit.
type Digest [DigestBuckets]uint64

// DigestHash names the item hash digests are made of (itemHash): 2 for
// XXH64; 0 was FNV-1a 64, before schema 6. Replicas compare digests only
// of the same hash (docs/decisions/0118-digest-xxh64.md).
const DigestHash = 2

// BucketOf returns the digest bucket of a profile ID.
func BucketOf(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % DigestBuckets)
}

// itemHash is the digest's hash of one item: XXH64 of kind, id, a zero
// byte and payload. Every profile write hashes the state it replaces and
// the new one, so the hash runs over twice the state's bytes; FNV-1a,
// used before schema 6, took 1.1 ns a byte (40 µs a write for an 18 KB
// state), XXH64 takes 0.09.
func itemHash(kind byte, id string, payload []byte) uint64 {
	var h xxhash.Digest
	h.Reset()
	h.Write([]byte{kind})
	h.WriteString(id)
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum64()
}

// digestOf returns digest bucket b of everything in tx, hashed from
// scratch. Damaged states are left out (they are quarantined when next
// read).
func digestOf(tx *bolt.Tx, b int) uint64 {
	d := digestScan(tx, func(x int) bool { return x == b })
	return d[b]
}

// digestAllOf returns the digest of everything in tx, hashed from
// scratch in one pass and encoded as meta's digestKey holds it.
func digestAllOf(tx *bolt.Tx) []byte {
	d := digestScan(tx, func(int) bool { return true })
	return d.marshal()
}

// digestScan hashes the items of tx in the digest buckets want accepts.
func digestScan(tx *bolt.Tx, want func(int) bool) Digest {
	var d Digest
	c := tx.Bucket(bucketProfiles).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if b := BucketOf(string(k)); want(b) {
			if state, err := openProfile(k, v); err == nil {
				d[b] ^= itemHash('p', string(k), state)
			}
		}
	}
	c = tx.Bucket(bucketRedirects).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if b := BucketOf(string(k)); want(b) {
			d[b] ^= itemHash('r', string(k), nil)
		}
	}
	return d
}

func (d *Digest) marshal() []byte {
	b := make([]byte, 0, 8*DigestBuckets)
	for _, v := range d {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func (d *Digest) unmarshal(b []byte) error {
	if len(b) != 8*DigestBuckets {
		return fmt.Errorf("store: digest of %d bytes", len(b))
	}
	for i := range d {
		d[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return nil
}

// Diff returns the buckets in which d and o differ.
func (d *Digest) Diff(o *Digest) []int {
	var out []int
	for i := range d {
		if d[i] != o[i] {
			out = append(out, i)
		}
	}
	return out
}

// Digest returns the digest as of the last commit.
func (s *Store) Digest() Digest {
	s.digestMu.Lock()
	defer s.digestMu.Unlock()
	return s.digest
}

// BucketEntries calls fn with the full state of every profile and every
// redirect in the given digest buckets (except profiles whose state is
// damaged or under repair, see repair.go), as entries ApplyRemote accepts
// (replication.KindDelta carrying the whole state; replication.KindMerge for
// a redirect, pointing at its canonical ID). It reads in short read
// transactions of at most bucketPage records and calls fn between them, so a
// slow reader (a peer on the network) never holds a transaction open — bbolt
// cannot grow its file under a long one. Entries changed during the walk are
// sent as they are when read; anti-entropy's next round repairs the rest.
// fn runs between transactions, never inside one: it may write to the
// store (Resync appends each page to the outbox), though profiles it
// changes may be yielded again or not at all.
func (s *Store) BucketEntries(buckets []int, fn func(replication.Entry) error) error {
	want := make([]bool, DigestBuckets)
	for _, b := range buckets {
		if b >= 0 && b < DigestBuckets {
			want[b] = true
		}
	}
	for _, bucket := range [][]byte{bucketProfiles, bucketRedirects} {
		var after []byte
		for {
			var page []replication.Entry
			err := s.view(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucket).Cursor()
				k, v := c.First()
				if after != nil {
					k, v = c.Seek(after)
					if k != nil && string(k) == string(after) {
						k, v = c.Next()
					}
				}
				for scanned := 0; k != nil && len(page) < bucketPage && scanned < 8*bucketPage; k, v = c.Next() {
					scanned++
					after = append(after[:0], k...)
					if !want[BucketOf(string(k))] {
						continue
					}
					if string(bucket) == string(bucketProfiles) {
						// A damaged state or a stand-in under repair is
						// not this replica's full state: never send it.
						if state := s.verifiedState(tx, k, v); state != nil {
							page = append(page, replication.Entry{Kind: replication.KindDelta, ProfileID: string(k), Delta: append([]byte(nil), state...)})
						}
						continue
					}
					to, err := resolveIn(tx, string(v))
					if err != nil {
						return err
					}
					page = append(page, replication.Entry{Kind: replication.KindMerge, From: string(k), ProfileID: to})
				}
				if k == nil {
					after = nil // done with this bucket
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, e := range page {
				if err := fn(e); err != nil {
					return err
				}
			}
			if after == nil {
				break
			}
		}
	}
	return nil
}

// bucketPage bounds the records one BucketEntries read transaction reads.
const bucketPage = 512
