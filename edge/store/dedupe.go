package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The dedupe set (docs/decisions/0111-dedupe-set-in-memory.md).
//
// Every messageId ingested within Options.DedupeWindow is filed once, in
// the dedupeTime bucket: ms first seen ‖ the bucket's sequence →
// messageId, in time order for expiry. Which messageIds it holds is
// answered from memory by dedupeIndex, built from that bucket at Open:
// the 64-bit hash of each messageId maps to where its entry is. The
// file's own by-ID set (the dedupe bucket, messageId → ms) is gone: its
// keys are random — client libraries send UUIDs — so under sustained
// ingest every commit rewrote most of its leaves, and with random
// messageIds /v1/batch ran ~20 % slower and the data file grew ~60 %
// larger than with the sequential ones the benchmarks sent (bench/README,
// "The dedupe set in memory").
//
// The index is a hint that is checked: a messageId counts as seen only
// if the entry the index points to is in the caller's transaction and
// holds that messageId. So the index may hold more than a transaction
// sees — entries of a commit not yet visible to an older read
// transaction, entries expired in the writer's open transaction — and
// must never hold less: the writer adds a transaction's entries before
// it commits (dedupeIndex.add) and removes expired ones only after
// (dedupeIndex.forget). Within its open transaction the writer finds its
// own new entries in writer.seen.

// dedupeRef is where a messageId's entry is in dedupeTime: the key
// ms ‖ seq, or, for an entry written before 2026-12-07 (seq 0), the key
// ms ‖ messageId with an empty value.
type dedupeRef struct {
	ms  int64
	seq uint64
}

// key returns the dedupeTime key of the entry of mid at r.
func (r dedupeRef) key(mid []byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 16+len(mid)), uint64(r.ms))
	if r.seq == 0 {
		return append(k, mid...)
	}
	return binary.BigEndian.AppendUint64(k, r.seq)
}

// holds reports whether byTime holds the entry of mid at r.
func (r dedupeRef) holds(byTime *bolt.Bucket, mid []byte) bool {
	k := r.key(mid)
	if r.seq != 0 {
		return bytes.Equal(byTime.Get(k), mid)
	}
	got, _ := byTime.Cursor().Seek(k) // the value is empty: compare the key
	return bytes.Equal(got, k)
}

// dedupeRefOf reads a dedupeTime entry: its messageId and where it is;
// ok is false for a key too short to be one.
func dedupeRefOf(k, v []byte) (mid []byte, r dedupeRef, ok bool) {
	if len(k) < 8 {
		return nil, dedupeRef{}, false
	}
	r.ms = int64(binary.BigEndian.Uint64(k))
	if len(v) == 0 { // ms ‖ messageId → empty
		return k[8:], r, len(k) > 8
	}
	if len(k) != 16 {
		return nil, dedupeRef{}, false
	}
	r.seq = binary.BigEndian.Uint64(k[8:])
	return v, r, r.seq != 0
}

// dedupeIndex maps the hash of every messageId in dedupeTime to its
// entry. The maps hold no pointers for the collector to scan but for the
// rare messageId whose hash another one's entry holds (collide).
type dedupeIndex struct {
	seed    maphash.Seed
	mu      sync.RWMutex
	byHash  map[uint64]dedupeRef
	collide map[string]dedupeRef
}

// dedupeNote is an entry a writer added or expired, for add and forget.
type dedupeNote struct {
	h   uint64
	mid string
	ref dedupeRef
}

func newDedupeIndex() *dedupeIndex {
	return &dedupeIndex{seed: maphash.MakeSeed(), byHash: map[uint64]dedupeRef{}, collide: map[string]dedupeRef{}}
}

func (d *dedupeIndex) hash(mid []byte) uint64 { return maphash.Bytes(d.seed, mid) }

// seen reports whether byTime (in the caller's transaction) holds an
// entry of mid.
func (d *dedupeIndex) seen(byTime *bolt.Bucket, mid []byte) bool {
	return d.seenHashed(byTime, d.hash(mid), mid)
}

// seenHashed is seen for a caller that has mid's hash h already (the
// writer, which files it next).
func (d *dedupeIndex) seenHashed(byTime *bolt.Bucket, h uint64, mid []byte) bool {
	d.mu.RLock()
	r, ok := d.byHash[h]
	var cr dedupeRef
	var cok bool
	if len(d.collide) > 0 {
		cr, cok = d.collide[string(mid)]
	}
	d.mu.RUnlock()
	return ok && r.holds(byTime, mid) || cok && cr.holds(byTime, mid)
}

// add indexes entries written in the transaction byTime belongs to,
// before it commits. An entry whose hash another live entry holds goes
// to collide; one whose slot holds an entry no longer in byTime (expired
// in this transaction, or left by a transaction that failed) takes it.
func (d *dedupeIndex) add(byTime *bolt.Bucket, notes []dedupeNote) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range notes {
		old, ok := d.byHash[n.h]
		if ok && old != n.ref && (old.seq == 0 || byTime.Get(old.key(nil)) != nil) {
			// Another messageId's entry (or one this one's could not
			// be told from: an old-shape entry is found only by its
			// messageId).
			d.collide[n.mid] = n.ref
			continue
		}
		d.byHash[n.h] = n.ref
	}
}

// forget drops entries that were deleted (expired), once the deletion
// has committed, and entries add indexed for a transaction that did not
// commit. An entry is dropped only where the index still points at it.
func (d *dedupeIndex) forget(notes []dedupeNote) {
	if len(notes) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range notes {
		if r, ok := d.byHash[n.h]; ok && r == n.ref {
			delete(d.byHash, n.h)
		}
		if r, ok := d.collide[n.mid]; ok && r == n.ref {
			delete(d.collide, n.mid)
		}
	}
}

// len returns the entries indexed.
func (d *dedupeIndex) len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.byHash) + len(d.collide)
}

// buildDedupeIndex indexes every entry of dedupeTime in tx.
func buildDedupeIndex(tx *bolt.Tx) (*dedupeIndex, error) {
	d := newDedupeIndex()
	byTime := tx.Bucket(bucketDedupeTime)
	var notes []dedupeNote
	err := byTime.ForEach(func(k, v []byte) error {
		mid, r, ok := dedupeRefOf(k, v)
		if !ok {
			return fmt.Errorf("store: dedupe time-order entry of %d bytes", len(k))
		}
		notes = append(notes, dedupeNote{h: d.hash(mid), mid: string(mid), ref: r})
		if len(notes) == 4096 {
			d.add(byTime, notes)
			notes = notes[:0]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.add(byTime, notes)
	return d, nil
}

// checkDedupe reports each entry of dedupeTime in tx that d does not
// find (checkTx's invariant: the index never holds less than the file).
func checkDedupe(tx *bolt.Tx, d *dedupeIndex, report func(error) bool) {
	byTime := tx.Bucket(bucketDedupeTime)
	_ = byTime.ForEach(func(k, v []byte) error {
		mid, _, ok := dedupeRefOf(k, v)
		switch {
		case !ok:
			if !report(fmt.Errorf("store: dedupe time-order entry %x of the wrong shape", k)) {
				return errStop
			}
		case !d.seen(byTime, mid):
			if !report(fmt.Errorf("store: dedupe entry %x not in the in-memory index", k)) {
				return errStop
			}
		}
		return nil
	})
}

// emptyLegacyDedupe empties the by-ID dedupe bucket of a file written
// before schema 5 (the in-memory index replaced it); the bucket stays,
// empty.
func emptyLegacyDedupe(tx *bolt.Tx) error {
	if k, _ := tx.Bucket(bucketDedupe).Cursor().First(); k == nil {
		return nil
	}
	if err := tx.DeleteBucket(bucketDedupe); err != nil {
		return fmt.Errorf("store: empty the by-ID dedupe set: %w", err)
	}
	_, err := tx.CreateBucket(bucketDedupe)
	return err
}
