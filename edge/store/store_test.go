package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
	"ucv/replication"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// open opens a store in a temp dir and checks its invariants when the
// test ends.
func open(tb testing.TB, opts ...func(*Options)) *Store {
	tb.Helper()
	o := DefaultOptions(filepath.Join(tb.TempDir(), "edge.db"))
	o.NodeName = "till-1"
	for _, f := range opts {
		f(&o)
	}
	s, err := Open(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, ErrClosed) && !strings.Contains(err.Error(), "database not open") {
			tb.Errorf("store invariants: %v", err)
		}
		s.Close(context.Background())
	})
	return s
}

// warm looks up each identifier key once, so that memory holds its view:
// a view is rendered by its first read (decision 0115).
func warm(tb testing.TB, s *Store, keys ...string) {
	tb.Helper()
	for _, k := range keys {
		id, ok := profile.ParseKey(k)
		if !ok {
			tb.Fatalf("warm: %q is not an identifier key", k)
		}
		if _, err := s.LookupIdentifier(id); err != nil {
			tb.Fatalf("warm %s: %v", k, err)
		}
	}
}

func reopen(tb testing.TB, s *Store) *Store {
	tb.Helper()
	if err := s.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	s2, err := Open(s.opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s2.Close(context.Background()) })
	return s2
}

// ev parses body as the API would, an event from source "pos".
func ev(tb fataler, body string) Event {
	tb.Helper()
	m, err := profile.ParseMessage([]byte(body), "", t0, profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
	if err != nil {
		tb.Fatalf("ParseMessage(%s): %v", body, err)
	}
	return Event{Msg: m, Source: "pos"}
}

func ingest(tb testing.TB, s *Store, bodies ...string) IngestResult {
	tb.Helper()
	evs := make([]Event, len(bodies))
	for i, b := range bodies {
		evs[i] = ev(tb, b)
	}
	res, err := s.Ingest(context.Background(), evs)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func lookup(tb testing.TB, s *Store, typ profile.IDType, value string) (View, map[string]any) {
	tb.Helper()
	v, err := s.LookupIdentifier(profile.Identifier{Type: typ, Value: value})
	if err != nil {
		tb.Fatalf("LookupIdentifier(%s:%s): %v", typ, value, err)
	}
	full := append(append([]byte(nil), v.JSON...), []byte(`,"days_since_last_seen":null}}`)...)
	var m map[string]any
	if err := json.Unmarshal(full, &m); err != nil {
		tb.Fatalf("view is not JSON once completed: %v\n%s", err, full)
	}
	return v, m
}

func TestIngestAndLookup(t *testing.T) {
	s := open(t)
	res := ingest(t, s,
		`{"type":"identify","userId":"u1","messageId":"m1","traits":{"email":"Ann@Example.com","plan":"pro"}}`,
		`{"type":"track","userId":"u1","messageId":"m2","event":"Order Completed","properties":{"total":"19.99"}}`)
	if res.Stored != 2 || res.ProfileIDs[0] == "" || res.ProfileIDs[0] != res.ProfileIDs[1] {
		t.Fatalf("Ingest = %+v", res)
	}
	v, m := lookup(t, s, profile.Email, "ann@example.com")
	if v.ID != res.ProfileIDs[0] || m["id"] != v.ID {
		t.Fatalf("lookup by e-mail found %s, want %s", v.ID, res.ProfileIDs[0])
	}
	if m["traits"].(map[string]any)["plan"] != "pro" {
		t.Errorf("traits = %v", m["traits"])
	}
	if rev := m["computed"].(map[string]any)["lifetime_revenue"].(map[string]any)["USD"].(map[string]any)["minor_units"]; rev != 1999.0 {
		t.Errorf("revenue = %v, want 1999", rev)
	}
	if _, err := s.LookupID(v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupIdentifier(profile.Identifier{Type: profile.Email, Value: "nobody@example.com"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown identifier: %v, want ErrNotFound", err)
	}
	st, _ := s.Stats()
	if st.Profiles != 1 || st.Identifiers != 2 || st.OutboxLen != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestDedupeSurvivesRestart(t *testing.T) {
	s := open(t)
	order := `{"type":"track","userId":"u1","messageId":"order-1","event":"Order Completed","properties":{"total":10}}`
	ingest(t, s, order, order) // duplicate inside one request
	s = reopen(t, s)
	res := ingest(t, s, order)
	if res.Duplicates != 1 || res.Stored != 0 {
		t.Fatalf("after restart: %+v, want the duplicate dropped", res)
	}
	p, err := s.Profile(mustResolve(t, s, profile.UserID, "u1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Computed(t0).OrderCount; got != 1 {
		t.Fatalf("orders = %d, want 1", got)
	}
}

func mustResolve(tb testing.TB, s *Store, typ profile.IDType, v string) string {
	tb.Helper()
	id, err := s.ResolveIdentifier(profile.Identifier{Type: typ, Value: v})
	if err != nil {
		tb.Fatalf("ResolveIdentifier(%s): %v", typ, err)
	}
	return id
}

// Anonymous browsing, then a login: the anonymous history shows on the
// known profile.
func TestAnonymousToKnown(t *testing.T) {
	s := open(t)
	ingest(t, s,
		`{"type":"page","anonymousId":"a1","name":"Shoes","messageId":"p1"}`,
		`{"type":"track","anonymousId":"a1","event":"Product Added","messageId":"p2"}`)
	ingest(t, s, `{"type":"identify","userId":"u1","anonymousId":"a1","messageId":"i1","traits":{"email":"ann@example.com"}}`)
	v, m := lookup(t, s, profile.UserID, "u1")
	if a := mustResolve(t, s, profile.AnonymousID, "a1"); a != v.ID {
		t.Fatalf("anonymous_id resolves to %s, user_id to %s", a, v.ID)
	}
	p, _ := s.Profile(v.ID)
	if n := len(p.Events()); n != 3 {
		t.Fatalf("timeline has %d events, want the 2 anonymous ones and the identify", n)
	}
	if m["computed"].(map[string]any)["event_counts"].(map[string]any)["Product Added"] != 1.0 {
		t.Fatalf("computed = %v", m["computed"])
	}
}

// Two profiles that turn out to be one person merge: the smallest ID
// survives, the other redirects, and the merge is explained.
func TestMergeOnSharedIdentifiers(t *testing.T) {
	s := open(t)
	r1 := ingest(t, s, `{"type":"identify","userId":"u1","messageId":"a","traits":{"email":"ann@example.com"}}`)
	r2 := ingest(t, s, `{"type":"identify","anonymousId":"web-1","messageId":"b","traits":{"phone":"+1 415 555 2671"}}`)
	ingest(t, s, `{"type":"track","anonymousId":"web-1","messageId":"c","event":"Order Completed","properties":{"total":5}}`)
	if r1.ProfileIDs[0] == r2.ProfileIDs[0] {
		t.Fatal("unrelated events landed on one profile")
	}
	// The web visitor logs in: phone's profile and e-mail's are one person.
	r3 := ingest(t, s, `{"type":"identify","userId":"u1","anonymousId":"web-1","messageId":"d"}`)
	want := min(r1.ProfileIDs[0], r2.ProfileIDs[0])
	if r3.ProfileIDs[0] != want {
		t.Fatalf("merged into %s, want the smaller ID %s", r3.ProfileIDs[0], want)
	}
	loser := max(r1.ProfileIDs[0], r2.ProfileIDs[0])
	v, err := s.LookupID(loser)
	if err != nil || v.ID != want {
		t.Fatalf("LookupID(merged) = %s, %v; want redirect to %s", v.ID, err, want)
	}
	for _, id := range []profile.Identifier{{Type: profile.Phone, Value: "+14155552671"}, {Type: profile.Email, Value: "ann@example.com"}} {
		if got := mustResolve(t, s, id.Type, id.Value); got != want {
			t.Errorf("%s resolves to %s, want %s", id.Type, got, want)
		}
	}
	p, _ := s.Profile(want)
	recs := p.MergeRecords()
	if len(recs) != 1 || recs[0].From != loser || recs[0].Reason == "" || recs[0].Node != "till-1" {
		t.Fatalf("merge records = %+v", recs)
	}
	if p.Computed(t0).OrderCount != 1 {
		t.Fatal("the absorbed profile's order was lost")
	}
	st, _ := s.Stats()
	if st.Profiles != 1 {
		t.Fatalf("profiles = %d, want 1 after the merge", st.Profiles)
	}
}

// The shared-POS-terminal protection: fifty shoppers log in at one kiosk
// (same device ID). They must stay fifty profiles.
func TestSharedKioskDoesNotGlueShoppers(t *testing.T) {
	s := open(t)
	seen := map[string]bool{}
	for i := range 50 {
		res := ingest(t, s, fmt.Sprintf(`{"type":"identify","userId":"shopper-%d","messageId":"k%d",
			"traits":{"email":"shopper%d@example.com"},"context":{"device":{"id":"kiosk-7"}}}`, i, i, i))
		seen[res.ProfileIDs[0]] = true
	}
	if len(seen) != 50 {
		t.Fatalf("50 shoppers on one kiosk ended in %d profiles, want 50", len(seen))
	}
	for i := range 50 {
		v, _ := lookup(t, s, profile.UserID, fmt.Sprintf("shopper-%d", i))
		p, _ := s.Profile(v.ID)
		if n := len(p.Computed(t0).EventCounts); p.Identities.Len() > 3 || n > 0 {
			t.Fatalf("shopper %d's profile holds %v", i, p.Identities.Elems())
		}
	}
	st, _ := s.Stats()
	if st.Profiles != 50 {
		t.Fatalf("profiles = %d, want 50", st.Profiles)
	}
	// Each later shopper's kiosk device ID was left out by the limit.
	if got := st.LinksSkipped; got[SkipLimit] != 49 || got[SkipBlocked] != 0 || got[SkipApart] != 0 {
		t.Fatalf("links skipped = %v, want 49 for the limit only", got)
	}
}

func TestBlockedValuesNotLinked(t *testing.T) {
	s := open(t)
	a := ingest(t, s, `{"type":"identify","userId":"u1","messageId":"1","traits":{"email":"test@test.com"}}`)
	b := ingest(t, s, `{"type":"identify","userId":"u2","messageId":"2","traits":{"email":"test@test.com"}}`)
	c := ingest(t, s, `{"type":"track","anonymousId":"undefined","userId":"u3","messageId":"3","event":"E"}`)
	if a.ProfileIDs[0] == b.ProfileIDs[0] {
		t.Fatal("a blocked placeholder e-mail merged two people")
	}
	if _, err := s.ResolveIdentifier(profile.Identifier{Type: profile.Email, Value: "test@test.com"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("blocked e-mail was indexed: %v", err)
	}
	if _, err := s.ResolveIdentifier(profile.Identifier{Type: profile.AnonymousID, Value: "undefined"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("blocked anonymous id was indexed: %v (profile %s)", err, c.ProfileIDs[0])
	}
	if st, _ := s.Stats(); st.LinksSkipped[SkipBlocked] != 3 || st.LinksSkipped[SkipLimit] != 0 {
		t.Fatalf("links skipped = %v, want 3 blocked", st.LinksSkipped)
	}
}

// A limit breach leaves the lowest-priority identifier out of the link
// and still stores the event.
func TestLimitBreachDropsLowestPriority(t *testing.T) {
	rules, err := profile.LoadRules(strings.NewReader(`{"rules":[{"type":"user_id","limit":1,"priority":1},{"type":"email","limit":2,"priority":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, func(o *Options) { o.Rules = rules })
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"1","traits":{"email":"a@example.com"}}`)
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"2","traits":{"email":"b@example.com"}}`)
	res := ingest(t, s, `{"type":"identify","userId":"u1","messageId":"3","traits":{"email":"c@example.com","plan":"gold"}}`)
	p, _ := s.Profile(res.ProfileIDs[0])
	if p.Identities.Has("email:c@example.com") {
		t.Fatal("third e-mail linked past the limit of 2")
	}
	if b, ok := p.Traits.Get("plan"); !ok || len(b) == 0 {
		t.Fatal("the event was not stored")
	}
	if _, err := s.ResolveIdentifier(profile.Identifier{Type: profile.Email, Value: "c@example.com"}); !errors.Is(err, ErrNotFound) {
		t.Fatal("the left-out e-mail was indexed")
	}
}

// Concurrent requests are coalesced into fewer commits, and every one is
// stored.
func TestGroupCommit(t *testing.T) {
	s := open(t)
	const clients, each = 32, 20
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf(`{"type":"track","userId":"u%d","messageId":"c%d-%d","event":"E"}`, c, c, i)
				if _, err := s.Ingest(context.Background(), []Event{ev(t, body)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st, _ := s.Stats()
	if st.Commits >= clients*each {
		t.Errorf("%d commits for %d requests: nothing was coalesced", st.Commits, clients*each)
	}
	for c := range clients {
		p, err := s.Profile(mustResolve(t, s, profile.UserID, fmt.Sprintf("u%d", c)))
		if err != nil || p.Count("event:E") != each {
			t.Fatalf("client %d: %v events, err %v", c, p.Count("event:E"), err)
		}
	}
	t.Logf("%d requests in %d commits", clients*each, st.Commits)
}

func TestClosedStore(t *testing.T) {
	s := open(t)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := s.Ingest(context.Background(), []Event{ev(t, `{"type":"track","userId":"u","event":"E"}`)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ingest after Close = %v, want ErrClosed", err)
	}
}

func TestOutboxSequence(t *testing.T) {
	s := open(t)
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"1"}`, `{"type":"identify","anonymousId":"a","messageId":"2"}`)
	ingest(t, s, `{"type":"identify","userId":"u1","anonymousId":"a","messageId":"3"}`) // merge
	es, err := s.Outbox(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []replication.Kind
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		kinds = append(kinds, e.Kind)
		if e.Kind == replication.KindDelta {
			if _, err := profile.Unmarshal(e.Delta); err != nil {
				t.Fatalf("entry %d delta: %v", i, err)
			}
		}
	}
	if fmt.Sprint(kinds) != "[1 1 2 1 1]" {
		t.Fatalf("outbox kinds = %v, want delta, delta, merge, merge record, delta", kinds)
	}
	rest, _ := s.Outbox(3, 100)
	if len(rest) != 2 || rest[0].Seq != 4 {
		t.Fatalf("Outbox(3) = %+v", rest)
	}
}

// hourWindowStore opens a store that remembers messageIds for an hour,
// on a clock that stands still until advance moves it.
func hourWindowStore(t *testing.T) (s *Store, advance func(time.Duration)) {
	now := t0
	var mu sync.Mutex
	s = open(t, func(o *Options) {
		o.DedupeWindow = time.Hour
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	return s, func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
}

func TestDedupeWindowExpires(t *testing.T) {
	s, advance := hourWindowStore(t)
	body := `{"type":"track","userId":"u1","messageId":"late","event":"E"}`
	ingest(t, s, body)
	if res := ingest(t, s, body); res.Duplicates != 1 {
		t.Fatalf("within the window: %+v, want a duplicate", res)
	}
	advance(2 * time.Hour)
	ingest(t, s, `{"type":"track","userId":"u1","messageId":"other","event":"E"}`) // expires old entries
	if res := ingest(t, s, body); res.Stored != 1 {
		t.Fatalf("after the window: %+v, want stored again", res)
	}
}

// A file written before the time order's keys were sequences holds
// entries keyed ms ‖ messageId with empty values, and a by-ID set: Open
// empties the set, and the old entries are still duplicates within the
// window and expire past it as the new ones do, in one time order with
// them.
func TestDedupeExpiresEntriesOfTheOldKeys(t *testing.T) {
	s, advance := hourWindowStore(t)
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t0.UnixMilli()))
	if err := s.dbUpdate(func(tx *bolt.Tx) error {
		return errors.Join(tx.Bucket(bucketDedupe).Put([]byte("legacy"), ms[:]),
			tx.Bucket(bucketDedupeTime).Put(append(ms[:], "legacy"...), nil))
	}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s) // the in-memory index is built from the file at Open
	if err := s.view(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketDedupe).Cursor().First(); k != nil {
			return fmt.Errorf("the by-ID dedupe set holds %q after Open", k)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	legacy := `{"type":"track","userId":"u1","messageId":"legacy","event":"E"}`
	if res := ingest(t, s, legacy); res.Duplicates != 1 {
		t.Fatalf("an old-key entry within the window: %+v, want a duplicate", res)
	}
	ingest(t, s, `{"type":"track","userId":"u1","messageId":"new","event":"E"}`)
	advance(30 * time.Minute)
	ingest(t, s, `{"type":"track","userId":"u1","messageId":"newer","event":"E"}`)
	advance(45 * time.Minute)                                                      // "legacy" and "new" are past the window, "newer" is not
	ingest(t, s, `{"type":"track","userId":"u1","messageId":"other","event":"E"}`) // expires old entries
	for _, c := range []struct {
		mid  string
		want int
	}{{"legacy", 0}, {"new", 0}, {"newer", 1}} {
		body := fmt.Sprintf(`{"type":"track","userId":"u1","messageId":%q,"event":"E"}`, c.mid)
		if res := ingest(t, s, body); res.Duplicates != c.want {
			t.Errorf("messageId %s: %+v, want %d duplicates", c.mid, res, c.want)
		}
	}
	if err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDedupeTime).ForEach(func(k, v []byte) error {
			if len(k) != 16 || len(v) == 0 {
				return fmt.Errorf("time-order entry %x → %q: want ms ‖ sequence → messageId", k, v)
			}
			return nil
		})
	}); err != nil {
		t.Error(err)
	}
}

func TestTrimOutbox(t *testing.T) {
	s := open(t)
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"1"}`, `{"type":"identify","userId":"u2","messageId":"2"}`, `{"type":"identify","userId":"u3","messageId":"3"}`)
	if n, err := s.TrimOutbox(2); err != nil || n != 2 {
		t.Fatalf("TrimOutbox(2) = %d, %v; want 2", n, err)
	}
	es, _ := s.Outbox(0, 10)
	st, _ := s.Stats()
	if len(es) != 1 || es[0].Seq != 3 || st.OutboxLen != 1 {
		t.Fatalf("after trim: entries %+v, gauge %d", es, st.OutboxLen)
	}
}

// TrimOutboxFor trims past the named readers only: a stale hub push
// cursor does not pin the outbox, gossip's cursor does, and the limit
// bounds one call.
func TestTrimOutboxFor(t *testing.T) {
	s := open(t)
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"1"}`, `{"type":"identify","userId":"u2","messageId":"2"}`,
		`{"type":"identify","userId":"u3","messageId":"3"}`, `{"type":"identify","userId":"u4","messageId":"4"}`)
	if err := s.SetCursor("hub-push", 1); err != nil { // a hub this edge no longer syncs with
		t.Fatal(err)
	}
	if err := s.SetCursor("gossip", 3); err != nil {
		t.Fatal(err)
	}
	if n, err := s.TrimOutboxFor(2, "gossip"); err != nil || n != 2 {
		t.Fatalf("TrimOutboxFor(2, gossip) = %d, %v; want 2 (the limit)", n, err)
	}
	if n, err := s.TrimOutboxFor(100, "gossip"); err != nil || n != 1 {
		t.Fatalf("TrimOutboxFor(100, gossip) = %d, %v; want 1 (up to gossip's cursor)", n, err)
	}
	if es, _ := s.Outbox(0, 10); len(es) != 1 || es[0].Seq != 4 {
		t.Fatalf("left %+v, want only 4 (unpublished)", es)
	}
	if n, err := s.TrimOutboxFor(100); err != nil || n != 1 {
		t.Fatalf("TrimOutboxFor(100) = %d, %v; want 1", n, err)
	}
	if st, _ := s.Stats(); st.OutboxLen != 0 {
		t.Fatalf("outbox gauge %d after trimming everything", st.OutboxLen)
	}
	if n, err := s.TrimOutboxFor(100); err != nil || n != 0 {
		t.Fatalf("TrimOutboxFor on an empty outbox = %d, %v", n, err)
	}
	// New entries continue the sequence.
	ingest(t, s, `{"type":"identify","userId":"u5","messageId":"5"}`)
	if es, _ := s.Outbox(0, 10); len(es) != 1 || es[0].Seq != 5 {
		t.Fatalf("after trimming, new entry %+v, want seq 5", es)
	}
}

// A position that is not an outbox sequence (the hub feed's Raft index)
// never holds trimming back; a reader cursor does.
func TestTrimOutboxIgnoresPositions(t *testing.T) {
	s := open(t)
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"1"}`, `{"type":"identify","userId":"u2","messageId":"2"}`,
		`{"type":"identify","userId":"u3","messageId":"3"}`, `{"type":"identify","userId":"u4","messageId":"4"}`)
	if err := s.SetPosition("hub-feed", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("gossip", 3); err != nil {
		t.Fatal(err)
	}
	if n, err := s.TrimOutbox(4); err != nil || n != 3 {
		t.Fatalf("TrimOutbox(4) = %d, %v; want 3 (up to the gossip cursor, whatever the feed position)", n, err)
	}
	if v, err := s.Position("hub-feed"); err != nil || v != 1 {
		t.Fatalf("Position = %d, %v", v, err)
	}
	if err := s.SetPosition("hub-feed", 0); err != nil { // positions may move back
		t.Fatal(err)
	}
	if v, _ := s.Position("hub-feed"); v != 0 {
		t.Fatalf("Position after moving back = %d", v)
	}
}

func TestChangedAndCursor(t *testing.T) {
	s := open(t)
	changed := s.Changed()
	select {
	case <-changed:
		t.Fatal("signal before any commit")
	default:
	}
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"1"}`)
	select {
	case <-changed:
	default:
		t.Fatal("no signal after a commit that appended to the outbox")
	}
	if seq, _ := s.LastSeq(); seq != 1 {
		t.Fatalf("LastSeq = %d, want 1", seq)
	}
	if err := s.SetCursor("gossip", 1); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	if c, err := s.Cursor("gossip"); err != nil || c != 1 {
		t.Fatalf("Cursor after restart = %d, %v; want 1", c, err)
	}
}

// TestChangedWakesEveryConsumer: gossip's broadcast loop and hub sync's
// push loop both wait on Changed, so one commit must wake both. With a
// channel buffered 1 the first reader took the only signal and the other
// waited for its one-second tick.
func TestChangedWakesEveryConsumer(t *testing.T) {
	s := open(t)
	for round := range 3 {
		gossip, hubsync := s.Changed(), s.Changed() // each loop takes it before reading the outbox
		ingest(t, s, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"%d"}`, round, round))
		for name, ch := range map[string]<-chan struct{}{"gossip": gossip, "hubsync": hubsync} {
			select {
			case <-ch:
			default:
				t.Errorf("round %d: %s not woken by a commit that appended to the outbox", round, name)
			}
		}
		select {
		case <-s.Changed():
			t.Fatalf("round %d: a fresh Changed channel is already closed", round)
		default:
		}
	}
}

func TestHubSyncedAtPersists(t *testing.T) {
	dir := t.TempDir()
	st := open(t, func(o *Options) { o.Path = filepath.Join(dir, "e.db") })
	if got := st.HubSyncedAt(); !got.IsZero() {
		t.Fatalf("HubSyncedAt of a new store = %v, want zero", got)
	}
	at := time.UnixMilli(1_700_000_000_123).UTC()
	if err := st.SetHubSyncedAt(at); err != nil {
		t.Fatal(err)
	}
	if err := st.SetHubSyncedAt(at.Add(-time.Hour)); err != nil { // never goes back
		t.Fatal(err)
	}
	if got := st.HubSyncedAt(); !got.Equal(at) {
		t.Fatalf("HubSyncedAt = %v, want %v", got, at)
	}
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = open(t, func(o *Options) { o.Path = filepath.Join(dir, "e.db") })
	if got := st.HubSyncedAt(); !got.Equal(at) {
		t.Fatalf("HubSyncedAt after reopen = %v, want %v", got, at)
	}
}

func TestTrimOutboxWaitsForCursors(t *testing.T) {
	s := open(t)
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"1"}`, `{"type":"identify","userId":"u2","messageId":"2"}`, `{"type":"identify","userId":"u3","messageId":"3"}`)
	if err := s.SetCursor("gossip", 1); err != nil {
		t.Fatal(err)
	}
	if n, err := s.TrimOutbox(3); err != nil || n != 1 {
		t.Fatalf("TrimOutbox(3) with gossip at 1 = %d, %v; want 1", n, err)
	}
}

// BucketEntries pages through many records in short transactions and
// still yields every one exactly once.
func TestBucketEntriesPages(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	var evs []Event
	for i := range 3*bucketPage + 7 {
		evs = append(evs, ev(t, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d"}`, i, i)))
	}
	if _, err := s.Ingest(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	all := make([]int, DigestBuckets)
	for i := range all {
		all[i] = i
	}
	seen := map[string]int{}
	if err := s.BucketEntries(all, func(e replication.Entry) error { seen[e.ProfileID]++; return nil }); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	if len(seen) != st.Profiles {
		t.Fatalf("BucketEntries yielded %d profiles, store has %d", len(seen), st.Profiles)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("profile %s yielded %d times", id, n)
		}
	}
}

// Expiry keeps pace with sustained ingest: a commit that adds many
// entries removes as many expired ones (not only the first 1,000), so
// the set holds the window's messageIds and no more.
func TestDedupeExpiryKeepsPace(t *testing.T) {
	s, advance := hourWindowStore(t)
	batch := func(prefix string, n int) []Event {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = ev(t, fmt.Sprintf(`{"type":"track","userId":"u%d","messageId":"%s-%d","event":"E"}`, i%50, prefix, i))
		}
		return evs
	}
	entries := func() int {
		n := 0
		if err := s.view(func(tx *bolt.Tx) error {
			n = tx.Bucket(bucketDedupeTime).Stats().KeyN
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := s.Ingest(context.Background(), batch("old", 2500)); err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Hour)
	if _, err := s.Ingest(context.Background(), batch("new", 2500)); err != nil { // one commit
		t.Fatal(err)
	}
	if got := entries(); got != 2500 {
		t.Fatalf("after 2,500 new messageIds past the window of 2,500 old ones: %d dedupe entries, want 2500 (the old all expired)", got)
	}
}

// rewriteAs closes s and writes its file back as schema version wrote
// it: rewrite runs in one update transaction of the bare bbolt file,
// which is then marked version. It returns the options to open it with.
func rewriteAs(tb testing.TB, s *Store, version uint32, rewrite func(tx *bolt.Tx) error) Options {
	tb.Helper()
	opts := s.opts
	if err := s.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	db, err := bolt.Open(opts.Path, 0o600, nil)
	if err != nil {
		tb.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := rewrite(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(schemaKey, binary.BigEndian.AppendUint32(nil, version))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	return opts
}

// reopenUpgraded opens the file rewriteAs wrote, closed when the test
// ends, and checks that Open marked it the current schema version.
func reopenUpgraded(tb testing.TB, opts Options) *Store {
	tb.Helper()
	s, err := Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close(context.Background()) })
	if err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(schemaKey); binary.BigEndian.Uint32(v) != schemaVersion {
			tb.Errorf("schema after open = %x, want %d", v, schemaVersion)
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return s
}
