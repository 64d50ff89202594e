package store

import (
	"context"
	"slices"

	"ucv/profile"
	"ucv/replication"
)

// ApplyResult says what one ApplyRemote call did.
type ApplyResult struct {
	Applied  int // entries merged
	Rejected int // entries refused: undecodable, stamped too far in the future, or a merge of two profiles the hub keeps apart
}

// ApplyRemote merges changes received from peers (gossip deltas,
// anti-entropy states from BucketEntries, replicated merges) through the
// same committer and merge path as local writes, and returns after they
// are durable. Entries are idempotent and commutative: applying any of
// them again, or in another order, yields the same state. Remote changes
// are not added to the outbox (their origin publishes them); decisions
// this node takes because of them — merging two profiles that turn out to
// share an identifier — are. An entry whose HLC version is further ahead
// than MaxClockDrift is rejected (counted, not an error) so one peer with
// a wrong clock cannot win every register; its sender retries later.
func (s *Store) ApplyRemote(ctx context.Context, entries []replication.Entry) (ApplyResult, error) {
	return s.applyRemote(ctx, entries, false)
}

// applyRemote is ApplyRemote; full marks entries that are full states
// (ApplyStates).
func (s *Store) applyRemote(ctx context.Context, entries []replication.Entry, full bool) (ApplyResult, error) {
	if len(entries) == 0 {
		return ApplyResult{}, nil
	}
	// Decode here, in the caller's goroutine, so the single commit
	// goroutine only merges.
	decoded := make([]*profile.Profile, len(entries))
	for i, e := range entries {
		if e.Kind == replication.KindDelta {
			if d, err := profile.Unmarshal(e.Delta); err == nil && d.ID != "" {
				decoded[i] = d
			}
		}
	}
	r := &request{remote: entries, decoded: decoded, full: full, done: make(chan struct{})}
	if err := s.enqueue(ctx, r); err != nil {
		return ApplyResult{}, err
	}
	return r.rres, r.err
}

// loadOpt is load for a profile that may not exist here yet.
func (w *writer) loadOpt(id string) (*profile.Profile, bool, error) {
	if p, ok := w.cache[id]; ok {
		return p, true, nil
	}
	if w.deleted[id] || w.profiles.Get([]byte(id)) == nil {
		return nil, false, nil
	}
	p, err := w.load(id)
	return p, err == nil, err
}

// loadOrNew returns profile id, creating it empty if absent.
func (w *writer) loadOrNew(id string) (*profile.Profile, error) {
	p, ok, err := w.loadOpt(id)
	if err != nil || ok {
		return p, err
	}
	p = profile.New(id)
	w.cache[id] = p
	delete(w.deleted, id)
	w.profileDelta++
	return p, nil
}

func (w *writer) applyRemote(e replication.Entry, d *profile.Profile) (bool, error) {
	switch e.Kind {
	case replication.KindMerge:
		if e.From == "" || e.ProfileID == "" {
			return false, nil
		}
		return w.mergeRemote(e.From, e.ProfileID)
	case replication.KindDelta:
		if d == nil {
			return false, nil // undecodable
		}
		if _, err := w.s.clock.Update(d.Version); err != nil {
			return false, nil // beyond the drift bound
		}
		target := w.canonical(d.ID)
		p, err := w.loadOrNew(target)
		if err != nil {
			return false, err
		}
		d.ID = target
		if w.fromHub {
			mark(&w.hubErased, target)
		}
		p.Merge(d)
		if !p.Erased.Set && !w.fromHub { // the hub's own rule has run on its states
			w.eraseOnArrival(p)
		}
		p.Scrub(w.s.Salt())
		w.dirty[target] = true
		w.markFull(target)
		return true, w.reindex(p)
	}
	return false, nil
}

// mergeRemote applies a peer's decision that from and into are one
// person: the smaller canonical ID absorbs the other, whatever order the
// merges arrive in (union by minimum ID). It refuses (false) to merge two
// profiles the hub keeps apart: a peer that had not heard of the hub's
// unmerge yet, or an entry replayed after it. Every replica that has
// applied the hub's feed as far refuses the same merges; one that has
// not folds them until that page arrives and splits them
// (docs/decisions/0022-hub-unmerge-on-edges.md).
func (w *writer) mergeRemote(from, into string) (bool, error) {
	cf, ci := w.canonical(from), w.canonical(into)
	if cf != ci && w.apart(cf, ci) {
		return false, nil
	}
	return true, w.union(cf, ci)
}

// union merges canonical profiles cf and ci: the smaller ID absorbs the
// other. The hub's clusters (ApplyClusters) merge through it directly:
// the hub's word needs no cannot-link check.
func (w *writer) union(cf, ci string) error {
	if cf == ci {
		return nil
	}
	canon, other := min(cf, ci), max(cf, ci)
	p, err := w.loadOrNew(canon)
	if err != nil {
		return err
	}
	w.dirty[canon] = true
	w.markFull(canon)
	if _, ok, err := w.loadOpt(other); err != nil {
		return err
	} else if ok {
		if err := w.fold(p, other, nil, false); err != nil {
			return err
		}
	} else if err := w.putRedirect(other, canon); err != nil {
		return err
	}
	return w.reindex(p)
}

// reindex points p's unclaimed identifiers at p (provisionally; flush
// derives the final entries). An identifier another profile already holds
// means the two are one person: they merge (smaller ID survives) if the
// merged profile stays within the identity rules' limits, the hub has not
// ruled them apart, they are not both profiles the hub delivered (it has
// judged them already), and no third profile holds it too (hubheld.go).
// Otherwise both keep it — a shared device or a household's landline
// cannot glue people together through replication either — and the index
// names the smaller ID.
func (w *writer) reindex(p *profile.Profile) error {
	for _, k := range p.Identities.Elems() {
		if p.Erased.Set {
			return nil
		}
		cur := w.lookup(k)
		switch {
		case cur == p.ID:
			continue
		case cur == "":
			if err := w.setIndex(k, p.ID); err != nil {
				return err
			}
			continue
		}
		q, ok, err := w.loadOpt(cur)
		if err != nil {
			return err
		}
		if !ok || !q.Identities.Has(k) { // a stale entry: take it over
			if err := w.setIndex(k, p.ID); err != nil {
				return err
			}
			continue
		}
		if w.apart(p.ID, q.ID) {
			continue // the hub ruled them different people: both keep it
		}
		if w.hubHeld(p.ID) && w.hubHeld(q.ID) || w.sharedKey(k) {
			continue // the hub judged both, or others share it: both keep it (hubheld.go)
		}
		canon, other := p, q
		if q.ID < p.ID {
			canon, other = q, p
		}
		if w.fitsLimits(canon, other) {
			id, _ := profile.ParseKey(k)
			if err := w.fold(canon, other.ID, []profile.Identifier{id}, true); err != nil {
				return err
			}
			return w.reindex(canon)
		}
		// Two people who share this identifier (a kiosk's device ID): both
		// keep it, and the index names the smaller ID (see updateHolders).
	}
	return nil
}

// fitsLimits reports whether the union of a's and b's identifiers stays
// within every type's limit.
func (w *writer) fitsLimits(a, b *profile.Profile) bool {
	counts := map[profile.IDType]int{}
	keys := append(a.Identities.Elems(), b.Identities.Elems()...)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		id, ok := profile.ParseKey(k)
		if !ok {
			continue
		}
		counts[id.Type]++
		if l := w.s.opts.Rules.Limit(id.Type); l > 0 && counts[id.Type] > l {
			return false
		}
	}
	return true
}
