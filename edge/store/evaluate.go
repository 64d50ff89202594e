package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
	"ucv/profile/catalog"
)

// Evaluation of the catalog on stored profiles (docs/decisions/0032-catalog.md).
//
// Every view is rendered with the catalog's evaluation of its profile —
// user-defined computed traits and audiences — as of the moment it is
// written, and records the catalog's digest and the next moment the
// evaluation can change without a new event (a windowed event ages out,
// a day passes for days_since). A view is stale when the catalog in
// force has another digest or that moment has passed. Reads never serve
// a stale view: they render the profile afresh (one decode and one
// evaluation) and ask for it to be rewritten. A sweep rewrites stale
// views in the background: those whose moment has come, found through
// the due bucket (next-change ms ‖ profile ID, so a sweep reads only
// what is due), and every view after the catalog changes.

// bucketDue indexes views by the moment their evaluation can next
// change: int64 BE ms ‖ profile ID → empty. Created at Open when
// missing (files from before catalogs lack it; nothing else needs it).
var bucketDue = []byte("due")

func dueKey(ms int64, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(ms))
	return append(k, id...)
}

// renderView renders p's view prefix with cat's evaluation as of nowMs.
func renderView(p *profile.Profile, cat *catalog.Compiled, nowMs int64) ([]byte, viewEval, error) {
	return renderViewAfter(p, cat, nowMs, nil)
}

// increment is what an incremental evaluation needs: the previous
// evaluation's memberships and next change, and what changed since.
type increment struct {
	prev     []string
	prevNext int64
	ch       *catalog.Change
}

// renderViewAfter is renderView, evaluating incrementally when inc is
// not nil (catalog.Reevaluate).
func renderViewAfter(p *profile.Profile, cat *catalog.Compiled, nowMs int64, inc *increment) ([]byte, viewEval, error) {
	p, res, ev := evaluateAfter(p, cat, nowMs, inc)
	json, err := p.ViewPrefixWith(res.Computed, res.Audiences)
	if err != nil {
		return nil, viewEval{}, err
	}
	return json, ev, nil
}

// evaluateAfter is renderViewAfter without the rendering: the catalog's
// evaluation of p (incremental when inc is not nil) and what the view
// record keeps of it, and the profile the view renders (the golden
// record's traits, decision 0045).
func evaluateAfter(p *profile.Profile, cat *catalog.Compiled, nowMs int64, inc *increment) (*profile.Profile, catalog.Result, viewEval) {
	p = cat.Survive(p) // the golden record's traits (0045); p itself without policies
	ev := viewEval{digest: cat.Digest(), ok: true}
	var res catalog.Result
	if !cat.Empty() {
		now := time.UnixMilli(nowMs).UTC()
		if inc != nil {
			var prevNext time.Time
			if inc.prevNext != 0 {
				prevNext = time.UnixMilli(inc.prevNext).UTC()
			}
			res = cat.Reevaluate(p, now, inc.prev, prevNext, *inc.ch)
		} else {
			res = cat.Evaluate(p, now)
		}
		if !res.Next.IsZero() {
			ev.nextMs = res.Next.UnixMilli()
		}
		ev.audiences = encodeNames(res.Audiences)
	}
	rank(p, cat, nowMs, res.Audiences, &ev) // decide.go
	return p, res, ev
}

// noteChange records what an ingested event changed in profile id.
func (w *writer) noteChange(id string, ch catalog.Change) {
	if w.change == nil {
		w.change = make(map[string]*catalog.Change, w.s.sized.profiles)
	}
	if c := w.change[id]; c != nil {
		c.Add(ch)
		return
	}
	w.change[id] = &ch
}

// markFull records that profile id changed in a way only a full
// evaluation follows (a merge, a peer's or the hub's state, a repair).
func (w *writer) markFull(id string) { mark(&w.full, id) }

// increments returns, for each of ids, what an incremental evaluation of
// its view needs — or nil where it must be evaluated in full: changed
// by more than ingest, no evaluated view yet (or a stored view that
// fails its checksum), rendered under another catalog, or stale by time.
func (w *writer) increments(views *seekBucket, ids []string) []*increment {
	out := make([]*increment, len(ids))
	if w.change == nil || w.cat.Empty() {
		return out
	}
	for i, id := range ids {
		ch := w.change[id]
		if ch == nil || w.full[id] {
			continue
		}
		old := viewEvalOf(w.storedView(views, id)) // damaged: evaluated in full
		if old.stale(w.cat.Digest(), w.nowMs) {
			continue
		}
		out[i] = &increment{prev: decodeNames(old.audiences), prevNext: old.nextMs, ch: ch}
	}
	return out
}

// putView writes view record rec of id and moves its due entry from the
// old record's moment to ev's; c is the view as the read index takes it
// (nil: a view it must not serve). A record equal to the stored one is
// not written again: a view stored without its JSON changes only with
// its evaluation (decision 0119), and rewriting it would cost the commit
// a copy of its leaf page for nothing.
func (w *writer) putView(views *seekBucket, id string, rec []byte, ev viewEval, c *Cached) error {
	due := w.tx.Bucket(bucketDue)
	stored := w.storedView(views, id)
	if old := viewEvalOf(stored); old.nextMs != 0 && old.nextMs != ev.nextMs {
		if err := due.Delete(dueKey(old.nextMs, id)); err != nil {
			return err
		}
	}
	if ev.nextMs != 0 {
		if err := due.Put(dueKey(ev.nextMs, id), nil); err != nil {
			return err
		}
	}
	if err := w.putDecision(id, ev); err != nil {
		return err
	}
	w.viewWritten(id, c)
	if bytes.Equal(stored, rec) {
		return nil
	}
	return views.Put([]byte(id), rec)
}

// storedView returns profile id's stored view record as flush is about
// to replace it, or nil if there is none or it fails its checksum.
// Damage found this way is counted and logged as a rebuilt view (the
// view being written replaces it), and nothing in the damaged record —
// its due moment, its audiences — is taken as the old evaluation.
func (w *writer) storedView(views *seekBucket, id string) []byte {
	key := []byte(id)
	stored := views.Get(key)
	if stored != nil && viewFailsSum(key, stored) {
		mark(&w.dmg.rebuilt, id)
		return nil
	}
	return stored
}

// viewWritten tells the read index what this transaction left as
// profile id's view (nil: none it serves): memory takes c once the
// transaction commits, or — if id has a redirect — reads it back.
func (w *writer) viewWritten(id string, c *Cached) {
	if w.tx.Bucket(bucketRedirects).Get([]byte(id)) != nil {
		w.mem.id(id)
		return
	}
	w.mem.wroteView(id, c)
}

// deleteView removes id's view and its due entry.
func (w *writer) deleteView(views *seekBucket, id string) error {
	if old := viewEvalOf(views.Get([]byte(id))); old.nextMs != 0 {
		if err := w.tx.Bucket(bucketDue).Delete(dueKey(old.nextMs, id)); err != nil {
			return err
		}
	}
	if err := w.tx.Bucket(bucketDecisions).Delete([]byte(id)); err != nil {
		return err
	}
	w.viewWritten(id, nil)
	return views.Delete([]byte(id))
}

// refresh marks profile id's view for rendering again (state
// unchanged). A profile that is gone, redirected or waiting for repair
// is skipped. A stored view that fails its checksum (the sweep read its
// evaluation as stale because damage changed it) is counted and logged
// as rebuilt, as a read's repair request would have had it.
func (w *writer) refresh(id string) error {
	key := []byte(id)
	if w.deleted[id] || w.isRepairing(id) || w.profiles.Get(key) == nil {
		return nil
	}
	if v := w.tx.Bucket(bucketViews).Get(key); v != nil && viewFailsSum(key, v) {
		mark(&w.dmg.rebuilt, id)
	}
	if p, err := w.load(id); err != nil {
		return err
	} else if p.Erased.Set {
		return nil // erased: no view to render
	}
	mark(&w.rerender, id)
	return nil
}

// refreshAll handles a sweep request: its due entries are deleted and
// its profiles' views rendered again (their new due entries are written
// with them).
func (w *writer) refreshAll(r *request) error {
	due := w.tx.Bucket(bucketDue)
	for _, k := range r.dueKeys {
		if err := due.Delete(k); err != nil {
			return err
		}
	}
	for _, id := range r.refresh {
		if err := w.refresh(id); err != nil {
			return err
		}
	}
	return nil
}

// freshView renders profile id's view afresh within a read transaction,
// for a read that found the stored one stale.
func (s *Store) freshView(tx *bolt.Tx, id string, stored View, cat *catalog.Compiled, nowMs int64) (View, error) {
	state, err := openProfile([]byte(id), tx.Bucket(bucketProfiles).Get([]byte(id)))
	if err != nil {
		s.requestRepair(id)
		return View{}, err
	}
	p, err := profile.Unmarshal(state)
	if err != nil {
		return View{}, fmt.Errorf("store: decode profile %s: %w", id, err)
	}
	json, _, err := renderView(p, cat, nowMs)
	if err != nil {
		return View{}, fmt.Errorf("store: render view of %s: %w", id, err)
	}
	// The version and last-seen moment are the state's: a record without
	// its JSON may not carry them (decision 0119).
	stored.JSON, stored.Version, stored.LastSeenMs = json, p.Version.String(), 0
	if p.LastSeen.Set {
		stored.LastSeenMs = p.LastSeen.V
	}
	return stored, nil
}

// Sweep tuning.
const (
	// sweepBatch bounds the views one sweep request re-renders.
	sweepBatch = 1000
)

// wakeSweep asks the sweep to run now (the catalog changed).
func (s *Store) wakeSweep(all bool) {
	if all {
		s.sweepAll.Store(true)
	}
	select {
	case s.sweepWake <- struct{}{}:
	default:
	}
}

// sweepLoop re-renders stale views until ctx ends: due ones every
// SweepInterval, and all of them after the catalog changes (and once at
// Open, for views rendered under another catalog or before catalogs).
func (s *Store) sweepLoop(ctx context.Context) {
	defer close(s.sweepDone)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		all := s.sweepAll.Swap(false)
		if err := s.sweep(ctx, all); err != nil {
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return
			}
			if all {
				s.sweepAll.Store(true) // try again next time
			}
			s.log.Warn("re-evaluating stale views failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.sweepWake:
		}
	}
}

// sweep re-renders the views that are due (or, with all, every stale
// view), sweepBatch per transaction.
func (s *Store) sweep(ctx context.Context, all bool) error {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	for {
		cat := s.Catalog()
		nowMs := s.opts.Now().UnixMilli()
		var ids []string
		var keys [][]byte // due entries read (due sweep)
		var after []byte
		err := s.view(func(tx *bolt.Tx) error {
			if all {
				c := tx.Bucket(bucketViews).Cursor()
				k, v := c.Seek(s.sweepCursor)
				for ; k != nil && len(ids) < sweepBatch; k, v = c.Next() {
					if viewEvalOf(v).stale(cat.Digest(), nowMs) && v[sumLen]&viewRepairing == 0 {
						ids = append(ids, string(k))
					}
					after = append(after[:0], k...)
				}
				if k == nil {
					after = nil // done
				}
				return nil
			}
			due := tx.Bucket(bucketDue)
			if due == nil {
				return nil
			}
			c := due.Cursor()
			for k, _ := c.First(); k != nil && len(ids) < sweepBatch; k, _ = c.Next() {
				if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > nowMs {
					break
				}
				ids = append(ids, string(k[8:]))
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			r := &request{refresh: ids, dueKeys: keys, done: make(chan struct{})}
			for {
				err = s.enqueue(ctx, r)
				if !errors.Is(err, ErrOverloaded) {
					break
				}
				select { // the queue is full of writes: they come first
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
			if err != nil {
				return err
			}
			if r.err != nil {
				return r.err
			}
		}
		if all {
			if after == nil {
				s.sweepCursor = nil
				return nil
			}
			s.sweepCursor = append(after, 0) // the next key after it
			continue
		}
		if len(ids) < sweepBatch {
			return nil
		}
	}
}
