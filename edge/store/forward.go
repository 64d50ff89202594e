package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The forward outbox holds the events this edge accepted, as they go to
// a Segment-compatible upstream (edge/forward,
// docs/decisions/0034-forwarding.md). An event enters it in the
// transaction that stores the event (Event.Forward), so an acknowledged
// event is queued for forwarding: a crash after the acknowledgement
// cannot lose it. The forwarder reads it in order (PendingForward) and
// deletes what the upstream took (DeleteForward). Events replicated from
// peers or the hub never enter it: each event is forwarded by the edge
// that accepted it.
//
//	forward  uint64 BE sequence → forward record:
//	         crc32c(key ‖ rest) BE32 ‖ rest, where rest is
//	         int64 BE ms enqueued ‖ uint8 len ‖ profile ID ‖ JSON
//
// The meta keys forwardLenKey and forwardBytesKey count its entries and
// their record bytes; forwardEvictedKey counts, for all time, the
// entries the cap (Options.MaxForwardBytes) dropped.
var (
	bucketForward     = []byte("forward")
	forwardLenKey     = []byte("forward_len")
	forwardBytesKey   = []byte("forward_bytes")
	forwardEvictedKey = []byte("forward_evicted")
)

// forwardHeader is the length of a forward record before its profile ID.
const forwardHeader = sumLen + 8 + 1

// ForwardEntry is one event waiting in the forward outbox.
type ForwardEntry struct {
	// Seq is its position; entries are forwarded in Seq order.
	Seq uint64
	// ProfileID is the canonical profile the event landed on (redirects
	// followed when it was read), for suppression checks.
	ProfileID string
	// Enqueued is when it was accepted (the commit's clock).
	Enqueued time.Time
	// JSON is the message as it is sent (profile.Message.Upstream); the
	// caller owns it. Nil when Damaged.
	JSON []byte
	// Damaged: the record failed its checksum; it cannot be sent and is
	// for the caller to delete and count.
	Damaged bool
}

// ForwardStats describe the forward outbox.
type ForwardStats struct {
	// Len and Bytes are its entries and their stored size.
	Len   int
	Bytes int64
	// Oldest is when its oldest entry was accepted (zero when empty).
	Oldest time.Time
	// Evicted counts, over the file's life, entries dropped unsent
	// because the outbox reached Options.MaxForwardBytes.
	Evicted uint64
}

// sealForward returns the forward record of body filed under key.
func sealForward(key []byte, nowMs int64, pid string, body []byte) []byte {
	b := make([]byte, forwardHeader, forwardHeader+len(pid)+len(body))
	binary.BigEndian.PutUint64(b[sumLen:], uint64(nowMs))
	b[sumLen+8] = byte(len(pid))
	b = append(append(b, pid...), body...)
	binary.BigEndian.PutUint32(b, recordSum(key, b[sumLen:]))
	return b
}

// openForward decodes forward record b filed under key; ok is false if it
// fails its checksum or is malformed. The JSON is copied.
func openForward(key, b []byte) (ms int64, pid string, body []byte, ok bool) {
	if len(b) < forwardHeader || binary.BigEndian.Uint32(b) != recordSum(key, b[sumLen:]) {
		return 0, "", nil, false
	}
	n := int(b[sumLen+8])
	if len(b) < forwardHeader+n {
		return 0, "", nil, false
	}
	ms = int64(binary.BigEndian.Uint64(b[sumLen:]))
	pid = string(b[forwardHeader : forwardHeader+n])
	body = append([]byte(nil), b[forwardHeader+n:]...)
	return ms, pid, body, true
}

// queueForward appends body, the upstream form of an event that landed
// on profile pid, to the forward outbox (see Event.Forward).
func (w *writer) queueForward(pid string, body []byte) error {
	if len(pid) > 255 {
		return fmt.Errorf("store: forward: profile ID of %d bytes", len(pid))
	}
	b := w.tx.Bucket(bucketForward)
	b.FillPercent = appendFill
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	key := u64(seq)
	rec := sealForward(key, w.nowMs, pid, body)
	w.fwdLen++
	w.fwdBytes += int64(len(rec))
	return b.Put(key, rec)
}

// capForward drops the oldest forward entries while the outbox holds
// more than Options.MaxForwardBytes, counting them in forwardEvictedKey;
// then it adds the transaction's changes to the gauges. flush calls it.
func (w *writer) capForward() error {
	if w.fwdLen == 0 {
		return nil
	}
	meta := w.tx.Bucket(bucketMeta)
	n := int64(readU64(meta.Get(forwardLenKey))) + w.fwdLen
	size := int64(readU64(meta.Get(forwardBytesKey))) + w.fwdBytes
	var evicted uint64
	if limit := w.s.opts.MaxForwardBytes; limit > 0 {
		c := w.tx.Bucket(bucketForward).Cursor()
		for k, v := c.First(); k != nil && size > limit; k, v = c.First() {
			size -= int64(len(v))
			n--
			evicted++
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	if evicted > 0 {
		if err := meta.Put(forwardEvictedKey, u64(readU64(meta.Get(forwardEvictedKey))+evicted)); err != nil {
			return err
		}
	}
	if err := meta.Put(forwardLenKey, u64(uint64(max(n, 0)))); err != nil {
		return err
	}
	return meta.Put(forwardBytesKey, u64(uint64(max(size, 0))))
}

// PendingForward returns forward entries with sequence > after, oldest
// first: at most limit, and no more than maxBytes of JSON together
// (always at least one entry when any is pending, however large). The
// caller owns the result.
func (s *Store) PendingForward(after uint64, limit, maxBytes int) ([]ForwardEntry, error) {
	s.waitApplied() // see Append
	var out []ForwardEntry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketForward).Cursor()
		size := 0
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			e := ForwardEntry{Seq: binary.BigEndian.Uint64(k)}
			ms, pid, body, ok := openForward(k, v)
			if !ok {
				e.Damaged = true
				out = append(out, e)
				continue
			}
			if len(out) > 0 && size+len(body) > maxBytes {
				break
			}
			size += len(body)
			cid, err := resolveIn(tx, pid)
			if err != nil {
				cid = pid
			}
			e.ProfileID, e.Enqueued, e.JSON = cid, time.UnixMilli(ms).UTC(), body
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read forward outbox: %w", err)
	}
	return out, nil
}

// DeleteForward removes the forward entries seqs (the upstream took
// them, or they were dropped); sequences no longer there (evicted,
// deleted before) are skipped. Durable on return. It returns how many
// were deleted.
func (s *Store) DeleteForward(seqs []uint64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketForward)
		var size int64
		for _, seq := range seqs {
			k := u64(seq)
			v := b.Get(k)
			if v == nil {
				continue
			}
			size += int64(len(v))
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return forwardGauges(tx, -int64(n), -size)
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete from forward outbox: %w", err)
	}
	return n, nil
}

// PurgeForward deletes every forward entry whose profile (canonical, as
// PendingForward reports it) drop selects, and every damaged one. It is
// the hook for erasure (issue 12): an erased person's events must leave
// the queue, not only be skipped when their turn comes. It reads the
// whole outbox in one transaction. drop must not block or call the
// store. It returns how many were deleted.
func (s *Store) PurgeForward(drop func(profileID string) bool) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketForward)
		var size int64
		var gone [][]byte
		err := b.ForEach(func(k, v []byte) error {
			_, pid, _, ok := openForward(k, v)
			if ok {
				if cid, err := resolveIn(tx, pid); err == nil {
					pid = cid
				}
			}
			if !ok || drop(pid) {
				size += int64(len(v))
				gone = append(gone, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(gone)
		return forwardGauges(tx, -int64(n), -size)
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge forward outbox: %w", err)
	}
	return n, nil
}

// forwardGauges adds dn entries and dsize bytes to the outbox's gauges.
func forwardGauges(tx *bolt.Tx, dn, dsize int64) error {
	if dn == 0 && dsize == 0 {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	n := max(int64(readU64(meta.Get(forwardLenKey)))+dn, 0)
	size := max(int64(readU64(meta.Get(forwardBytesKey)))+dsize, 0)
	if err := meta.Put(forwardLenKey, u64(uint64(n))); err != nil {
		return err
	}
	return meta.Put(forwardBytesKey, u64(uint64(size)))
}

// ForwardStats returns the forward outbox's gauges. It reads two meta
// keys and one record: cheap enough for every metrics scrape.
func (s *Store) ForwardStats() (ForwardStats, error) {
	s.waitApplied() // see Append
	var st ForwardStats
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		st.Len = int(readU64(meta.Get(forwardLenKey)))
		st.Bytes = int64(readU64(meta.Get(forwardBytesKey)))
		st.Evicted = readU64(meta.Get(forwardEvictedKey))
		if k, v := tx.Bucket(bucketForward).Cursor().First(); k != nil && len(v) >= forwardHeader {
			st.Oldest = time.UnixMilli(int64(binary.BigEndian.Uint64(v[sumLen:]))).UTC()
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("store: forward stats: %w", err)
	}
	return st, nil
}

// checkForward reports forward records that fail their checksum and
// gauges that disagree with the bucket (Check).
func checkForward(tx *bolt.Tx, report func(error) bool) {
	b := tx.Bucket(bucketForward)
	if b == nil {
		return // a file from before forwarding, opened read-only by Verify
	}
	var n, size int64
	err := b.ForEach(func(k, v []byte) error {
		n++
		size += int64(len(v))
		if _, _, _, ok := openForward(k, v); !ok && !report(fmt.Errorf("%w: forward entry %x fails its checksum", ErrDamaged, k)) {
			return errStop
		}
		return nil
	})
	if err != nil {
		return
	}
	meta := tx.Bucket(bucketMeta)
	if got := int64(readU64(meta.Get(forwardLenKey))); got != n {
		report(fmt.Errorf("store: forward gauge %d, %d stored", got, n))
	} else if got := int64(readU64(meta.Get(forwardBytesKey))); got != size {
		report(fmt.Errorf("store: forward bytes gauge %d, %d stored", got, size))
	}
}
