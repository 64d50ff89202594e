package store

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/profile"
	"ucv/profile/catalog"
)

// TestOverlayEqualsApplied: whatever acknowledged events are pending —
// plain ones (traits, orders, pages, by user ID or by anonymous ID,
// duplicates of applied or pending messages, events split over requests
// and batches) and ones that are not (a new e-mail) — a lookup the
// overlay answers shows exactly the view the applier publishes once it
// has committed them: the same JSON bytes, computed traits and audiences
// included, and the same version and last-seen time; and the store's
// other reads — the identifier's profile, its state, the offers decided
// at two placements by identifier and by ID — answer what they answer
// once the applier has committed them. A profile with a non-plain
// event pending is never answered by the overlay.
func TestOverlayEqualsApplied(t *testing.T) {
	var overlays, checked atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		clk := newTestClock(t0)
		hold := make(chan struct{})
		var armed atomic.Bool
		s := open(t, func(o *Options) {
			o.NoSync = true
			o.Now = clk.now
			o.SweepInterval = time.Hour
			o.applyHook = func() {
				if armed.Load() {
					<-hold
				}
			}
		})
		defer s.Close(context.Background())
		cat := offerCatalog(t) // audiences, offers at two placements
		for name, def := range map[string]any{
			"orders_30d": catalog.ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "720h"},
			"spend":      catalog.ComputedTrait{Event: "Order Completed", Aggregate: "sum", Property: "total"},
			"last_store": catalog.ComputedTrait{Event: "Order Completed", Aggregate: "last", Property: "store"},
			"spender":    catalog.Audience{Expression: `sum("Order Completed", "total", "7d") > 100.0`},
		} {
			var err error
			if cat, _, err = cat.With(name, def, cat.Version+1); err != nil {
				rt.Fatal(err)
			}
		}
		if _, err := s.SetCatalog(cat); err != nil {
			rt.Fatal(err)
		}
		const users = 3
		var mids []string
		for u := range users {
			mid := fmt.Sprintf("init-%d", u)
			mids = append(mids, mid)
			ingest(t, s, fmt.Sprintf(`{"type":"identify","userId":"u%d","anonymousId":"a%d","messageId":%q,"timestamp":%q,"traits":{"email":"u%d@example.com","n":0}}`,
				u, u, mid, t0.Add(-48*time.Hour).Format(time.RFC3339Nano), u))
		}
		armed.Store(true)
		released := false
		release := func() {
			if !released {
				released = true
				armed.Store(false)
				close(hold)
			}
		}
		defer release()

		odd := map[int]bool{} // users with a non-plain event pending
		n := rapid.IntRange(1, 14).Draw(rt, "events")
		var batch []Event
		flush := func() {
			if len(batch) == 0 {
				return
			}
			if err := s.Append(context.Background(), batch); err != nil {
				rt.Fatal(err)
			}
			batch = nil
		}
		for i := range n {
			u := rapid.IntRange(0, users-1).Draw(rt, "user")
			at := t0.Add(-time.Duration(rapid.IntRange(1, 10*24*60).Draw(rt, "minutesAgo"))*time.Minute - time.Duration(i)*time.Millisecond)
			ts := at.Format(time.RFC3339Nano)
			mid := fmt.Sprintf("m%d", i)
			if len(mids) > 0 && rapid.IntRange(0, 9).Draw(rt, "dup") == 0 {
				mid = rapid.SampledFrom(mids).Draw(rt, "dupOf")
			}
			mids = append(mids, mid)
			var body string
			switch rapid.IntRange(0, 5).Draw(rt, "kind") {
			case 0:
				body = fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":%q,"timestamp":%q,"traits":{"n":%d,"plan":%q}}`,
					u, mid, ts, rapid.IntRange(1, 99).Draw(rt, "n"), rapid.SampledFrom([]string{"free", "pro", "team"}).Draw(rt, "plan"))
			case 1:
				body = fmt.Sprintf(`{"type":"track","event":"Order Completed","anonymousId":"a%d","messageId":%q,"timestamp":%q,"properties":{"total":%d,"store":%q}}`,
					u, mid, ts, rapid.IntRange(1, 90).Draw(rt, "total"), rapid.SampledFrom([]string{"s1", "s2"}).Draw(rt, "store"))
			case 2:
				body = fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":"u%d","anonymousId":"a%d","messageId":%q,"timestamp":%q,"properties":{"total":%d}}`,
					u, u, mid, ts, rapid.IntRange(1, 90).Draw(rt, "total"))
			case 3:
				body = fmt.Sprintf(`{"type":"page","userId":"u%d","name":"Home","messageId":%q,"timestamp":%q}`, u, mid, ts)
			case 4:
				body = fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":%q,"timestamp":%q,"traits":{"email":"u%d@example.com","city":"Oslo"}}`, u, mid, ts, u)
			case 5: // a new identifier: the writer decides, not the overlay
				body = fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":%q,"timestamp":%q,"traits":{"email":"u%d.%d@example.com"}}`, u, mid, ts, u, i)
				odd[u] = true
			}
			batch = append(batch, ev(t, body))
			if rapid.Bool().Draw(rt, "cut") {
				flush()
			}
		}
		flush()

		seen, reads := map[int][]byte{}, map[int]string{}
		for u := range users {
			key := []byte(fmt.Sprintf("user_id:u%d", u))
			s.mem.mu.RLock()
			named := s.mem.byIdent[string(key)].id
			s.mem.mu.RUnlock()
			o, ok := s.overlay(key, nil, named, true)
			if !ok {
				continue
			}
			c := o.c
			if odd[u] {
				rt.Fatalf("u%d: the overlay answered with a new identifier pending", u)
			}
			overlays.Add(1)
			seen[u] = fmt.Appendf(append([]byte(nil), c.JSON...), "|%d|%s|%s", c.LastSeenMs, c.ID, c.Version)
			waits := s.readWaits.Load()
			reads[u] = otherReads(rt, s, u)
			if s.readWaits.Load() != waits {
				rt.Fatalf("u%d: a read waited for the applier where the lookup had the overlay", u)
			}
		}
		release()
		s.waitApplied()
		for u, want := range seen {
			// The applied view is rendered by its first read (decision
			// 0115), which fills memory.
			key := fmt.Sprintf("user_id:u%d", u)
			id, _ := profile.ParseKey(key)
			if _, err := s.LookupIdentifier(id); err != nil {
				rt.Fatalf("u%d: %v", u, err)
			}
			c, ok := s.CachedIdentifier([]byte(key))
			if !ok {
				rt.Fatalf("u%d: no view in memory after the applier ran and a lookup", u)
			}
			got := fmt.Appendf(append([]byte(nil), c.JSON...), "|%d|%s|%s", c.LastSeenMs, c.ID, c.Version)
			if !bytes.Equal(got, want) {
				rt.Fatalf("u%d: overlay view\n%s\napplied view\n%s", u, want, got)
			}
			if got := otherReads(rt, s, u); got != reads[u] {
				rt.Fatalf("u%d: reads with the overlay\n%s\nafter the applier\n%s", u, reads[u], got)
			}
			checked.Add(1)
		}
	})
	if overlays.Load() == 0 || checked.Load() != overlays.Load() {
		t.Fatalf("%d overlays, %d checked against the applier: the property was not exercised", overlays.Load(), checked.Load())
	}
	t.Logf("%d overlay views checked against the applier's", checked.Load())
}

// otherReads returns what the store's other reads of user u answer: the
// profile her user ID resolves to, its state, the offers decided for her
// at two placements (by identifier and by profile ID).
func otherReads(rt *rapid.T, s *Store, u int) string {
	ident := profile.Identifier{Type: profile.UserID, Value: fmt.Sprintf("u%d", u)}
	id, err := s.ResolveIdentifier(ident)
	if err != nil {
		rt.Fatal(err)
	}
	p, err := s.Profile(id)
	if err != nil {
		rt.Fatal(err)
	}
	state, err := p.Marshal()
	if err != nil {
		rt.Fatal(err)
	}
	out := fmt.Sprintf("%s %x", id, state)
	for _, placement := range []string{"checkout", "home"} {
		d, found, stored, err := s.Decision("", ident, false, placement, 5)
		if err != nil || !found {
			rt.Fatalf("decision: found %v, %v", found, err)
		}
		byID, _, _, _ := s.Decision(id, profile.Identifier{}, true, placement, 5)
		out += fmt.Sprintf(" | %s %v %s %v / %s %v", placement, stored, d.Version, d.Offers, byID.Version, byID.Offers)
	}
	return out
}

// TestOverlayReadYourWritesWhileApplying: writers each append events of
// their own known customer and look her up right after each
// acknowledgement, while a slow applier commits behind them — the
// overlay's read transaction races the applier's commits and its
// pruning. Every lookup shows the event just acknowledged (the trait
// it set, the order count it raised), from the overlay or after the
// applier (from the file, which renders the view), and some are
// answered by the overlay.
func TestOverlayReadYourWritesWhileApplying(t *testing.T) {
	s := openSlowApplier(t, 300*time.Microsecond)
	const writers, rounds = 4, 60
	for w := range writers {
		ingest(t, s, fmt.Sprintf(`{"type":"identify","userId":"w%d","anonymousId":"anon-w%d","messageId":"init-%d","timestamp":%q,"traits":{"n":0}}`,
			w, w, w, t0.Add(-time.Hour).Format(time.RFC3339Nano)))
	}
	ctx := context.Background()
	concurrently(writers, func(w int) {
		who := profile.Identifier{Type: profile.UserID, Value: fmt.Sprintf("w%d", w)}
		for i := 1; i <= rounds; i++ {
			at := t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
			body := fmt.Sprintf(`{"type":"identify","userId":"w%d","messageId":"w%d-%d","timestamp":%q,"traits":{"n":%d}}`, w, w, i, at, i)
			if i%3 == 0 { // an order by the anonymous ID: the count shows it
				body = fmt.Sprintf(`{"type":"track","event":"Order Completed","anonymousId":"anon-w%d","messageId":"w%d-%d","timestamp":%q,"properties":{"total":1}}`, w, w, i, at)
			}
			if err := s.Append(ctx, []Event{ev(t, body)}); err != nil {
				t.Error(err)
				return
			}
			// Memory with the overlay, or the file once the applier has
			// committed it (a view is rendered by its first read after a
			// commit, decision 0115).
			v, err := s.LookupIdentifier(who)
			if err != nil {
				t.Errorf("w%d round %d: %v", w, i, err)
				return
			}
			wantN, wantOrders := i, i/3
			if i%3 == 0 {
				wantN = i - 1
			}
			if n := traitN(t, v); n != wantN {
				t.Errorf("w%d round %d: n=%d, want %d", w, i, n, wantN)
			}
			if got := computedInt(t, v, "order_count"); got != wantOrders {
				t.Errorf("w%d round %d: order_count=%d, want %d", w, i, got, wantOrders)
			}
		}
	})
	st, _ := s.Stats()
	if st.ReadOverlays == 0 {
		t.Errorf("no lookup was answered by the overlay (%d waited)", st.ReadWaits)
	}
	t.Logf("%d lookups from the overlay, %d waited for the applier", st.ReadOverlays, st.ReadWaits)
}

// TestOverlayRefusesAStaleTransaction: the overlay's read transaction
// began before the applier committed an event of the profile, and the
// event's entity was pruned before the overlay read what is pending —
// a later event of the profile now in an entity of its own. Applying
// that one to the transaction's state would lose the committed one, so
// the overlay refuses that transaction (and tries a new one) and the
// lookup shows the committed event.
func TestOverlayRefusesAStaleTransaction(t *testing.T) {
	var hook atomic.Pointer[func()]
	s, armed, gate := openGated(t, func(o *Options) {
		o.initialMmap = 64 << 20
		o.overlayHook = func() {
			if f := hook.Swap(nil); f != nil {
				(*f)()
			}
		}
	})
	ingest(t, s, `{"type":"identify","userId":"ann","messageId":"a0","traits":{"n":0}}`)
	set := func(trait string) []Event {
		return []Event{ev(t, fmt.Sprintf(`{"type":"identify","userId":"ann","messageId":%q,"traits":{%q:1}}`, trait, trait))}
	}
	armed.Store(true)
	ctx := context.Background()
	if err := s.Append(ctx, set("a")); err != nil {
		t.Fatal(err)
	}
	f := func() {
		gate <- struct{}{} // the applier commits a
		s.waitApplied()
		if err := s.Append(ctx, set("b")); err != nil { // prunes a's entity
			t.Error(err)
		}
		armed.Store(false)
		go func() { gate <- struct{}{} }() // then b's batch
	}
	hook.Store(&f)
	c, ok := s.CachedIdentifier([]byte("user_id:ann"))
	if !ok {
		t.Fatal("no view from memory")
	}
	if hook.Load() != nil {
		t.Fatal("the overlay did not run")
	}
	// b was acknowledged after the lookup began: it may show or not;
	// a was acknowledged before and must.
	if traitInt(t, c.view(), "a") != 1 {
		t.Errorf("trait a missing (b %d): a stale transaction's overlay lost a committed event", traitInt(t, c.view(), "b"))
	}
}

// TestOverTheMemoryBound: with views over the memory bound (read from
// the file), a pending event of one profile neither holds lookups of
// another (it is mapped, not a barrier) nor keeps the overlay from
// answering for its own.
func TestOverTheMemoryBound(t *testing.T) {
	s, armed, _ := openGated(t, func(o *Options) { o.ViewMemoryBytes = 1 }) // every view is over it
	ingest(t, s,
		`{"type":"identify","userId":"ann","messageId":"a1","traits":{"n":1}}`,
		`{"type":"identify","userId":"bob","messageId":"b1","traits":{"n":1}}`)
	if st := s.MemoryStats(); st.Views != 0 {
		t.Fatalf("%d views in memory, want none", st.Views)
	}
	armed.Store(true)
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"ann","messageId":"a2","traits":{"n":2}}`)}); err != nil {
		t.Fatal(err)
	}
	lookUpBobAndPendingAnn(t, s)
}

// TestColdViewsMarkEvents: a store reopened holds none of its views in
// memory (their JSON is not stored, decision 0109) but knows their
// profiles whole — cold slots (decision 0114). An event pending for one
// of them makes lookups of that profile show it (the overlay), and
// lookups of every other profile answer at once. Before, memory took a
// slot without a view for one it cannot vouch for, and every such event
// set the barrier: until the applier caught up, every lookup waited for
// it — after each restart, until every profile had been looked up once.
func TestColdViewsMarkEvents(t *testing.T) {
	s, armed, gate := openGated(t)
	ingest(t, s,
		`{"type":"identify","userId":"ann","messageId":"a1","traits":{"n":1}}`,
		`{"type":"identify","userId":"bob","messageId":"b1","traits":{"n":1}}`)
	s = reopen(t, s)
	if st := s.MemoryStats(); st.Views != 0 {
		t.Fatalf("%d views in memory right after opening, want none", st.Views)
	}
	armed.Store(true)
	defer close(gate)
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"ann","messageId":"a2","traits":{"n":2}}`)}); err != nil {
		t.Fatal(err)
	}
	if b := barrierOf(s); b > s.appliedPos.Load() {
		t.Fatalf("barrier at %d (applied %d): an event on a profile memory holds cold was not marked", b, s.appliedPos.Load())
	}
	lookUpBobAndPendingAnn(t, s)
	// bob's lookup filled his slot; ann's is still cold (her event is
	// pending), and a second event for her is marked too.
	if _, ok := s.CachedIdentifier([]byte("user_id:bob")); !ok {
		t.Error("bob's lookup did not fill memory")
	}
	if err := s.Append(context.Background(), []Event{ev(t, `{"type":"identify","userId":"ann","messageId":"a3","traits":{"n":3}}`)}); err != nil {
		t.Fatal(err)
	}
	if b := barrierOf(s); b > s.appliedPos.Load() {
		t.Fatalf("barrier at %d after a second event for a cold profile", b)
	}
}

// barrierOf returns the pending set's barrier.
func barrierOf(s *Store) uint64 {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	return s.pending.barrier
}

// lookUpBobAndPendingAnn: with the applier held and ann's n=2 pending,
// bob (nothing pending) answers n=1 and ann n=2 (the overlay), neither
// waiting for the applier.
func lookUpBobAndPendingAnn(t *testing.T, s *Store) {
	t.Helper()
	v, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "bob"})
	if err != nil || traitN(t, v) != 1 {
		t.Fatalf("bob: %v", err)
	}
	v, err = s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann"})
	if err != nil || traitN(t, v) != 2 {
		t.Fatalf("ann: n=%d, %v; want her pending event shown", traitN(t, v), err)
	}
	if w, o := s.readWaits.Load(), s.readOverlays.Load(); w != 0 || o != 1 {
		t.Errorf("%d waits, %d overlays; want none and one", w, o)
	}
}
