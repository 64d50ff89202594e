package store

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"ucv/crdt"
	"ucv/profile"
	"ucv/replication"
)

// Privacy on the edge (docs/decisions/0040-privacy.md, "Erasure on the
// edges" and "Suppression"; the edge section records the choices).
//
// Erasure: a profile whose state has Erased set (profile.Erase's state)
// keeps its record in the profiles bucket — its ID, version, the marker
// and the tombstones (salted keys) — so an old replica's state merged in
// later loses. It has no view, no due entry, no decision, no holders or
// index entries (its identities are gone, and updateHolders drops them);
// lookups of it, by ID, by any identifier it had or through a redirect
// pointing at it, answer ErrNotFound. Whichever way the marker arrives —
// a directive (ApplyDirective), a peer's delta or full state, the hub's
// feed or snapshot — the commit that first stores it erased also drops
// the person's forward outbox entries and rewrites the Delta of every
// outbox entry of theirs to the erased state (sequences stay gap-free),
// and marks the file for compaction (Compact): bbolt keeps freed pages'
// old bytes until they are reused.
//
// Suppression: the suppressed bucket holds salted identifier keys
// (crdt.TombstoneKey under the privacy salt). Ingest computes an event's
// keys only while the bucket is non-empty; an event naming one is
// dropped — no profile, dedupe entry or forward entry — and counted
// (IngestResult.Suppressed, Stats.Suppressed).
//
//	suppressed  salted identifier key → empty
//	erased_keys salted identifier key → int64 BE ms: the latest erasure
//	            of a person who held it (every tombstone of every profile
//	            erased here); a peer's state of a profile this edge does
//	            not hold erased, carrying such an identifier, with data
//	            older than that erasure (FirstSeen before it, or unset),
//	            is erased on arrival — the hub's rule for fragments it
//	            never saw, applied to the fragments a peer minted offline
//	meta        saltKey → the hub's privacy salt (replication.SaltBytes)
//	            "privacy_done:"+request ID → empty: directives carried
//	            out and not yet confirmed to the hub (PrivacyDone)
//	            compactKey → empty: the file may hold an erased
//	            person's bytes in freed pages until Compact runs
var (
	bucketSuppressed = []byte("suppressed")
	bucketErasedKeys = []byte("erased_keys")
	saltKey          = []byte("privacy_salt")
	donePrefix       = []byte("privacy_done:")
	compactKey       = []byte("compact_pending")
)

// privacyState is the Store's part for privacy.
type privacyState struct {
	salt             atomic.Pointer[[]byte] // the hub's salt once set (nil: Options.Salt)
	suppressN        atomic.Int64           // keys in the suppressed bucket; changed by the committer only
	erasedKeysN      atomic.Int64           // keys in the erased_keys bucket; changed by the committer only
	suppressedEvents atomic.Uint64
	compactions      atomic.Uint64
	// pending: the file may hold erased bytes; the compaction loop
	// (or an explicit Compact) clears it.
	pending     atomic.Bool
	wake        chan struct{} // wakes the compaction loop
	compactDone chan struct{} // closed when the compaction loop exits
	dbClosed    bool          // under dbMu: Close closed the file
}

// loadPrivacy reads the privacy state at Open (in its write transaction).
func (s *Store) loadPrivacy(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(bucketSuppressed)
	if err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(saltKey); v != nil {
		salt := bytes.Clone(v)
		s.priv.salt.Store(&salt)
	}
	s.priv.suppressN.Store(int64(b.Stats().KeyN))
	ek, err := tx.CreateBucketIfNotExists(bucketErasedKeys)
	if err != nil {
		return err
	}
	s.priv.erasedKeysN.Store(int64(ek.Stats().KeyN))
	s.priv.pending.Store(meta.Get(compactKey) != nil)
	s.priv.wake = make(chan struct{}, 1)
	return nil
}

// Salt returns the salt of erasure tombstones and suppression keys: the
// hub's privacy salt once SetPrivacySalt stored it, else Options.Salt.
func (s *Store) Salt() []byte {
	if p := s.priv.salt.Load(); p != nil {
		return *p
	}
	return s.opts.Salt
}

// SetPrivacySalt stores the hub's privacy salt (from its privacy sync
// answer) durably; it is the salt of every tombstone and suppression key
// computed here from then on. An empty salt (the hub has none yet) or
// the one in force changes nothing.
func (s *Store) SetPrivacySalt(salt []byte) error {
	if len(salt) == 0 {
		return nil
	}
	if p := s.priv.salt.Load(); p != nil && bytes.Equal(*p, salt) {
		return nil
	}
	salt = bytes.Clone(salt)
	if err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(saltKey, salt)
	}); err != nil {
		return fmt.Errorf("store: set privacy salt: %w", err)
	}
	s.priv.salt.Store(&salt)
	return nil
}

// ApplyDirective carries out one privacy directive in one durable
// transaction, which also records its request ID as done (PrivacyDone):
//
//   - erase: every profile in ProfileIDs (followed through redirects),
//     and every profile here holding an identifier whose salted key is in
//     Keys, merges the erased state — Erased at At, a tombstone for each
//     of Keys and of each identifier it held — and loses every derived
//     record (see the package's privacy notes). A profile ID this edge
//     has never seen is stored erased, so its data cannot arrive later.
//     The erased states go to the outbox, so peers erase too. The file
//     is then marked for compaction: call Compact before confirming.
//   - suppress / unsuppress: Keys join / leave the suppression list.
//
// Carrying a directive out again is harmless.
func (s *Store) ApplyDirective(ctx context.Context, d replication.Directive) error {
	if d.ID == "" || d.Type < replication.DirectiveErase || d.Type > replication.DirectiveUnsuppress {
		return fmt.Errorf("store: privacy directive %q of type %d", d.ID, d.Type)
	}
	r := &request{directive: &d, done: make(chan struct{})}
	if err := s.enqueue(ctx, r); err != nil {
		return err
	}
	if r.err != nil {
		return fmt.Errorf("store: privacy directive %s: %w", d.ID, r.err)
	}
	return nil
}

// Erase is ApplyDirective for an erase directive.
func (s *Store) Erase(ctx context.Context, d replication.Directive) error {
	if d.Type != replication.DirectiveErase {
		return fmt.Errorf("store: erase: directive %s is of type %d", d.ID, d.Type)
	}
	return s.ApplyDirective(ctx, d)
}

// PrivacyDone returns the request IDs of directives carried out and not
// yet confirmed (ConfirmPrivacy), sorted.
func (s *Store) PrivacyDone() ([]string, error) {
	var ids []string
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		for k, _ := c.Seek(donePrefix); k != nil && bytes.HasPrefix(k, donePrefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(donePrefix):]))
		}
		return nil
	})
	return ids, err
}

// ConfirmPrivacy forgets done request IDs the hub has committed.
func (s *Store) ConfirmPrivacy(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for _, id := range ids {
			if err := meta.Delete(append(slices.Clip(donePrefix), id...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: confirm privacy requests: %w", err)
	}
	return nil
}

// CompactPending reports whether the file may still hold an erased
// person's bytes: an erasure committed since the last Compact.
func (s *Store) CompactPending() bool { return s.priv.pending.Load() }

// directive carries out d in the writer's transaction.
func (w *writer) directive(d *replication.Directive) error {
	switch d.Type {
	case replication.DirectiveErase:
		if err := w.erase(d); err != nil {
			return err
		}
	case replication.DirectiveSuppress, replication.DirectiveUnsuppress:
		b := w.tx.Bucket(bucketSuppressed)
		for _, k := range d.Keys {
			had := b.Get([]byte(k)) != nil
			switch {
			case d.Type == replication.DirectiveSuppress && !had:
				if err := b.Put([]byte(k), nil); err != nil {
					return err
				}
				w.suppDelta++
			case d.Type == replication.DirectiveUnsuppress && had:
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
				w.suppDelta--
			}
		}
	}
	return w.tx.Bucket(bucketMeta).Put(append(slices.Clip(donePrefix), d.ID...), nil)
}

// erase carries out erase directive d (see ApplyDirective).
func (w *writer) erase(d *replication.Directive) error {
	salt := w.s.Salt()
	targets := map[string]bool{}
	for _, id := range d.ProfileIDs {
		targets[w.canonical(id)] = true
	}
	named := maps.Clone(targets)
	if len(d.Keys) > 0 && len(salt) > 0 {
		// Identifiers the hub never saw may be held here: hash every held
		// identifier once (erasure is rare; this is its cost).
		want := make(map[string]bool, len(d.Keys))
		for _, k := range d.Keys {
			want[k] = true
		}
		var last []byte
		match := false
		err := w.eachHeld(func(key, holder []byte) error {
			if !bytes.Equal(key, last) {
				last = append(last[:0], key...)
				match = want[crdt.TombstoneKey(salt, string(key))]
			}
			if match {
				// A profile the hub delivered and did not name is
				// someone else who shares the identifier (hubheld.go).
				if cid := w.canonical(string(holder)); named[cid] || !w.hubHeld(cid) {
					targets[cid] = true
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, cid := range crdt.SortedKeys(targets) {
		p, err := w.loadOrNew(cid)
		if err != nil {
			return err
		}
		e := &profile.Profile{ID: cid, Version: w.s.clock.Now()}
		if len(salt) > 0 {
			for _, k := range p.Identities.Elems() {
				e.Tombstones.Merge(p.Tombstones.Erase(crdt.TombstoneKey(salt, k)))
			}
		}
		for _, k := range d.Keys {
			e.Tombstones.Merge(p.Tombstones.Erase(k))
		}
		e.Erased.Merge(p.Erased.Observe(d.At))
		p.Merge(e)
		w.completeRepair(cid)
		w.dirty[cid] = true
		w.markFull(cid)
		if err := w.outbox(replication.Entry{Kind: replication.KindDelta, ProfileID: cid}, e); err != nil {
			return err
		}
	}
	q := w.tx.Bucket(bucketQuarantine)
	for _, id := range d.ProfileIDs {
		if err := q.Delete([]byte(id)); err != nil {
			return err
		}
	}
	return nil
}

// suppressed reports whether an identifier of m is on the suppression
// list (as of this transaction). Keys are computed only while the list
// is non-empty.
func (w *writer) suppressed(m *profile.Message) bool {
	if w.suppDelta == 0 && w.s.priv.suppressN.Load() == 0 {
		return false
	}
	b := w.tx.Bucket(bucketSuppressed)
	if k, _ := b.Cursor().First(); k == nil {
		return false
	}
	salt := w.s.Salt()
	for _, ids := range [][]profile.Identifier{m.Identifiers, m.Previous} {
		for _, id := range ids {
			if b.Get([]byte(crdt.TombstoneKey(salt, id.Key()))) != nil {
				return true
			}
		}
	}
	return false
}

// erasedRecord reports whether profile record b (filed under id) holds
// an erased state. A damaged record is not erased.
func erasedRecord(id, b []byte) bool {
	state, err := openProfile(id, b)
	if err != nil {
		return false
	}
	p, err := profile.Unmarshal(state)
	return err == nil && p.Erased.Set
}

// purgeErased drops what derived records of the profiles erased in this
// transaction flush has not dropped already: their forward outbox
// entries, and their data in outbox entries (each rewritten to carry
// the erased state instead, keeping its sequence), and their
// quarantined records; and it marks the file for compaction.
func (w *writer) purgeErased(erased map[string]bool) error {
	in := func(pid string) bool {
		if erased[pid] {
			return true
		}
		cid, err := resolveIn(w.tx, pid)
		return err == nil && erased[cid]
	}
	// The forward outbox.
	fb := w.tx.Bucket(bucketForward)
	var gone [][]byte
	var size int64
	c := fb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if _, pid, _, ok := openForward(k, v); ok && in(pid) {
			gone = append(gone, bytes.Clone(k))
			size += int64(len(v))
		}
	}
	for _, k := range gone {
		if err := fb.Delete(k); err != nil {
			return err
		}
	}
	if err := forwardGauges(w.tx, -int64(len(gone)), -size); err != nil {
		return err
	}
	// The outbox: entries keep their sequences, their deltas lose the data.
	ob := w.tx.Bucket(bucketOutbox)
	type rewrite struct {
		key []byte
		val []byte
	}
	var rw []rewrite
	c = ob.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			continue
		}
		e, err := decodeOutbox(readU64(k), v)
		if err != nil || e.Kind != replication.KindDelta || !in(e.ProfileID) {
			continue
		}
		old, err := profile.Unmarshal(e.Delta)
		if err == nil && old.Erased.Set && old.Identities.Len() == 0 && old.Traits.Len() == 0 {
			continue // already an erased state
		}
		p := w.cache[w.canonical(e.ProfileID)]
		if p == nil || !p.Erased.Set {
			continue
		}
		st := &profile.Profile{ID: e.ProfileID, Version: p.Version, Erased: p.Erased, Tombstones: p.Tombstones.Clone()}
		b, err := st.Marshal()
		if err != nil {
			return err
		}
		e.Delta = b
		val, err := encodeOutbox(e)
		if err != nil {
			return err
		}
		rw = append(rw, rewrite{bytes.Clone(k), val})
	}
	for _, r := range rw {
		if err := ob.Put(r.key, r.val); err != nil {
			return err
		}
	}
	q := w.tx.Bucket(bucketQuarantine)
	ek := w.tx.Bucket(bucketErasedKeys)
	for _, id := range crdt.SortedKeys(erased) {
		if err := q.Delete([]byte(id)); err != nil {
			return err
		}
		p := w.cache[id]
		for _, k := range p.Tombstones.Keys.Elems() {
			old := ek.Get([]byte(k))
			if old != nil && int64(readU64(old)) >= p.Erased.V {
				continue
			}
			if old == nil {
				w.erasedKeysDelta++
			}
			if err := ek.Put([]byte(k), u64(uint64(p.Erased.V))); err != nil {
				return err
			}
		}
	}
	w.erasedNow += len(erased)
	return w.tx.Bucket(bucketMeta).Put(compactKey, nil)
}

// eraseOnArrival erases p, a profile not erased here that a peer's
// state just joined, when it holds an identifier of a person erased
// here (erased_keys) and its data predate that erasure. It is the edge's
// half of the rule the hub applies to fragments it never saw: a replica
// that minted the person a profile ID of its own while offline does not
// bring them back through gossip.
func (w *writer) eraseOnArrival(p *profile.Profile) {
	if w.erasedKeysDelta == 0 && w.s.priv.erasedKeysN.Load() == 0 {
		return
	}
	if w.hubHeld(p.ID) {
		return // a profile the hub delivered is erased by ID when it is the person's
	}
	salt := w.s.Salt()
	if len(salt) == 0 {
		return
	}
	ek := w.tx.Bucket(bucketErasedKeys)
	at, hit := int64(0), false
	for _, k := range p.Identities.Elems() {
		if !personal(k) {
			continue
		}
		v := ek.Get([]byte(crdt.TombstoneKey(salt, k)))
		if v == nil {
			continue
		}
		if a := int64(readU64(v)); !p.FirstSeen.Set || p.FirstSeen.V < a {
			at, hit = max(at, a), true
		}
	}
	if !hit {
		return
	}
	e := &profile.Profile{ID: p.ID, Version: w.s.clock.Now()}
	for _, k := range p.Identities.Elems() {
		e.Tombstones.Merge(p.Tombstones.Erase(crdt.TombstoneKey(salt, k)))
	}
	e.Erased.Merge(p.Erased.Observe(at))
	p.Merge(e)
}

// newlyErased lists the profiles this transaction erased (dirty, erased,
// and not erased as stored before).
func (w *writer) newlyErased() map[string]bool {
	var erased map[string]bool
	for id := range w.dirty {
		if p := w.cache[id]; p != nil && p.Erased.Set && !w.wasErased[id] {
			mark(&erased, id)
		}
	}
	return erased
}

// cascadeErasure erases every live profile here that holds an
// identifier of a profile this transaction erased, when its data
// predate that erasure: the fragments this replica (or a peer) minted
// the person that the erasure did not name. A peer's erased state then
// erases the whole person here, as the directive did there. It hashes
// every held identifier once per round, only when the transaction
// erased something with keys not erased here before: O(held
// identifiers) HMACs per such commit. Profiles erased by the hub's feed
// or snapshot are left out: the hub erases the fragments it never saw
// itself, and its directive reaches this edge. flush runs it before it
// renders anything.
func (w *writer) cascadeErasure() error {
	salt := w.s.Salt()
	if len(salt) == 0 {
		return nil
	}
	done := map[string]bool{}
	ek := w.tx.Bucket(bucketErasedKeys)
	for range maxRedirectHops {
		keys := map[string]int64{}
		for id := range w.newlyErased() {
			if done[id] || w.hubErased[id] {
				continue
			}
			done[id] = true
			p := w.cache[id]
			for _, k := range p.Tombstones.Keys.Elems() {
				if v := ek.Get([]byte(k)); v != nil && int64(readU64(v)) >= p.Erased.V {
					continue // erased here before: its holders went then
				}
				keys[k] = max(keys[k], p.Erased.V)
			}
		}
		if len(keys) == 0 {
			return nil
		}
		hit := map[string]int64{}
		note := func(pid string, at int64) {
			cid := w.canonical(pid)
			hit[cid] = max(hit[cid], at)
		}
		var last []byte
		var at int64
		match := false
		err := w.eachHeld(func(key, holder []byte) error {
			if !bytes.Equal(key, last) {
				last = append(last[:0], key...)
				match = false
				if personal(string(key)) {
					at, match = keys[crdt.TombstoneKey(salt, string(key))]
				}
			}
			if match {
				note(string(holder), at)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for id, p := range w.cache { // changed in this transaction, not in holders yet
			if w.deleted[id] || p.Erased.Set {
				continue
			}
			for _, k := range p.Identities.Elems() {
				if !personal(k) {
					continue
				}
				if at, ok := keys[crdt.TombstoneKey(salt, k)]; ok {
					note(id, at)
				}
			}
		}
		for _, cid := range sortedMapKeys(hit) {
			p, ok, err := w.loadOpt(cid)
			if err != nil {
				return err
			}
			at := hit[cid]
			if !ok || p.Erased.Set || (p.FirstSeen.Set && p.FirstSeen.V >= at) {
				continue // new data since the erasure: a new person
			}
			if w.hubHeld(cid) {
				continue // the hub judged it someone else who shares the identifier; the person's own go by ID
			}
			e := &profile.Profile{ID: cid, Version: w.s.clock.Now()}
			for _, k := range p.Identities.Elems() {
				e.Tombstones.Merge(p.Tombstones.Erase(crdt.TombstoneKey(salt, k)))
			}
			e.Erased.Merge(p.Erased.Observe(at))
			p.Merge(e)
			w.dirty[cid] = true
			w.markFull(cid)
		}
	}
	return nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// personal reports whether identifier key k names one person — a user
// ID, an e-mail address or a phone number — so that holding it makes a
// profile theirs for erasure by key (cascadeErasure, eraseOnArrival).
// Device and anonymous IDs are left out: a shared till or kiosk holds
// many people's, and the identity rules keep such a value on several
// profiles without merging them.
func personal(k string) bool {
	id, ok := profile.ParseKey(k)
	return ok && (id.Type == profile.UserID || id.Type == profile.Email || id.Type == profile.Phone)
}
