package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"ucv/crdt"
	"ucv/profile"
	"ucv/replication"
)

// Damage found while the store runs, and its repair.
//
// Every profile state and view carries a checksum (record.go), verified
// whenever it is read. What happens then:
//
//   - A view that fails (or is missing beside its profile) is not served:
//     the read answers ErrDamaged and asks the committer to repair it.
//     The committer re-renders the view from the profile's state, which
//     is all a view is; the next read serves it. Damage inside a view's
//     evaluation can also make it look stale to the sweep, whose
//     refresh re-renders it the same way — and counts it the same way
//     (writer.refresh), whichever of the two comes first.
//   - A profile state that fails cannot be rebuilt here. Wherever it is
//     found — a read, identity resolution, an incoming change, an
//     anti-entropy walk — it is set aside: the damaged record goes to the
//     quarantine bucket, an empty stand-in takes its place so ingest goes
//     on (new events land on it and are replicated as usual), the profile
//     is listed in the repair bucket and its view flagged, so reads of it
//     answer ErrDamaged instead of the stand-in. Its digest bucket is
//     recomputed from what is stored: it now differs from the peers', so
//     gossip's anti-entropy pulls that bucket's full states from a peer;
//     and positions named in Options.RefetchPositions (the hub feed's)
//     are reset, so hub sync pulls the hub's copy of every cluster again.
//   - The first full state of the profile that arrives from a peer
//     (ApplyStates) or the hub (ApplyClusters, BootstrapClusters) is
//     joined into the stand-in and completes the repair: the profile
//     leaves the repair bucket and is served again. A delta (gossip's
//     rumours) does not complete it: it is not the whole profile.
//   - Meanwhile the stand-in merges with no other profile (apart): its
//     identifiers are unknown, so neither the identity rules' limits nor
//     a peer's merge can be checked against it. Events that name its
//     identifiers still land on it.
//
// Anti-entropy never sends a damaged state or a stand-in as a full state
// (BucketEntries skips both), so damage does not spread to replicas.
// Counters: Stats.ViewMismatches, StateMismatches, Repairing, Repaired.

// writerDamage is what one write transaction found damaged and repaired.
type writerDamage struct {
	quarantined map[string]bool // states set aside in this transaction
	completed   map[string]bool // repairs a replica's full state completed
	gone        map[string]bool // profiles under repair merged away
	rebuilt     map[string]bool // views re-rendered after failing their checksum
	rehash      map[int]bool    // digest buckets to recompute from the stored records
	// repairing caches whether the repair bucket holds anything: 0 not
	// checked yet, 1 no, 2 yes.
	repairing int8
}

func mark[K comparable](m *map[K]bool, k K) {
	if *m == nil {
		*m = map[K]bool{}
	}
	(*m)[k] = true
}

// quarantine sets aside the damaged record b of profile id (see above)
// and returns the empty stand-in, cached and dirty.
func (w *writer) quarantine(id string, b []byte) (*profile.Profile, error) {
	if err := w.tx.Bucket(bucketQuarantine).Put([]byte(id), append([]byte(nil), b...)); err != nil {
		return nil, err
	}
	meta := w.tx.Bucket(bucketMeta)
	if err := resetPositions(meta, w.s.opts.RefetchPositions); err != nil {
		return nil, err
	}
	p := profile.New(id)
	w.cache[id] = p
	if _, ok := w.before[id]; !ok {
		w.before[id] = nil // its identifiers are unknown: keep their holders entries
	}
	w.dirty[id] = true
	w.markFull(id)
	mark(&w.dmg.quarantined, id)
	delete(w.dmg.completed, id)
	mark(&w.dmg.rehash, BucketOf(id))
	return p, nil
}

// repair handles a read's report that profile id (or its view) failed
// verification: the view is re-rendered from the state, and a damaged
// state is quarantined (load does that).
func (w *writer) repair(id string) error {
	cid := w.canonical(id)
	key := []byte(cid)
	views := w.tx.Bucket(bucketViews)
	stored := !w.deleted[cid] && w.profiles.Get(key) != nil
	if v := views.Get(key); v == nil || viewFailsSum(key, v) {
		if !stored {
			if v != nil {
				w.mem.id(cid)
				return views.Delete(key) // a view left without its profile
			}
			return nil
		}
		mark(&w.dmg.rebuilt, cid)
	}
	if _, ok := w.cache[cid]; !ok {
		if !stored {
			return nil
		}
		if _, err := w.load(cid); err != nil {
			return err
		}
	}
	w.dirty[cid] = true
	w.markFull(cid)
	return nil
}

// completeRepair records that a replica's full state of profile id was
// joined in this transaction: if it was under repair, it is whole again.
func (w *writer) completeRepair(id string) {
	cid := w.canonical(id)
	if !w.isRepairing(cid) {
		return
	}
	delete(w.dmg.quarantined, cid)
	mark(&w.dmg.completed, cid)
	if _, ok := w.cache[cid]; ok {
		w.dirty[cid] = true
		w.markFull(cid) // re-render its view without the flag
	}
}

// isRepairing reports whether profile id is (as of this transaction)
// waiting for a replica's copy.
func (w *writer) isRepairing(id string) bool {
	if w.dmg.quarantined[id] {
		return true
	}
	if w.dmg.completed[id] || w.dmg.gone[id] {
		return false
	}
	rb := w.tx.Bucket(bucketRepair)
	if w.dmg.repairing == 0 {
		w.dmg.repairing = 1
		if k, _ := rb.Cursor().First(); k != nil {
			w.dmg.repairing = 2
		}
	}
	return w.dmg.repairing == 2 && rb.Get([]byte(id)) != nil
}

// unhash removes stored record old of profile id from the digest. The
// digest holds the hash of the state that was written; a damaged record
// no longer yields it, so its digest bucket is recomputed instead.
func (w *writer) unhash(id string, old []byte) {
	state, err := openProfile([]byte(id), old)
	if err != nil {
		mark(&w.dmg.rehash, BucketOf(id))
		return
	}
	w.digest[BucketOf(id)] ^= itemHash('p', id, state)
}

// settleRepairs runs first in flush: a profile under repair that was
// merged away leaves the repair list. Only the hub merges one (apart
// keeps identity rules and peers' merges away from a stand-in), and the
// hub's cluster state it merges with holds the fragment's state: the
// survivor is whole.
func (w *writer) settleRepairs() {
	for _, id := range crdt.SortedKeys(w.deleted) {
		if w.isRepairing(id) {
			delete(w.dmg.quarantined, id)
			mark(&w.dmg.gone, id)
		}
	}
}

// viewFlags returns the flags of the views of ids about to be written.
func (w *writer) viewFlags(ids []string) []byte {
	flags := make([]byte, len(ids))
	for i, id := range ids {
		if w.isRepairing(id) {
			flags[i] = viewRepairing
		}
	}
	return flags
}

// finishRepairs runs in flush after the records are written: it updates
// the repair bucket and recomputes the digest buckets damage touched.
func (w *writer) finishRepairs() error {
	rb := w.tx.Bucket(bucketRepair)
	for _, id := range crdt.SortedKeys(w.dmg.quarantined) {
		if err := rb.Put([]byte(id), u64(uint64(w.nowMs))); err != nil {
			return err
		}
	}
	for _, set := range []map[string]bool{w.dmg.completed, w.dmg.gone} {
		for _, id := range crdt.SortedKeys(set) {
			if err := rb.Delete([]byte(id)); err != nil {
				return err
			}
		}
	}
	for b := range w.dmg.rehash {
		w.digest[b] = digestOf(w.tx, b)
	}
	return nil
}

// requestRepair asks the committer, without waiting, to repair profile
// id, which failed verification on a read (a read transaction cannot
// write). A request for a profile already queued is dropped, as is one
// that finds the queue full or the store closed: the next read of the
// profile asks again.
func (s *Store) requestRepair(id string) {
	s.repairMu.Lock()
	if s.repairQueued[id] {
		s.repairMu.Unlock()
		return
	}
	s.repairQueued[id] = true
	s.repairMu.Unlock()
	r := &request{repair: []string{id}, done: make(chan struct{})}
	s.mu.RLock()
	sent := false
	if !s.closed {
		s.holdFor(r) // released by the applier (commitLoop)
		select {
		case s.queue <- r:
			sent = true
		default:
			s.release(r)
		}
	}
	s.mu.RUnlock()
	if !sent {
		s.repairDone(r.repair)
	}
}

// repairDone forgets the queued repair requests of ids.
func (s *Store) repairDone(ids []string) {
	if len(ids) == 0 {
		return
	}
	s.repairMu.Lock()
	for _, id := range ids {
		delete(s.repairQueued, id)
	}
	s.repairMu.Unlock()
}

// reportRepairs counts and logs what a committed transaction found
// damaged and repaired (profile IDs only: never identifiers).
func (s *Store) reportRepairs(w *writer) {
	d := &w.dmg
	for _, id := range crdt.SortedKeys(d.rebuilt) {
		s.viewMismatches.Add(1)
		s.log.Warn("stored view failed its checksum; rebuilt it from the profile's state", "profile", id)
	}
	for _, id := range crdt.SortedKeys(d.quarantined) {
		s.stateMismatches.Add(1)
		s.log.Warn("stored profile state failed its checksum; set it aside and serve errors for it until a peer or the hub sends its copy",
			"profile", id, "refetch", s.opts.RefetchPositions)
	}
	for _, id := range crdt.SortedKeys(d.completed) {
		s.repaired.Add(1)
		s.log.Info("damaged profile repaired from a replica's copy", "profile", id)
	}
}

// ApplyStates is ApplyRemote for full states a peer sent (anti-entropy's
// BucketEntries): besides merging each, it completes the repair of a
// profile whose own state was found damaged here. Deltas must go through
// ApplyRemote: a delta is not the whole profile.
func (s *Store) ApplyStates(ctx context.Context, entries []replication.Entry) (ApplyResult, error) {
	return s.applyRemote(ctx, entries, true)
}

// verifiedState returns the state in profile record v of id, or nil if
// the record fails its checksum (its repair is then requested) or the
// profile is under repair (its stand-in is not a full state).
func (s *Store) verifiedState(tx *bolt.Tx, id, v []byte) []byte {
	state, err := openProfile(id, v)
	if err != nil {
		s.requestRepair(string(id))
		return nil
	}
	if tx.Bucket(bucketRepair).Get(id) != nil {
		return nil
	}
	return state
}

// errRepairing is the read error of a profile under repair.
func errRepairing(id string) error {
	return fmt.Errorf("%w: profile %s: its state was damaged here and waits for a replica's copy", ErrDamaged, id)
}

// resetPositions sets the named positions to 0 and moves each one's
// refetch epoch on, so a SetPosition computed from an earlier reading
// cannot undo the reset (see SetPosition).
func resetPositions(meta *bolt.Bucket, names []string) error {
	for _, name := range names {
		epoch := []byte("refetch:" + name)
		if err := meta.Put(epoch, u64(readU64(meta.Get(epoch))+1)); err != nil {
			return err
		}
		if err := meta.Put([]byte("pos:"+name), u64(0)); err != nil {
			return err
		}
	}
	return nil
}
