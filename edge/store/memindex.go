package store

import (
	"bytes"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The in-memory read index (docs/decisions/0051-edge-read-path.md).
//
// Lookups are served from memory: a map from identifier key to the slot
// of the profile its index entry names, a map from profile ID to its
// slot, and in each slot the profile's current view (Cached), verified
// and copied out of the file. A lookup is one map probe and a copy of
// the view's bytes; no bbolt transaction.
//
// The memory is a cache of the file, never a source: Open builds it
// from the committed file, and after every successful commit the
// committer publishes what the transaction wrote (memTouched): the views
// it put, as it rendered them, and the index entries, redirects and
// other views it changed, re-read from the committed file. A view record
// stored without its JSON (decision 0109: the default, with no bound on
// the views held) is not read into memory from the file; a read from the
// file renders it from the stored state and offers it to memory
// (memIndex.offer), so after a restart each profile's first lookup takes
// the file's path and the next ones memory's.
// Whatever memory cannot answer for sure — no slot, an empty slot (a
// redirected, erased, damaged, repairing or not yet re-rendered
// profile), or a view stale under the catalog in force or the clock —
// falls back to the bbolt path, which decides (not found, ErrDamaged and
// a repair request, a fresh render). So memory can only be slower than
// the file, never different from it: between a commit and its
// publication a view served from memory is the one from before the
// commit, while the file already holds the new one (a caller that reads
// both ways — ResolveIdentifier or Profile, then LookupID — can see the
// new state, then the old, for that moment).
//
// Invariants (checked by checkMemIndex):
//   - byIdent[k] is the slot of exactly the profile ID the committed
//     index entry of k names (not followed through redirects);
//   - a slot's view is nil, or the committed, verified, unflagged view
//     of its profile ID, which has no redirect: the record's, or for a
//     record without its JSON the one rendered from the committed state
//     under the record's evaluation;
//   - a slot stays in byID while it holds a view or a byIdent entry
//     points at it (refs > 0).
type memIndex struct {
	mu      sync.RWMutex
	byIdent map[string]*memSlot // identifier key → slot of the profile its index entry names
	byID    map[string]*memSlot // profile ID → its slot
	// bytes is the size of the views held (JSON and version); limit
	// bounds it (0: no bound, < 0: nothing held). Written under mu (the
	// read lock suffices for the publisher's swaps, swapViews).
	bytes atomic.Int64
	limit int64
	// holders counts, for each identifier key two or more stored
	// profiles hold (the holders bucket), how many do: a lookup by such
	// a key answers with the first of them by ID and says it is shared
	// (IdentifierHolders). Guarded by mu.
	holders map[string]int
	// epoch counts the commits published (memAfterCommit): a view a
	// reader rendered from the file may fill an empty slot only if no
	// publication came between the start of its read and the fill
	// (offer). Written under mu (read or write: swapViews moves it under
	// the read lock, which offer's write lock excludes).
	epoch atomic.Uint64
}

// memSlot holds one profile ID's current view.
type memSlot struct {
	id   string
	v    atomic.Pointer[Cached]
	refs int // byIdent entries naming it; guarded by memIndex.mu
	// over is set while v is nil only because the view is over the
	// memory bound: the profile is canonical and whole, read from the
	// file (guarded by memIndex.mu).
	over bool
	// cold is set while v is nil only because the view is stored
	// without its JSON (decision 0109) and left to be rendered by its
	// first read: at open, after a commit that re-read it, and after
	// every commit that wrote it (decision 0115). The profile is
	// canonical and whole, its view is in the file, and the first lookup
	// fills v (offer). For marking events it is as good as a view
	// (pending.go; decision 0114). Set before v is cleared, so a reader
	// that sees v nil sees it (the publisher sets it under the read
	// lock, swapViews).
	cold atomic.Bool
}

// coldView, written as a profile's view in memTouched.views, leaves
// the view to be rendered by its first read: the commit wrote the view
// record without its JSON, and memory drops the view it held and marks
// the slot cold (decision 0115).
var coldView = new(Cached)

// Cached is a profile's view as the store holds it in memory, for
// lookups that copy it into a response without a transaction. It is
// immutable: callers must not modify JSON (copy it out).
type Cached struct {
	// ID is the canonical profile ID.
	ID string
	// Version is the profile's HLC version string.
	Version string
	// LastSeenMs is the last event time (ms since epoch, 0 if none).
	LastSeenMs int64
	// JSON is the pre-rendered view as View.JSON describes it.
	JSON []byte

	digest    uint64 // catalog digest it was evaluated under
	nextMs    int64  // when its evaluation can next change (0: never)
	evaluated bool   // false: rendered before catalogs (always stale)
}

// size is what c counts against the memory bound.
func (c *Cached) size() int64 {
	if c == nil {
		return 0
	}
	return int64(len(c.JSON) + len(c.Version))
}

// stale reports whether c must not be served under catalog digest at
// nowMs (the bbolt path then renders it afresh).
func (c *Cached) stale(digest uint64, nowMs int64) bool {
	return !c.evaluated || c.digest != digest || c.nextMs != 0 && c.nextMs <= nowMs
}

// memTouched is what one write transaction changed that the memory
// index mirrors: identifier keys whose index entry it wrote or deleted,
// and profile IDs whose view or redirect it wrote or deleted.
type memTouched struct {
	idents map[string]struct{}
	ids    map[string]struct{}
	held   map[string]struct{} // identifier keys whose holders changed
	// views holds the last view the transaction wrote for a profile with
	// no redirect, as rendered (nil: it deleted the view, or flagged it
	// for repair): after the commit it is the file's view, so memory
	// takes it from here instead of reading it back. A profile also in
	// ids (a redirect written or removed, a repair) is read back from the
	// file.
	views map[string]*Cached
}

// wroteView records that the transaction's last write of profile id's
// view is c (nil: none memory serves). The caller has checked that id
// has no redirect in the transaction; a redirect written later goes to
// ids, which wins.
func (t *memTouched) wroteView(id string, c *Cached) {
	if t.views == nil {
		t.views = map[string]*Cached{}
	}
	t.views[id] = c
}

// holders records that the holders of key changed.
func (t *memTouched) holders(key string) {
	if t.held == nil {
		t.held = map[string]struct{}{}
	}
	t.held[key] = struct{}{}
}

// ident records that the index entry of key changed.
func (t *memTouched) ident(key string) {
	if t.idents == nil {
		t.idents = map[string]struct{}{}
	}
	t.idents[key] = struct{}{}
}

// id records that the view or redirect of profile id changed.
func (t *memTouched) id(id string) {
	if t.ids == nil {
		t.ids = map[string]struct{}{}
	}
	t.ids[id] = struct{}{}
}

// cachedOf reads profile id's view record in tx as memory holds it:
// nil if id is redirected, has no view, or its view fails its checksum,
// is flagged for repair or is stored without its JSON (the bbolt path
// answers those).
func cachedOf(tx *bolt.Tx, id string) *Cached {
	return cachedIn(tx.Bucket(bucketRedirects), tx.Bucket(bucketViews), id)
}

// cachedIn is cachedOf with the transaction's redirects and views
// buckets looked up once, for callers that read many profiles.
func cachedIn(redirects, viewsB *bolt.Bucket, id string) *Cached {
	c, _ := viewIn(redirects, viewsB, id)
	return c
}

// viewIn is cachedIn, and reports as cold a view it returns nil for
// only because it is stored without its JSON (memSlot.cold).
func viewIn(redirects, viewsB *bolt.Bucket, id string) (c *Cached, cold bool) {
	key := []byte(id)
	if redirects.Get(key) != nil {
		return nil, false
	}
	b := viewsB.Get(key)
	if b == nil {
		return nil, false
	}
	if isBodiless(b) {
		return nil, wholeView(key, b)
	}
	v, ev, err := decodeViewRecord(id, key, b)
	if err != nil {
		return nil, false
	}
	return cachedView(id, v, ev), false
}

// wholeView reports whether b, the view record under key, passes its
// checksum and is not flagged for repair.
func wholeView(key, b []byte) bool {
	_, _, err := decodeViewRecord(string(key), key, b)
	return err == nil
}

// cachedView is the memory form of profile id's decoded view record.
func cachedView(id string, v View, ev viewEval) *Cached {
	return &Cached{ID: id, Version: v.Version, LastSeenMs: v.LastSeenMs, JSON: v.JSON, digest: ev.digest, nextMs: ev.nextMs, evaluated: ev.ok}
}

// buildMemIndex fills memory from the committed file (Open).
func (s *Store) buildMemIndex(limit int64) error {
	m := &memIndex{byIdent: map[string]*memSlot{}, byID: map[string]*memSlot{}, holders: map[string]int{}, limit: limit}
	var colds []string // views stored without their JSON (memSlot.cold)
	err := s.view(func(tx *bolt.Tx) error {
		// The maps start at the sizes the file's gauges give: grown from
		// empty, rehashing took a quarter of opening a million profiles
		// (bench/README, "Opening a million profiles").
		meta := tx.Bucket(bucketMeta)
		m.byIdent = make(map[string]*memSlot, min(readU64(meta.Get(identifiersKey)), maxPresize))
		m.byID = make(map[string]*memSlot, min(readU64(meta.Get(profilesKey)), maxPresize))
		red := tx.Bucket(bucketRedirects)
		if err := tx.Bucket(bucketViews).ForEach(func(k, b []byte) error {
			if red.Get(k) != nil {
				return nil
			}
			if isBodiless(b) {
				// Rendered on its first lookup; until then known whole
				// (memSlot.cold).
				if wholeView(k, b) {
					colds = append(colds, string(k))
				}
				return nil
			}
			id := string(k)
			v, ev, err := decodeViewRecord(id, k, b)
			if err != nil {
				return nil // the bbolt path reports it and requests a repair
			}
			m.setView(id, cachedView(id, v, ev))
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketIndex).ForEach(func(k, pid []byte) error {
			m.addIdent(string(k), pid) // each key once, and none held yet
			return nil
		}); err != nil {
			return err
		}
		var last []byte
		n := 0
		note := func() {
			if n >= 2 {
				m.holders[string(last)] = n
			}
		}
		if err := tx.Bucket(bucketHolders).ForEach(func(k, _ []byte) error {
			key := k[:max(bytes.LastIndexByte(k, 0), 0)]
			if !bytes.Equal(key, last) {
				note()
				last, n = append(last[:0], key...), 0
			}
			n++
			return nil
		}); err != nil {
			return err
		}
		note()
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range colds {
		m.setCold(id)
	}
	s.mem = m
	return nil
}

// slot returns id's slot, creating it. Holds m.mu.
func (m *memIndex) slot(id string) *memSlot {
	sl := m.byID[id]
	if sl == nil {
		sl = &memSlot{id: id}
		m.byID[id] = sl
	}
	return sl
}

// setView publishes c (nil: none) as id's view. Holds m.mu.
func (m *memIndex) setView(id string, c *Cached) {
	sl := m.byID[id]
	var was int64
	if sl != nil {
		was = sl.v.Load().size()
	}
	over := false
	if c != nil && (m.limit < 0 || m.limit > 0 && m.bytes.Load()-was+c.size() > m.limit) {
		c, over = nil, true // over the bound: this profile is served by the bbolt path
	}
	if c == nil && sl == nil && !over {
		return
	}
	if sl == nil {
		sl = m.slot(id)
	}
	sl.over = over
	sl.cold.Store(false)
	old := sl.v.Swap(c)
	m.bytes.Add(c.size() - old.size())
	m.release(sl)
}

// holdsViews reports, for each profile of ids, whether memory holds its
// view now.
func (m *memIndex) holdsViews(ids []string) []bool {
	out := make([]bool, len(ids))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, id := range ids {
		if sl := m.byID[id]; sl != nil {
			out[i] = sl.v.Load() != nil
		}
	}
	return out
}

// setCold marks profile id's slot cold (memSlot.cold) if an identifier
// names it and it holds no view: call it after the identifiers are
// published. Holds m.mu (the write lock).
func (m *memIndex) setCold(id string) {
	if sl := m.byID[id]; sl != nil && sl.v.Load() == nil && !sl.over {
		sl.cold.Store(true)
	}
}

// setIdent points identifier key at profile pid's slot (ok) or removes
// it. Holds m.mu.
func (m *memIndex) setIdent(key, pid string, ok bool) {
	if old := m.byIdent[key]; old != nil {
		if ok && old.id == pid {
			return
		}
		old.refs--
		delete(m.byIdent, key)
		m.release(old)
	}
	if ok {
		sl := m.slot(pid)
		sl.refs++
		m.byIdent[key] = sl
	}
}

// addIdent is setIdent of a key memory holds nothing for (Open's
// build): one probe of each map, and the profile ID copied only for a
// slot it creates.
func (m *memIndex) addIdent(key string, pid []byte) {
	sl := m.byID[string(pid)]
	if sl == nil {
		sl = m.slot(string(pid))
	}
	sl.refs++
	m.byIdent[key] = sl
}

// maxPresize bounds the capacity Open gives the index's maps from the
// file's gauges (a damaged gauge must not allocate without end).
const maxPresize = 1 << 26

// release drops sl from byID once nothing holds it (a slot over the
// memory bound stays: its identifiers are published after it, and it
// goes with the profile). Holds m.mu.
func (m *memIndex) release(sl *memSlot) {
	if sl.refs == 0 && sl.v.Load() == nil && !sl.over && m.byID[sl.id] == sl {
		delete(m.byID, sl.id)
	}
}

// memAfterCommit brings memory in line with what a successful commit
// changed (t): the view records it wrote from t.views (the committed
// bytes), everything else re-read from the committed file. The
// committer calls it after the commit and before acknowledging it, so a
// writer's next lookup sees its write. If the read fails, every touched
// entry is dropped from memory (the bbolt path serves them).
func (s *Store) memAfterCommit(t *memTouched) {
	m := s.mem
	if len(t.idents) == 0 && len(t.ids) == 0 && len(t.held) == 0 && len(t.views) == 0 {
		return
	}
	type identUpd struct {
		key, pid string
		ok       bool
	}
	idents := make([]identUpd, 0, len(t.idents))
	views := make(map[string]*Cached, len(t.ids)+len(t.views))
	var colds []string // re-read views stored without their JSON (memSlot.cold)
	held := make(map[string]int, len(t.held))
	for id, c := range t.views {
		if _, again := t.ids[id]; !again {
			views[id] = c
		}
	}
	var err error
	if len(t.idents) > 0 || len(t.ids) > 0 || len(t.held) > 0 {
		err = s.view(func(tx *bolt.Tx) error {
			index := tx.Bucket(bucketIndex)
			for k := range t.idents {
				pid := index.Get([]byte(k))
				idents = append(idents, identUpd{k, string(pid), pid != nil})
			}
			red, vb := tx.Bucket(bucketRedirects), tx.Bucket(bucketViews)
			for id := range t.ids {
				c, cold := viewIn(red, vb, id)
				views[id] = c
				if cold {
					colds = append(colds, id)
				}
			}
			if len(t.held) > 0 {
				c := tx.Bucket(bucketHolders).Cursor()
				for k := range t.held {
					held[k] = countHolders(c, k)
				}
			}
			return nil
		})
	}
	if err == nil && m.limit == 0 {
		m.swapViews(views)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch.Add(1)
	if err != nil {
		// A count memory cannot re-read stays as it was: it only labels
		// an answer, and the next commit touching the key corrects it.
		s.log.Warn("read index: re-reading a commit failed; its profiles are served from the file", "err", err)
		for k := range t.idents {
			m.setIdent(k, "", false)
		}
		for id := range t.ids {
			m.setView(id, nil)
		}
		for id := range t.views {
			m.setView(id, nil)
		}
		return
	}
	for id, c := range views {
		if c == coldView {
			c = nil
			colds = append(colds, id)
		}
		m.setView(id, c)
	}
	for _, u := range idents {
		m.setIdent(u.key, u.pid, u.ok)
	}
	for _, id := range colds {
		m.setCold(id)
	}
	for k, n := range held {
		if n >= 2 {
			m.holders[k] = n
		} else {
			delete(m.holders, k)
		}
	}
}

// swapViews publishes, under the read lock, the views of views whose
// slot exists and takes them as they are (no memory bound, a view to
// hold): a pointer swap readers see whole, the old view or the new. It
// removes them from views; memAfterCommit publishes the rest — slots to
// create or drop, identifiers, holders — under the write lock. A commit
// of 16,384 events publishes ~15,000 views, and the write lock held for
// all of them (6–14 ms) held every lookup and every acknowledgement's
// marking (markEvent reads the index) meanwhile (bench/README.md, "The
// read index's views published under the read lock"). Readers may see
// some of a commit's views before the others and before its identifier
// changes, each view whole and committed; a read that must see the
// commit waits for the applied position, which moves after the whole
// publication. The epoch moves first, so an offer (under the write
// lock) from a read that began before this publication is refused.
func (m *memIndex) swapViews(views map[string]*Cached) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	m.epoch.Add(1)
	for id, c := range views {
		sl := m.byID[id]
		if sl == nil || c == nil || sl.over {
			continue
		}
		if c == coldView {
			sl.cold.Store(true) // before v: see memSlot.cold
			old := sl.v.Swap(nil)
			m.bytes.Add(-old.size())
			delete(views, id)
			continue
		}
		old := sl.v.Swap(c)
		m.bytes.Add(c.size() - old.size())
		delete(views, id)
	}
}

// offer fills profile id's slot with view v (evaluated as ev), rendered
// from the file by a reader whose read started at publication epoch e,
// if the slot is empty (and not over the memory bound) and no commit was
// published since e: the view is then the committed one, and a later
// publication replaces it as it would any other. Memory takes a copy of
// v's JSON (the caller keeps v), made only when it fills the slot.
func (m *memIndex) offer(e uint64, id string, v View, ev viewEval) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.epoch.Load() != e || m.byID == nil {
		return
	}
	if sl := m.byID[id]; sl != nil && sl.v.Load() == nil && !sl.over {
		v.JSON = bytes.Clone(v.JSON)
		m.setView(id, cachedView(id, v, ev))
	}
}

// countHolders counts the holders bucket's entries of identifier key:
// how many profiles hold it when two or more do (holders.go).
func countHolders(c *bolt.Cursor, key string) int {
	return eachHolderEntry(c, key, func([]byte) bool { return true })
}

// IdentifierHolders returns how many profiles hold identifier key
// (normalized, as profile.Identifier.Key spells it) when two or more do
// — a family's landline, an e-mail a household shares, a kiosk's device
// (docs/decisions/0059-edge-keeps-hub-judgement.md) — and 0 otherwise.
// A lookup by such a key answers with the first holder by ID; HoldersOf
// lists them all. As of the last commit; no transaction, no allocation.
func (s *Store) IdentifierHolders(key []byte) int {
	m := s.mem
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.holders[string(key)]
}

// dropMemIndex empties memory (Close): lookups then go to the file,
// which answers that the store is closed.
func (s *Store) dropMemIndex() {
	m := s.mem
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byIdent, m.byID, m.holders = nil, nil, nil
	m.bytes.Store(0)
}

// CachedIdentifier returns the view of the profile holding identifier
// key (normalized, as profile.Identifier.Key spells it) from memory,
// without a transaction or an allocation. ok is false when memory cannot
// answer for sure — unknown identifier, a profile redirected, erased,
// damaged or waiting for repair, or a view stale under the catalog in
// force — and the caller then asks LookupIdentifier, which decides.
// The result is shared and immutable.
func (s *Store) CachedIdentifier(key []byte) (*Cached, bool) {
	c, _, ok := s.CachedIdentifierHolders(key)
	return c, ok
}

// CachedIdentifierHolders is CachedIdentifier and IdentifierHolders in
// one read of memory: the view, and how many profiles hold key when two
// or more do (0 otherwise).
func (s *Store) CachedIdentifierHolders(key []byte) (*Cached, int, bool) {
	// Read-your-writes: what was acknowledged and can change the answer
	// is applied and published here first, or applied to the view here.
	if c, ok := s.fence(key, nil); ok {
		return c, 0, true // the overlay checked that one profile holds key
	}
	m := s.mem
	m.mu.RLock()
	sl, n := m.byIdent[string(key)], m.holders[string(key)]
	m.mu.RUnlock()
	c, ok := s.servable(sl)
	return c, n, ok
}

// CachedID is CachedIdentifier for a profile ID (memory does not follow
// redirects: a merged-away ID is answered by LookupID).
func (s *Store) CachedID(id []byte) (*Cached, bool) {
	if c, ok := s.fence(nil, id); ok { // read-your-writes, as CachedIdentifierHolders
		return c, true
	}
	m := s.mem
	m.mu.RLock()
	sl := m.byID[string(id)]
	m.mu.RUnlock()
	return s.servable(sl)
}

// servable returns sl's view if it may be served now.
func (s *Store) servable(sl *memSlot) (*Cached, bool) {
	if sl == nil {
		return nil, false
	}
	c := sl.v.Load()
	if c == nil || c.stale(s.Catalog().Digest(), s.opts.Now().UnixMilli()) {
		return nil, false
	}
	return c, true
}

// view returns c as a View the caller owns.
func (c *Cached) view() View {
	return View{ID: c.ID, Version: c.Version, JSON: append([]byte(nil), c.JSON...), LastSeenMs: c.LastSeenMs}
}

// MemoryStats describes the in-memory read index.
type MemoryStats struct {
	Identifiers int   // identifier keys held
	Profiles    int   // profile slots held
	Views       int   // slots holding a view
	ViewBytes   int64 // bytes of the views held (JSON and version)
}

// MemoryStats returns the in-memory read index's size.
func (s *Store) MemoryStats() MemoryStats {
	m := s.mem
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := MemoryStats{Identifiers: len(m.byIdent), Profiles: len(m.byID), ViewBytes: m.bytes.Load()}
	for _, sl := range m.byID {
		if sl.v.Load() != nil {
			st.Views++
		}
	}
	return st
}
