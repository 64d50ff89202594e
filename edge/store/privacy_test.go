package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/profile"
	"ucv/replication"
)

var testSalt = bytes.Repeat([]byte{7}, replication.SaltBytes)

// The person whose bytes must leave the file.
const (
	markEmail = "zebediah.quux@example.com"
	markPhone = "+14155550199"
	markName  = "Zebediah Quixotefield"
	markUser  = "u-zebediah-7731"
)

var markers = []string{markEmail, markPhone, markName, markUser}

func privStore(tb testing.TB, opts ...func(*Options)) *Store {
	tb.Helper()
	s := open(tb, append([]func(*Options){func(o *Options) { o.CompactDelay = 10 * time.Millisecond }}, opts...)...)
	if err := s.SetPrivacySalt(testSalt); err != nil {
		tb.Fatal(err)
	}
	return s
}

// person ingests the marked person (an anonymous visit aliased to the
// user, so one profile ID becomes a redirect), updates them a few times
// and returns the canonical ID and the redirect.
func person(tb testing.TB, s *Store, updates int) (canon string, ids []string) {
	tb.Helper()
	a := ingest(tb, s, `{"type":"page","anonymousId":"anon-zq-1","messageId":"zq-p1","name":"Home"}`)
	b := ingest(tb, s, fmt.Sprintf(`{"type":"identify","userId":%q,"messageId":"zq-i1","traits":{"email":%q,"phone":%q,"name":%q}}`,
		markUser, markEmail, markPhone, markName))
	ingest(tb, s, fmt.Sprintf(`{"type":"alias","userId":%q,"previousId":"anon-zq-1","messageId":"zq-a1"}`, markUser))
	for i := range updates {
		ingest(tb, s, fmt.Sprintf(`{"type":"identify","userId":%q,"messageId":"zq-u%d","traits":{"email":%q,"name":%q,"visits":%d}}`,
			markUser, i, markEmail, markName, i))
	}
	canon = mustResolve(tb, s, profile.UserID, markUser)
	ids = []string{a.ProfileIDs[0], b.ProfileIDs[0]}
	return canon, ids
}

func eraseOf(id string, at int64, ids ...string) replication.Directive {
	return replication.Directive{ID: id, Type: replication.DirectiveErase, Index: 1, At: at,
		ProfileIDs: ids, Keys: []string{crdt.TombstoneKey(testSalt, "email:"+markEmail)}}
}

// assertGone checks every lookup of the marked person answers not found.
func assertGone(tb testing.TB, s *Store, ids ...string) {
	tb.Helper()
	for _, id := range []profile.Identifier{{Type: profile.Email, Value: markEmail}, {Type: profile.Phone, Value: markPhone},
		{Type: profile.UserID, Value: markUser}, {Type: profile.AnonymousID, Value: "anon-zq-1"}} {
		if _, err := s.LookupIdentifier(id); !errors.Is(err, ErrNotFound) {
			tb.Errorf("lookup by %s: %v, want ErrNotFound", id.Type, err)
		}
		if _, err := s.ResolveIdentifier(id); !errors.Is(err, ErrNotFound) {
			tb.Errorf("resolve %s: %v, want ErrNotFound", id.Type, err)
		}
	}
	for _, id := range ids {
		if _, err := s.LookupID(id); !errors.Is(err, ErrNotFound) {
			tb.Errorf("lookup of profile %s: %v, want ErrNotFound", id, err)
		}
		if _, err := s.Profile(id); !errors.Is(err, ErrNotFound) {
			tb.Errorf("Profile(%s): %v, want ErrNotFound", id, err)
		}
		if _, found, _, err := s.Decision(id, profile.Identifier{}, true, "", 3); err != nil || found {
			tb.Errorf("Decision(%s): found %v, err %v", id, found, err)
		}
	}
}

// fileHas reports which markers the store's data file holds.
func fileHas(tb testing.TB, path string) []string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var found []string
	for _, m := range markers {
		if bytes.Contains(b, []byte(m)) {
			found = append(found, m)
		}
	}
	return found
}

// Erasing a person leaves only their IDs, erased; every lookup answers
// not found; their derived records, forward entries and outbox data are
// gone; another person is untouched; the directive is recorded as done.
func TestEraseDirective(t *testing.T) {
	s := privStore(t)
	ctx := context.Background()
	e := ev(t, fmt.Sprintf(`{"type":"track","userId":%q,"messageId":"zq-f1","event":"Bought"}`, markUser))
	e.Forward = []byte(`{"forward":"` + markUser + `"}`)
	other := ev(t, `{"type":"identify","userId":"u-other","messageId":"o1","traits":{"email":"other@example.com"}}`)
	other.Forward = []byte(`{"forward":"other"}`)
	canon, ids := person(t, s, 2)
	if _, err := s.Ingest(ctx, []Event{e, other}); err != nil {
		t.Fatal(err)
	}
	if err := s.Erase(ctx, eraseOf("req-1", t0.UnixMilli(), canon)); err != nil {
		t.Fatal(err)
	}
	assertGone(t, s, append(ids, canon)...)
	if _, m := lookup(t, s, profile.Email, "other@example.com"); m["traits"] == nil {
		t.Error("the other person lost their traits")
	}
	fw, err := s.PendingForward(0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(fw) != 1 || !bytes.Contains(fw[0].JSON, []byte("other")) {
		t.Errorf("forward outbox after erasure = %d entries, want the other person's only", len(fw))
	}
	es, err := s.Outbox(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Seq != es[i-1].Seq+1 {
			t.Fatalf("outbox sequences have a gap: %d after %d", es[i].Seq, es[i-1].Seq)
		}
	}
	for _, x := range es {
		for _, m := range markers {
			if bytes.Contains(x.Delta, []byte(m)) {
				t.Fatalf("outbox entry %d still carries a marker", x.Seq)
			}
		}
	}
	done, err := s.PrivacyDone()
	if err != nil || len(done) != 1 || done[0] != "req-1" {
		t.Fatalf("PrivacyDone = %v, %v", done, err)
	}
	if !s.CompactPending() {
		t.Error("no compaction pending after an erasure")
	}
	// Carrying it out again is harmless; a new event with the e-mail is a
	// new person (suppression is what refuses them).
	if err := s.Erase(ctx, eraseOf("req-1", t0.UnixMilli(), canon)); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, fmt.Sprintf(`{"type":"identify","messageId":"zq-new","anonymousId":"a-new","traits":{"email":%q}}`, markEmail))
	if id := mustResolve(t, s, profile.Email, markEmail); id == canon {
		t.Errorf("a new event of the e-mail landed on the erased profile %s", id)
	}
	if err := s.ConfirmPrivacy(done); err != nil {
		t.Fatal(err)
	}
	if done, _ := s.PrivacyDone(); len(done) != 0 {
		t.Errorf("PrivacyDone after confirm = %v", done)
	}
	// The erased state survives a restart and a check.
	s = reopen(t, s)
	if _, err := s.LookupID(canon); !errors.Is(err, ErrNotFound) {
		t.Errorf("after reopen: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// An erase naming no profile (the hub never saw the person) still finds
// the profiles here holding an identifier whose salted key it carries.
func TestEraseByKeyOnly(t *testing.T) {
	s := privStore(t)
	canon, ids := person(t, s, 0)
	if err := s.Erase(context.Background(), eraseOf("req-k", t0.UnixMilli())); err != nil {
		t.Fatal(err)
	}
	assertGone(t, s, append(ids, canon)...)
}

// After erasure and compaction the data file holds no byte of the
// person, though it held them (in live and freed pages) before.
func TestCompactLeavesNoTrace(t *testing.T) {
	// Views stored with their JSON: the only place the name is written
	// out uncompressed, so the control below finds every marker.
	s := privStore(t, func(o *Options) { o.CompactDelay = time.Hour }, withViewBodies) // only the explicit compaction
	canon, _ := person(t, s, 5)
	ingest(t, s, `{"type":"identify","userId":"u-other","messageId":"o1","traits":{"email":"other@example.com","name":"Other Person"}}`)
	path := s.opts.Path
	if got := fileHas(t, path); len(got) != len(markers) {
		t.Fatalf("control: the file holds %v before erasure, want every marker", got)
	}
	if err := s.Erase(context.Background(), eraseOf("req-c", t0.UnixMilli(), canon)); err != nil {
		t.Fatal(err)
	}
	if got := fileHas(t, path); len(got) == 0 {
		t.Log("note: no marker left even before compaction (pages reused)")
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if got := fileHas(t, path); len(got) != 0 {
		t.Fatalf("after compaction the file still holds %v", got)
	}
	if s.CompactPending() {
		t.Error("compaction still pending after Compact")
	}
	// The store works on the new file, and after a restart.
	if _, m := lookup(t, s, profile.Email, "other@example.com"); m["traits"] == nil {
		t.Error("the other person is gone after compaction")
	}
	ingest(t, s, `{"type":"track","userId":"u-other","messageId":"o2","event":"Viewed"}`)
	assertGone(t, s, canon)
	s = reopen(t, s)
	if s.CompactPending() {
		t.Error("compaction pending after reopen")
	}
	if _, m := lookup(t, s, profile.Email, "other@example.com"); m["traits"] == nil {
		t.Error("the other person is gone after reopen")
	}
	if got := fileHas(t, path); len(got) != 0 {
		t.Fatalf("after reopen the file holds %v", got)
	}
}

// Lookups and ingest running through a compaction neither fail nor race.
func TestCompactUnderLoad(t *testing.T) {
	s := privStore(t, func(o *Options) { o.CompactDelay = time.Hour })
	for i := range 50 {
		ingest(t, s, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d","traits":{"email":"p%d@example.com"}}`, i, i, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var lookups, fails atomic.Int64
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := s.LookupIdentifier(profile.Identifier{Type: profile.Email, Value: fmt.Sprintf("p%d@example.com", (i+g)%50)})
				if err != nil {
					fails.Add(1)
				}
				lookups.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := s.Ingest(ctx, []Event{ev(t, fmt.Sprintf(`{"type":"track","userId":"u%d","messageId":"t%d","event":"X"}`, i%50, i))}); err != nil && ctx.Err() == nil && !errors.Is(err, ErrOverloaded) {
				fails.Add(1)
			}
		}
	}()
	for range 3 {
		if err := s.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	if fails.Load() != 0 {
		t.Fatalf("%d of %d lookups and ingests failed during compactions", fails.Load(), lookups.Load())
	}
	if st, _ := s.Stats(); st.Compactions != 3 {
		t.Errorf("Compactions = %d, want 3", st.Compactions)
	}
}

// An erased state that arrives by gossip erases the peer's copy, purges
// it and compacts the peer's file by itself; the peer's old state then
// merged back into the eraser loses.
func TestEraseArrivesByGossip(t *testing.T) {
	a, b := privStore(t), privStore(t)
	canon, ids := person(t, b, 3)
	replicate(t, b, a, 0)
	if v, _ := lookup(t, a, profile.Email, markEmail); v.ID != canon {
		t.Fatalf("a holds %s, want %s", v.ID, canon)
	}
	seqA, _ := a.LastSeq()
	if err := a.Erase(context.Background(), eraseOf("req-g", t0.UnixMilli(), canon)); err != nil {
		t.Fatal(err)
	}
	// b was offline: its old outbox goes to a again, then a's news to b.
	replicate(t, b, a, 0)
	assertGone(t, a, append(ids, canon)...)
	replicate(t, a, b, seqA)
	assertGone(t, b, append(ids, canon)...)
	antiEntropy(t, a, b)
	assertGone(t, a, append(ids, canon)...)
	assertGone(t, b, append(ids, canon)...)
	deadline := time.Now().Add(30 * time.Second)
	for b.CompactPending() || len(fileHas(t, b.opts.Path)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("b's file still holds %v (compaction pending %v)", fileHas(t, b.opts.Path), b.CompactPending())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _ := b.Stats(); st.Compactions == 0 {
		t.Error("b compacted nothing")
	}
}

// The hub's feed carrying an erased cluster erases it too.
func TestEraseArrivesFromHub(t *testing.T) {
	s := privStore(t)
	canon, ids := person(t, s, 1)
	st := &profile.Profile{ID: canon, Version: crdt.Timestamp{Wall: t0.UnixMilli() + 1000}}
	st.Erased.Observe(t0.UnixMilli())
	st.Tombstones.Erase(crdt.TombstoneKey(testSalt, "email:"+markEmail))
	b, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	last, _ := s.LastSeq()
	if _, err := s.ApplyClusters(context.Background(), []replication.FeedItem{{ID: canon, Fragments: ids, State: b}}, last); err != nil {
		t.Fatal(err)
	}
	assertGone(t, s, append(ids, canon)...)
	if !s.CompactPending() && len(fileHas(t, s.opts.Path)) != 0 {
		t.Error("no compaction pending though the file holds markers")
	}
}

// Suppressed identifiers' events are accepted, counted and dropped;
// unsuppress lets them through again.
func TestSuppression(t *testing.T) {
	s := privStore(t)
	ctx := context.Background()
	key := crdt.TombstoneKey(testSalt, "email:"+markEmail)
	if err := s.ApplyDirective(ctx, replication.Directive{ID: "sup-1", Type: replication.DirectiveSuppress, Index: 2, Keys: []string{key}}); err != nil {
		t.Fatal(err)
	}
	sup := ev(t, fmt.Sprintf(`{"type":"identify","userId":"u-s","messageId":"s1","traits":{"email":%q}}`, markEmail))
	sup.Forward = []byte(`{}`)
	res, err := s.Ingest(ctx, []Event{
		sup,
		ev(t, `{"type":"identify","userId":"u-ok","messageId":"ok1","traits":{"email":"ok@example.com"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Suppressed != 1 || res.Stored != 1 || res.ProfileIDs[0] != "" || res.ProfileIDs[1] == "" {
		t.Fatalf("Ingest = %+v, want the first suppressed and the second stored", res)
	}
	for _, id := range []profile.Identifier{{Type: profile.Email, Value: markEmail}, {Type: profile.UserID, Value: "u-s"}} {
		if _, err := s.LookupIdentifier(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("suppressed person's %s: %v, want ErrNotFound", id.Type, err)
		}
	}
	lookup(t, s, profile.Email, "ok@example.com")
	if st, _ := s.Stats(); st.Suppressed != 1 || st.Profiles != 1 {
		t.Errorf("stats = suppressed %d, profiles %d; want 1, 1", st.Suppressed, st.Profiles)
	}
	if fw, _ := s.PendingForward(0, 10, 1<<20); len(fw) != 0 {
		t.Errorf("a suppressed event was queued for forwarding")
	}
	// The list survives a restart.
	s = reopen(t, s)
	if res := ingest(t, s, fmt.Sprintf(`{"type":"track","anonymousId":"a-s","messageId":"s2","event":"X","context":{"traits":{"email":%q}}}`, markEmail)); res.Suppressed != 1 {
		t.Errorf("after reopen: %+v, want suppressed", res)
	}
	if err := s.ApplyDirective(ctx, replication.Directive{ID: "sup-2", Type: replication.DirectiveUnsuppress, Index: 3, Keys: []string{key}}); err != nil {
		t.Fatal(err)
	}
	if res := ingest(t, s, fmt.Sprintf(`{"type":"identify","userId":"u-s","messageId":"s3","traits":{"email":%q}}`, markEmail)); res.Stored != 1 || res.Suppressed != 0 {
		t.Fatalf("after unsuppress: %+v, want stored", res)
	}
	lookup(t, s, profile.Email, markEmail)
	if done, _ := s.PrivacyDone(); len(done) != 2 {
		t.Errorf("PrivacyDone = %v, want both requests", done)
	}
}

// A hub page (or snapshot) read before the hub's own erasure does not
// bring back a person this edge erased: the erasure outlives the
// replacement of the cluster.
func TestHubPageDoesNotUndoErasure(t *testing.T) {
	s := privStore(t)
	canon, ids := person(t, s, 1)
	old, err := s.Profile(canon)
	if err != nil {
		t.Fatal(err)
	}
	b, err := old.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Erase(context.Background(), eraseOf("req-h", t0.UnixMilli(), canon)); err != nil {
		t.Fatal(err)
	}
	last, _ := s.LastSeq()
	items := []replication.FeedItem{{ID: canon, Fragments: append([]string{canon}, ids...), State: b}}
	if _, err := s.BootstrapClusters(context.Background(), items, last); err != nil {
		t.Fatal(err)
	}
	assertGone(t, s, append(ids, canon)...)
	if _, err := s.ApplyClusters(context.Background(), items, last); err != nil {
		t.Fatal(err)
	}
	assertGone(t, s, append(ids, canon)...)
}
