package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"ucv/crdt"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// writer applies events inside one write transaction. Profiles touched
// are decoded once, kept in memory, and encoded and stored once in flush.
type writer struct {
	s        *Store
	tx       *bolt.Tx
	index    *seekBucket
	profiles *seekBucket
	byTime   *bolt.Bucket    // the dedupe set's time order (dedupe.go)
	seen     map[string]bool // messageIds stored in this transaction
	cache    map[string]*profile.Profile
	// later holds the events deferred to their profile's settling, by
	// profile; laterIDs lists those profiles in the order their first
	// event was deferred (later.go).
	later    map[string][]laterEv
	laterIDs []string
	dirty    map[string]bool
	// rerender lists profiles whose views are rendered again with their
	// states unchanged (the sweep, evaluate.go).
	rerender map[string]bool
	// cat is the catalog this transaction evaluates with.
	cat *catalog.Compiled
	// stream holds, while the change stream records, each loaded
	// profile's trait registers before this transaction (changes.go);
	// nil otherwise. changes are the stream's entries of this
	// transaction, published once it commits.
	stream  map[string]map[string]crdt.Register
	changes []Change
	// change holds what events changed in profiles this transaction
	// touched only by ingest; full lists those changed any other way
	// (merges, peers, the hub, repairs): their views are evaluated in
	// full, the others incrementally (evaluate.go).
	change  map[string]*catalog.Change
	full    map[string]bool
	deleted map[string]bool
	nowMs   int64

	digest Digest // updated with every profile and redirect written
	// before holds each loaded profile's identifier keys as stored, so
	// flush can update the holders bucket by difference.
	before map[string][]string
	// provisional lists identifiers whose index entry this transaction
	// wrote, with the entry as of the last commit (nil: none); flush
	// re-derives them.
	provisional map[string][]byte
	// hasApart caches whether the apart bucket holds anything: 0 not
	// checked yet, 1 no, 2 yes (see anyApart).
	hasApart int8

	profileDelta, identDelta, outboxDelta int64
	// fwdLen and fwdBytes are what this transaction added to the forward
	// outbox (forward.go).
	fwdLen, fwdBytes int64
	// expired counts the dedupe entries expireDedupe removed; deduped
	// those this transaction added (expireDedupe keeps pace with them).
	expired, deduped int
	// ddAdd and ddGone are the dedupe entries this transaction wrote and
	// expired, for the in-memory index: added before the commit,
	// forgotten after it (dedupe.go).
	ddAdd, ddGone []dedupeNote
	// skipped counts identifiers resolve left out, by reason; added to
	// the store's counters only if the transaction commits.
	skipped [NumSkipReasons]uint64
	// alias is set while an alias message is ingested, so that the merge
	// it causes is recorded as an alias, not a shared identifier.
	alias bool
	// dmg is what this transaction found damaged and repaired (repair.go).
	dmg writerDamage
	// noDecisions is whether the decisions bucket is empty, as putDecision
	// last saw it: 0 not looked yet, 1 empty, 2 not (or written to).
	noDecisions int8
	// wasErased lists loaded profiles whose stored state was erased
	// already; erasedNow counts profiles this transaction erased
	// (purgeErased); suppDelta is the change to the suppression list's
	// size (privacy.go).
	wasErased       map[string]bool
	erasedNow       int
	suppDelta       int64
	erasedKeysDelta int64
	// fromHub is set while hub feed clusters are applied; hubErased
	// lists the profiles whose state the hub's joined (cascadeErasure
	// skips them).
	fromHub   bool
	hubErased map[string]bool
	// mem is what the in-memory read index must re-read once this
	// transaction commits (memindex.go).
	mem memTouched
}

// appendFill is the fill percent of buckets whose keys mostly arrive in
// ascending order (outbox sequences, dedupe times) or whose values
// are rewritten at the same size (views). bbolt's default (0.5) splits
// such appends into half-full pages, so a bulk load left every other
// byte of those buckets empty.
//
// Not the profiles: a state grows with every event, so a leaf of them
// split at 90 % overflows again at the next commit that touches it and
// splits off another sliver — after 30 s of batches 32 % of the bucket's
// pages were in use at 0.9, 84 % at bbolt's default (bench/README,
// "Profiles at bbolt's default fill").
const appendFill = 0.9

// writerSize is how many messages and profiles a writer held when its
// transaction committed. Under load the applier's transactions are alike
// (up to 16,384 events, decision 0096), so the next writer starts its
// maps at that size instead of growing them from empty by doubling —
// each doubling rehashes every entry (bench/README, "The writer's maps
// start at the last commit's size").
type writerSize struct{ messages, profiles int }

// maxWriterSize bounds the starting capacity a writer takes from the
// last commit, whatever that held (a resync's or a migration's).
const maxWriterSize = 1 << 16

// size returns what w holds, bounded by maxWriterSize.
func (w *writer) size() writerSize {
	return writerSize{messages: min(len(w.seen), maxWriterSize), profiles: min(len(w.cache), maxWriterSize)}
}

func newWriter(s *Store, tx *bolt.Tx) *writer {
	for _, b := range [][]byte{bucketViews, bucketDedupeTime, bucketOutbox} {
		tx.Bucket(b).FillPercent = appendFill
	}
	n := s.sized
	w := &writer{
		s: s, tx: tx,
		index:    newSeekBucket(tx.Bucket(bucketIndex)),
		profiles: newSeekBucket(tx.Bucket(bucketProfiles)),
		byTime:   tx.Bucket(bucketDedupeTime),
		seen:     make(map[string]bool, n.messages),
		cache:    make(map[string]*profile.Profile, n.profiles),
		dirty:    make(map[string]bool, n.profiles),
		deleted:  map[string]bool{},
		nowMs:    s.opts.Now().UnixMilli(),
		digest:   s.Digest(),
		cat:      s.Catalog(),
		stream:   streamMap(s.changes.recording()),
		before:   make(map[string][]string, n.profiles),

		provisional: map[string][]byte{},
	}
	if n.profiles > 0 {
		w.mem.views = make(map[string]*Cached, n.profiles)
	}
	return w
}

func streamMap(on bool) map[string]map[string]crdt.Register {
	if !on {
		return nil
	}
	return map[string]map[string]crdt.Register{}
}

// setIndex writes a provisional index entry (see updateHolders). An entry
// that already names id is left alone: the index is consistent when the
// transaction starts, and if this transaction changes who holds key,
// updateHolders re-derives it anyway. (Every event of a known person
// re-links its identifiers; rewriting them dirtied a random index page
// and cost a holders seek per identifier per event.)
func (w *writer) setIndex(key, id string) error {
	cur := w.index.Get([]byte(key))
	if cur != nil && string(cur) == id {
		return nil
	}
	if _, ok := w.provisional[key]; !ok {
		w.provisional[key] = bytes.Clone(cur)
	}
	w.mem.ident(key)
	return w.index.Put([]byte(key), []byte(id))
}

// committedIndex returns identifier key's index entry as of the last
// commit (nil: none), whatever provisional entry this transaction wrote.
func (w *writer) committedIndex(key string) []byte {
	if was, ok := w.provisional[key]; ok {
		return was
	}
	return w.index.Get([]byte(key))
}

// putProfile stores a profile record (sealProfile) of state, keeping
// the digest (which hashes states, not records).
func (w *writer) putProfile(id string, state, record []byte) error {
	if old := w.profiles.Get([]byte(id)); old != nil {
		w.unhash(id, old)
	}
	w.digest[BucketOf(id)] ^= itemHash('p', id, state)
	return w.profiles.Put([]byte(id), record)
}

// deleteProfile removes a profile's state, keeping the digest.
func (w *writer) deleteProfile(id string) error {
	if old := w.profiles.Get([]byte(id)); old != nil {
		w.unhash(id, old)
	}
	return w.profiles.Delete([]byte(id))
}

// putRedirect records from → to, keeping the digest. The digest covers
// only that from is merged away, not the hop it points to: replicas may
// hold different chains (X→Y→Z here, X→Z there) that resolve alike.
// from's cannot-links move to to (a canonical ID).
func (w *writer) putRedirect(from, to string) error {
	red := w.tx.Bucket(bucketRedirects)
	if red.Get([]byte(from)) == nil {
		w.digest[BucketOf(from)] ^= itemHash('r', from, nil)
	}
	if err := w.moveApart(from, to); err != nil {
		return err
	}
	w.mem.id(from)
	return red.Put([]byte(from), []byte(to))
}

// canonical follows redirects, including those written in this transaction.
func (w *writer) canonical(id string) string {
	cid, err := resolveIn(w.tx, id)
	if err != nil {
		return id
	}
	return cid
}

// load returns the profile id (canonical), from the cache or the bucket.
func (w *writer) load(id string) (*profile.Profile, error) {
	if _, ok := w.later[id]; ok { // deferred events: applied now (later.go)
		if err := w.settleOne(id); err != nil {
			return nil, err
		}
		return w.cache[id], nil
	}
	if p, ok := w.cache[id]; ok {
		return p, nil
	}
	b := w.profiles.Get([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("store: index points to missing profile %s", id)
	}
	state, err := openProfile([]byte(id), b)
	if err != nil {
		return w.quarantine(id, b) // damaged: an empty stand-in until a replica's copy comes
	}
	p, err := profile.Unmarshal(state)
	if err != nil {
		return nil, fmt.Errorf("store: decode profile %s: %w", id, err)
	}
	w.noteLoaded(id, p, storedAsOf(p, w.stream != nil))
	return p, nil
}

// lookup returns the canonical profile holding identifier key, or "".
func (w *writer) lookup(key string) string {
	v := w.index.Get([]byte(key))
	if v == nil {
		return ""
	}
	return w.canonical(string(v))
}

// ingest applies one event, acknowledged at HLC moment stamp (zero: not
// known). It returns the profile it landed on, or dup=true if its
// messageId was already seen.
func (w *writer) ingest(ev Event, stamp crdt.Timestamp) (id string, dup bool, err error) {
	m := ev.Msg
	mid := []byte(m.MessageID)
	h := w.s.dedupe.hash(mid)
	if w.seen[m.MessageID] || w.s.dedupe.seenHashed(w.byTime, h, mid) {
		return "", true, nil
	}
	w.seen[m.MessageID] = true

	plain := deferrable(m) && !w.s.opts.noLater
	if !plain {
		// It may change profiles other than the one it lands on: every
		// deferred event is applied first (later.go).
		if err := w.settle(); err != nil {
			return "", false, err
		}
	}
	w.alias = m.Kind == profile.Alias
	defer func() { w.alias = false }()
	target, link, absorb, err := w.resolve(m)
	if err != nil {
		return "", false, err
	}
	if plain && target != "" && len(absorb) == 0 && !w.deleted[target] {
		// A stored profile, loaded or not: applied when it settles.
		w.deferTo(target, w.eventOf(ev, link, stamp))
		return target, false, w.recorded(target, link, ev, m, mid, h)
	}
	var p *profile.Profile
	if target == "" {
		target, err = w.mint()
		if err != nil {
			return "", false, err
		}
		p = profile.New(target)
		w.cache[target] = p
		w.profileDelta++
	} else if p, err = w.load(target); err != nil {
		return "", false, err
	}
	if len(absorb) > 0 {
		// Deterministic canonical choice: the smallest ID survives.
		all := append([]string{target}, absorb...)
		slices.Sort(all)
		canon := all[0]
		if canon != target {
			if p, err = w.load(canon); err != nil {
				return "", false, err
			}
		}
		for _, from := range all[1:] {
			if err := w.merge(p, from, link); err != nil {
				return "", false, err
			}
		}
		target = canon
		// An absorbed profile may bring an identifier a third profile
		// holds too; settle it by the rule every replica applies.
		if err := w.reindex(p); err != nil {
			return "", false, err
		}
		p = w.cache[w.canonical(target)]
		target = p.ID
	}

	d, ch := w.applyTo(p, w.eventOf(ev, link, stamp))
	w.dirty[target] = true
	w.noteChange(target, ch)
	if err := w.outbox(replication.Entry{Kind: replication.KindDelta, ProfileID: target}, d); err != nil {
		return "", false, err
	}
	return target, false, w.recorded(target, link, ev, m, mid, h)
}

// recorded does what storing event ev (m, its messageId mid hashed to
// h) on profile target takes besides applying it: its linked
// identifiers indexed, its messageId in the dedupe set, its forward
// queued.
func (w *writer) recorded(target string, link []profile.Identifier, ev Event, m *profile.Message, mid []byte, h uint64) error {
	for _, id := range link {
		if err := w.setIndex(id.Key(), target); err != nil {
			return err
		}
	}
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(w.nowMs))
	w.deduped++
	if err := w.noteDedupeTime(ms, m.MessageID, mid, h); err != nil {
		return err
	}
	if ev.Forward != nil {
		if err := w.queueForward(target, ev.Forward); err != nil {
			return err
		}
	}
	return nil
}

// stampFor returns the timestamp an event acknowledged at HLC moment
// stamp is applied to profile p with: stamp itself while it is after
// everything p holds (p.Version), so the change is stamped with the
// moment the edge accepted it and the read overlay (overlay.go), which
// applies pending events with their stamps, renders exactly what the
// applier will; zero otherwise (and for a zero stamp) — the caller then
// takes a fresh one, after p's.
func stampFor(p *profile.Profile, stamp crdt.Timestamp) crdt.Timestamp {
	if stamp.IsZero() || !p.Version.Less(stamp) {
		return crdt.Timestamp{}
	}
	return stamp
}

// resolve applies the identity rules to m's identifiers. It walks them
// from the highest priority down: the first one already known decides the
// target profile; each later one is linked — and its profile merged in —
// only if the merged profile would stay within every type's limit and
// the hub has not ruled it a different person from one already linked
// (a cannot-link, see apart.go). Otherwise that identifier is left out
// (the event is still stored). An identifier held by profiles the hub
// keeps apart (the e-mail two unmerged people share) cannot say whose
// event it is, so it is weighed last: it links to whichever of its
// holders the other identifiers chose, else to its first holder (by ID)
// not kept apart from them. So is, on an event that would merge
// profiles, an identifier two or more profiles hold (a household's
// landline; hubheld.go): it never pulls another of its holders into the
// merge — the profile the other identifiers chose becomes one more
// holder.
func (w *writer) resolve(m *profile.Message) (target string, link []profile.Identifier, absorb []string, err error) {
	rules := w.s.opts.Rules
	ids := make([]profile.Identifier, 0, len(m.Identifiers))
	for _, id := range m.Identifiers {
		if rules.Blocked(id) {
			w.skipped[SkipBlocked]++
			continue
		}
		ids = append(ids, id)
	}
	if prev, ok := w.previous(m); ok {
		if rules.Blocked(prev) {
			w.skipped[SkipBlocked]++
		} else {
			ids = append(ids, prev)
		}
	}
	rules.SortByPriority(ids)

	// counts of identities per type of the would-be merged profile (nil
	// reads as empty: most events never add to it).
	var counts map[profile.IDType]map[string]bool
	// addTo returns base (not modified) with keys added.
	addTo := func(base map[profile.IDType]map[string]bool, keys []string) map[profile.IDType]map[string]bool {
		c := make(map[profile.IDType]map[string]bool, len(base))
		for t, set := range base {
			c[t] = make(map[string]bool, len(set))
			for k := range set {
				c[t][k] = true
			}
		}
		for _, k := range keys {
			id, ok := profile.ParseKey(k)
			if !ok {
				continue
			}
			if c[id.Type] == nil {
				c[id.Type] = map[string]bool{}
			}
			c[id.Type][k] = true
		}
		return c
	}
	addCounts := func(keys []string) map[profile.IDType]map[string]bool { return addTo(counts, keys) }
	// fits reports whether c, the would-be identities after adding an
	// identifier or a profile to base, stays within every type's limit —
	// or, for a type base already holds beyond it, does not grow it. A
	// profile the hub or a peer merged may hold two user IDs (their word
	// needs no limit check); events of either must still land on it, and
	// it may still gain identifiers of other types.
	fits := func(base, c map[profile.IDType]map[string]bool) bool {
		for t, set := range c {
			if l := rules.Limit(t); l > 0 && len(set) > l && len(set) > len(base[t]) {
				return false
			}
		}
		return true
	}
	var linked []string // profiles already part of the result
	// baseFor is what adding profile p is weighed against: the profiles
	// and identifiers linked so far, or, when p would be the first
	// profile (no merge), p's own identities.
	baseFor := func(p *profile.Profile) map[profile.IDType]map[string]bool {
		if len(linked) > 0 {
			return counts
		}
		return addTo(nil, p.Identities.Elems())
	}
	// decide walks ids once. With deferShared, an identifier that two or
	// more profiles hold (the shared key: see sharedKey) is weighed last,
	// like a contested one, and links only to a holder the others chose:
	// it never pulls a further profile into the merge.
	decide := func(deferShared bool) error {
		link, linked, counts = link[:0], nil, nil
		type held struct {
			id     profile.Identifier
			pid    string // what the index names
			shared bool   // weighed last only because several hold it
		}
		var contested []held
		for _, id := range ids {
			pid := w.lookup(id.Key())
			if pid != "" && w.anyApart() && w.contested(id.Key(), pid) {
				contested = append(contested, held{id: id, pid: pid})
				continue
			}
			if pid != "" && deferShared && w.sharedKey(id.Key()) {
				contested = append(contested, held{id: id, pid: pid, shared: true})
				continue
			}
			switch {
			case pid == "":
				c := addCounts([]string{id.Key()})
				if !fits(counts, c) {
					w.skipped[SkipLimit]++
					continue // a new value of a type already at its limit
				}
				counts = c
				link = append(link, id)
			case slices.Contains(linked, pid):
				link = append(link, id)
			default:
				if w.apartFromAny(pid, linked) {
					w.skipped[SkipApart]++
					continue // the hub ruled them different people: leave it out
				}
				if len(ids) == 1 {
					// The event's only identifier, its profile the first
					// linked: weighed against its own identities it always
					// fits (see fits), and nothing after it reads counts.
					// Most events are this one; ingest loads the profile.
					link = append(link, id)
					linked = append(linked, pid)
					continue
				}
				p, err := w.load(pid)
				if err != nil {
					return err
				}
				c := addCounts(p.Identities.Elems())
				if !fits(baseFor(p), c) {
					w.skipped[SkipLimit]++
					continue // linking would glue two people: leave it out
				}
				counts = c
				link = append(link, id)
				linked = append(linked, pid)
			}
		}
		for _, c := range contested {
			id := c.id
			holders := w.holdersOf(id.Key())
			if !slices.Contains(holders, c.pid) { // it took the identifier in this commit
				holders = append(holders, c.pid)
				slices.Sort(holders)
			}
			if slices.ContainsFunc(holders, func(h string) bool { return slices.Contains(linked, h) }) {
				link = append(link, id)
				continue
			}
			if c.shared && len(linked) > 0 {
				// The person the other identifiers chose uses it too: it
				// becomes one more holder, and no holder joins them.
				if cs := addCounts([]string{id.Key()}); fits(counts, cs) {
					counts = cs
					link = append(link, id)
				} else {
					w.skipped[SkipLimit]++
				}
				continue
			}
			for _, h := range holders {
				if w.apartFromAny(h, linked) {
					continue
				}
				p, err := w.load(h)
				if err != nil {
					return err
				}
				if c := addCounts(p.Identities.Elems()); fits(baseFor(p), c) {
					counts = c
					link = append(link, id)
					linked = append(linked, h)
				}
				break
			}
		}
		return nil
	}
	// Weighing shared identifiers last costs a holders seek per
	// identifier, so only an event that would merge profiles pays it.
	skipped := w.skipped
	if err := decide(false); err != nil {
		return "", nil, nil, err
	}
	if len(linked) > 1 {
		w.skipped = skipped
		if err := decide(true); err != nil {
			return "", nil, nil, err
		}
	}
	if len(linked) == 0 {
		return "", link, nil, nil
	}
	return linked[0], link, linked[1:], nil
}

// previous chooses what an alias's previousId names (Segment: an
// anonymousId or an older userId): the candidate a profile already holds,
// the anonymous_id first; when none is known yet, the anonymous_id, so
// that events the anonymous visitor sends later still find the person.
func (w *writer) previous(m *profile.Message) (profile.Identifier, bool) {
	if len(m.Previous) == 0 {
		return profile.Identifier{}, false
	}
	for _, id := range m.Previous {
		if w.lookup(id.Key()) != "" {
			return id, true
		}
	}
	return m.Previous[0], true
}

// merge folds profile from into p (the canonical profile): its state is
// joined, a merge record written, from becomes a redirect, and its index
// entries point at p.
func (w *writer) merge(p *profile.Profile, from string, link []profile.Identifier) error {
	return w.fold(p, from, link, true)
}

// fold joins profile from into p and redirects it. When local is true the
// merge was decided here: a merge record is written and both go to the
// outbox. A merge replicated from a peer arrives with its record as a
// delta of its own, so nothing is recorded or re-published.
func (w *writer) fold(p *profile.Profile, from string, link []profile.Identifier, local bool) error {
	other, err := w.load(from)
	if err != nil {
		return err
	}
	folded := other.Clone()
	folded.ID = p.ID
	p.Merge(folded)
	var keys []string
	for _, id := range link {
		if other.Identities.Has(id.Key()) {
			keys = append(keys, id.Key())
		}
	}
	if err := w.putRedirect(from, p.ID); err != nil {
		return err
	}
	if w.hubHeld(from) {
		if err := w.markHubHeld(p.ID); err != nil {
			return err
		}
	}
	// Re-point the absorbed profile's index entries. An identifier whose
	// entry names a third profile stays put: reindex settles that conflict
	// by the same rule on every replica.
	for _, k := range other.Identities.Elems() {
		if cur := w.index.Get([]byte(k)); cur != nil && string(cur) != from && w.canonical(string(cur)) != p.ID {
			continue
		}
		if err := w.setIndex(k, p.ID); err != nil {
			return err
		}
	}
	delete(w.cache, from)
	delete(w.dirty, from)
	w.deleted[from] = true
	w.profileDelta--
	w.dirty[p.ID] = true
	w.markFull(p.ID)
	if !local {
		return nil
	}
	ts := w.s.clock.Now()
	reason, rule := "shared identifier", "deterministic"
	if w.alias {
		reason, rule = "alias", "alias"
	}
	rec := p.RecordMerge(profile.MergeRecord{
		From: from, Into: p.ID, Reason: reason, Rule: rule,
		Identifiers: keys, Node: w.s.opts.NodeName, At: ts.Wall, DecidedBy: "edge:" + w.s.opts.NodeName,
	}, ts)
	if err := w.outbox(replication.Entry{Kind: replication.KindMerge, ProfileID: p.ID, From: from}, nil); err != nil {
		return err
	}
	return w.outbox(replication.Entry{Kind: replication.KindDelta, ProfileID: p.ID}, rec)
}

func (w *writer) mint() (string, error) {
	id, err := ulid.New(uint64(w.nowMs), w.s.entropy)
	if err != nil {
		return "", fmt.Errorf("store: mint profile id: %w", err)
	}
	return id.String(), nil
}

// outbox appends e to the outbox with delta, when not nil, encoded as
// its Delta (deltaBytes).
func (w *writer) outbox(e replication.Entry, delta *profile.Profile) error {
	if delta != nil {
		b, err := w.deltaBytes(delta)
		if err != nil {
			return err
		}
		e.Delta = b
	}
	return w.outboxEncoded(e)
}

// deltaBytes encodes delta for an outbox entry: nil in an unreplicated
// store, which only numbers its entries (outboxEncoded).
func (w *writer) deltaBytes(delta *profile.Profile) ([]byte, error) {
	if w.s.opts.Unreplicated {
		return nil, nil
	}
	return delta.Marshal()
}

// outboxEncoded appends e, its delta already encoded, to the outbox.
// An unreplicated store (Options.Unreplicated) gives e its sequence and
// writes nothing: the entry is as if written and trimmed at once.
func (w *writer) outboxEncoded(e replication.Entry) error {
	ob := w.tx.Bucket(bucketOutbox)
	seq, err := ob.NextSequence()
	if err != nil || w.s.opts.Unreplicated {
		return err
	}
	v, err := encodeOutbox(e)
	if err != nil {
		return err
	}
	w.outboxDelta++
	return ob.Put(u64(seq), v)
}

// flush writes every dirty profile and its view, deletes absorbed ones,
// updates gauges and the clock's high-water mark, and expires old dedupe
// entries.
func (w *writer) flush() error {
	if err := w.settle(); err != nil { // deferred events first (later.go)
		return err
	}
	views := newSeekBucket(w.tx.Bucket(bucketViews))
	if err := w.cascadeErasure(); err != nil {
		return err
	}
	w.settleRepairs()
	for _, id := range crdt.SortedKeys(w.deleted) {
		if err := w.deleteProfile(id); err != nil {
			return err
		}
		if err := w.deleteView(views, id); err != nil {
			return err
		}
	}
	// Encoding is pure CPU work on distinct profiles: spread it over the
	// cores, then write in key order (bbolt is single-writer).
	dirty := crdt.SortedKeys(w.dirty) // nothing below adds to w.dirty
	ids := dirty
	if len(w.rerender) > 0 {
		ids = slices.Clone(dirty)
		for id := range w.rerender {
			if !w.dirty[id] && !w.deleted[id] && w.cache[id] != nil {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
	}
	type enc struct {
		state, record, view []byte
		ev                  viewEval
		// mem is the view as the read index takes it once the
		// transaction commits (nil for a view flagged for repair).
		mem    *Cached
		erased bool
		err    error
	}
	out := make([]enc, len(ids))
	flags := w.viewFlags(ids)
	incs := w.increments(views, ids)
	cut, retain := w.cat.RetentionCutoff(time.UnixMilli(w.nowMs))
	// With every view held in memory (no bound), the file keeps only
	// each view's evaluation and the JSON lives in memory (decision
	// 0109): the views bucket's records shrink about eightfold, and with
	// them the leaves every commit rewrites.
	bodiless := w.s.opts.ViewMemoryBytes == 0
	// Of those, a view memory holds — one read since its profile was
	// last written — is rendered again now, so that a profile being read
	// (a till's customer) stays a copy away; the others are left to their
	// first read (decision 0115).
	var read []bool
	if bodiless {
		read = w.s.mem.holdsViews(ids)
	}
	encode := func(i int) {
		p := w.cache[ids[i]]
		var b []byte
		var err error
		// Retention (decision 0041): events past the catalog's cutoff
		// leave the stored state whenever a profile is written or its
		// view rendered again (the evaluation's Next brings every
		// profile back when its oldest event leaves).
		pruned := false
		if retain {
			_, pruned = p.Prune(cut)
		}
		if w.dirty[ids[i]] || pruned {
			if b, err = p.Marshal(); err != nil {
				out[i].err = err
				return
			}
		}
		if p.Erased.Set { // no view: lookups of it answer not found
			out[i] = enc{state: b, erased: true}
			if b != nil {
				out[i].record = sealProfile(ids[i], b)
			}
			return
		}
		var last int64
		if p.LastSeen.Set {
			last = p.LastSeen.V
		}
		ver := p.Version.String()
		// With no bound, a view nobody read since the profile's last
		// write is rendered by its first read, not here (decision 0115):
		// most profiles an edge writes are not looked up before they are
		// written again.
		render := !bodiless || read[i]
		var json []byte
		var ev viewEval
		if render {
			if json, ev, err = renderViewAfter(p, w.cat, w.nowMs, incs[i]); err != nil {
				out[i].err = err
				return
			}
		} else {
			_, _, ev = evaluateAfter(p, w.cat, w.nowMs, incs[i])
		}
		fl, body := flags[i], json
		recVer, recLast := ver, last
		if bodiless {
			fl, body = fl|viewBodiless, nil
			// Without its JSON the record keeps the profile's version and
			// last-seen moment only beside a stored decision (which serves
			// them): a read from the file renders the view from the state
			// and takes both from it. The record then changes only with
			// its evaluation, and putView leaves an unchanged one alone
			// (decision 0119).
			if ev.decision == nil {
				recVer, recLast = "", 0
			}
		}
		out[i] = enc{state: b, view: encodeViewRecord(ids[i], fl, recLast, recVer, ev, body), ev: ev}
		if fl&viewRepairing == 0 {
			out[i].mem = coldView
			if render {
				// A copy of its own size: the render's buffer has room
				// for a kilobyte or more, and memory keeps this for as
				// long as the view stands.
				out[i].mem = cachedView(ids[i], View{Version: ver, LastSeenMs: last, JSON: bytes.Clone(json)}, ev)
			}
		}
		if b != nil {
			out[i].record = sealProfile(ids[i], b)
		}
	}
	// The applier's own goroutine takes part (its thread may run ahead
	// of request handling, decision 0100).
	spread(len(ids), encode)
	var oldAud, newAud map[string][]byte
	if w.stream != nil {
		oldAud, newAud = make(map[string][]byte, len(ids)), make(map[string][]byte, len(ids))
		for i, id := range ids {
			if old := viewEvalOf(w.storedView(views, id)); old.ok {
				oldAud[id] = bytes.Clone(old.audiences)
			}
			newAud[id] = out[i].ev.audiences
		}
		w.changes = w.streamChanges(ids, oldAud, newAud)
	}
	for i, id := range ids {
		if out[i].err != nil {
			return out[i].err
		}
		if out[i].state != nil {
			if err := w.putProfile(id, out[i].state, out[i].record); err != nil {
				return err
			}
		}
		if out[i].erased {
			if err := w.deleteView(views, id); err != nil {
				return err
			}
			continue
		}
		if err := w.putView(views, id, out[i].view, out[i].ev, out[i].mem); err != nil {
			return err
		}
	}
	if err := w.updateHolders(dirty); err != nil {
		return err
	}
	if erased := w.newlyErased(); len(erased) > 0 {
		if err := w.purgeErased(erased); err != nil {
			return err
		}
	}
	if err := w.finishRepairs(); err != nil {
		return err
	}
	if err := w.capForward(); err != nil {
		return err
	}
	meta := w.tx.Bucket(bucketMeta)
	for _, g := range []struct {
		key   []byte
		delta int64
	}{{profilesKey, w.profileDelta}, {identifiersKey, w.identDelta}, {outboxKey, w.outboxDelta}} {
		if g.delta == 0 {
			continue
		}
		v := int64(readU64(meta.Get(g.key))) + g.delta
		if err := meta.Put(g.key, u64(uint64(max(v, 0)))); err != nil {
			return err
		}
	}
	hlc, err := encodeTimestamp(w.s.clock.Last())
	if err != nil {
		return err
	}
	if err := meta.Put(hlcKey, hlc); err != nil {
		return err
	}
	if err := meta.Put(digestKey, w.digest.marshal()); err != nil {
		return err
	}
	return w.expireDedupe()
}

// noteDedupeTime files messageId mid (b its bytes, h its hash), first
// seen at ms, in the dedupe set's time order, and notes it for the
// in-memory index (dedupe.go).
// Its key is ms and the bucket's next sequence, not ms and mid: every key
// of a commit then lands after the last, where bbolt appends it, whereas
// random messageIds under one batch's ms landed amid the keys the commit
// had already added to the bucket's last leaf — a node bbolt does not
// split before the commit — and each insert moved half of them
// (bench/README, "The dedupe set's time order by sequence").
func (w *writer) noteDedupeTime(ms [8]byte, mid string, b []byte, h uint64) error {
	seq, err := w.byTime.NextSequence()
	if err != nil {
		return err
	}
	if err := w.byTime.Put(binary.BigEndian.AppendUint64(ms[:], seq), b); err != nil {
		return err
	}
	w.ddAdd = append(w.ddAdd, dedupeNote{h: h, mid: mid, ref: dedupeRef{ms: int64(binary.BigEndian.Uint64(ms[:])), seq: seq}})
	return nil
}

// expireDedupe deletes dedupe entries older than the window: up to
// 1,000 a commit, and up to twice as many as the commit added, so that
// under sustained ingest (tens of thousands of events a commit) the set
// stays the window's and a backlog drains.
func (w *writer) expireDedupe() error {
	limit := max(1000, 2*w.deduped)
	cutoff := w.nowMs - w.s.opts.DedupeWindow.Milliseconds()
	c := w.byTime.Cursor()
	for k, v := c.First(); len(k) >= 8; k, v = c.First() {
		if int64(binary.BigEndian.Uint64(k)) >= cutoff {
			break
		}
		if mid, r, ok := dedupeRefOf(k, v); ok {
			w.ddGone = append(w.ddGone, dedupeNote{h: w.s.dedupe.hash(mid), mid: string(mid), ref: r})
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if w.expired++; w.expired >= limit {
			break
		}
	}
	return nil
}

func encodeTimestamp(ts crdt.Timestamp) ([]byte, error) {
	return codecTimestamp.Marshal(ts)
}

// sameElems reports whether set holds exactly the elements was lists
// (distinct, as Elems returns them) — for most events true, which spares
// sorting a copy of the profile's identities to find nothing changed.
func sameElems(set crdt.ORSet, was []string) bool {
	return set.Len() == len(was) && !slices.ContainsFunc(was, func(k string) bool { return !set.Has(k) })
}

// updateHolders brings the holders bucket in line with the profiles this
// transaction wrote or deleted, then re-derives the index entry of every
// identifier whose holders changed: the smallest profile ID holding it.
// The index is thereby a function of the stored profiles alone, the same
// on every replica that holds the same profiles, whatever order changes
// arrived in. (Entries written during the transaction are provisional, so
// later events of the same commit find identifiers earlier ones added.)
// Only identifiers two or more profiles hold keep holders entries
// (holders.go); one that drops to one holder loses them, single entries
// of files written before schema 3 included.
func (w *writer) updateHolders(dirty []string) error {
	holders := w.tx.Bucket(bucketHolders)
	type delta struct{ add, del []string }
	deltas := map[string]*delta{}
	note := func(k, id string, add bool) {
		d := deltas[k]
		if d == nil {
			d = &delta{}
			deltas[k] = d
		}
		if add {
			d.add = append(d.add, id)
		} else {
			d.del = append(d.del, id)
		}
	}
	diff := func(id string, now []string) {
		was := w.before[id]
		for _, k := range was {
			if !slices.Contains(now, k) {
				note(k, id, false)
			}
		}
		for _, k := range now {
			if !slices.Contains(was, k) {
				note(k, id, true)
			}
		}
	}
	for _, id := range crdt.SortedKeys(w.deleted) {
		if !w.dirty[id] {
			diff(id, nil)
		}
	}
	for _, id := range dirty {
		if ids := w.cache[id].Identities; !sameElems(ids, w.before[id]) {
			diff(id, ids.Elems())
		}
	}
	// The identifiers whose holders changed, and those whose index entry
	// this transaction wrote.
	touched := make([]string, 0, len(deltas)+len(w.provisional))
	for k := range deltas {
		touched = append(touched, k)
	}
	for k := range w.provisional {
		if deltas[k] == nil {
			touched = append(touched, k)
		}
	}
	slices.Sort(touched)
	c := holders.Cursor()
	var was, entries []string
	for _, k := range touched {
		// The holders as of the last commit: the key's holders entries,
		// or the profile its committed index entry names. A key the
		// index did not hold has neither (no seek).
		was, entries = was[:0], entries[:0]
		if committed := w.committedIndex(k); committed != nil {
			if eachHolderEntry(c, k, func(h []byte) bool {
				entries = append(entries, string(h))
				return true
			}) > 0 {
				was = append(was, entries...)
			} else {
				was = append(was, string(committed))
			}
		}
		now := was
		if d := deltas[k]; d != nil {
			now = slices.DeleteFunc(slices.Clone(was), func(h string) bool { return slices.Contains(d.del, h) })
			now = append(now, d.add...)
			slices.Sort(now)
			now = slices.Compact(now)
			// Only a key that had two holders, or has two now, can start
			// or stop being shared, or change its count: the read index
			// re-counts just those (a new person's identifiers cost it
			// nothing).
			if len(was) >= 2 || len(now) >= 2 {
				w.mem.holders(k)
			}
		}
		if err := putHolderEntries(holders, k, entries, now); err != nil {
			return err
		}
		if len(now) > 0 {
			// The provisional entry usually names the holder already.
			if cur := w.index.Get([]byte(k)); cur == nil || string(cur) != now[0] {
				w.mem.ident(k)
				if err := w.index.Put([]byte(k), []byte(now[0])); err != nil {
					return err
				}
			}
			if len(was) == 0 {
				w.identDelta++
			}
			continue
		}
		w.mem.ident(k)
		if err := w.index.Delete([]byte(k)); err != nil {
			return err
		}
		if len(was) > 0 {
			w.identDelta--
		}
	}
	return nil
}

// putHolderEntries turns identifier k's holders entries, which are
// entries (sorted), into those of the holders now (sorted): one per
// holder when two or more profiles hold k, none otherwise.
func putHolderEntries(holders *bolt.Bucket, k string, entries, now []string) error {
	if len(now) < 2 {
		now = nil
	}
	for _, h := range entries {
		if _, keep := slices.BinarySearch(now, h); !keep {
			if err := holders.Delete([]byte(k + "\x00" + h)); err != nil {
				return err
			}
		}
	}
	for _, h := range now {
		if _, has := slices.BinarySearch(entries, h); !has {
			if err := holders.Put([]byte(k+"\x00"+h), nil); err != nil {
				return err
			}
		}
	}
	return nil
}
