package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"ucv/crdt/codec"
	"ucv/replication"
)

// The outbox holds replication.Entry values in commit order, keyed by
// their sequence (Entry.Seq, the bucket's big-endian key). On disk a
// value is the msgpack array [kind, profile ID, from, delta] — the
// sequence lives in the key, not in the value as on the wire
// (replication.EncodeEntryList) — and that encoding is fixed: data
// files written since schema 1 hold it.

// encodeOutbox encodes e for the outbox bucket; e.Seq is left out (the
// caller writes it as the key).
func encodeOutbox(e replication.Entry) ([]byte, error) {
	enc := codec.GetEncoder()
	defer codec.PutEncoder(enc)
	if err := codec.FirstErr(enc.EncodeArrayLen(4), enc.EncodeUint(uint64(e.Kind)), enc.EncodeString(e.ProfileID),
		enc.EncodeString(e.From), enc.EncodeBytes(e.Delta)); err != nil {
		return nil, fmt.Errorf("store: encode outbox entry: %w", err)
	}
	return append([]byte(nil), enc.Bytes()...), nil
}

// decodeOutbox reads a value encodeOutbox wrote under key seq. The
// result does not alias b, which may be a bbolt page.
func decodeOutbox(seq uint64, b []byte) (replication.Entry, error) {
	d := codec.NewDecoder(b)
	if err := d.ExpectArray(4); err != nil {
		return replication.Entry{}, err
	}
	k, err1 := d.Uint()
	id, err2 := d.String()
	from, err3 := d.String()
	delta, err4 := d.Bytes()
	if err := codec.FirstErr(err1, err2, err3, err4); err != nil {
		return replication.Entry{}, err
	}
	return replication.Entry{Seq: seq, Kind: replication.Kind(k), ProfileID: id, From: from, Delta: delta}, nil
}

// Outbox returns up to limit entries with sequence > after, in order,
// once every event acknowledged before the call is applied (see Append).
func (s *Store) Outbox(after uint64, limit int) ([]replication.Entry, error) {
	s.waitApplied()
	return s.CommittedOutbox(after, limit)
}

// CommittedOutbox is Outbox without the wait: it returns what is
// committed now. It is for a reader that follows the outbox from a
// cursor and waits on Changed between passes (gossip, hub sync): what it
// does not see yet is committed later and signalled. Outbox's wait
// would make the applier commit its open transaction at every pass
// (docs/decisions/0097-outbox-readers-follow-commits.md).
func (s *Store) CommittedOutbox(after uint64, limit int) ([]replication.Entry, error) {
	var out []replication.Entry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			e, err := decodeOutbox(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return fmt.Errorf("store: outbox entry %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// TrimOutbox deletes the entries with sequence <= upTo once the hub has
// acknowledged them — but never past a persisted reader cursor (see
// SetCursor), so an entry gossip has not yet published stays until it
// has. It returns how many were deleted.
func (s *Store) TrimOutbox(upTo uint64) (int, error) {
	n := 0
	err := s.dbUpdate(func(tx *bolt.Tx) error {
		var err error
		n, err = trimOutboxUpTo(tx, upTo)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: trim outbox: %w", err)
	}
	return n, nil
}

// trimOutboxUpTo deletes the entries up to upTo in tx, never past a
// reader cursor tx holds.
func trimOutboxUpTo(tx *bolt.Tx, upTo uint64) (int, error) {
	mc := tx.Bucket(bucketMeta).Cursor()
	prefix := []byte("cursor:")
	for k, v := mc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = mc.Next() {
		upTo = min(upTo, readU64(v))
	}
	return trimOutbox(tx, upTo, -1)
}

// TrimOutboxFor deletes, oldest first and at most limit, the entries
// every named reader's cursor has passed, whatever other cursors say;
// with no readers named, any entry. It is for an edge without a hub:
// nothing else will read those entries, and a push cursor left by a hub
// it no longer syncs with must not pin the outbox for ever. A hub
// attached later finds the first sequences gone and the edge resyncs its
// full state (edge/hubsync, docs/decisions/0024-hub-resync.md). It returns
// how many were deleted. It waits for the applier's open transaction to
// commit by itself rather than cutting it short (dbUpdatePatient), so
// under load it may take up to Options.CommitAge.
func (s *Store) TrimOutboxFor(limit int, readers ...string) (int, error) {
	upToIn := func(tx *bolt.Tx) uint64 {
		upTo := ^uint64(0)
		meta := tx.Bucket(bucketMeta)
		for _, r := range readers {
			upTo = min(upTo, readU64(meta.Get([]byte("cursor:"+r))))
		}
		return upTo
	}
	// Called every second on an idle edge: look first in a read
	// transaction, so nothing to trim costs no commit and no fsync.
	var some bool
	if err := s.view(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketOutbox).Cursor().First()
		some = k != nil && binary.BigEndian.Uint64(k) <= upToIn(tx)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("store: trim outbox: %w", err)
	}
	if !some {
		return 0, nil
	}
	n := 0
	err := s.dbUpdatePatient(func(tx *bolt.Tx) error {
		var err error
		n, err = trimOutbox(tx, upToIn(tx), limit)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: trim outbox: %w", err)
	}
	return n, nil
}

// trimOutbox deletes up to limit (all when negative) entries with
// sequence <= upTo and keeps the outbox gauge.
//
// The keys are listed first and deleted after: deleting at the cursor
// and starting again from First walked, within the transaction, over
// every leaf already emptied (bbolt rebalances at commit) — quadratic
// in the entries trimmed, ~5 % of an edge's CPU under ingest with no
// reader (bench/README.md, "The outbox trim").
func trimOutbox(tx *bolt.Tx, upTo uint64, limit int) (int, error) {
	const chunk = 10000 // keys listed at a time: bounded memory however long the outbox
	b := tx.Bucket(bucketOutbox)
	n := 0
	keys := make([][]byte, 0, chunk)
	for n != limit {
		want := chunk
		if limit >= 0 {
			want = min(chunk, limit-n)
		}
		keys = keys[:0]
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= upTo && len(keys) < want; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k)) // k is the page's: valid only until the bucket changes
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return n, err
			}
			n++
		}
		if len(keys) < want {
			break
		}
	}
	if n == 0 {
		return 0, nil
	}
	meta := tx.Bucket(bucketMeta)
	left := max(int64(readU64(meta.Get(outboxKey)))-int64(n), 0)
	return n, meta.Put(outboxKey, u64(uint64(left)))
}

// Changed returns a channel that is closed after the next commit that
// appends to the outbox (or a full-state resync), then replaced. It is
// closed, never sent on, so every reader waiting on it wakes: gossip and
// hub sync each wait on it. A replication loop takes the channel before
// it reads Outbox from its cursor, so a commit between the read and the
// wait is not missed, and calls Changed again after each wake-up. Safe
// for concurrent use; it never blocks the committer.
func (s *Store) Changed() <-chan struct{} {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	return s.changed
}

// signalChanged wakes every reader waiting on Changed (the close and
// replace of hub.FSM.Watch).
func (s *Store) signalChanged() {
	s.changedMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.changedMu.Unlock()
}

// Cursor returns the persisted position of the named outbox reader (0 if
// it never saved one).
func (s *Store) Cursor(name string) (uint64, error) {
	var v uint64
	err := s.view(func(tx *bolt.Tx) error {
		v = readU64(tx.Bucket(bucketMeta).Get([]byte("cursor:" + name)))
		return nil
	})
	return v, err
}

// SetCursor persists the named outbox reader's position (durable on
// return). Readers save it after the entries up to seq are delivered.
func (s *Store) SetCursor(name string, seq uint64) error {
	return s.dbUpdate(putCursor(name, seq))
}

// putCursor returns the write of the named reader's cursor.
func putCursor(name string, seq uint64) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("cursor:"+name), u64(seq))
	}
}

// Position returns the named persisted position that is not an outbox
// sequence (e.g. the hub feed's Raft index), 0 if never saved. Unlike a
// Cursor it never holds back TrimOutbox.
func (s *Store) Position(name string) (uint64, error) {
	var v, epoch uint64
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		v = readU64(meta.Get([]byte("pos:" + name)))
		epoch = readU64(meta.Get([]byte("refetch:" + name)))
		return nil
	})
	if err == nil {
		s.posMu.Lock()
		s.posEpoch[name] = epoch
		s.posMu.Unlock()
	}
	return v, err
}

// SetPosition persists a named position (durable on return); it may
// move backwards. A position Options.RefetchPositions names that a
// repair reset to 0 after this process last read it (Position) keeps the
// 0: the value the caller computed from its older reading would undo
// the reset (hub sync's long-poll was in flight when the damage was
// found).
func (s *Store) SetPosition(name string, v uint64) error {
	s.posMu.Lock()
	seen, read := s.posEpoch[name]
	s.posMu.Unlock()
	p := &position{name: name, v: v, epoch: seen, checkEpoch: read}
	return s.dbUpdate(func(tx *bolt.Tx) error { return p.put(tx.Bucket(bucketMeta)) })
}

// LastSeq returns the sequence of the newest outbox entry (0 if none
// was ever written) once every event acknowledged before the call is
// applied (see Append).
func (s *Store) LastSeq() (uint64, error) {
	s.waitApplied()
	return s.CommittedLastSeq()
}

// CommittedLastSeq is LastSeq without the wait, for the readers
// CommittedOutbox describes.
func (s *Store) CommittedLastSeq() (uint64, error) {
	var v uint64
	err := s.view(func(tx *bolt.Tx) error {
		v = tx.Bucket(bucketOutbox).Sequence()
		return nil
	})
	return v, err
}
