package store

import (
	"bytes"
	"cmp"
	"slices"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
)

// The read overlay (docs/decisions/0064-read-overlay.md).
//
// A lookup whose profile has acknowledged events the applier has not
// committed yet waited for them (the fence, pending.go): under sustained
// ingest that is up to the applier's lag, about a second at saturation.
// When those events are plain — every identifier of each already names
// the one profile the lookup answers with, alone, and none is an alias —
// the writer will resolve each to that profile and link nothing new, so
// their effect is known without the writer: the profile's committed
// state with the events applied in log order, rendered as flush renders
// it. The overlay computes that view on the reader's goroutine, from one
// read transaction, instead of waiting. Anything else — an event that
// can create, merge or move a profile, a peer's or the hub's change in
// the entity, a barrier, a damaged, repaired, erased or redirected
// profile, a suppression list in force — waits as before.
//
// Both apply an event with the HLC moment the appender acknowledged it
// at (writer.stampFor), so the view is the one the applier will publish,
// version included — but for the evaluation time of time-dependent
// computed traits and audiences, which is the reader's now. An event
// whose stamp is not after its profile's version (a later change reached
// the profile first) is stamped afresh by the applier: the overlay then
// waits.

// overlaid is a profile with its plain pending events applied.
type overlaid struct {
	p *profile.Profile // its state; the caller owns it
	// c is its view and ev the view's evaluation (with the ranked offers
	// when the catalog has offers); nil and zero when not rendered.
	c  *Cached
	ev viewEval
}

// overlay returns the profile identifier key names (key not nil; named
// is the profile its entry in memory names) or profile id, with the
// pending events of its entity applied, when they are all plain — and
// its view when view is set; ok is false when the caller must wait.
func (s *Store) overlay(key, id []byte, named string, view bool) (o overlaid, ok bool) {
	if key != nil {
		if named == "" {
			return overlaid{}, false
		}
		id = []byte(named)
	}
	// A transaction the applier overtook before it read what is pending
	// is tried once more, in a new one (a lookup under load would else
	// wait for the applier on a race it lost by microseconds).
	for range 2 {
		stale := false
		_ = s.view(func(tx *bolt.Tx) error {
			o, ok, stale = s.overlayIn(tx, key, id, view)
			return nil
		})
		if ok || !stale {
			break
		}
	}
	if ok {
		s.readOverlays.Add(1)
	}
	return o, ok
}

// overlayIn is overlay in read transaction tx; stale reports that the
// applier's published position had passed tx's when it read what is
// pending (a new transaction may succeed).
func (s *Store) overlayIn(tx *bolt.Tx, key, id []byte, view bool) (o overlaid, ok, stale bool) {
	if s.priv.suppressN.Load() != 0 {
		return overlaid{}, false, false
	}
	var at uint64 // the log position this transaction has applied
	if v := tx.Bucket(bucketMeta).Get(walPosKey); v != nil {
		at = readU64(v)
	}
	if s.opts.overlayHook != nil {
		s.opts.overlayHook()
	}
	applied := s.appliedPos.Load()
	evs, target, ok := s.pending.plainAfter(key, id, at, applied)
	if !ok || target != string(id) {
		return overlaid{}, false, applied > at
	}
	// What marking saw in memory must still hold in this transaction:
	// the profile is canonical, whole and not under repair, and every
	// identifier the events carry names it and no other profile.
	if tx.Bucket(bucketRedirects).Get([]byte(target)) != nil || tx.Bucket(bucketRepair).Get([]byte(target)) != nil {
		return overlaid{}, false, false
	}
	if key != nil && !s.holdsAlone(tx, string(key), target) {
		return overlaid{}, false, false
	}
	rec := tx.Bucket(bucketProfiles).Get([]byte(target))
	if rec == nil {
		return overlaid{}, false, false
	}
	state, err := openProfile([]byte(target), rec)
	if err != nil {
		return overlaid{}, false, false
	}
	p, err := profile.Unmarshal(state)
	if err != nil || p.Erased.Set {
		return overlaid{}, false, false
	}
	rules := s.opts.Rules
	cat := s.Catalog()
	byTime := tx.Bucket(bucketDedupeTime)
	for _, pe := range evs {
		m := pe.ev.Msg
		if pe.dup || s.dedupe.seen(byTime, []byte(m.MessageID)) {
			continue // the writer drops it as a duplicate (plainAfter marks a repeat of a pending one)
		}
		// resolve's outcome when every identifier names target alone:
		// target, each unblocked identifier linked, in priority order.
		link := make([]profile.Identifier, 0, len(m.Identifiers))
		for _, ident := range m.Identifiers {
			k := ident.Key()
			if !s.holdsAlone(tx, k, target) {
				return overlaid{}, false, false
			}
			if !rules.Blocked(ident) {
				link = append(link, ident)
			}
		}
		rules.SortByPriority(link)
		ts := stampFor(p, pe.stamp)
		if ts.IsZero() {
			return overlaid{}, false, false // the applier will stamp it afresh: its version cannot be known here
		}
		src := profile.Source{Node: s.node, Name: pe.ev.Source, Capture: cat.Capture}
		p.Apply(m, link, src, ts)
	}
	now := s.opts.Now()
	if cut, retain := cat.RetentionCutoff(now); retain {
		p.Prune(cut)
	}
	if !view {
		return overlaid{p: p}, true, false
	}
	json, ev, err := renderView(p, cat, now.UnixMilli())
	if err != nil {
		return overlaid{}, false, false
	}
	var last int64
	if p.LastSeen.Set {
		last = p.LastSeen.V
	}
	return overlaid{p: p, ev: ev, c: &Cached{ID: target, Version: p.Version.String(), LastSeenMs: last, JSON: json,
		digest: ev.digest, nextMs: ev.nextMs, evaluated: ev.ok}}, true, false
}

// holdsAlone reports whether identifier key's committed index entry
// names profile id and no other profile holds it, in tx.
func (s *Store) holdsAlone(tx *bolt.Tx, key, id string) bool {
	if v := tx.Bucket(bucketIndex).Get([]byte(key)); v == nil || string(v) != id {
		return false
	}
	alone := true
	eachHolderEntry(tx.Bucket(bucketHolders).Cursor(), key, func(h []byte) bool {
		if !bytes.Equal(h, []byte(id)) {
			alone = false
		}
		return alone
	})
	return alone
}

// plainAfter returns, in log order, the pending events after log
// position at of the entity profile id belongs to (and identifier key,
// when not nil: the same entity or none), and the profile they all land
// on — when every one of them
// is plain (pevent.target) and nothing else can change that profile
// while they are pending. applied is the applier's published position:
// a transaction older than it may miss events already pruned, so ok is
// false then, as it is with a barrier or a peer's or the hub's change
// pending, and when nothing is pending (the caller need not wait).
func (p *pendingSet) plainAfter(key, id []byte, at, applied uint64) (evs []pevent, target string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if applied > at || p.barrier > at || p.holding > 0 {
		return nil, "", false
	}
	g := p.byID[string(id)]
	if key != nil {
		if gk := p.byKey[string(key)]; gk != nil {
			if g != nil && g.root() != gk.root() {
				return nil, "", false
			}
			g = gk
		}
	}
	if g == nil {
		return nil, "", false
	}
	g = g.root()
	if g.odd || g.live > 0 || g.lsn <= at {
		return nil, "", false
	}
	for _, pe := range g.evs {
		if pe.lsn <= at {
			continue
		}
		if first, ok := p.mids[pe.ev.Msg.MessageID]; ok && first < pe.seq {
			pe.dup = true // an earlier pending event, maybe another entity's, has its messageId
		}
		if target == "" {
			target = pe.target
		}
		if pe.target != target {
			return nil, "", false
		}
		evs = append(evs, pe)
	}
	if len(evs) == 0 {
		return nil, "", false
	}
	// The root's events joined in from other roots come after its own.
	slices.SortFunc(evs, func(a, b pevent) int { return cmp.Compare(a.seq, b.seq) })
	return evs, target, true
}
