package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// TestDeferralIsInvisibleToOtherRequests: events deferred to their
// profile's settling (decision 0121) are settled before every request
// that is not an event, wherever it falls in the stream. Random batches
// of events are appended to a store that defers and to one that applies
// every event at once — applied, not committed: they wait in the
// applier's open transaction, the plain ones deferred — and between
// them both stores get the same requests of every other kind, most of
// them just after a few events about the people they touch:
//
//   - a peer edge's deltas and merges (ApplyRemote, from a third store
//     fed events about the same people, repeats included) and its full
//     states (ApplyStates, as anti-entropy sends them);
//   - the hub's clusters: a merge of two people each store holds (built
//     from the store's own states, as the hub joins them), and later its
//     unmerge — through ApplyClusters, ApplyClustersAt or
//     BootstrapClusters — with the outbox entries the hub had not
//     acknowledged replayed;
//   - privacy directives: an erasure of one person by a salted key, at
//     this edge or at the peer (whose erased state then arrives as a
//     delta), a suppression and its withdrawal;
//   - a new catalog and the sweep's refresh of every view;
//   - writes behind: a cursor, an outbox trim (to a committed sequence or
//     past everything), the hub-sync time.
//
// Both stores end with the same views, the same profiles (identifiers,
// absorbed IDs, events, erasure, tombstones) and redirects, the same
// outbox entries for each profile in the same order (the order across
// profiles may differ: later.go), and the same changes in the change
// stream for each profile. Minted profile IDs differ between the two
// stores: they are compared by rank (a store's IDs, sorted), which
// matches as long as both minted the same profiles — in the same order,
// at one fixed moment, so each store's IDs ascend in minting order — and
// the peer's IDs, 100 ms younger, sort after them.
func TestDeferralIsInvisibleToOtherRequests(t *testing.T) {
	dir := t.TempDir()
	run, deferred := 0, int64(0)
	rapid.Check(t, func(rt *rapid.T) {
		run++
		m := newMixedRun(rt, dir, run)
		defer m.close()
		for range rapid.IntRange(1, 40).Draw(rt, "steps") {
			m.step()
		}
		m.compare()
		st, err := m.stores[0].Stats()
		if err != nil {
			rt.Fatal(err)
		}
		deferred += st.DeferredEvents
	})
	t.Logf("%d events deferred in %d runs", deferred, run)
}

// mixedRun is one check of TestDeferralIsInvisibleToOtherRequests:
// stores[0] defers, stores[1] applies at once, peer is the other edge.
type mixedRun struct {
	rt     *rapid.T
	ctx    context.Context
	stores [2]*Store
	peer   *Store
	users  int
	// events counts the events appended to the two stores (the budget),
	// msgs and peerMsgs the messageIds drawn for them and for the peer.
	events, msgs, peerMsgs int
	// peerUsers are the people the peer has events of.
	peerUsers []int
	// merges are the hub's merges applied and not split yet, a snapshot
	// per store.
	merges [][2]hubMerge
	// changeFrom is where each store's change stream began.
	changeFrom [2]uint64
	// committed is each store's outbox sequence at the last commit the
	// test made (a sequence both stores reached with the same entries).
	committed [2]uint64
	catalogs  uint64
	requests  int // directives and feed positions: unique IDs
}

// hubMerge is the hub's merge of profiles a and b of one store, from
// their states pa and pb, when the hub had acknowledged the outbox up
// to acked.
type hubMerge struct {
	users  [2]int // whose user IDs a and b held
	a, b   string
	pa, pb *profile.Profile
	acked  uint64
}

const (
	mixedEvents = 80 // events appended to each store, at most
	mixedAnons  = 4
)

func newMixedRun(rt *rapid.T, dir string, run int) *mixedRun {
	m := &mixedRun{rt: rt, ctx: context.Background(), users: rapid.IntRange(2, 4).Draw(rt, "users")}
	// Settling between batches (settleAt) leaves nothing deferred for
	// the next request: mostly only at the commit (0), sometimes once
	// two or four profiles wait (they stay loaded, and their next events
	// are deferred again).
	settleAt := rapid.SampledFrom([]int{0, 0, 2, 4}).Draw(rt, "settleAt")
	// One fixed moment: both stores mint IDs in ascending order (a
	// monotonic ULID within one millisecond), and the applier commits only
	// when a request or the test makes it (never for the time), so both
	// stores commit at the same points.
	now := func() time.Time { return t0 }
	for i, name := range []string{"later", "now"} {
		s := openProp(rt, filepath.Join(dir, fmt.Sprintf("%s-%d.db", name, run)), "till-1", func(o *Options) {
			o.noLater, o.settleAt = i == 1, settleAt
			o.Now, o.Salt = now, testSalt
			o.IdleCommit, o.IdleGap, o.CommitAge = time.Hour, -1, time.Hour
			o.Linger, o.SweepInterval = -1, time.Hour
		})
		m.stores[i] = s
		_, m.changeFrom[i], _, _ = s.Changes(0, 0) // the stream records from here
	}
	// The peer's clock is 100 ms ahead, within the drift bound: its IDs
	// sort after the stores' in both, so a profile of theirs that shares
	// an identifier with one of the peer's absorbs it.
	m.peer = openProp(rt, filepath.Join(dir, fmt.Sprintf("peer-%d.db", run)), "till-2", func(o *Options) {
		o.Now, o.Salt = func() time.Time { return t0.Add(100 * time.Millisecond) }, testSalt
	})
	return m
}

func (m *mixedRun) close() {
	for _, s := range append(m.stores[:], m.peer) {
		if s != nil {
			s.Close(m.ctx)
		}
	}
}

// step draws one operation and does it to both stores (or the peer).
func (m *mixedRun) step() {
	switch rapid.IntRange(0, 15).Draw(m.rt, "op") {
	case 0, 1, 2, 3:
		m.appendEvents(rapid.IntRange(1, 6).Draw(m.rt, "batch"))
	case 4:
		m.peerEvents()
	case 5, 6:
		m.peerDeltas()
	case 7, 8:
		m.peerStates()
	case 9:
		m.hubMerge()
	case 10:
		m.hubSplit()
	case 11:
		m.erase()
	case 12:
		if rapid.Bool().Draw(m.rt, "suppress") {
			m.suppress()
		} else {
			m.erase()
		}
	case 13:
		m.newCatalog()
	case 14:
		m.writeBehind()
	default:
		m.feedPosition()
	}
}

// body draws one event — a kind TestDeferralIsInvisible draws, or a
// plain event from a new device — about the same people, mostly those
// in focus if any, with messageIds prefix0, prefix1, … (some repeated).
// It returns the event and whose user ID it names (-1: none).
func (m *mixedRun) body(prefix string, n *int, focus []int) (string, int) {
	rt := m.rt
	i := *n
	*n++
	var u int
	if len(focus) > 0 && rapid.IntRange(0, 3).Draw(rt, "in focus") > 0 {
		u = rapid.SampledFrom(focus).Draw(rt, "focus")
	} else {
		u = rapid.IntRange(0, m.users-1).Draw(rt, "user")
	}
	mid := fmt.Sprintf("%s%d", prefix, i)
	if i > 0 && rapid.IntRange(0, 9).Draw(rt, "repeat") == 0 {
		mid = fmt.Sprintf("%s%d", prefix, rapid.IntRange(0, i-1).Draw(rt, "repeated"))
	}
	var b string
	switch kind := rapid.IntRange(0, propKinds).Draw(rt, "kind"); kind {
	case propKinds:
		// a new device: a plain event that links an identifier
		b = fmt.Sprintf(`{"type":"track","userId":"u%d","anonymousId":"%s-d%d","event":"Product Viewed"}`, u, prefix, i)
	default:
		b = propEvent(rt, kind, u, i, m.users, mixedAnons)
		if kind == propKinds-1 { // an anonymous visitor's screen
			u = -1
		}
	}
	return b[:len(b)-1] + fmt.Sprintf(`,"messageId":%q}`, mid), u
}

// parse parses bodies anew (each store keeps the messages it is given).
func (m *mixedRun) parse(bodies []string) []Event {
	evs := make([]Event, len(bodies))
	for i, b := range bodies {
		evs[i] = ev(m.rt, b)
	}
	return evs
}

// appendEvents appends a batch of up to n events (mostly about the
// people in focus) to both stores and waits until their appliers have
// applied it — one batch of the applier's, so a run settles (settleAt)
// at the same points every time — without making them commit: the
// events stay in the open transaction, the plain ones deferred, until a
// later request makes it commit. The budget of mixedEvents caps them.
func (m *mixedRun) appendEvents(n int, focus ...int) {
	n = min(n, mixedEvents-m.events)
	if n <= 0 {
		return
	}
	m.events += n
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i], _ = m.body("m", &m.msgs, focus)
	}
	for _, s := range m.stores {
		if err := s.Append(m.ctx, m.parse(bodies)); err != nil {
			m.rt.Fatal(err)
		}
	}
	m.drain()
}

// meanwhile appends a few events, mostly about the people in focus,
// before a request of another kind: whatever it reads of them has events
// deferred (see appendEvents).
func (m *mixedRun) meanwhile(focus ...int) {
	m.appendEvents(rapid.IntRange(0, 4).Draw(m.rt, "meanwhile"), focus...)
}

// drain waits until each store's applier has applied every event
// appended into its open transaction. Then a waiter (a read that must
// see them, another write) makes it commit once, whatever its pace —
// with batches still queued it commits the one it holds and then each
// one behind it, and the change stream has an entry for each commit
// that changed a profile — and a request of another kind is applied
// after them, never in the same batch.
func (m *mixedRun) drain() {
	for _, s := range m.stores {
		for {
			ch := s.appliedChan()
			if s.lagReqs.Load() == 0 {
				break
			}
			<-ch
		}
	}
}

// commit makes both stores commit what they hold and notes their
// outbox sequences, which must agree.
func (m *mixedRun) commit() {
	for i, s := range m.stores {
		seq, err := s.LastSeq()
		if err != nil {
			m.rt.Fatal(err)
		}
		m.committed[i] = seq
	}
	if m.committed[0] != m.committed[1] {
		m.rt.Fatalf("outbox sequence %d with deferral, %d without", m.committed[0], m.committed[1])
	}
}

// peerEvents has the peer ingest a few events about the same people.
func (m *mixedRun) peerEvents() {
	bodies := make([]string, rapid.IntRange(1, 4).Draw(m.rt, "peer batch"))
	for i := range bodies {
		var u int
		if bodies[i], u = m.body("p", &m.peerMsgs, nil); u >= 0 && !slices.Contains(m.peerUsers, u) {
			m.peerUsers = append(m.peerUsers, u)
		}
	}
	if _, err := m.peer.Ingest(m.ctx, m.parse(bodies)); err != nil {
		m.rt.Fatal(err)
	}
}

// peerEntries returns a copy of entries for each store (a store may keep
// what it is given).
func peerEntries(es []replication.Entry) [2][]replication.Entry {
	var out [2][]replication.Entry
	for i := range out {
		out[i] = make([]replication.Entry, len(es))
		for k, e := range es {
			e.Delta = slices.Clone(e.Delta)
			out[i][k] = e
		}
	}
	return out
}

// peerDeltas gossips a stretch of the peer's outbox — deltas and merges,
// from any point, so repeats too — to both stores.
func (m *mixedRun) peerDeltas() {
	if m.peerMsgs == 0 {
		m.peerEvents()
	}
	es, err := m.peer.Outbox(0, 1<<20)
	if err != nil {
		m.rt.Fatal(err)
	}
	if len(es) == 0 {
		return
	}
	lo := rapid.IntRange(0, len(es)-1).Draw(m.rt, "gossip from")
	hi := rapid.IntRange(lo+1, len(es)).Draw(m.rt, "gossip to")
	m.meanwhile(m.peerUsers...)
	m.toStores("ApplyRemote", peerEntries(es[lo:hi]), (*Store).ApplyRemote)
}

// peerStates sends both stores the peer's full states and redirects, as
// anti-entropy does.
func (m *mixedRun) peerStates() {
	if m.peerMsgs == 0 {
		m.peerEvents()
	}
	var es []replication.Entry
	if err := m.peer.BucketEntries(everyDigestBucket(), func(e replication.Entry) error {
		es = append(es, e)
		return nil
	}); err != nil {
		m.rt.Fatal(err)
	}
	if len(es) == 0 {
		return
	}
	m.meanwhile(m.peerUsers...)
	m.toStores("ApplyStates", peerEntries(es), (*Store).ApplyStates)
}

func (m *mixedRun) toStores(what string, es [2][]replication.Entry, apply func(*Store, context.Context, []replication.Entry) (ApplyResult, error)) {
	var res [2]ApplyResult
	for i, s := range m.stores {
		var err error
		if res[i], err = apply(s, m.ctx, es[i]); err != nil {
			m.rt.Fatalf("%s: %v", what, err)
		}
	}
	if res[0] != res[1] {
		m.rt.Fatalf("%s = %+v with deferral, %+v without", what, res[0], res[1])
	}
}

// hubMerge has the hub rule two people one: it reads each store's
// states of them once everything so far is committed (the hub has it
// all), then events arrive, then the cluster — the two states joined
// under the smaller ID — reaches the stores with the events deferred.
func (m *mixedRun) hubMerge() {
	rt := m.rt
	ui := rapid.IntRange(0, m.users-1).Draw(rt, "hub user")
	uj := rapid.IntRange(0, m.users-1).Draw(rt, "hub other")
	m.commit()
	var snap [2]hubMerge
	var ok [2]bool
	for i, s := range m.stores {
		h := hubMerge{users: [2]int{ui, uj}, acked: m.committed[i]}
		var errA, errB error
		h.a, errA = s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: fmt.Sprintf("u%d", ui)})
		h.b, errB = s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: fmt.Sprintf("u%d", uj)})
		if errA == nil && errB == nil && h.a != h.b {
			h.pa, errA = s.Profile(h.a)
			h.pb, errB = s.Profile(h.b)
			ok[i] = errA == nil && errB == nil
		}
		snap[i] = h
	}
	if ok[0] != ok[1] {
		rt.Fatalf("u%d and u%d: two people with deferral %v, without %v", ui, uj, ok[0], ok[1])
	}
	m.meanwhile(ui, uj)
	if !ok[0] {
		return
	}
	var cs [2][]replication.FeedItem
	for i, h := range snap {
		canon := min(h.a, h.b)
		joined, other := h.pa.Clone(), h.pb.Clone()
		joined.ID, other.ID = canon, canon
		joined.Merge(other)
		cs[i] = []replication.FeedItem{{ID: canon, Fragments: sortedPair(h.a, h.b), State: encodeProp(rt, joined)}}
	}
	m.clusters("merge", cs, [2]uint64{snap[0].acked, snap[1].acked})
	m.merges = append(m.merges, snap)
}

// hubSplit has the hub undo one of its merges (a steward's unmerge),
// maybe ruling the two apart: each side's cluster is its state as the
// hub merged it, with what this edge wrote since and the hub has not
// acknowledged replayed.
func (m *mixedRun) hubSplit() {
	if len(m.merges) == 0 {
		return
	}
	k := rapid.IntRange(0, len(m.merges)-1).Draw(m.rt, "split")
	apart := rapid.Bool().Draw(m.rt, "apart")
	snap := m.merges[k]
	m.merges = slices.Delete(m.merges, k, k+1)
	m.meanwhile(snap[0].users[:]...)
	var cs [2][]replication.FeedItem
	for i, h := range snap {
		ca := replication.FeedItem{ID: h.a, Fragments: []string{h.a}, State: encodeProp(m.rt, h.pa)}
		cb := replication.FeedItem{ID: h.b, Fragments: []string{h.b}, State: encodeProp(m.rt, h.pb)}
		if apart {
			ca.Apart, cb.Apart = []string{h.b}, []string{h.a}
		}
		cs[i] = []replication.FeedItem{ca, cb}
	}
	m.clusters("split", cs, [2]uint64{snap[0].acked, snap[1].acked})
}

// clusters applies a page of the hub's feed, cs[i] to store i, through
// one of the three ways a page arrives.
func (m *mixedRun) clusters(what string, cs [2][]replication.FeedItem, acked [2]uint64) {
	how := rapid.SampledFrom([]string{"ApplyClusters", "ApplyClustersAt", "BootstrapClusters"}).Draw(m.rt, "feed")
	m.requests++
	var res [2]ApplyResult
	for i, s := range m.stores {
		var err error
		switch how {
		case "ApplyClusters":
			res[i], err = s.ApplyClusters(m.ctx, cs[i], acked[i])
		case "ApplyClustersAt":
			res[i], err = s.ApplyClustersAt(m.ctx, cs[i], acked[i], "feed", uint64(m.requests))
		default:
			res[i], err = s.BootstrapClusters(m.ctx, cs[i], acked[i])
		}
		if err != nil {
			m.rt.Fatalf("%s (%s): %v", how, what, err)
		}
	}
	if res[0] != res[1] {
		m.rt.Fatalf("%s (%s) = %+v with deferral, %+v without", how, what, res[0], res[1])
	}
}

// feedPosition has the hub's feed bring nothing new: a page without
// clusters moves the feed position alone (ApplyClustersAt).
func (m *mixedRun) feedPosition() {
	m.meanwhile()
	m.moveFeed()
}

// moveFeed moves both stores' feed position, in a request after every
// one queued before it.
func (m *mixedRun) moveFeed() {
	m.requests++
	for _, s := range m.stores {
		if _, err := s.ApplyClustersAt(m.ctx, nil, 0, "feed", uint64(m.requests)); err != nil {
			m.rt.Fatalf("ApplyClustersAt (no clusters): %v", err)
		}
	}
}

// person draws one person, and a few events about them before a
// directive names them.
func (m *mixedRun) person() int {
	u := rapid.IntRange(0, m.users-1).Draw(m.rt, "person")
	m.meanwhile(u)
	return u
}

// identKey draws one of person u's identifiers, salted as directives
// name it.
func (m *mixedRun) identKey(u int) string {
	id := profile.Identifier{Type: profile.UserID, Value: fmt.Sprintf("u%d", u)}
	if rapid.Bool().Draw(m.rt, "by email") {
		id = profile.Identifier{Type: profile.Email, Value: fmt.Sprintf("e%d@example.com", u)}
	}
	return crdt.TombstoneKey(testSalt, id.Key())
}

// erase erases one person, named by a salted identifier, at both stores
// — or at the peer, whose erased state reaches them by gossip later.
func (m *mixedRun) erase() {
	m.requests++
	d := replication.Directive{ID: fmt.Sprintf("erase-%d", m.requests), Type: replication.DirectiveErase,
		Index: uint64(m.requests), At: t0.Add(time.Hour).UnixMilli(), Keys: []string{m.identKey(m.person())}}
	targets := m.stores[:]
	if rapid.IntRange(0, 2).Draw(m.rt, "at peer") == 0 {
		targets = []*Store{m.peer}
	}
	for _, s := range targets {
		if err := s.Erase(m.ctx, d); err != nil {
			m.rt.Fatal(err)
		}
	}
}

// suppress suppresses one person's identifier at both stores, or lifts
// its suppression.
func (m *mixedRun) suppress() {
	m.requests++
	d := replication.Directive{ID: fmt.Sprintf("suppress-%d", m.requests), Type: replication.DirectiveSuppress,
		Index: uint64(m.requests), At: t0.UnixMilli(), Keys: []string{m.identKey(m.person())}}
	if rapid.Bool().Draw(m.rt, "unsuppress") {
		d.Type = replication.DirectiveUnsuppress
	}
	for _, s := range m.stores {
		if err := s.ApplyDirective(m.ctx, d); err != nil {
			m.rt.Fatal(err)
		}
	}
}

// mixedCatalogs are the definitions newCatalog alternates between: each
// changes the computed traits and audiences of every view.
var mixedCatalogs = []string{
	`{"computed_traits": {"spend": {"event": "Order Completed", "aggregate": "sum", "property": "total"}},
	  "audiences": {"buyers": {"expression": "count(\"Order Completed\", \"lifetime\") >= 1"}}}`,
	`{"computed_traits": {"biggest": {"event": "Order Completed", "aggregate": "max", "property": "total"},
	                      "logins": {"event": "Signed In", "aggregate": "count"}},
	  "audiences": {"regulars": {"expression": "count(\"Order Completed\", \"lifetime\") >= 2"}}}`,
}

// newCatalog gives both stores a new catalog (which commits what they
// hold), then events arrive, then the sweep renders every view again
// under the new catalog: a refresh request, with the events deferred.
// The test holds the sweep's lock meanwhile, so the sweep the catalog
// wakes in the background cannot commit among the events — it does
// what newCatalog's own sweep does, after them, or finds nothing left.
func (m *mixedRun) newCatalog() {
	m.catalogs++
	c, _, err := catalog.ParseFile([]byte(mixedCatalogs[m.catalogs%uint64(len(mixedCatalogs))]))
	if err != nil {
		m.rt.Fatal(err)
	}
	c.Version = m.catalogs
	for _, s := range m.stores {
		s.sweepMu.Lock()
	}
	for _, s := range m.stores {
		if _, err := s.SetCatalog(c); err != nil {
			m.rt.Fatal(err)
		}
	}
	m.meanwhile()
	for _, s := range m.stores {
		s.sweepMu.Unlock()
		if err := s.sweep(m.ctx, true); err != nil {
			m.rt.Fatal(err)
		}
	}
}

// writeBehind queues a write behind at both stores: a reader's cursor
// at the last committed sequence, an outbox trim (to that sequence, or
// past everything the open transaction holds), or the hub-sync time.
func (m *mixedRun) writeBehind() {
	m.meanwhile()
	switch rapid.IntRange(0, 2).Draw(m.rt, "behind") {
	case 0:
		for i, s := range m.stores {
			if err := s.SetCursorBehind("gossip", m.committed[i]); err != nil {
				m.rt.Fatal(err)
			}
		}
	case 1:
		all := rapid.Bool().Draw(m.rt, "trim all")
		for i, s := range m.stores {
			upTo := m.committed[i]
			if all {
				upTo = ^uint64(0)
			}
			if err := s.TrimOutboxBehind(upTo); err != nil {
				m.rt.Fatal(err)
			}
		}
	default:
		m.requests++
		for _, s := range m.stores {
			if err := s.SetHubSyncedAtBehind(t0.Add(time.Duration(m.requests) * time.Second)); err != nil {
				m.rt.Fatal(err)
			}
		}
	}
}

// compare checks that both stores hold the same, once everything is
// committed.
func (m *mixedRun) compare() {
	rt := m.rt
	m.moveFeed() // after every write behind queued: commits them
	m.commit()
	var ranks [2]map[string]string
	var states, outboxes, changes [2]map[string][]string
	for i, s := range m.stores {
		if err := s.Check(); err != nil {
			rt.Fatalf("store invariants (deferral %v): %v", i == 0, err)
		}
		ranks[i], states[i], outboxes[i], changes[i] = m.contents(i)
	}
	if len(ranks[0]) != len(ranks[1]) {
		rt.Fatalf("%d profile IDs with deferral, %d without", len(ranks[0]), len(ranks[1]))
	}
	for what, got := range map[string][2]map[string][]string{"profiles and redirects": states, "outbox": outboxes} {
		if diff := cmp.Diff(got[1], got[0]); diff != "" {
			rt.Fatalf("%s differ with deferral (-at once +deferred):\n%s", what, diff)
		}
	}
	if diff := cmp.Diff(changes[1], changes[0]); diff != "" {
		// A profile's changes are one per commit: if the two stores did
		// not commit at the same points (commits by reason), the test
		// let timing in.
		var by [2][NumCommitReasons]int64
		for i, s := range m.stores {
			st, _ := s.CommittedStats()
			by[i] = st.CommitsBy
		}
		rt.Fatalf("change stream differs with deferral (-at once +deferred; commits by reason %v and %v):\n%s", by[1], by[0], diff)
	}
	seen := func(i int, id profile.Identifier) map[string]any {
		v, err := m.stores[i].LookupIdentifier(id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			rt.Fatalf("LookupIdentifier(%s): %v", id.Key(), err)
		}
		view := comparableView(rt, v)
		view["id"] = ranks[i][v.ID]
		return view
	}
	var ids []profile.Identifier
	for u := range m.users {
		ids = append(ids, profile.Identifier{Type: profile.UserID, Value: fmt.Sprintf("u%d", u)},
			profile.Identifier{Type: profile.Email, Value: fmt.Sprintf("e%d@example.com", u)})
	}
	for a := range mixedAnons {
		ids = append(ids, profile.Identifier{Type: profile.AnonymousID, Value: fmt.Sprintf("a%d", a)})
	}
	for _, id := range ids {
		if diff := cmp.Diff(seen(1, id), seen(0, id)); diff != "" {
			rt.Fatalf("%s differs with deferral (-at once +deferred):\n%s", id.Key(), diff)
		}
	}
}

// contents returns what store i holds, its profile IDs replaced by their
// ranks: the ranks; each profile's identifiers, absorbed IDs, erasure,
// number of events and tombstones (a redirect: where it leads); each
// profile's outbox entries in order; each profile's changes in the
// stream in order.
func (m *mixedRun) contents(i int) (ranks map[string]string, states, outbox, changes map[string][]string) {
	rt, s := m.rt, m.stores[i]
	var held []replication.Entry
	if err := s.BucketEntries(everyDigestBucket(), func(e replication.Entry) error {
		held = append(held, e)
		return nil
	}); err != nil {
		rt.Fatal(err)
	}
	es, err := s.Outbox(0, 1<<20)
	if err != nil {
		rt.Fatal(err)
	}
	cs, _, reset, _ := s.Changes(m.changeFrom[i], 1<<20)
	if reset {
		rt.Fatalf("the change stream of the store (deferral %v) was reset", i == 0)
	}
	var all []string
	for _, e := range append(held, es...) {
		all = append(all, e.ProfileID, e.From)
	}
	for _, c := range cs {
		all = append(all, c.ProfileID)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	ranks = map[string]string{"": ""}
	for _, id := range all {
		if id != "" {
			ranks[id] = fmt.Sprintf("#%d", len(ranks))
		}
	}
	rank := func(ids []string) []string {
		out := make([]string, len(ids))
		for k, id := range ids {
			out[k] = ranks[id]
		}
		slices.Sort(out)
		return out
	}
	states = map[string][]string{}
	for _, e := range held {
		if e.Kind == replication.KindMerge {
			states[ranks[e.From]] = []string{"redirect to " + ranks[e.ProfileID]}
			continue
		}
		p, err := profile.Unmarshal(e.Delta)
		if err != nil {
			rt.Fatalf("profile %s: %v", e.ProfileID, err)
		}
		var tombs []string
		for _, k := range p.Tombstones.Keys.Elems() {
			tombs = append(tombs, k[:8])
		}
		states[ranks[e.ProfileID]] = []string{
			"identifiers " + strings.Join(p.Identities.Elems(), " "),
			"absorbed " + strings.Join(rank(p.Merges.Keys()), " "),
			fmt.Sprintf("erased %v, %d events", p.Erased.Set, len(p.Timeline.Items)),
			"tombstones " + strings.Join(tombs, " "),
		}
	}
	outbox = map[string][]string{}
	for _, e := range es {
		desc := fmt.Sprintf("kind %d", e.Kind)
		if e.From != "" {
			desc += " from " + ranks[e.From]
		}
		if len(e.Delta) == 0 {
			desc += " (no delta)"
		}
		outbox[ranks[e.ProfileID]] = append(outbox[ranks[e.ProfileID]], desc)
	}
	changes = map[string][]string{}
	for _, c := range cs {
		changes[ranks[c.ProfileID]] = append(changes[ranks[c.ProfileID]], fmt.Sprintf("%s %v %s", c.Type, c.Traits, c.Audience))
	}
	return ranks, states, outbox, changes
}

func sortedPair(a, b string) []string {
	return []string{min(a, b), max(a, b)}
}

func encodeProp(rt *rapid.T, p *profile.Profile) []byte {
	b, err := p.Marshal()
	if err != nil {
		rt.Fatal(err)
	}
	return b
}
