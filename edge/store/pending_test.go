package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/profile"
	"ucv/replication"
)

// traitN returns the integer trait "n" of view v (-1 when absent).
func traitN(tb testing.TB, v View) int { return traitInt(tb, v, "n") }

// traitInt returns the integer trait name of view v (-1 when absent).
func traitInt(tb testing.TB, v View, name string) int { return viewInt(tb, v, "traits", name) }

// computedInt returns the integer computed trait name of view v (-1 when
// absent).
func computedInt(tb testing.TB, v View, name string) int { return viewInt(tb, v, "computed", name) }

// viewInt returns the integer member name of view v's object obj (-1
// when absent).
func viewInt(tb testing.TB, v View, obj, name string) int {
	tb.Helper()
	var doc map[string]any
	// The stored view ends inside its "computed" object (View.JSON).
	if err := json.Unmarshal(append(v.JSON, "}}"...), &doc); err != nil {
		tb.Fatalf("view JSON: %v", err)
	}
	members, _ := doc[obj].(map[string]any)
	n, ok := members[name].(float64)
	if !ok {
		return -1
	}
	return int(n)
}

// TestFenceWaitsOnlyForWhatItReads: with the applier held, a lookup of a
// profile no pending event concerns answers at once; one of a profile a
// plain pending event changes answers at once with the event applied
// (the overlay), and one whose pending event brings a new identifier
// waits for it and shows it — by the event's own identifier, by another
// identifier of the same profile, and by its profile ID.
func TestFenceWaitsOnlyForWhatItReads(t *testing.T) {
	hold := make(chan struct{})
	var armed atomic.Bool // the applier waits on hold only while armed
	s := open(t, func(o *Options) {
		o.NoSync = true
		o.applyHook = func() {
			if armed.Load() {
				<-hold
			}
		}
	})
	ingest(t, s,
		`{"type":"identify","userId":"ann","messageId":"a1","traits":{"email":"ann@example.com","n":1}}`,
		`{"type":"identify","userId":"bob","messageId":"b1","traits":{"email":"bob@example.com","n":1}}`)
	warm(t, s, "email:bob@example.com")
	annID, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	t.Cleanup(release)

	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"ann","messageId":"a2","traits":{"n":2}}`)}); err != nil {
		t.Fatal(err)
	}
	// Bob's profile: nothing pending concerns it.
	waits := s.readWaits.Load()
	c, ok := s.CachedIdentifier([]byte("email:bob@example.com"))
	if !ok || traitN(t, c.view()) != 1 {
		t.Fatalf("bob from memory: ok %v", ok)
	}
	if got := s.readWaits.Load(); got != waits {
		t.Errorf("a lookup of an unconcerned profile waited for the applier (%d waits)", got-waits)
	}

	// An identifier nobody holds and no pending event carries: not
	// found, without waiting for the applier.
	notFound := make(chan error, 1)
	go func() {
		_, err := s.LookupIdentifier(profile.Identifier{Type: profile.Email, Value: "nobody@example.com"})
		notFound <- err
	}()
	select {
	case err := <-notFound:
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("lookup of an unknown identifier: %v, want ErrNotFound", err)
		}
	case <-time.After(readWaitMax / 2):
		t.Error("a lookup of an unknown identifier waited for the applier")
	}

	// Ann's, by another identifier than the event's, and by ID: the
	// pending event is plain (its one identifier names her profile), so
	// the overlay answers at once with it applied (n=2).
	// Whole lookups: memory first (with the fence), then the file — a
	// view is rendered by its first read after a commit (decision 0115).
	lookups := []func() (View, bool){
		func() (View, bool) {
			v, err := s.LookupIdentifier(profile.Identifier{Type: profile.Email, Value: "ann@example.com"})
			return v, err == nil
		},
		func() (View, bool) {
			v, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann"})
			return v, err == nil
		},
		func() (View, bool) { v, err := s.LookupID(annID); return v, err == nil },
	}
	overlays := s.readOverlays.Load()
	for i, lookup := range lookups {
		c, ok := lookup()
		if !ok || traitN(t, c) != 2 || c.ID != annID {
			t.Errorf("lookup %d of the pending profile with the applier held: ok %v, want n=2 on %s at once", i, ok, annID)
		}
	}
	if got := s.readOverlays.Load() - overlays; got != 3 {
		t.Errorf("%d lookups answered with the overlay, want 3", got)
	}

	// An event that brings her a new identifier is not plain (the
	// writer decides whether it links): lookups of her wait until the
	// applier runs, then show n=3.
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"ann","messageId":"a3","traits":{"email":"ann.lee@example.com","n":3}}`)}); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		n  int
		ok bool
	}
	results := make(chan answer, 3)
	for _, lookup := range lookups {
		go func() {
			c, ok := lookup()
			if !ok {
				results <- answer{}
				return
			}
			results <- answer{traitN(t, c), true}
		}()
	}
	select {
	case a := <-results:
		t.Fatalf("a lookup of a profile with a pending new identifier answered with the applier held: %+v", a)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	for range 3 {
		if a := <-results; !a.ok || a.n != 3 {
			t.Errorf("lookup after the applier ran: %+v, want n=3", a)
		}
	}
	if got := s.readWaits.Load() - waits; got != 3 {
		t.Errorf("%d lookups waited, want the 3 of the profile with a new identifier pending", got)
	}
}

// TestFenceJoinsNewIdentifiers: two pending events of a new person —
// the first brings her e-mail, the second only her user ID — are one
// entity: a lookup by the e-mail waits for the second too, batch by
// batch.
func TestFenceJoinsNewIdentifiers(t *testing.T) {
	s, armed, gate := openGated(t)
	armed.Store(true)
	ctx := context.Background()
	if err := s.Append(ctx, []Event{ev(t, `{"type":"identify","userId":"cat","messageId":"c1","traits":{"email":"cat@example.com","n":1}}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, []Event{ev(t, `{"type":"identify","userId":"cat","messageId":"c2","traits":{"n":2}}`)}); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		v, err := s.LookupIdentifier(profile.Identifier{Type: profile.Email, Value: "cat@example.com"})
		if err != nil {
			got <- -2
			return
		}
		got <- traitN(t, v)
	}()
	gate <- struct{}{} // the applier's first batch (the first event, or both)
	select {
	case n := <-got:
		if n != 2 {
			t.Fatalf("lookup by e-mail answered n=%d before the second event was applied", n)
		}
		return // both were in the first batch
	case <-time.After(50 * time.Millisecond):
	}
	armed.Store(false)
	select {
	case gate <- struct{}{}:
	case n := <-got:
		t.Fatalf("lookup answered n=%d", n)
	}
	if n := <-got; n != 2 {
		t.Errorf("lookup by e-mail: n=%d, want 2", n)
	}
}

// TestFenceHoldsForPeerChanges: a peer's merge queued before an event is
// applied before it, so the event's mapping (read when it was
// acknowledged) may be stale: while such a request is queued, an event
// touching its profiles joins one entity with all of them. Fay's event
// lands on the profile the peer merged her into, and a lookup by Eve's
// e-mail waits for it and shows it; Gil's does not wait. (The
// event sets a trait nobody had: which of two records' values survives
// a merge is survivorship's business, decision 0045.)
func TestFenceHoldsForPeerChanges(t *testing.T) {
	s, armed, gate := openGated(t)
	ingest(t, s,
		`{"type":"identify","userId":"eve","messageId":"e1","traits":{"email":"eve@example.com","n":1}}`,
		`{"type":"identify","userId":"fay","messageId":"f1","traits":{"email":"fay@example.com","n":1}}`,
		`{"type":"identify","userId":"gil","messageId":"g1","traits":{"email":"gil@example.com","n":1}}`)
	warm(t, s, "email:gil@example.com")
	eve, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "eve"})
	if err != nil {
		t.Fatal(err)
	}
	fay, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "fay"})
	if err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	merged := make(chan error, 1)
	go func() {
		_, err := s.ApplyRemote(context.Background(), []replication.Entry{{Kind: replication.KindMerge, ProfileID: min(eve, fay), From: max(eve, fay)}})
		merged <- err
	}()
	for s.pending.holds() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"fay","messageId":"f2","traits":{"m":2}}`)}); err != nil {
		t.Fatal(err)
	}
	// Gil is neither in the peer's merge nor in Fay's event: his lookup
	// does not wait.
	waits := s.readWaits.Load()
	if c, ok := s.CachedIdentifier([]byte("email:gil@example.com")); !ok || traitN(t, c.view()) != 1 {
		t.Errorf("gil from memory: ok %v", ok)
	}
	if s.readWaits.Load() != waits {
		t.Error("a lookup of a profile the peer's merge does not touch waited")
	}
	got := make(chan int, 1)
	go func() {
		c, ok := s.CachedIdentifier([]byte("email:eve@example.com"))
		if !ok {
			v, err := s.LookupIdentifier(profile.Identifier{Type: profile.Email, Value: "eve@example.com"})
			if err != nil {
				got <- -2
				return
			}
			got <- traitInt(t, v, "m")
			return
		}
		got <- traitInt(t, c.view(), "m")
	}()
	select {
	case n := <-got:
		t.Fatalf("lookup by Eve's e-mail answered m=%d before the merge and Fay's event were applied", n)
	case <-time.After(50 * time.Millisecond):
	}
	armed.Store(false)
	gate <- struct{}{}
	if err := <-merged; err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != 2 {
		t.Errorf("lookup by Eve's e-mail after the merge: m=%d, want Fay's 2", n)
	}
	if held := s.pending.holds(); held != 0 {
		t.Errorf("%d holds left after the peer's request was committed", held)
	}
}

// TestFenceFollowsMerges: events that link and merge profiles while
// pending are one entity — a lookup by any identifier of any profile
// they join waits for all of them. Writers each own a few people; each
// person has a user ID, an e-mail and anonymous IDs that an identify
// later merges in. With a slow applier, after every acknowledged event
// a lookup by a random identifier of that person shows its counter, and
// so does the state of the profile another identifier of hers resolves
// to (the file's reads: settle, settleRedirect).
func TestFenceFollowsMerges(t *testing.T) {
	s := openSlowApplier(t, 300*time.Microsecond)
	ctx := context.Background()
	concurrently(4, func(w int) {
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		type person struct {
			keys []string // identifier keys known to reach the person
			n    int
		}
		people := make([]*person, 3)
		for i := range people {
			people[i] = &person{}
		}
		for step := range 60 {
			i := rng.IntN(len(people))
			p := people[i]
			p.n++
			user := fmt.Sprintf("u%d-%d", w, i)
			var body string
			switch {
			case step%7 == 3:
				// An anonymous visitor's own event first, then the
				// identify that merges that profile into the person.
				anon := fmt.Sprintf("a%d-%d-%d", w, i, step)
				pre := ev(t, fmt.Sprintf(`{"type":"track","anonymousId":%q,"messageId":"pre-%s","event":"Viewed"}`, anon, anon))
				if err := s.Append(ctx, []Event{pre}); err != nil {
					t.Error(err)
					return
				}
				body = fmt.Sprintf(`{"type":"identify","userId":%q,"anonymousId":%q,"messageId":"m%d-%d","traits":{"n":%d}}`, user, anon, w, step, p.n)
				p.keys = append(p.keys, "anonymous_id:"+anon)
			default:
				body = fmt.Sprintf(`{"type":"identify","userId":%q,"messageId":"m%d-%d","traits":{"email":"%s@example.com","n":%d}}`, user, w, step, user, p.n)
				if len(p.keys) == 0 {
					p.keys = append(p.keys, "user_id:"+user, "email:"+user+"@example.com")
				}
			}
			if err := s.Append(ctx, []Event{ev(t, body)}); err != nil {
				t.Error(err)
				return
			}
			if len(p.keys) == 0 {
				p.keys = append(p.keys, "user_id:"+user)
			}
			k := p.keys[rng.IntN(len(p.keys))]
			c, ok := s.CachedIdentifier([]byte(k))
			var got int
			if ok {
				got = traitN(t, c.view())
			} else {
				id, ok := profile.ParseKey(k)
				if !ok {
					t.Errorf("key %q", k)
					return
				}
				v, err := s.LookupIdentifier(id)
				if err != nil {
					t.Errorf("lookup %s after event %d: %v", k, step, err)
					continue
				}
				got = traitN(t, v)
			}
			if got != p.n {
				t.Errorf("writer %d step %d: lookup by %s shows n=%d, want %d", w, step, k, got, p.n)
			}
			// The file's reads: the identifier's profile, and its state.
			ident, _ := profile.ParseKey(p.keys[rng.IntN(len(p.keys))])
			id, err := s.ResolveIdentifier(ident)
			if err != nil {
				t.Errorf("resolve %s after event %d: %v", ident.Key(), step, err)
				continue
			}
			st, err := s.Profile(id)
			if err != nil {
				t.Errorf("profile %s after event %d: %v", id, step, err)
				continue
			}
			if got := traitOf(t, st, "n"); got != fmt.Sprint(p.n) {
				t.Errorf("writer %d step %d: state of %s's profile shows n=%s, want %d", w, step, ident.Key(), got, p.n)
			}
		}
	})
}

// TestPendingPrunes: once the applier has passed them, what the
// appender recorded is dropped.
func TestPendingPrunes(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	for i := range 50 {
		if err := s.Append(context.Background(), walEvents(t, i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.waitPos(ctx, s.ackedPos.Load()); err != nil {
		t.Fatal(err)
	}
	// One more request prunes what the applier passed before it.
	if err := s.Append(context.Background(), walEvents(t, 1000, 1)); err != nil {
		t.Fatal(err)
	}
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.fifo) > 1 || len(p.byKey) > 2 || len(p.byID) > 1 {
		t.Errorf("after the applier caught up: %d marks, %d keys, %d IDs held", len(p.fifo), len(p.byKey), len(p.byID))
	}
}

// openSlowApplier opens a store without fsync whose applier sleeps d
// before each batch, so acknowledged events stay pending a while.
func openSlowApplier(tb testing.TB, d time.Duration, opts ...func(*Options)) *Store {
	return open(tb, append([]func(*Options){func(o *Options) {
		o.NoSync = true
		o.applyHook = func() { time.Sleep(d) }
	}}, opts...)...)
}

// concurrently runs f(0) … f(n-1) on n goroutines and waits for them.
func concurrently(n int, f func(w int)) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() { f(w) })
	}
	wg.Wait()
}

// openGated opens a store without fsync whose applier, while armed,
// waits before each batch for a token on gate (or the test's end).
func openGated(t *testing.T, opts ...func(*Options)) (*Store, *atomic.Bool, chan struct{}) {
	gate, done := make(chan struct{}), make(chan struct{})
	armed := new(atomic.Bool)
	s := open(t, append([]func(*Options){func(o *Options) {
		o.NoSync = true
		o.applyHook = func() {
			if armed.Load() {
				select {
				case <-gate:
				case <-done:
				}
			}
		}
	}}, opts...)...)
	t.Cleanup(func() { close(done) }) // before the store's Close: cleanups run last first
	return s, armed, gate
}

// TestFileReadsWaitForTheirProfile: reads from the file — a profile's
// state, the profile an identifier names, a stored decision — wait, as
// lookups from memory do, only for pending events that can change them:
// with the applier held, reads of an unconcerned profile answer at once,
// and those of the profile an event is pending for wait and show it,
// also by an ID merged into it.
func TestFileReadsWaitForTheirProfile(t *testing.T) {
	s, armed, gate := openGated(t)
	ingest(t, s,
		`{"type":"identify","userId":"bob","messageId":"b1","traits":{"n":1}}`,
		`{"type":"track","anonymousId":"anon-ann","messageId":"a0","event":"Viewed"}`)
	ingest(t, s, `{"type":"identify","userId":"ann","messageId":"a1","traits":{"n":1}}`)
	userID := mustResolve(t, s, profile.UserID, "ann")
	// One event of both: the two profiles merge, the older ID survives.
	ingest(t, s, `{"type":"track","userId":"ann","anonymousId":"anon-ann","messageId":"a1m","event":"Signed In"}`)
	annID, bobID := mustResolve(t, s, profile.UserID, "ann"), mustResolve(t, s, profile.UserID, "bob")
	merged := userID // redirects to annID
	if merged == annID {
		t.Fatal("the merge kept the user's profile ID: the test needs the other to survive")
	}
	armed.Store(true)
	// A new identifier: the overlay cannot answer, every read waits.
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"ann","messageId":"a2","traits":{"email":"ann@example.com","n":2}}`)}); err != nil {
		t.Fatal(err)
	}
	waits := s.readWaits.Load()
	if p, err := s.Profile(bobID); err != nil || traitOf(t, p, "n") != "1" {
		t.Fatalf("Profile(bob) = %v", err)
	}
	if id, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "bob"}); err != nil || id != bobID {
		t.Fatalf("ResolveIdentifier(bob) = %s %v", id, err)
	}
	if _, found, _, err := s.Decision("", profile.Identifier{Type: profile.UserID, Value: "bob"}, false, "home", 3); err != nil || !found {
		t.Fatalf("Decision(bob) found %v err %v", found, err)
	}
	if _, err := s.LookupID(bobID); err != nil {
		t.Fatal(err)
	}
	if got := s.readWaits.Load(); got != waits {
		t.Errorf("reads of an unconcerned profile waited %d times", got-waits)
	}
	results := make(chan string, 4)
	for _, read := range []func() string{
		func() string {
			p, err := s.Profile(merged) // redirects to ann's
			if err != nil {
				return err.Error()
			}
			return traitOf(t, p, "n")
		},
		func() string {
			id, err := s.ResolveIdentifier(profile.Identifier{Type: profile.Email, Value: "ann@example.com"})
			if err != nil {
				return err.Error()
			}
			return id
		},
		func() string {
			p, err := s.Profile(annID)
			if err != nil {
				return err.Error()
			}
			return traitOf(t, p, "n")
		},
		func() string {
			v, err := s.LookupID(merged)
			if err != nil {
				return err.Error()
			}
			return fmt.Sprint(traitN(t, v))
		},
	} {
		go func() { results <- read() }()
	}
	select {
	case r := <-results:
		t.Fatalf("a read of ann's profile answered %q with her event pending", r)
	case <-time.After(50 * time.Millisecond):
	}
	armed.Store(false)
	select {
	case gate <- struct{}{}:
	case <-time.After(time.Second):
	}
	want := map[string]bool{"2": true, annID: true}
	for range 4 {
		if r := <-results; !want[r] {
			t.Errorf("read after the applier ran: %q, want n 2 or %s", r, annID)
		}
	}
	if got := s.readWaits.Load() - waits; got < 4 {
		t.Errorf("%d reads waited, want the 4 of ann's profile", got)
	}
}

// traitOf returns trait name of state p, formatted ("" if none).
func traitOf(tb testing.TB, p *profile.Profile, name string) string {
	tb.Helper()
	v, ok := p.TraitValues()[name]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// TestHubPageTaintsEachCluster: a hub page's clusters of unrelated
// people taint one entity each, not one for the page — else every
// profile on the page would join one entity, and a new person's
// pending events (which the overlay cannot apply) would hold a known
// person's lookups. Clusters that share a profile or an identifier are
// still one entity.
func TestHubPageTaintsEachCluster(t *testing.T) {
	s := open(t)
	cluster := func(id string, keys ...string) (replication.FeedItem, *profile.Profile) {
		p := profile.New(id)
		for _, k := range keys {
			ident, _ := profile.ParseKey(k)
			p.Identities.Add(1, ident.Key())
		}
		return replication.FeedItem{ID: id, Fragments: []string{id}}, p
	}
	a, pa := cluster("01A", "user_id:ann")
	b, pb := cluster("01B", "user_id:bob")
	c, pc := cluster("01C", "user_id:bob", "email:cat@example.com") // shares bob's user ID
	d, pd := cluster("01D", "user_id:dan")
	r := &request{clusters: []replication.FeedItem{a, b, c, d}, decoded: []*profile.Profile{pa, pb, pc, pd}}
	s.holdFor(r)
	p := &s.pending
	root := func(key string) *pgroup {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.byKey[key].root()
	}
	if root("user_id:ann") == root("user_id:dan") || root("user_id:ann") == root("user_id:bob") {
		t.Error("unrelated clusters of one page are one entity")
	}
	if root("user_id:bob") != root("email:cat@example.com") {
		t.Error("clusters sharing an identifier are not one entity")
	}
	if n := p.holds(); n != 4 {
		t.Errorf("%d holds, want one per cluster", n)
	}
	s.release(r)
	if n := p.holds(); n != 0 {
		t.Errorf("%d holds after release", n)
	}
}
