package store

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The applier's open transaction (docs/decisions/0096-applier-open-transaction.md).
//
// bbolt's cost per profile written falls steeply with the profiles one
// commit rewrites (BenchmarkCheckpointWrite: 75 µs a profile at 100, 44
// at 1,000, 24 at 10,000): copy-on-write pays a whole leaf and its
// branch pages for every profile whose leaf no other dirty profile
// shares. Under sustained ingest the applier therefore keeps one write
// transaction — and one writer, so each touched profile is decoded,
// rendered and encoded once — open across its batches, and commits it
// when
//
//   - nothing more is queued (an idle or lightly loaded edge commits
//     every batch, as before),
//   - anyone waits for it: a read that must see an acknowledged event
//     (waitPos: the read fence, Ingest, Outbox, Stats), another write
//     transaction (dbUpdate) or a compaction,
//   - a request in it is not a logged event or a write behind (remote
//     changes, hub clusters, repairs, directives, refreshes: their
//     callers wait on the commit),
//   - it is Options.CommitAge old or holds Options.CommitEvents events,
//   - or the store is closing.
//
// Nothing outside the applier can tell a transaction that spans batches
// from one large batch: the applied position, the read index, the
// change stream, the digest and the pending set are published when it
// commits, exactly as they were per batch. Acknowledged events stay
// durable in the write-ahead log meanwhile, and recovery replays the log
// from the position the last commit recorded.

// openTx is the applier's write transaction between batches; only the
// applier goroutine touches it.
type openTx struct {
	tx *bolt.Tx // nil: none open
	w  *writer
	// reqs are the requests applied in it, in order; events counts
	// their events, remote changes and clusters.
	reqs   []*request
	events int
	start  time.Time
	// logged is whether every request in it is a logged event request
	// or a write behind (writebehind.go), whose callers do not wait on
	// the commit.
	logged bool
	// before is the storage failure known when it began (see update).
	before *error
}

// txBegin opens the applier's write transaction. It holds the locks a
// write transaction holds (dbUpdate) until txEnd, and consults
// Options.FailWrites as every commit does.
func (s *Store) txBegin() error {
	before := s.health.err.Load()
	s.writeGate.RLock()
	s.dbMu.RLock()
	err := s.failWrites()
	var tx *bolt.Tx
	if err == nil {
		tx, err = s.db.Begin(true)
	}
	if err != nil {
		s.dbMu.RUnlock()
		s.writeGate.RUnlock()
		return s.noteWrite(before, err)
	}
	s.open = openTx{tx: tx, w: newWriter(s, tx), start: time.Now(), logged: true, before: before}
	return nil
}

// txEnd forgets the open transaction (committed or rolled back) and
// releases its locks.
func (s *Store) txEnd() {
	s.open = openTx{}
	s.openEvents.Store(0)
	s.dbMu.RUnlock()
	s.writeGate.RUnlock()
}

// txAbandon rolls the open transaction back, if one is open, and
// returns the requests that were applied in it: none of them is stored.
func (s *Store) txAbandon() []*request {
	o := &s.open
	if o.tx == nil {
		return nil
	}
	reqs := o.reqs
	_ = o.tx.Rollback()
	s.txEnd()
	return reqs
}

// txApply applies batch in the open transaction, opening one if none
// is. On an error the transaction holds part of batch: the caller must
// abandon it.
func (s *Store) txApply(batch []*request) error {
	if s.open.tx == nil {
		if err := s.txBegin(); err != nil {
			return err
		}
	}
	o := &s.open
	w := o.w
	w.nowMs = s.opts.Now().UnixMilli() // each batch is stamped with its own time, as when each was a transaction
	for _, r := range batch {
		if err := s.applyRequest(w, r); err != nil {
			return err
		}
	}
	for _, r := range batch {
		o.reqs = append(o.reqs, r)
		o.events += len(r.evs) + len(r.remote) + len(r.clusters)
		if r.lsn == 0 && r.behind == nil {
			o.logged = false
		}
	}
	s.openEvents.Store(int64(o.events))
	return nil
}

// keepOpen reports whether the applier leaves its transaction open for
// the next batch rather than committing it now (see the top of this
// file).
func (s *Store) keepOpen() bool {
	_, commit := s.commitReason()
	return !commit
}

// commitReason reports whether the applier commits its transaction now,
// and why.
func (s *Store) commitReason() (CommitReason, bool) {
	o := &s.open
	switch {
	case s.opts.CommitAge <= 0:
		return CommitEveryBatch, true
	case !o.logged:
		return CommitRequest, true
	case len(s.queue) == 0:
		return CommitIdle, true
	case s.abort.Load():
		return CommitClosing, true
	case s.waiting.Load() != 0:
		return CommitWaiter, true
	case o.events >= s.opts.CommitEvents:
		return CommitEvents, true
	case time.Since(o.start) >= s.opts.CommitAge:
		return CommitAge, true
	}
	return 0, false
}

// txCommit commits the open transaction: the profile IDs its requests
// answer with made canonical, every touched profile stored and
// rendered (writer.flush), the last log position applied recorded with
// them; then what the commit changed is published. The transaction is
// over whatever it returns. errAborted: Close gave up waiting, nothing
// was stored (the caller refuses the requests).
func (s *Store) txCommit() error {
	o := s.open
	w, tx, batch := o.w, o.tx, o.reqs
	// Merges may have redirected a profile an earlier event landed on.
	for _, r := range batch {
		for i, id := range r.res.ProfileIDs {
			if id != "" {
				r.res.ProfileIDs[i] = w.canonical(id)
			}
		}
	}
	err := s.aborted()
	if err == nil {
		start := time.Now()
		err = w.flush()
		s.flushNanos.Add(int64(time.Since(start)))
	}
	if pos := lastLSN(batch); err == nil && pos != 0 {
		err = tx.Bucket(bucketMeta).Put(walPosKey, u64(pos))
	}
	if err == nil {
		start := time.Now()
		stop := s.commitWriteback()
		err = tx.Commit()
		stop()
		s.txCommitNanos.Add(int64(time.Since(start)))
	} else {
		_ = tx.Rollback()
	}
	s.txEnd()
	if errors.Is(err, errAborted) {
		return err // the caller refuses the batch (and ends its repairs)
	}
	err = s.noteWrite(o.before, err)
	for _, r := range batch {
		s.repairDone(r.repair)
	}
	if err == nil {
		s.sized = w.size()
		s.published(w, batch)
	}
	return err
}
