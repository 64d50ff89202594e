package store

import (
	"context"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"ucv/crdt"
	"ucv/profile"
	"ucv/replication"
)

// Targeted read-your-writes (docs/decisions/0063-targeted-read-fence.md).
//
// A lookup must show every event acknowledged before it started, and the
// applier commits acknowledged events behind the log, up to a batch or
// more later. Waiting for everything acknowledged (waitApplied) makes
// every lookup under sustained ingest wait for the applier — tens to
// hundreds of milliseconds — although almost none of the pending events
// concern the profile it asks for. So the appender records, before it
// acknowledges an event, which profiles and identifiers the event can
// change, and a lookup from memory waits only for the pending events
// that can change its answer.
//
// What an event can change is decided from the committed state the read
// index mirrors, conservatively:
//
//   - an event changes the profiles its identifiers (and an alias's
//     previous IDs) name in the committed index, and the new profile its
//     unknown identifiers create;
//   - events that touch a common profile or identifier while pending are
//     one entity: a union-find joins them, and the root holds the last
//     log position of any event in it (so an event that merges two
//     profiles, or adds to a profile an earlier pending event created,
//     makes a lookup of either wait for both);
//   - whatever memory cannot map for sure — an identifier whose index
//     entry names a merged-away or erased profile, one two or more
//     profiles hold (its event may land on any of them), a read index
//     dropped by Close — sets a barrier: until the applier passes it,
//     every lookup waits for everything acknowledged, as before, and
//     every event acknowledged meanwhile moves the barrier to itself
//     (their mapping could be stale while it is pending).
//
// Lookups that memory cannot answer (the file path), and every other
// read, still wait for everything acknowledged.
type pendingSet struct {
	mu sync.Mutex
	// byKey and byID map an identifier key and a profile ID to the
	// entity of the pending events that can change it.
	byKey, byID map[string]*pgroup
	// barrier is the log position lookups wait for in full (0: none).
	barrier uint64
	// fifo lists what each marked request added, in log order, so that
	// entries the applier has passed can be dropped.
	fifo []pmark
	// lastMarked is the log position of the last request marked.
	// holding counts the global holds (holdFor): queued requests that
	// can change which profile any identifier names (a hub snapshot,
	// full states, a privacy directive, a repair). While one is queued
	// or committing, every request marked is a barrier.
	lastMarked uint64
	holding    int
	// queuedThrough is the log position of the last request the
	// appender has handed to the applier: marks after it are in flight.
	queuedThrough uint64
	// taints counts the targeted holds (holdFor) not yet released.
	taints int
	// marks counts the events marked (pevent.seq); mids maps the
	// messageId of each marked event not yet pruned to the seq of its
	// first marked event (the writer drops the later ones as
	// duplicates, whichever entity they join).
	marks uint64
	mids  map[string]uint64
}

// pgroup is one entity of pending events: a union-find node whose root
// holds the last log position of the events joined into it and the
// identifier keys and profile IDs that map to it.
type pgroup struct {
	parent    *pgroup
	lsn       uint64
	keys, ids []string // members (root only)
	// live counts the queued requests of other kinds (a peer's changes,
	// the hub's clusters) whose profiles and identifiers this entity
	// holds (root only): events touching them join it until they commit.
	live int
	// evs are the entity's events (root only), for the overlay
	// (overlay.go); odd is set once one of them is not plain — one the
	// overlay cannot apply the way the writer will (its events are then
	// waited for).
	evs []pevent
	odd bool
}

// pevent is a pending event and the one profile all its identifiers
// named in the committed index when it was marked ("" if they did not).
type pevent struct {
	lsn, seq uint64 // seq orders the events of one request (one lsn)
	ev       Event
	stamp    crdt.Timestamp // when the appender acknowledged it
	target   string
	dup      bool // set on plainAfter's copy: an earlier pending event has its messageId
}

// root returns g's root, halving the path on the way.
func (g *pgroup) root() *pgroup {
	for g.parent != nil {
		if g.parent.parent != nil {
			g.parent = g.parent.parent
		}
		g = g.parent
	}
	return g
}

// pmark is one marked event: its log position and its entity, and its
// messageId and pevent.seq ("" and 0 for an entity marked again).
type pmark struct {
	lsn uint64
	g   *pgroup
	mid string
	seq uint64
}

// markPending records, before the logged requests of batch are
// acknowledged, what their events can change. Only the appender calls
// it, in log order.
func (s *Store) markPending(batch []*request) {
	// Each event is stamped with the moment it is acknowledged, in log
	// order: the applier applies it with that stamp (stampFor), and so
	// does the read overlay.
	for _, r := range batch {
		r.stamps = make([]crdt.Timestamp, len(r.evs))
		for i := range r.evs {
			r.stamps[i] = s.clock.Now()
		}
	}
	p := &s.pending
	applied := s.appliedPos.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(applied)
	for _, r := range batch {
		p.lastMarked = r.lsn
		if p.barrier > applied || p.holding > 0 {
			p.barrier = r.lsn
			continue
		}
		for i, ev := range r.evs {
			if !p.markEvent(s.mem, r.lsn, applied, ev, r.stamps[i]) {
				p.barrier = r.lsn
				break
			}
		}
	}
}

// changesMapping reports whether r, a request of another kind than
// logged events, can change which profile an identifier names.
func changesMapping(r *request) bool {
	return r.lsn == 0 && (r.remote != nil || r.clusters != nil || r.directive != nil || r.repair != nil)
}

// holdFor is called before such a request r is queued. Events marked
// before it but queued after it (in flight) wait in full. A peer's
// deltas and merges and the hub's clusters taint their profiles and
// identifiers (and the profiles those identifiers name now): until r
// commits, an event touching any of them joins one entity with all of
// them, so a lookup of any waits for it — r may merge them. Anything
// else (a snapshot's clusters, full states, a privacy directive, a
// repair) is a global hold: every request marked until r commits waits
// in full. The applier calls release(r) once r is committed and
// published, or refused.
func (s *Store) holdFor(r *request) {
	if !changesMapping(r) {
		return
	}
	sets, ok := mappingOf(r)
	if ok {
		m := s.mem
		m.mu.RLock()
		if m.byIdent == nil {
			ok = false
		}
		for i := range sets {
			for _, k := range sets[i].keys {
				if sl := m.byIdent[k]; sl != nil {
					sets[i].ids = append(sets[i].ids, sl.id)
				}
			}
		}
		m.mu.RUnlock()
	}
	p := &s.pending
	applied := s.appliedPos.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastMarked > p.queuedThrough {
		p.barrier = max(p.barrier, p.lastMarked)
	}
	if !ok {
		p.holding++
		r.holdAll = true
		p.barrier = max(p.barrier, p.lastMarked)
		return
	}
	// One taint per cluster or change, not per request: a hub page
	// carries clusters of unrelated people, and joining them all would
	// make one entity of every profile on the page (a new person's
	// events would hold a known one's lookups, and bar the overlay).
	for _, set := range sets {
		r.taints = append(r.taints, p.join(set.keys, set.ids, applied, 0, 1))
		p.taints++
	}
}

// mapping is what one cluster or change can change: identifier keys
// and profile IDs.
type mapping struct{ keys, ids []string }

// mappingOf lists, per cluster or change of request r (a peer's changes
// or the hub's clusters), the identifier keys and profile IDs it can
// change; ok is false for what must be held globally.
func mappingOf(r *request) (sets []mapping, ok bool) {
	switch {
	case r.clusters != nil && !r.replaceAll:
		for i, c := range r.clusters {
			set := mapping{ids: append([]string{c.ID}, c.Fragments...)}
			if d := r.decoded[i]; d != nil {
				set.keys = d.Identities.Elems()
			}
			sets = append(sets, set)
		}
		return sets, true
	case r.remote != nil && !r.full:
		for i, e := range r.remote {
			switch e.Kind {
			case replication.KindDelta, replication.KindMerge:
			default:
				return nil, false
			}
			set := mapping{ids: []string{e.ProfileID}}
			if e.From != "" {
				set.ids = append(set.ids, e.From)
			}
			if d := r.decoded[i]; d != nil {
				set.ids = append(set.ids, d.ID)
				set.keys = d.Identities.Elems()
			}
			sets = append(sets, set)
		}
		return sets, true
	}
	return nil, false
}

// release ends r's hold (holdFor).
func (s *Store) release(r *request) {
	if !r.holdAll && r.taints == nil {
		return
	}
	p := &s.pending
	applied := s.appliedPos.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.holdAll {
		p.holding--
		r.holdAll = false
	}
	for _, g := range r.taints {
		rt := g.root()
		rt.live--
		p.taints--
		if rt.live == 0 {
			if rt.lsn <= applied {
				p.drop(rt)
			} else {
				// Its events' marks may have left the queue while it was
				// live: mark it again so prune drops it.
				p.fifo = append(p.fifo, pmark{lsn: rt.lsn, g: rt})
			}
		}
	}
	r.taints = nil
}

// queued records that the appender handed the requests through log
// position lsn to the applier.
func (p *pendingSet) queued(lsn uint64) {
	p.mu.Lock()
	p.queuedThrough = lsn
	p.mu.Unlock()
}

// join makes keys and ids, and the pending entities they belong to, one
// entity whose last position is lsn (or the largest of theirs when lsn
// is 0), adds live to its live count, and returns its root.
func (p *pendingSet) join(keys, ids []string, applied, lsn uint64, live int) *pgroup {
	var rbuf [4]*pgroup
	roots := rbuf[:0]
	add := func(g *pgroup) {
		if g == nil {
			return
		}
		if g = g.root(); (g.lsn > applied || g.live > 0) && !slices.Contains(roots, g) {
			roots = append(roots, g)
		}
	}
	for _, k := range keys {
		add(p.byKey[k])
	}
	for _, id := range ids {
		add(p.byID[id])
	}
	var root *pgroup
	for _, g := range roots {
		if root == nil || len(g.keys)+len(g.ids) > len(root.keys)+len(root.ids) {
			root = g
		}
	}
	if root == nil {
		root = &pgroup{}
	}
	for _, g := range roots {
		if g != root {
			g.parent = root
			root.keys, root.ids = append(root.keys, g.keys...), append(root.ids, g.ids...)
			root.lsn = max(root.lsn, g.lsn)
			root.live += g.live
			root.evs, root.odd = append(root.evs, g.evs...), root.odd || g.odd
			g.keys, g.ids, g.live, g.evs = nil, nil, 0, nil
		}
	}
	root.lsn = max(root.lsn, lsn)
	root.live += live
	if p.byKey == nil {
		p.byKey, p.byID = map[string]*pgroup{}, map[string]*pgroup{}
	}
	for _, k := range keys {
		if g := p.byKey[k]; g == nil || g.root() != root {
			p.byKey[k] = root
			root.keys = append(root.keys, k)
		}
	}
	for _, id := range ids {
		if g := p.byID[id]; g == nil || g.root() != root {
			p.byID[id] = root
			root.ids = append(root.ids, id)
		}
	}
	return root
}

// drop removes root r's members from the maps (those still naming it).
func (p *pendingSet) drop(r *pgroup) {
	for _, k := range r.keys {
		if g := p.byKey[k]; g != nil && g.root() == r {
			delete(p.byKey, k)
		}
	}
	for _, id := range r.ids {
		if g := p.byID[id]; g != nil && g.root() == r {
			delete(p.byID, id)
		}
	}
	r.keys, r.ids = nil, nil
}

// markEvent joins ev's profiles and identifiers into one pending entity
// at lsn. False: memory cannot say what ev changes (the caller sets the
// barrier).
func (p *pendingSet) markEvent(m *memIndex, lsn, applied uint64, ev Event, stamp crdt.Timestamp) bool {
	msg := ev.Msg
	if msg == nil {
		return false
	}
	var kbuf, ibuf [4]string // most events carry one or two identifiers
	keys := kbuf[:0]
	for _, id := range msg.Identifiers {
		keys = append(keys, id.Key())
	}
	for _, id := range msg.Previous {
		keys = append(keys, id.Key())
	}
	if len(keys) == 0 {
		return false
	}
	ids := ibuf[:0]
	plain := msg.Kind != profile.Alias && len(msg.Previous) == 0
	m.mu.RLock()
	if m.byIdent == nil {
		m.mu.RUnlock()
		return false // closed: nothing to map against
	}
	for _, k := range keys {
		sl := m.byIdent[k]
		if sl == nil {
			plain = false // unknown: the event's new profile, or another's
			continue
		}
		if sl.v.Load() == nil && !sl.over && !sl.cold.Load() || m.holders[k] >= 2 {
			m.mu.RUnlock()
			return false
		}
		ids = append(ids, sl.id)
	}
	m.mu.RUnlock()
	// The pending entities ev touches become one (the root with the
	// most members absorbs the others), ending at lsn.
	root := p.join(keys, ids, applied, lsn, 0)
	p.marks++
	pe := pevent{lsn: lsn, seq: p.marks, ev: ev, stamp: stamp}
	if plain && len(ids) > 0 && !slices.ContainsFunc(ids, func(id string) bool { return id != ids[0] }) {
		pe.target = ids[0]
	} else {
		root.odd = true
	}
	root.evs = append(root.evs, pe)
	if p.mids == nil {
		p.mids = map[string]uint64{}
	}
	if _, ok := p.mids[msg.MessageID]; !ok {
		p.mids[msg.MessageID] = pe.seq
	}
	p.fifo = append(p.fifo, pmark{lsn: lsn, g: root, mid: msg.MessageID, seq: pe.seq})
	return true
}

// prune drops the entities the applier has passed (applied): each is
// dropped when the mark of its last event leaves the queue.
func (p *pendingSet) prune(applied uint64) {
	n := 0
	for n < len(p.fifo) && p.fifo[n].lsn <= applied {
		f := p.fifo[n]
		if r := f.g.root(); r.lsn <= applied && r.live == 0 {
			p.drop(r) // a live one is dropped by its release
		}
		if f.seq != 0 && p.mids[f.mid] == f.seq {
			delete(p.mids, f.mid)
		}
		p.fifo[n] = pmark{}
		n++
	}
	if n > 0 {
		p.fifo = p.fifo[n:]
		if len(p.fifo) == 0 {
			p.fifo = nil // let the backing array go
		}
	}
}

// settle is read-your-writes for a read of identifier key (when key is
// not nil) or of profile id: it returns once every acknowledged event
// that can change the answer is applied — at once (one atomic compare)
// when nothing is pending, without waiting when what is pending
// concerns other profiles. With overlay set, when what is pending for
// it is plain, it instead returns the profile with those events applied
// (overlay.go; rendered with view) and ok true. It gives up waiting
// after readWaitMax, as waitApplied does. A read by profile ID that
// follows redirects settles them too (settleRedirect).
func (s *Store) settle(key, id []byte, overlay, view bool) (o overlaid, ok bool) {
	applied := s.appliedPos.Load()
	if applied >= s.ackedPos.Load() {
		return overlaid{}, false
	}
	pos, named := s.fencePos(key, id, applied)
	if pos <= applied {
		return overlaid{}, false
	}
	if overlay {
		if o, ok := s.overlay(key, id, named, view); ok {
			return o, true
		}
	}
	s.readWaits.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), readWaitMax)
	defer cancel()
	_ = s.waitPos(ctx, pos)
	return overlaid{}, false
}

// fence is settle for a lookup from memory: the view with the pending
// events applied (ok), or nil once they are.
func (s *Store) fence(key, id []byte) (*Cached, bool) {
	o, ok := s.settle(key, id, true, true)
	return o.c, ok
}

// settleRedirect settles, after settle of profile id, the profile id
// redirects to now, when it was merged into another: a pending event
// that merges id away touches id's entity, so once settle has waited for
// it the redirect read here is the one the read will follow.
func (s *Store) settleRedirect(id string) {
	if s.appliedPos.Load() >= s.ackedPos.Load() {
		return
	}
	var cid string
	_ = s.view(func(tx *bolt.Tx) error {
		cid, _ = resolveIn(tx, id)
		return nil
	})
	if cid != "" && cid != id {
		s.settle(nil, []byte(cid), false, false)
	}
}

// fencePos returns the log position a lookup of key (or, with key nil,
// of profile id) waits for: the barrier when it is pending, else the
// last position of the pending entity of the key and of the profile
// its committed index entry names (named, "" if none).
func (s *Store) fencePos(key, id []byte, applied uint64) (pos uint64, named string) {
	p := &s.pending
	if key != nil {
		m := s.mem
		m.mu.RLock()
		if sl := m.byIdent[string(key)]; sl != nil {
			named = sl.id
		}
		m.mu.RUnlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.barrier > applied {
		return p.barrier, named
	}
	if key != nil {
		if g := p.byKey[string(key)]; g != nil {
			pos = g.root().lsn
		}
	}
	if named != "" {
		if g := p.byID[named]; g != nil {
			pos = max(pos, g.root().lsn)
		}
	}
	if id != nil {
		if g := p.byID[string(id)]; g != nil {
			pos = max(pos, g.root().lsn)
		}
	}
	return pos, named
}

// unknownNow reports whether identifier key is in no committed index
// entry and no acknowledged, unapplied event carries it, with no barrier
// pending: a lookup of it is "not found" as of everything acknowledged,
// without waiting for the applier (a till asking for a new customer
// while the store's other tills write). LookupIdentifier's fence has
// already waited for pending events that carry key; the check here
// keeps the file path right on its own.
func (s *Store) unknownNow(key []byte) bool {
	applied := s.appliedPos.Load()
	if applied >= s.ackedPos.Load() {
		return false // nothing pending: the caller's wait is free
	}
	m := s.mem
	m.mu.RLock()
	known := m.byIdent == nil || m.byIdent[string(key)] != nil
	m.mu.RUnlock()
	if known {
		return false
	}
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.barrier > applied {
		return false
	}
	g := p.byKey[string(key)]
	return g == nil || g.root().lsn <= applied
}

// holds returns how many requests of other kinds hold the fence now.
func (p *pendingSet) holds() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holding + p.taints
}
