package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// memDiff compares the in-memory read index with the committed file and
// returns the first difference: every index entry, and only those, is
// held naming the same profile; every servable view (not redirected,
// verifying, not flagged), and only those, is held byte for byte — a
// record without its JSON (decision 0109) as rendered from the stored
// state, and it may be absent from memory (read from the file); slot
// bookkeeping is consistent. Then every identifier and profile ID the
// file knows (and some it does not) looks up alike through memory and
// through the file alone.
func memDiff(s *Store) error {
	m := s.mem
	m.mu.RLock()
	defer m.mu.RUnlock()
	return s.view(func(tx *bolt.Tx) error {
		idx := tx.Bucket(bucketIndex)
		n := 0
		if err := idx.ForEach(func(k, pid []byte) error {
			n++
			sl := m.byIdent[string(k)]
			if sl == nil || sl.id != string(pid) {
				return fmt.Errorf("identifier %q names %s in the file, memory has %v", k, pid, sl)
			}
			return nil
		}); err != nil {
			return err
		}
		if n != len(m.byIdent) {
			return fmt.Errorf("%d identifiers in the file, %d in memory", n, len(m.byIdent))
		}
		counts := map[string]int{}
		if err := tx.Bucket(bucketHolders).ForEach(func(k, _ []byte) error {
			counts[string(k[:bytes.LastIndexByte(k, 0)])]++
			return nil
		}); err != nil {
			return err
		}
		shared := 0
		for k, c := range counts {
			if c >= 2 {
				shared++
				if m.holders[k] != c {
					return fmt.Errorf("identifier %q: %d holders in the file, memory counts %d", k, c, m.holders[k])
				}
			}
		}
		if shared != len(m.holders) {
			return fmt.Errorf("%d shared identifiers in the file, %d in memory", shared, len(m.holders))
		}
		refs := map[*memSlot]int{}
		for _, sl := range m.byIdent {
			refs[sl]++
			if m.byID[sl.id] != sl {
				return fmt.Errorf("slot of %s named by an identifier is not filed under its ID", sl.id)
			}
		}
		var bytesHeld int64
		for id, sl := range m.byID {
			if sl.id != id || sl.refs != refs[sl] {
				return fmt.Errorf("slot %s: filed as %s, refs %d, want %d", sl.id, id, sl.refs, refs[sl])
			}
			c := sl.v.Load()
			if c == nil && sl.refs == 0 {
				return fmt.Errorf("slot %s holds nothing and is kept", id)
			}
			want, bodiless := fileCached(s, tx, id)
			switch {
			case sl.cold.Load() && c == nil && (!bodiless || want == nil):
				return fmt.Errorf("profile %s: memory holds it cold, the file no whole view without JSON", id)
			case c == nil && want != nil && m.limit == 0 && !bodiless: // a bound may leave it to the file
				return fmt.Errorf("profile %s: memory holds no view, the file a servable one", id)
			case c != nil && want == nil:
				return fmt.Errorf("profile %s: memory holds a view the file does not serve", id)
			case c != nil && (c.ID != want.ID || c.Version != want.Version || c.LastSeenMs != want.LastSeenMs || want.JSON != nil && !bytes.Equal(c.JSON, want.JSON) ||
				c.digest != want.digest || c.nextMs != want.nextMs || c.evaluated != want.evaluated):
				return fmt.Errorf("profile %s: memory's view differs from the file's", id)
			}
			bytesHeld += c.size()
		}
		if bytesHeld != m.bytes.Load() {
			return fmt.Errorf("bytes held %d, counted %d", bytesHeld, m.bytes.Load())
		}
		return tx.Bucket(bucketViews).ForEach(func(k, _ []byte) error {
			if c, bodiless := fileCached(s, tx, string(k)); c != nil && !bodiless && m.byID[string(k)] == nil && m.limit == 0 {
				return fmt.Errorf("profile %s: servable view not in memory", k)
			}
			return nil
		})
	})
}

// fileCached is the view memory may hold for profile id per the file
// (cachedOf), with a record stored without its JSON rendered from the
// stored state as a read from the file renders it (bodiless set): nil
// when memory must not hold one. Such a record's JSON is known only
// while its evaluation is current: for a stale one (memory does not
// serve it) the result has no JSON, and only the record's fields are
// compared.
func fileCached(s *Store, tx *bolt.Tx, id string) (c *Cached, bodiless bool) {
	b := tx.Bucket(bucketViews).Get([]byte(id))
	if b == nil || !isBodiless(b) || tx.Bucket(bucketRedirects).Get([]byte(id)) != nil {
		return cachedOf(tx, id), false
	}
	v, ev, err := decodeViewRecord(id, []byte(id), b)
	if err != nil {
		return nil, true
	}
	cat, nowMs := s.Catalog(), s.opts.Now().UnixMilli()
	if !ev.stale(cat.Digest(), nowMs) {
		if v, err = s.freshView(tx, id, v, cat, nowMs); err != nil {
			return nil, true
		}
	} else {
		// The record may carry no version or last-seen moment (decision
		// 0119): they are the stored state's.
		state, err := openProfile([]byte(id), tx.Bucket(bucketProfiles).Get([]byte(id)))
		if err != nil {
			return nil, true
		}
		p, err := profile.Unmarshal(state)
		if err != nil {
			return nil, true
		}
		v.Version, v.LastSeenMs = p.Version.String(), 0
		if p.LastSeen.Set {
			v.LastSeenMs = p.LastSeen.V
		}
	}
	return cachedView(id, v, ev), true
}

// lookupsAgree checks that every identifier and profile ID s knows, and
// a few it does not, look up alike from memory and from the file.
func lookupsAgree(s *Store) error {
	var keys, ids []string
	if err := s.view(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketProfiles, bucketRedirects} {
			tx.Bucket(b).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
		}
		return tx.Bucket(bucketIndex).ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
	}); err != nil {
		return err
	}
	keys = append(keys, "user_id:nobody", "email:nobody@example.com")
	ids = append(ids, "01NOSUCHPROFILE")
	same := func(what string, a View, aerr error, b View, berr error) error {
		if (aerr == nil) != (berr == nil) || aerr != nil && !errors.Is(aerr, ErrNotFound) != !errors.Is(berr, ErrNotFound) {
			return fmt.Errorf("%s: memory path %v, file path %v", what, aerr, berr)
		}
		if a.ID != b.ID || a.Version != b.Version || a.LastSeenMs != b.LastSeenMs || !bytes.Equal(a.JSON, b.JSON) {
			return fmt.Errorf("%s: memory path served %s %s, file path %s %s", what, a.ID, a.Version, b.ID, b.Version)
		}
		return nil
	}
	for _, k := range keys {
		id, _ := profile.ParseKey(k)
		a, aerr := s.LookupIdentifier(id)
		b, berr := s.lookupIdentifierFile(k)
		if err := same("identifier "+k, a, aerr, b, berr); err != nil {
			return err
		}
	}
	for _, id := range ids {
		a, aerr := s.LookupID(id)
		b, berr := s.lookupIDFile(id)
		if err := same("profile "+id, a, aerr, b, berr); err != nil {
			return err
		}
	}
	return nil
}

// checkMem waits (the sweep may still be committing) until memory and
// the file agree, and fails with the last difference if they do not.
func checkMem(tb interface {
	Helper()
	Fatalf(string, ...any)
}, s *Store, when string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := memDiff(s)
		if err == nil {
			err = lookupsAgree(s)
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: read index disagrees with the file: %v", when, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMemIndexMatchesFile: after any sequence of ingests (new people,
// merges through shared identifiers, aliases), erasures, suppressions,
// catalog changes, clock moves, repairs and reopens, the in-memory read
// index holds exactly what the file serves, and every lookup answers the
// same from memory as from the file.
func TestMemIndexMatchesFile(t *testing.T) {
	dir := t.TempDir()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		clk := newTestClock(t0)
		o := DefaultOptions(filepath.Join(dir, fmt.Sprintf("m%d.db", run)))
		o.NoSync, o.NodeName, o.CompactDelay, o.Now, o.Populate = true, "till-1", time.Hour, clk.now, false
		o.SweepInterval = time.Hour
		if rapid.Bool().Draw(rt, "bounded") {
			o.ViewMemoryBytes = int64(rapid.IntRange(-1, 3000).Draw(rt, "bound"))
		}
		s, err := Open(o)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { s.Close(context.Background()) }()
		if err := s.SetPrivacySalt(testSalt); err != nil {
			rt.Fatal(err)
		}
		ctx := context.Background()
		msg, dirs, catVersion := 0, 0, 0
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for step := range steps {
			op := rapid.SampledFrom([]string{"identify", "identify", "identify", "batch", "alias", "erase", "suppress", "catalog", "clock", "repair", "reopen"}).Draw(rt, "op")
			switch op {
			case "identify", "batch":
				n := 1
				if op == "batch" {
					n = rapid.IntRange(2, 6).Draw(rt, "events")
				}
				var evs []Event
				for range n {
					msg++
					body := fmt.Sprintf(`{"type":"track","event":"Order Completed","messageId":"m%d","anonymousId":"a%d","properties":{"total":%d}`, msg, rapid.IntRange(0, 5).Draw(rt, "anon"), msg)
					if rapid.Bool().Draw(rt, "email") {
						body = fmt.Sprintf(`{"type":"identify","messageId":"m%d","anonymousId":"a%d","traits":{"email":"e%d@example.com","n":%d}`, msg, rapid.IntRange(0, 5).Draw(rt, "anon"), rapid.IntRange(0, 4).Draw(rt, "mail"), msg)
					}
					if rapid.Bool().Draw(rt, "user") {
						body += fmt.Sprintf(`,"userId":"u%d"`, rapid.IntRange(0, 4).Draw(rt, "uid"))
					}
					evs = append(evs, ev(t, body+"}"))
				}
				if _, err := s.Ingest(ctx, evs); err != nil {
					rt.Fatal(err)
				}
			case "alias":
				msg++
				body := fmt.Sprintf(`{"type":"alias","messageId":"m%d","userId":"u%d","previousId":"a%d"}`, msg, rapid.IntRange(0, 4).Draw(rt, "uid"), rapid.IntRange(0, 5).Draw(rt, "anon"))
				if _, err := s.Ingest(ctx, []Event{ev(t, body)}); err != nil {
					rt.Fatal(err)
				}
			case "erase":
				key := fmt.Sprintf("user_id:u%d", rapid.IntRange(0, 4).Draw(rt, "uid"))
				id, _ := profile.ParseKey(key)
				pid, err := s.ResolveIdentifier(id)
				if err != nil {
					continue
				}
				dirs++
				d := replication.Directive{ID: fmt.Sprintf("d%d", dirs), Type: replication.DirectiveErase, Index: uint64(dirs), At: clk.now().UnixMilli(),
					ProfileIDs: []string{pid}, Keys: []string{crdt.TombstoneKey(testSalt, key)}}
				if err := s.Erase(ctx, d); err != nil {
					rt.Fatal(err)
				}
			case "suppress":
				dirs++
				key := fmt.Sprintf("email:e%d@example.com", rapid.IntRange(0, 4).Draw(rt, "mail"))
				typ := replication.DirectiveSuppress
				if rapid.Bool().Draw(rt, "unsuppress") {
					typ = replication.DirectiveUnsuppress
				}
				d := replication.Directive{ID: fmt.Sprintf("d%d", dirs), Type: typ, Index: uint64(dirs), Keys: []string{crdt.TombstoneKey(testSalt, key)}}
				if err := s.ApplyDirective(ctx, d); err != nil {
					rt.Fatal(err)
				}
			case "catalog":
				catVersion++
				window := rapid.SampledFrom([]string{"1h", "24h", "720h"}).Draw(rt, "window")
				c := catalog.Catalog{}
				c, _, err := c.With("orders", catalog.ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: window}, uint64(catVersion))
				if err != nil {
					rt.Fatal(err)
				}
				c.Version = uint64(catVersion)
				if _, err := s.SetCatalog(c); err != nil {
					rt.Fatal(err)
				}
			case "clock":
				clk.set(clk.now().Add(time.Duration(rapid.IntRange(1, 48).Draw(rt, "hours")) * time.Hour))
			case "repair":
				// A read that found damage asks for a repair; the view is
				// rendered again from the state.
				var ids []string
				s.view(func(tx *bolt.Tx) error {
					return tx.Bucket(bucketProfiles).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
				})
				if len(ids) == 0 {
					continue
				}
				s.requestRepair(rapid.SampledFrom(ids).Draw(rt, "damaged"))
			case "reopen":
				if err := s.Close(ctx); err != nil {
					rt.Fatal(err)
				}
				if s, err = Open(o); err != nil {
					rt.Fatal(err)
				}
			}
			checkMem(rt, s, fmt.Sprintf("step %d (%s)", step, op))
		}
		if err := s.Check(); err != nil {
			rt.Fatal(err)
		}
	})
}

// TestErasedProfileLeavesMemory: once an erasure commits, neither the
// erased profile's identifiers nor its ID are served from memory, and
// the lookups answer not found.
func TestErasedProfileLeavesMemory(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true; o.CompactDelay = time.Hour })
	if err := s.SetPrivacySalt(testSalt); err != nil {
		t.Fatal(err)
	}
	res := ingest(t, s, `{"type":"identify","userId":"ann","messageId":"m1","traits":{"email":"ann@example.com"}}`)
	pid := res.ProfileIDs[0]
	warm(t, s, "user_id:ann", "email:ann@example.com")
	if _, ok := s.CachedIdentifier([]byte("user_id:ann")); !ok {
		t.Fatal("a looked-up profile is not served from memory")
	}
	d := replication.Directive{ID: "d1", Type: replication.DirectiveErase, Index: 1, At: t0.UnixMilli(),
		ProfileIDs: []string{pid}, Keys: []string{crdt.TombstoneKey(testSalt, "user_id:ann")}}
	if err := s.Erase(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"user_id:ann", "email:ann@example.com"} {
		if c, ok := s.CachedIdentifier([]byte(k)); ok {
			t.Fatalf("erased profile served from memory under %s: %s", k, c.JSON)
		}
		id, _ := profile.ParseKey(k)
		if _, err := s.LookupIdentifier(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LookupIdentifier(%s) after erasure = %v, want ErrNotFound", k, err)
		}
	}
	if _, ok := s.CachedID([]byte(pid)); ok {
		t.Fatal("erased profile served from memory by ID")
	}
	if _, err := s.LookupID(pid); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupID after erasure = %v, want ErrNotFound", err)
	}
	checkMem(t, s, "erasure")
}

// TestMergedProfileServedFromMemory: after a merge, every identifier of
// both profiles is served from memory with the merged view, and the
// merged-away ID (not in memory) still finds it through the file.
func TestMergedProfileServedFromMemory(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	a := ingest(t, s, `{"type":"identify","userId":"ann","messageId":"m1"}`).ProfileIDs[0]
	b := ingest(t, s, `{"type":"identify","anonymousId":"anon-1","messageId":"m2","traits":{"email":"ann@example.com"}}`).ProfileIDs[0]
	ingest(t, s, `{"type":"identify","userId":"ann","anonymousId":"anon-1","messageId":"m3"}`)
	canon, gone := min(a, b), max(a, b)
	for _, k := range []string{"user_id:ann", "anonymous_id:anon-1", "email:ann@example.com"} {
		warm(t, s, k)
		c, ok := s.CachedIdentifier([]byte(k))
		if !ok || c.ID != canon {
			t.Fatalf("%s from memory: %v %v, want the merged profile %s", k, c, ok, canon)
		}
	}
	if _, ok := s.CachedID([]byte(gone)); ok {
		t.Fatal("merged-away ID answered from memory")
	}
	if v, err := s.LookupID(gone); err != nil || v.ID != canon {
		t.Fatalf("LookupID(merged away) = %v, %v; want %s", v.ID, err, canon)
	}
	checkMem(t, s, "merge")
	s = reopen(t, s)
	checkMem(t, s, "reopen")
	if st := s.MemoryStats(); st.Identifiers != 3 || st.Views != 1 {
		t.Fatalf("memory after reopen: %+v, want 3 identifiers and 1 view", st)
	}
}

// TestStaleViewNotServedFromMemory: a view whose evaluation the clock
// or a new catalog made stale is rendered afresh (through the file),
// not served from memory.
func TestStaleViewNotServedFromMemory(t *testing.T) {
	clk := newTestClock(t0)
	s := open(t, func(o *Options) { o.NoSync = true; o.Now = clk.now; o.SweepInterval = time.Hour })
	cat := traits(t, map[string]catalog.ComputedTrait{"orders_1h": {Event: "Order Completed", Aggregate: "count", Window: "1h"}})
	if _, err := s.SetCatalog(cat); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":"ann","messageId":"o1","timestamp":%q}`, t0.Format(time.RFC3339)))
	waitFor(t, "the view in memory", func() bool {
		warm(t, s, "user_id:ann")
		_, ok := s.CachedIdentifier([]byte("user_id:ann"))
		return ok
	})
	clk.set(t0.Add(2 * time.Hour))
	if _, ok := s.CachedIdentifier([]byte("user_id:ann")); ok {
		t.Fatal("a view past its next change served from memory")
	}
	v, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann"})
	if err != nil || !bytes.Contains(v.JSON, []byte(`"orders_1h":0`)) {
		t.Fatalf("lookup after the window = %s, %v; want orders_1h 0", v.JSON, err)
	}
	cat2, _, err := cat.With("orders_2h", catalog.ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "2h"}, cat.Version+1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCatalog(cat2); err != nil {
		t.Fatal(err)
	}
	v, err = s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann"})
	if err != nil || !bytes.Contains(v.JSON, []byte(`"orders_2h"`)) {
		t.Fatalf("lookup under the new catalog = %s, %v; want orders_2h", v.JSON, err)
	}
	checkMem(t, s, "catalog change")
}

// TestMemoryKeepsVerifiedCopyOfDamagedView: a byte flipped in a view on
// disk under a running store does not reach a lookup: memory serves the
// copy it verified when it read it. After a restart the flip is found
// (ErrDamaged), the view rebuilt, and memory serves the rebuilt one.
// Views stored with their JSON (a record without it is damaged in its
// evaluation: TestFlippedViewIsRebuilt).
func TestMemoryKeepsVerifiedCopyOfDamagedView(t *testing.T) {
	path, want := damageFixture(t, 20, withViewBodies)
	s, err := openFile(path, withViewBodies)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := s.ResolveIdentifier(want[0].id)
	if err != nil {
		t.Fatal(err)
	}
	off := recordOffset(t, path, bucketViews, []byte(pid))
	flipAt(t, path, off+sumLen+10+int64(len(want[0].version))+8, 1, 0x04) // inside the JSON
	if v, err := s.LookupIdentifier(want[0].id); err != nil || !bytes.Equal(v.JSON, want[0].json) {
		t.Fatalf("LookupIdentifier under a running store after the flip = %s, %v; want the verified copy", v.JSON, err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err = openFile(path, withViewBodies)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, ok := s.CachedIdentifier([]byte(want[0].id.Key())); ok {
		t.Fatal("a view failing its checksum was loaded into memory")
	}
	if v, err := s.LookupIdentifier(want[0].id); !errors.Is(err, ErrDamaged) {
		t.Fatalf("LookupIdentifier(damaged view) after reopen = %s, %v; want ErrDamaged", v.JSON, err)
	}
	settle(t, s)
	c, ok := s.CachedIdentifier([]byte(want[0].id.Key()))
	if !ok || !bytes.Equal(c.JSON, want[0].json) {
		t.Fatalf("memory after the repair: %v", ok)
	}
	checkMem(t, s, "repair")
}

// TestViewsWithoutJSONFillMemoryOnRead: with views stored without their
// JSON (decision 0109, the default), a restart leaves memory without
// views; the first lookup of each profile renders it from the stored
// state — the same bytes as before the restart — and offers it to
// memory, which serves the next lookup. An offer made before a commit
// was published is refused (the view it carries may be older).
func TestViewsWithoutJSONFillMemoryOnRead(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	ingest(t, s, `{"type":"identify","userId":"ann","messageId":"m1","traits":{"email":"ann@example.com","plan":"gold"}}`,
		`{"type":"track","userId":"ann","event":"Order Completed","messageId":"m2","properties":{"total":12.5,"currency":"EUR"}}`,
		`{"type":"identify","userId":"bob","messageId":"m3","traits":{"email":"bob@example.com"}}`)
	ann := profile.Identifier{Type: profile.UserID, Value: "ann"}
	before, err := s.LookupIdentifier(ann)
	if err != nil {
		t.Fatal(err)
	}
	var bodiless int
	_ = s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketViews).ForEach(func(_, b []byte) error {
			if isBodiless(b) {
				bodiless++
			}
			return nil
		})
	})
	if bodiless != 2 {
		t.Fatalf("%d view records without their JSON, want 2", bodiless)
	}
	// What memory re-reads from the file (a redirect removed, a repair)
	// is never such a record: it would be served as an empty document.
	_ = s.view(func(tx *bolt.Tx) error {
		if c := cachedOf(tx, before.ID); c != nil {
			t.Errorf("cachedOf takes a record without its JSON into memory: %q", c.JSON)
		}
		return nil
	})
	s = reopen(t, s)
	if _, ok := s.CachedIdentifier([]byte("user_id:ann")); ok {
		t.Fatal("memory holds a view the file does not store right after opening")
	}
	v, err := s.LookupIdentifier(ann)
	if err != nil || v.Version != before.Version || !bytes.Equal(v.JSON, before.JSON) {
		t.Fatalf("first lookup after the restart = %s, %v; want\n%s", v.JSON, err, before.JSON)
	}
	c, ok := s.CachedIdentifier([]byte("user_id:ann"))
	if !ok || !bytes.Equal(c.JSON, before.JSON) {
		t.Fatalf("memory after the first lookup: %v", ok)
	}

	// An offer from before a publication is refused.
	pid, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	e := s.mem.epoch.Load()
	ingest(t, s, `{"type":"track","userId":"ann","event":"Viewed","messageId":"m4"}`)
	settle(t, s) // applied and published
	s.mem.offer(e, pid, View{ID: pid, Version: "x", JSON: []byte(`{}`)}, viewEval{digest: s.Catalog().Digest(), ok: true})
	if _, ok := s.CachedID([]byte(pid)); ok {
		t.Fatal("memory took a view offered before a commit was published")
	}
	if _, err := s.LookupID(pid); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.CachedID([]byte(pid)); !ok {
		t.Fatal("a lookup by ID did not fill memory")
	}
	checkMem(t, s, "offers")
}

// TestViewRecordsOfBothForms: a file whose view records carry their JSON
// (written before schema 4, or under a bound) opened with every view in
// memory serves those views from memory at once, stores the views it
// writes next without their JSON, and serves both alike — and back
// under a bound, the records without JSON are rendered from the file.
func TestViewRecordsOfBothForms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := openFile(path, withViewBodies)
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, s, `{"type":"identify","userId":"ann","messageId":"m1","traits":{"email":"ann@example.com"}}`,
		`{"type":"identify","userId":"bob","messageId":"m2","traits":{"email":"bob@example.com"}}`)
	bob := profile.Identifier{Type: profile.UserID, Value: "bob"}
	bobView, err := s.LookupIdentifier(bob)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	forms := func(s *Store) (json, bodiless int) {
		_ = s.view(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketViews).ForEach(func(_, b []byte) error {
				if isBodiless(b) {
					bodiless++
				} else {
					json++
				}
				return nil
			})
		})
		return json, bodiless
	}

	s, err = openFile(path) // every view in memory
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.CachedIdentifier([]byte("user_id:bob")); !ok {
		t.Fatal("a view stored with its JSON is not in memory after opening")
	}
	ingest(t, s, `{"type":"track","userId":"ann","event":"Order Completed","messageId":"m3","properties":{"total":5,"currency":"EUR"}}`)
	settle(t, s)
	if j, b := forms(s); j != 1 || b != 1 {
		t.Fatalf("view records: %d with JSON, %d without; want 1 and 1", j, b)
	}
	annView, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann"})
	if err != nil || !bytes.Contains(annView.JSON, []byte(`"order_count":1`)) {
		t.Fatalf("ann after her order: %s, %v", annView.JSON, err)
	}
	checkMem(t, s, "both forms")
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	s, err = openFile(path, withViewBodies) // a bound: the file's path for what memory lacks
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for _, c := range []struct {
		id   profile.Identifier
		want View
	}{{bob, bobView}, {profile.Identifier{Type: profile.UserID, Value: "ann"}, annView}} {
		if v, err := s.lookupIdentifierFile(c.id.Key()); err != nil || v.Version != c.want.Version || !bytes.Equal(v.JSON, c.want.JSON) {
			t.Fatalf("%s from the file under a bound = %s, %v; want\n%s", c.id.Key(), v.JSON, err, c.want.JSON)
		}
	}
	checkMem(t, s, "under a bound")
}

// TestReadViewsRenderedAtCommit: a commit renders the view of a profile
// memory holds (one read since its last write), so it stays a copy away,
// and leaves the view of one nobody read to its first lookup (decision
// 0115).
func TestReadViewsRenderedAtCommit(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	ingest(t, s, `{"type":"identify","userId":"ann","messageId":"a1","traits":{"n":1}}`,
		`{"type":"identify","userId":"bob","messageId":"b1","traits":{"n":1}}`)
	if _, ok := s.CachedIdentifier([]byte("user_id:ann")); ok {
		t.Fatal("a view nobody read is in memory after the commit")
	}
	warm(t, s, "user_id:ann")
	ingest(t, s, `{"type":"identify","userId":"ann","messageId":"a2","traits":{"n":2}}`,
		`{"type":"identify","userId":"bob","messageId":"b2","traits":{"n":2}}`)
	settle(t, s)
	c, ok := s.CachedIdentifier([]byte("user_id:ann"))
	if !ok || traitN(t, c.view()) != 2 {
		t.Fatalf("ann, read before the commit: in memory %v, want her new view", ok)
	}
	if _, ok := s.CachedIdentifier([]byte("user_id:bob")); ok {
		t.Fatal("bob, never read: his view was rendered at the commit")
	}
	if v, _ := lookup(t, s, profile.UserID, "bob"); traitN(t, v) != 2 {
		t.Fatalf("bob: n=%d, want 2", traitN(t, v))
	}
	checkMem(t, s, "commits")
}
