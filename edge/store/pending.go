package store

import (
	"context"
	"slices"
	"sync"
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
	// holding counts queued requests of other kinds that can change
	// which profile an identifier names (a peer's changes, the hub's
	// clusters, a privacy directive, a repair): while one is queued or
	// committing, the mapping a mark reads may be stale by the time its
	// event applies, so every request marked meanwhile is a barrier.
	lastMarked uint64
	holding    int
}

// pgroup is one entity of pending events: a union-find node whose root
// holds the last log position of the events joined into it and the
// identifier keys and profile IDs that map to it.
type pgroup struct {
	parent    *pgroup
	lsn       uint64
	keys, ids []string // members (root only)
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

// pmark is one marked event: its log position and its entity.
type pmark struct {
	lsn uint64
	g   *pgroup
}

// markPending records, before request r (log position lsn) is
// acknowledged, what its events can change. Only the appender calls it,
// in log order.
func (s *Store) markPending(r *request) {
	p := &s.pending
	applied := s.appliedPos.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(applied)
	p.lastMarked = r.lsn
	if p.barrier > applied || p.holding > 0 {
		p.barrier = r.lsn
		return
	}
	for _, ev := range r.evs {
		if !p.markEvent(s.mem, r.lsn, applied, ev) {
			p.barrier = r.lsn
			return
		}
	}
}

// changesMapping reports whether r, a request of another kind than
// logged events, can change which profile an identifier names.
func changesMapping(r *request) bool {
	return r.lsn == 0 && (r.remote != nil || r.clusters != nil || r.directive != nil || r.repair != nil)
}

// hold is called before such a request is queued: every request marked
// so far, and every one marked until release, waits in full. Events
// marked before it may apply after it with a mapping it changed.
func (p *pendingSet) hold() {
	p.mu.Lock()
	p.holding++
	p.barrier = max(p.barrier, p.lastMarked)
	p.mu.Unlock()
}

// release ends a hold once its request was committed (and published to
// the read index) or refused.
func (p *pendingSet) release() {
	p.mu.Lock()
	p.holding--
	p.mu.Unlock()
}

// markEvent joins ev's profiles and identifiers into one pending entity
// at lsn. False: memory cannot say what ev changes (the caller sets the
// barrier).
func (p *pendingSet) markEvent(m *memIndex, lsn, applied uint64, ev Event) bool {
	msg := ev.Msg
	if msg == nil {
		return false
	}
	keys := make([]string, 0, len(msg.Identifiers)+len(msg.Previous))
	for _, id := range msg.Identifiers {
		keys = append(keys, id.Key())
	}
	for _, id := range msg.Previous {
		keys = append(keys, id.Key())
	}
	if len(keys) == 0 {
		return false
	}
	var ids []string
	m.mu.RLock()
	if m.byIdent == nil {
		m.mu.RUnlock()
		return false // closed: nothing to map against
	}
	for _, k := range keys {
		sl := m.byIdent[k]
		if sl == nil {
			continue // unknown: the event's new profile, or another's
		}
		if sl.v.Load() == nil || m.holders[k] >= 2 {
			m.mu.RUnlock()
			return false
		}
		ids = append(ids, sl.id)
	}
	m.mu.RUnlock()
	// The pending entities ev touches become one; the root with the
	// most members absorbs the others (their members move to it).
	var roots []*pgroup
	join := func(g *pgroup) {
		if g == nil {
			return
		}
		if g = g.root(); g.lsn > applied && !slices.Contains(roots, g) {
			roots = append(roots, g)
		}
	}
	for _, k := range keys {
		join(p.byKey[k])
	}
	for _, id := range ids {
		join(p.byID[id])
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
			g.keys, g.ids = nil, nil
		}
	}
	root.lsn = lsn
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
	p.fifo = append(p.fifo, pmark{lsn: lsn, g: root})
	return true
}

// prune drops the entities the applier has passed (applied): each is
// dropped when the mark of its last event leaves the queue.
func (p *pendingSet) prune(applied uint64) {
	n := 0
	for n < len(p.fifo) && p.fifo[n].lsn <= applied {
		if r := p.fifo[n].g.root(); r.lsn <= applied {
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

// fence is the read-your-writes wait of a lookup from memory of
// identifier key (when key is not nil) or of profile id: it returns once
// every acknowledged event that can change the answer is applied — at
// once (one atomic compare) when nothing is pending, without waiting
// when what is pending concerns other profiles. It gives up after
// readWaitMax, as waitApplied does.
func (s *Store) fence(key, id []byte) {
	a := s.ackedPos.Load()
	applied := s.appliedPos.Load()
	if applied >= a {
		return
	}
	pos := s.fencePos(key, id, applied)
	if pos <= applied {
		return
	}
	s.readWaits.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), readWaitMax)
	defer cancel()
	_ = s.waitPos(ctx, pos)
}

// fencePos returns the log position a lookup of key (or, with key nil,
// of profile id) waits for: the barrier when it is pending, else the
// last position of the pending entity of the key and of the profile
// its committed index entry names.
func (s *Store) fencePos(key, id []byte, applied uint64) uint64 {
	p := &s.pending
	var named string // the profile key's committed index entry names
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
		return p.barrier
	}
	var pos uint64
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
	return pos
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
