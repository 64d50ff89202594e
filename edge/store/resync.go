package store

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"ucv/replication"
)

// ResyncRange is the outbox range of a full-state resync (see Resync).
// The zero value means no resync ever completed.
type ResyncRange struct {
	// Start is the sequence the resync reserved before it read anything:
	// no entry has it, every entry committed before the walk began is
	// below it, and the walk read a state that includes all of them. A
	// reader that moves its cursor to Start skips nothing the entries
	// after it do not carry.
	Start uint64
	// End is the sequence of the last resync entry (Start when the store
	// held nothing). Ordinary entries written during the walk fall
	// between Start and End too.
	End uint64
}

// Resync limits: one write transaction appends at most resyncPage
// entries or about resyncPageBytes of states, so a resync of a
// million profiles never holds more than a page in memory.
const (
	resyncPage      = 512
	resyncPageBytes = 4 << 20
)

// Resync appends to the outbox the full state of every profile and
// every redirect the store holds (the entries BucketEntries yields for
// anti-entropy, over every bucket), for a hub that lost sequences this
// edge already trimmed: full states are self-contained joins, so they
// stand in for every entry below the range.
//
// It first reserves a sequence above both the outbox's last sequence
// and after (a hub may hold sequences this store never wrote, when the
// data directory was restored from a copy; the outbox sequence is raised
// past them), then walks the store in short read transactions and
// appends each page in its own write transaction. Ingest goes on
// meanwhile; its entries get sequences inside the range and stay
// ordinary entries. The range is recorded in meta (LastResync) by the
// last transaction only: a walk cut short (ctx, an error, a crash)
// leaves harmless full states in the outbox and no record, and the next
// resync supersedes them. It returns the recorded range. Errors: ctx
// errors, ErrClosed, I/O errors.
func (s *Store) Resync(ctx context.Context, after uint64) (ResyncRange, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ResyncRange{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return ResyncRange{}, fmt.Errorf("store: resync: %w", err)
	}
	var rr ResyncRange
	err := s.dbUpdate(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox)
		rr.Start = max(ob.Sequence(), after) + 1
		rr.End = rr.Start
		return ob.SetSequence(rr.Start)
	})
	if err != nil {
		return ResyncRange{}, fmt.Errorf("store: resync: reserve a sequence: %w", err)
	}
	var page []replication.Entry
	size := 0
	write := func(record bool) error {
		return s.dbUpdate(func(tx *bolt.Tx) error {
			ob := tx.Bucket(bucketOutbox)
			for _, e := range page {
				seq, err := ob.NextSequence()
				if err != nil {
					return err
				}
				v, err := encodeOutbox(e)
				if err != nil {
					return err
				}
				if err := ob.Put(u64(seq), v); err != nil {
					return err
				}
				rr.End = seq
			}
			meta := tx.Bucket(bucketMeta)
			if err := meta.Put(outboxKey, u64(readU64(meta.Get(outboxKey))+uint64(len(page)))); err != nil {
				return err
			}
			if !record {
				return nil
			}
			return meta.Put(resyncKey, binary.BigEndian.AppendUint64(u64(rr.Start), rr.End))
		})
	}
	err = s.BucketEntries(allDigestBuckets(), func(e replication.Entry) error {
		page = append(page, e)
		size += len(e.Delta) + len(e.ProfileID) + len(e.From)
		if len(page) < resyncPage && size < resyncPageBytes {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := write(false); err != nil {
			return err
		}
		page, size = page[:0], 0
		return nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = write(true)
	}
	if err != nil {
		return ResyncRange{}, fmt.Errorf("store: resync: %w", err)
	}
	s.signalChanged()
	return rr, nil
}

// LastResync returns the range of the last completed Resync (zero if
// none).
func (s *Store) LastResync() (ResyncRange, error) {
	var rr ResyncRange
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(resyncKey); len(v) == 16 {
			rr = ResyncRange{Start: binary.BigEndian.Uint64(v), End: binary.BigEndian.Uint64(v[8:])}
		}
		return nil
	})
	return rr, err
}

func allDigestBuckets() []int {
	all := make([]int, DigestBuckets)
	for i := range all {
		all[i] = i
	}
	return all
}
