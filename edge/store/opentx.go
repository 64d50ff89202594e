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
//   - nothing more is queued and it is Options.IdleCommit old (a lightly
//     loaded edge commits what arrived in that time: decision 0107), or
//     nothing has arrived for Options.IdleGap (an isolated event on a
//     quiet edge is committed, and seen by those who read only what is
//     committed, within about IdleGap: decision 0113),
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
	// start is when it began, last when its latest batch was applied
	// (IdleCommit and IdleGap count from them).
	start, last time.Time
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
	// Deferred events are applied once settleAt profiles wait, not all
	// at the commit (later.go): a commit of 16k events would otherwise
	// hold the applier for all of them at once, and acknowledgements
	// wait while it does.
	at := settleAt
	if s.opts.settleAt > 0 {
		at = s.opts.settleAt
	}
	if len(w.later) >= at {
		if err := w.settle(); err != nil {
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
	o.last = time.Now()
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
		if s.waiting.Load() != 0 {
			return CommitWaiter, true
		}
		if s.opts.IdleCommit < 0 || s.abort.Load() || !time.Now().Before(s.idleDue()) {
			return CommitIdle, true
		}
		return 0, false // the applier waits for more, a waiter or the time (nextRequest)
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

// idleDue is when the open transaction, with nothing queued, is due
// for its idle commit: IdleCommit after its start or, sooner, IdleGap
// after its latest batch.
func (s *Store) idleDue() time.Time {
	due := s.open.start.Add(s.opts.IdleCommit)
	if s.opts.IdleGap > 0 {
		if gap := s.open.last.Add(s.opts.IdleGap); gap.Before(due) {
			due = gap
		}
	}
	return due
}

// wait counts the caller among those waiting for the applier to commit
// (the caller undoes it with s.waiting.Add(-1)) and wakes an applier
// keeping its transaction open with nothing queued.
func (s *Store) wait() {
	s.waiting.Add(1)
	select {
	case s.nudge <- struct{}{}:
	default: // a nudge is pending already
	}
}

// nextRequest returns the next queued request, false once the queue is
// closed. While the applier's transaction is open with nothing queued
// (commitReason kept it open for Options.IdleCommit), it waits for a
// request only until the transaction is due, someone waits for it
// (wait) or the queue closes, and commits the transaction first — on a
// closed queue too, unless Close gave up (then its requests are
// refused; the logged ones are replayed at the next open). idle is the
// applier's timer, stopped on return.
func (s *Store) nextRequest(idle *time.Timer) (*request, bool) {
	for s.open.tx != nil {
		var r *request
		ok, got := true, false
		select {
		case r, ok = <-s.queue:
			got = true
		default:
			idle.Reset(time.Until(s.idleDue()))
			if s.opts.idleHook != nil {
				s.opts.idleHook()
			}
			select {
			case r, ok = <-s.queue:
				got = true
			case <-s.nudge:
				if s.waiting.Load() == 0 && time.Now().Before(s.idleDue()) {
					// A nudge left by a waiter an earlier commit served:
					// the transaction is not due, nobody waits.
					idle.Stop()
					continue
				}
			case <-idle.C:
			}
			idle.Stop()
		}
		if got && ok {
			return r, true
		}
		start := time.Now()
		var done []*request
		if s.abort.Load() {
			done = s.txAbandon()
			for _, r := range done {
				s.refuse(r)
			}
		} else {
			why := CommitIdle // due
			switch {
			case !ok:
				why = CommitClosing
			case s.waiting.Load() != 0:
				why = CommitWaiter
			}
			s.commitsBy[why].Add(1)
			done = s.commitOpen()
		}
		s.applyNanos.Add(int64(time.Since(start)))
		for _, r := range done {
			s.release(r)
		}
		if !ok {
			return nil, false
		}
	}
	r, ok := <-s.queue
	return r, ok
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
		// The dedupe index holds the commit's entries before any reader
		// can see them, and lets expired ones go only after (dedupe.go).
		s.dedupe.add(w.byTime, w.ddAdd)
		start := time.Now()
		stop := s.commitWriteback()
		err = tx.Commit()
		stop()
		s.txCommitNanos.Add(int64(time.Since(start)))
		if err == nil {
			s.dedupe.forget(w.ddGone)
		} else {
			s.dedupe.forget(w.ddAdd)
		}
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
