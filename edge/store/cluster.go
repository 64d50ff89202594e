package store

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
	"ucv/replication"
)

// ApplyClusters applies clusters from the hub's change feed in one durable
// transaction. A cluster is the hub's authoritative word on one person, the
// feed item as it arrives: the canonical profile ID, every source profile ID
// (fragment) it holds, the joined CRDT state of those fragments
// (profile.Marshal), and the profiles a steward ruled different people
// (Apart: this cluster never merges with a profile that one of them resolves
// to; see apart.go). Its Index (the feed position) is not used here: the
// caller keeps the feed cursor. Where this edge's redirects agree with the
// hub — every fragment resolves here to the cluster's ID, or to a fragment
// of the same cluster — a cluster is merged like ApplyRemote does (fragments
// become redirects, the state is joined). Where they do not, the hub has
// split what this edge folded together (an unmerge): a fragment of the
// cluster resolves here to a profile outside it. Then every cluster of the
// batch involved — the one whose fragment is folded elsewhere and the one it
// is folded into — is replaced: its ID stops being a redirect, its other
// fragments become redirects to it and lose any state of their own, and its
// state becomes the hub's. Finally the outbox entries after unacked (the
// ones the hub has not acknowledged yet) that touch a replaced profile are
// applied again, so nothing written here is lost.
//
// The hub sends both sides of a split at the same feed position, so a
// caller that applies whole feed pages gets both replaced together. A
// profile this edge folded that the hub has never seen is left folded.
// Replacement joins nothing that the hub's state lacks except those
// unacknowledged entries: deltas another edge gave this one by gossip and
// the hub has not applied yet disappear here until the hub's feed brings
// them back. Like ApplyRemote, a cluster state stamped beyond
// MaxClockDrift is rejected (counted).
func (s *Store) ApplyClusters(ctx context.Context, cs []replication.FeedItem, unacked uint64) (ApplyResult, error) {
	return s.applyClusters(ctx, cs, unacked, false)
}

// BootstrapClusters applies a page of a hub snapshot: the hub is
// authoritative for every cluster in it, so each is replaced as a split
// is in ApplyClusters (its ID canonical, its other fragments redirects,
// its state the hub's), and the outbox entries after unacked that touch
// one are applied again. A snapshot is sorted by cluster ID, not by
// change, so the two sides of a split may arrive in different pages;
// replacing every cluster makes that harmless: a profile this edge
// folded and the hub split keeps the folded state only until its own
// cluster arrives and replaces it. On an empty store this is exactly the
// join ApplyClusters would do.
func (s *Store) BootstrapClusters(ctx context.Context, cs []replication.FeedItem, unacked uint64) (ApplyResult, error) {
	return s.applyClusters(ctx, cs, unacked, true)
}

// ApplyClustersAt is ApplyClusters for a page of the hub's feed that
// also moves the named position (as SetPosition, whose refetch rule it
// keeps) to v in the same transaction — unless the store rejects one of
// cs, when the position stays for the page to be read again. cs may be
// empty: the position alone moves. The page and its position are
// durable together when it returns, and a crash before loses both; one
// commit instead of two, the second a write transaction that made the
// applier commit the transaction it keeps open under load (decision
// 0097).
func (s *Store) ApplyClustersAt(ctx context.Context, cs []replication.FeedItem, unacked uint64, name string, v uint64) (ApplyResult, error) {
	s.posMu.Lock()
	seen, read := s.posEpoch[name]
	s.posMu.Unlock()
	if cs == nil {
		cs = []replication.FeedItem{}
	}
	return s.enqueueClusters(ctx, &request{clusters: cs, unacked: unacked,
		pos: &position{name: name, v: v, epoch: seen, checkEpoch: read}})
}

func (s *Store) applyClusters(ctx context.Context, cs []replication.FeedItem, unacked uint64, all bool) (ApplyResult, error) {
	if len(cs) == 0 {
		return ApplyResult{}, nil
	}
	return s.enqueueClusters(ctx, &request{clusters: cs, unacked: unacked, replaceAll: all})
}

// enqueueClusters decodes r's cluster states and queues r.
func (s *Store) enqueueClusters(ctx context.Context, r *request) (ApplyResult, error) {
	r.decoded = make([]*profile.Profile, len(r.clusters))
	for i, c := range r.clusters {
		if d, err := profile.Unmarshal(c.State); err == nil && c.ID != "" {
			r.decoded[i] = d
		}
	}
	r.done = make(chan struct{})
	if err := s.enqueue(ctx, r); err != nil {
		return ApplyResult{}, err
	}
	return r.rres, r.err
}

// applyClusters is ApplyClusters inside the commit transaction.
func (w *writer) applyClusters(r *request) error {
	// The hub erases what it must itself (fragments it never saw
	// included): its erased states need no cascade here (privacy.go).
	w.fromHub = true
	defer func() { w.fromHub = false }()
	// The hub's cannot-links first, so the merges below (reindex, the
	// replayed outbox) already honour them: each cluster's list is the
	// hub's, its other fragments' lists go.
	for _, c := range r.clusters {
		if c.ID == "" {
			continue
		}
		for _, f := range c.Fragments {
			if f != c.ID {
				if err := w.setApart(f, nil); err != nil {
					return err
				}
			}
		}
		if err := w.setApart(c.ID, c.Apart); err != nil {
			return err
		}
	}
	if err := w.markClusters(r.clusters, func(i int) bool { return r.decoded[i] != nil }); err != nil {
		return err
	}
	// Which clusters does this edge hold folded differently from the hub?
	replace := map[string]bool{}
	for _, c := range r.clusters {
		if r.replaceAll {
			replace[c.ID] = true
		}
		in := map[string]bool{c.ID: true}
		for _, f := range c.Fragments {
			in[f] = true
		}
		for f := range in {
			if lc := w.canonical(f); !in[lc] {
				replace[c.ID], replace[lc] = true, true
			}
		}
	}
	var pending []replication.Entry
	if len(replace) > 0 {
		// Every profile involved, and what this edge resolves each to now.
		affected := map[string]bool{}
		for _, c := range r.clusters {
			if !replace[c.ID] {
				continue
			}
			for _, f := range append([]string{c.ID}, c.Fragments...) {
				affected[f], affected[w.canonical(f)] = true, true
			}
		}
		for id := range replace {
			affected[id] = true
		}
		var err error
		if pending, err = w.unackedFor(r.unacked, affected); err != nil {
			return err
		}
	}
	var replaced []*profile.Profile
	for i, c := range r.clusters {
		d := r.decoded[i]
		if d == nil {
			r.rres.Rejected++
			continue
		}
		if replace[c.ID] {
			if _, err := w.s.clock.Update(d.Version); err != nil {
				r.rres.Rejected++
				continue
			}
			if err := w.replace(c, d); err != nil {
				return err
			}
			w.completeRepair(c.ID) // the hub's state is the whole cluster
			replaced = append(replaced, d)
			r.rres.Applied++
			continue
		}
		for _, f := range c.Fragments {
			if f != c.ID {
				if err := w.union(w.canonical(f), w.canonical(c.ID)); err != nil {
					return err
				}
			}
		}
		d.ID = c.ID
		ok, err := w.applyRemote(replication.Entry{Kind: replication.KindDelta, ProfileID: c.ID}, d)
		if err != nil {
			return err
		}
		if ok {
			r.rres.Applied++
			w.completeRepair(c.ID)
		} else {
			r.rres.Rejected++
		}
	}
	for _, p := range replaced {
		if q, ok := w.cache[p.ID]; ok && !w.deleted[p.ID] {
			if err := w.reindex(q); err != nil {
				return err
			}
		}
	}
	for _, e := range pending {
		var d *profile.Profile
		if e.Kind == replication.KindDelta {
			var err error
			if d, err = profile.Unmarshal(e.Delta); err != nil || d.ID == "" {
				continue
			}
		}
		if _, err := w.applyRemote(e, d); err != nil {
			return err
		}
	}
	if p := r.pos; p != nil && r.rres.Rejected == 0 {
		return p.put(w.tx.Bucket(bucketMeta))
	}
	return nil
}

// position is a named position (SetPosition) a request records in its
// transaction: v, unless checkEpoch and a repair reset it since the
// caller read it (its refetch epoch is no longer epoch).
type position struct {
	name       string
	v, epoch   uint64
	checkEpoch bool
}

// put writes p into meta, as SetPosition does.
func (p *position) put(meta *bolt.Bucket) error {
	if p.checkEpoch && readU64(meta.Get([]byte("refetch:"+p.name))) != p.epoch {
		return nil
	}
	return meta.Put([]byte("pos:"+p.name), u64(p.v))
}

// replace makes c.ID canonical with the hub's state d, and its other
// fragments redirects to it without state of their own.
func (w *writer) replace(c replication.FeedItem, d *profile.Profile) error {
	if err := w.deleteRedirect(c.ID); err != nil {
		return err
	}
	// An erasure this edge holds (from a directive or a peer) outlives
	// the hub's state of the cluster: a page the hub read before its own
	// erasure must not bring the person back here meanwhile.
	var erased *profile.Profile
	keepErased := func(p *profile.Profile) {
		if p == nil || !p.Erased.Set {
			return
		}
		if erased == nil {
			erased = &profile.Profile{ID: c.ID}
		}
		erased.Merge(&profile.Profile{ID: c.ID, Version: p.Version, Erased: p.Erased, Tombstones: p.Tombstones})
	}
	for _, f := range c.Fragments {
		if f == c.ID {
			continue
		}
		if fp, ok, err := w.loadOpt(f); err != nil {
			return err
		} else if ok {
			keepErased(fp)
			delete(w.cache, f)
			delete(w.dirty, f)
			w.deleted[f] = true
			w.profileDelta--
		}
		if err := w.putRedirect(f, c.ID); err != nil {
			return err
		}
	}
	if old, ok, err := w.loadOpt(c.ID); err != nil { // records its identifiers for the holders diff
		return err
	} else if !ok {
		w.profileDelta++
	} else {
		keepErased(old)
	}
	delete(w.deleted, c.ID)
	mark(&w.hubErased, c.ID)
	d.ID = c.ID
	if erased != nil {
		d.Merge(erased)
	}
	d.Scrub(w.s.Salt())
	w.cache[c.ID] = d
	w.dirty[c.ID] = true
	w.markFull(c.ID)
	return nil
}

// deleteRedirect removes id's redirect (if any), keeping the digest.
func (w *writer) deleteRedirect(id string) error {
	red := w.tx.Bucket(bucketRedirects)
	if red.Get([]byte(id)) == nil {
		return nil
	}
	w.digest[BucketOf(id)] ^= itemHash('r', id, nil)
	w.mem.id(id)
	return red.Delete([]byte(id))
}

// unackedFor returns the outbox entries after seq that concern a profile
// in affected (by its ID or by what it resolves to now), in order.
func (w *writer) unackedFor(seq uint64, affected map[string]bool) ([]replication.Entry, error) {
	var out []replication.Entry
	c := w.tx.Bucket(bucketOutbox).Cursor()
	for k, v := c.Seek(u64(seq + 1)); k != nil; k, v = c.Next() {
		e, err := decodeOutbox(binary.BigEndian.Uint64(k), v)
		if err != nil {
			return nil, fmt.Errorf("store: outbox entry %x: %w", k, err)
		}
		hit := func(id string) bool { return id != "" && (affected[id] || affected[w.canonical(id)]) }
		if hit(e.ProfileID) || hit(e.From) {
			out = append(out, e)
		}
	}
	return out, nil
}
