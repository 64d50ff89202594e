package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
)

// The write path (decision 0050): Append hands an event request to the
// appender (appendLoop), which logs what is queued in one write and one
// fdatasync, queues the requests for the applier in log order and only
// then acknowledges them — or, with the appender idle and the applier
// keeping up, the caller logs its request (and what is queued) itself
// (decision 0108). The applier (commitLoop) commits them in
// large batches with the requests of other kinds, storing the last
// applied log position in the same transaction; reads wait until the
// applier has caught up with what was acknowledged when they started —
// lookups only with what can change their answer (pending.go,
// docs/decisions/0063-targeted-read-fence.md).

// maxApplyLag bounds the events (and the logged requests) acknowledged
// and not yet applied: the appender waits while more are outstanding,
// so sustained ingest runs at the applier's pace and recovery replays
// at most this many — plus the Options.CommitEvents the applier's open
// transaction may hold (opentx.go). It is the hard bound: past
// Options.PaceAbove the appender already admits at the applier's rate
// (pace.go), and the room between the two takes what arrives while the
// applier commits.
const maxApplyLag = 32768

// maxApplyBatch caps the logged events one applier batch takes (and
// MaxBatchEvents, if smaller, does), so the appender finds room while a
// batch applies instead of stalling behind one batch of everything
// outstanding (a 16k-event batch held acknowledgements back for 1.5 s
// under load).
const maxApplyBatch = 2048

// readWaitMax bounds how long a read waits for the applier: with the
// data file refusing writes (a full disk) reads serve what is applied
// instead of hanging.
const readWaitMax = 5 * time.Second

// applyRetryMax caps the pause between attempts to apply logged events
// whose commit failed for a storage reason.
const applyRetryMax = time.Second

// appendLoop is the appender: woken by walKick, it logs what is queued
// as groups (appendGroup) until the queue is empty. Requests leave walQ
// only under appendMu, so whoever holds it — the appender, or a caller
// of Append that found it free (decision 0108) — logs everything queued
// before it took it. It exits once Close has closed walKick and the
// queue is empty.
func (s *Store) appendLoop() {
	defer close(s.walDone)
	for {
		_, open := <-s.walKick
		s.appendMu.Lock()
		for batch := s.drainWAL(nil); len(batch) > 0; batch = s.drainWAL(nil) {
			s.appendGroup(batch, false)
		}
		s.appendMu.Unlock()
		if !open {
			return
		}
	}
}

// drainWAL returns batch with the requests queued for the appender
// added, up to Options.QueueLen.
func (s *Store) drainWAL(batch []*request) []*request {
	for len(batch) < s.opts.QueueLen {
		select {
		case r, ok := <-s.walQ:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// appendGroup writes one record per request of batch, syncs once,
// queues the requests for the applier in log order and acknowledges
// them (closes done; err set if they were not logged). The caller
// holds appendMu: the appender, or (led) a caller of Append that found
// no group being logged (decision 0108).
func (s *Store) appendGroup(batch []*request, led bool) {
	events := 0
	for _, r := range batch {
		events += len(r.evs)
	}
	// At the applier's rate past the soft bound (pace.go), and never
	// past the hard one.
	paced := s.pace.wait(events, s.lagEvents.Load(), time.Now())
	if paced > 0 && !s.abort.Load() {
		time.Sleep(paced)
	} else {
		paced = 0
	}
	if !s.waitRoom() {
		for _, r := range batch {
			r.err = ErrClosed
			close(r.done)
		}
		return
	}
	s.pace.logged(time.Now(), paced)
	buf := s.walBuf[:0]
	first := s.wal.next
	for i, r := range batch {
		r.lsn = first + uint64(i)
		start := len(buf)
		buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
		buf = appendWALPayload(buf, r.lsn, r.payload)
		p := buf[start+walRecHeader:]
		binary.LittleEndian.PutUint32(buf[start:], uint32(len(p)))
		binary.LittleEndian.PutUint32(buf[start+4:], walRecordCRC(p))
	}
	if cap(buf) <= 4<<20 {
		s.walBuf = buf
	} else {
		s.walBuf = nil // do not keep a huge batch's buffer
	}
	err := s.failWrites()
	if err == nil && s.abort.Load() {
		err = ErrClosed // Close gave up waiting: log nothing more
	}
	if err == nil {
		start := time.Now()
		err = s.wal.append(buf, len(batch))
		s.logSyncs.Add(1)
		if led {
			s.ledSyncs.Add(1)
		}
		s.logSyncNanos.Add(int64(time.Since(start)))
	}
	if err != nil {
		if serr := storageError(err); serr != nil {
			s.health.err.Store(&serr)
			err = serr
		}
		for _, r := range batch {
			r.lsn, r.err = 0, err
			close(r.done)
		}
		return
	}
	s.lagEvents.Add(int64(events))
	s.lagReqs.Add(int64(len(batch)))
	s.markPending(batch) // before the applier or any reader can see them (pending.go)
	for _, r := range batch {
		r.payload = nil
		s.queue <- r
	}
	s.pending.queued(batch[len(batch)-1].lsn)
	s.ackedPos.Store(batch[len(batch)-1].lsn)
	for _, r := range batch {
		close(r.done)
	}
}

// failWrites runs Options.FailWrites, the tests' stand-in for a failing
// file system.
func (s *Store) failWrites() error {
	if f := s.opts.FailWrites; f != nil {
		return f()
	}
	return nil
}

// waitRoom waits until the applier's lag is under its bounds. False:
// Close gave up waiting (abort), the batch is refused.
func (s *Store) waitRoom() bool {
	for {
		ch := s.appliedChan()
		if s.abort.Load() {
			return false
		}
		if bound := int64(s.opts.lagBound); s.lagEvents.Load() < bound && s.lagReqs.Load() < bound {
			return true
		}
		<-ch
	}
}

// appliedChan returns the channel closed at the applier's next progress.
func (s *Store) appliedChan() chan struct{} {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.applyCh
}

// broadcastApplied wakes everyone waiting on appliedChan.
func (s *Store) broadcastApplied() {
	s.applyMu.Lock()
	close(s.applyCh)
	s.applyCh = make(chan struct{})
	s.applyMu.Unlock()
}

// waitPos waits until the record at pos is applied. ErrClosed if the
// applier stopped first.
func (s *Store) waitPos(ctx context.Context, pos uint64) error {
	if s.appliedPos.Load() >= pos {
		return nil
	}
	s.wait() // the applier commits rather than keep its transaction open
	defer s.waiting.Add(-1)
	for {
		ch := s.appliedChan()
		if s.appliedPos.Load() >= pos {
			return nil
		}
		if s.applierExited.Load() {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitApplied is the read path's hook for read-your-writes: it returns
// once everything acknowledged when it was called is applied — at once
// (one atomic compare) when nothing is pending. It gives up after
// readWaitMax (the data file refusing writes) or when the store closes;
// the read then serves what is applied.
func (s *Store) waitApplied() {
	a := s.ackedPos.Load()
	if s.appliedPos.Load() >= a {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), readWaitMax)
	defer cancel()
	_ = s.waitPos(ctx, a)
}

// applyBatch applies batch (n events and changes) in the applier's
// open transaction (opentx.go) and returns the requests it finished:
// none while the transaction stays open for the next batch; else every
// request the transaction held, committed and answered, or refused.
// Logged requests are acknowledged already and cannot fail the way the
// others do: a storage failure is retried (with a pause) until it works
// or Close gives up; any other failure is retried one request at a
// time, and a logged request that fails alone is dropped with its error
// recorded (Ingest returns it) and logged.
func (s *Store) applyBatch(batch []*request, n int) []*request {
	// The applier's busy time (Stats.ApplySeconds): what applying took is
	// counted before a commit publishes it, so a read the commit answers
	// sees it; the commit's own time after.
	start := time.Now()
	count := func() {
		now := time.Now()
		s.applyNanos.Add(int64(now.Sub(start)))
		start = now
	}
	defer count()
	if benchCeiling && benchmarkOnly(batch) && s.open.tx == nil {
		for _, r := range batch {
			r.res = IngestResult{ProfileIDs: make([]string, len(r.evs))}
		}
		s.unlag(batch)
		s.applied(batch, n)
		return batch
	}
	prior := s.open.reqs
	if err := s.txApply(batch); err != nil {
		s.txAbandon()
		defer s.unlag(batch) // once answered, as a batch that failed always was
		return s.retry(append(prior[:len(prior):len(prior)], batch...), err)
	}
	// Applied: the open transaction counts it now (openEvents), and
	// before anything of it is published.
	s.unlag(batch)
	why, commit := s.commitReason()
	if !commit {
		return nil
	}
	count()
	s.commitsBy[why].Add(1)
	return s.commitOpen()
}

// commitOpen commits the applier's open transaction, retrying its
// requests as applyBatch describes if the commit fails, and returns
// them.
func (s *Store) commitOpen() []*request {
	all, n := s.open.reqs, s.open.events
	if err := s.txCommit(); err != nil {
		return s.retry(all, err)
	}
	s.applied(all, n)
	return all
}

// retry answers batch, whose transaction failed with err, as applyBatch
// describes, and returns it.
func (s *Store) retry(batch []*request, err error) []*request {
	if errors.Is(err, errAborted) {
		for _, r := range batch {
			s.refuse(r)
		}
		return batch
	}
	// The requests not logged fail as before; the logged ones go on.
	var logged []*request
	for _, r := range batch {
		if r.lsn == 0 {
			r.res, r.err = IngestResult{}, err
			close(r.done)
		} else {
			logged = append(logged, r)
		}
	}
	if len(logged) == 0 {
		return batch
	}
	pause := 10 * time.Millisecond
	for storageError(err) != nil || errors.Is(err, ErrStorageFull) || errors.Is(err, ErrNotWritable) {
		if s.abort.Load() {
			for _, r := range logged {
				s.refuse(r)
			}
			return batch
		}
		time.Sleep(pause)
		pause = min(2*pause, applyRetryMax)
		if err = s.commit(logged); err == nil {
			s.applied(logged, countEvents(logged))
			return batch
		}
		if errors.Is(err, errAborted) {
			for _, r := range logged {
				s.refuse(r)
			}
			return batch
		}
	}
	for _, r := range logged {
		one := []*request{r}
		if err := s.commit(one); err != nil {
			if errors.Is(err, errAborted) || s.abort.Load() {
				s.refuse(r)
				continue
			}
			s.log.Error("store: logged events could not be applied and are dropped", "position", r.lsn, "events", len(r.evs), "err", err)
			r.res, r.err = IngestResult{}, fmt.Errorf("store: apply logged events: %w", err)
			perr := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(walPosKey, u64(r.lsn)) })
			if perr != nil {
				s.log.Error("store: record applied log position", "err", perr)
			}
		}
		s.applied(one, len(r.evs))
	}
	return batch
}

// unlag accounts batch as applied by the applier (in its open
// transaction, or answered): the appender's bound on outstanding events
// (waitRoom) counts what the applier has not reached yet, not what it
// holds in its open transaction. applyBatch calls it once per batch.
func (s *Store) unlag(batch []*request) {
	if events, reqs := loggedEvents(batch); reqs > 0 {
		s.lagEvents.Add(-int64(events))
		s.lagReqs.Add(-int64(reqs))
		s.broadcastApplied() // an appender waiting for room
	}
}

// applied accounts a committed batch: statistics, the applied position,
// waking readers, trimming the log, answering requests not logged.
func (s *Store) applied(batch []*request, n int) {
	s.lastCommitSize.Store(int64(n))
	s.commits.Add(1)
	s.commitEvents.Add(uint64(n))
	b := len(CommitSizeBounds)
	for i, ub := range CommitSizeBounds {
		if float64(n) <= ub {
			b = i
			break
		}
	}
	s.commitHist[b].Add(1)
	pos := uint64(0)
	for _, r := range batch {
		if r.lsn == 0 {
			close(r.done)
			continue
		}
		pos = r.lsn
	}
	if pos != 0 {
		s.appliedPos.Store(pos)
		s.broadcastApplied()
	} else if !s.rollLog.Load() {
		return
	}
	if s.rollLog.Swap(false) {
		// An erasure committed: start a new segment so the records
		// applied so far, the erased person's among them, are removed
		// now rather than when the segment fills.
		if err := s.wal.roll(); err != nil {
			s.log.Warn("store: roll write-ahead log after an erasure", "err", err)
		}
	}
	if err := s.wal.trim(s.appliedPos.Load()); err != nil {
		s.log.Warn("store: trim write-ahead log", "err", err)
	}
}

// lastLSN is the position of the last logged request of batch (0: none).
func lastLSN(batch []*request) uint64 {
	var pos uint64
	for _, r := range batch {
		if r.lsn != 0 {
			pos = r.lsn
		}
	}
	return pos
}

// loggedEvents returns batch's logged requests and their events: what
// the appender counted into the lag.
func loggedEvents(batch []*request) (events, reqs int) {
	for _, r := range batch {
		if r.lsn != 0 {
			events += len(r.evs)
			reqs++
		}
	}
	return events, reqs
}

func countEvents(batch []*request) int {
	n := 0
	for _, r := range batch {
		n += len(r.evs) + len(r.remote) + len(r.clusters)
	}
	return n
}

// countIngested adds a committed batch's stored events (by kind) and
// duplicates to the counters Stats reports.
func (s *Store) countIngested(batch []*request) {
	s.kindMu.Lock()
	defer s.kindMu.Unlock()
	for _, r := range batch {
		if r.evs == nil {
			continue
		}
		s.dupCount.Add(uint64(r.res.Duplicates))
		for i, id := range r.res.ProfileIDs {
			if id != "" {
				s.kindCounts[r.evs[i].Msg.Kind]++
			}
		}
	}
}

// recoverLog opens the write-ahead log and applies the records past the
// position the data file holds, in batches, before anything else runs.
func (s *Store) recoverLog() error {
	var applied uint64
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(walPosKey); v != nil {
			applied = readU64(v)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: read applied log position: %w", err)
	}
	w, pending, err := openWAL(s.opts.Path+".wal", uint64(s.node), applied, s.opts.NoSync)
	if err != nil {
		return err
	}
	s.wal = w
	for len(pending) > 0 {
		var batch []*request
		n := 0
		for len(pending) > 0 && (n == 0 || n+len(pending[0].evs) <= s.opts.MaxBatchEvents) {
			batch = append(batch, &request{evs: pending[0].evs, lsn: pending[0].lsn})
			n += len(pending[0].evs)
			pending = pending[1:]
		}
		if err := s.commit(batch); err != nil {
			w.close(0)
			return fmt.Errorf("store: replay write-ahead log: %w", err)
		}
		applied = lastLSN(batch)
		s.log.Info("store: replayed write-ahead log", "through", applied, "events", n)
	}
	s.appliedPos.Store(applied)
	s.ackedPos.Store(applied)
	if err := w.trim(applied); err != nil {
		s.log.Warn("store: trim write-ahead log", "err", err)
	}
	return nil
}

// IngestedByKind returns, since Open, the events applied (duplicates
// and suppressed events excluded) by message kind, and the duplicates.
func (s *Store) IngestedByKind() (map[profile.Kind]uint64, uint64) {
	s.kindMu.Lock()
	defer s.kindMu.Unlock()
	out := make(map[profile.Kind]uint64, len(s.kindCounts))
	for k, v := range s.kindCounts {
		out[k] = v
	}
	return out, s.dupCount.Load()
}

// benchmarkOnly reports whether batch holds only ingested "Product
// Viewed" events, what `ucv bench ingest` and `bench compare` send to
// measure ingest (their lookup phases load profiles with other events,
// which a benchCeiling build still applies).
func benchmarkOnly(batch []*request) bool {
	for _, r := range batch {
		if len(r.evs) == 0 || r.refresh != nil || r.repair != nil || r.directive != nil || r.clusters != nil || r.remote != nil {
			return false
		}
		for _, ev := range r.evs {
			if ev.Msg == nil || ev.Msg.Event != "Product Viewed" {
				return false
			}
		}
	}
	return true
}
