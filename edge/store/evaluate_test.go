package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"

	"ucv/profile"
	"ucv/profile/catalog"
)

// testClock is a settable clock for Options.Now.
type testClock struct{ ms atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}
func (c *testClock) now() time.Time  { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *testClock) set(t time.Time) { c.ms.Store(t.UnixMilli()) }

func traits(tb testing.TB, defs map[string]catalog.ComputedTrait) catalog.Catalog {
	tb.Helper()
	c := catalog.Catalog{}
	for name, d := range defs {
		var err error
		if c, _, err = c.With(name, d, c.Version+1); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// computedOf returns the "computed" object of a lookup of user u.
func computedOf(tb testing.TB, s *Store, u string) map[string]any {
	tb.Helper()
	_, v := lookup(tb, s, profile.UserID, u)
	c, _ := v["computed"].(map[string]any)
	if c == nil {
		tb.Fatalf("lookup of %s has no computed object: %v", u, v)
	}
	return c
}

// rawEval reads the evaluation stored with user u's view.
func rawEval(tb testing.TB, s *Store, u string) viewEval {
	tb.Helper()
	var ev viewEval
	err := s.db.View(func(tx *bolt.Tx) error {
		id, err := resolveIn(tx, string(tx.Bucket(bucketIndex).Get([]byte("user_id:"+u))))
		if err != nil {
			return err
		}
		ev = viewEvalOf(tx.Bucket(bucketViews).Get([]byte(id)))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func order(u, id string, at time.Time, total string) string {
	return fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":%q,"messageId":%q,"timestamp":%q,"properties":{"total":%s,"currency":"EUR","store":"s1"}}`,
		u, id, at.Format(time.RFC3339Nano), total)
}

// Views show the user-defined computed traits; a 30-day count drops
// when the order ages out, with no new event — at once on read, and in
// the stored view once the sweep has run; a new catalog shows at once
// and is swept into every view; the catalog survives a restart.
func TestViewsEvaluateCatalog(t *testing.T) {
	clk := newTestClock(t0)
	s := open(t, func(o *Options) { o.Now = clk.now; o.SweepInterval = 5 * time.Millisecond })
	cat := traits(t, map[string]catalog.ComputedTrait{
		"orders_30d":  {Event: "Order Completed", Aggregate: "count", Window: "720h"},
		"spend":       {Event: "Order Completed", Aggregate: "sum", Property: "total"},
		"first_store": {Event: "Order Completed", Aggregate: "first", Property: "store"},
	})
	if changed, err := s.SetCatalog(cat); err != nil || !changed {
		t.Fatalf("SetCatalog: %v %v", changed, err)
	}
	ingest(t, s, order("ann", "o1", t0.Add(-time.Hour), "19.99"), order("ann", "o2", t0.Add(-40*24*time.Hour), "5.01"))
	c := computedOf(t, s, "ann")
	if c["orders_30d"] != 1.0 || c["spend"] != 25.0 || c["first_store"] != "s1" {
		t.Fatalf("computed = %v", c)
	}
	if ev := rawEval(t, s, "ann"); ev.nextMs != t0.Add(-time.Hour+720*time.Hour).UnixMilli() {
		t.Fatalf("stored next change %v, want when o1 ages out", time.UnixMilli(ev.nextMs))
	}
	// 30 days later: the read renders afresh; the sweep rewrites it.
	clk.set(t0.Add(30 * 24 * time.Hour))
	if c := computedOf(t, s, "ann"); c["orders_30d"] != 0.0 || c["spend"] != 25.0 {
		t.Fatalf("after 30 days computed = %v", c)
	}
	waitFor(t, "the sweep to rewrite the aged view", func() bool { ev := rawEval(t, s, "ann"); return ev.ok && ev.nextMs == 0 })
	var due int
	s.db.View(func(tx *bolt.Tx) error { due = tx.Bucket(bucketDue).Stats().KeyN; return nil })
	if due != 0 {
		t.Fatalf("%d due entries left after the sweep", due)
	}
	// A new definition shows at once and reaches the stored view.
	cat2, _, err := cat.With("max_total", catalog.ComputedTrait{Event: "Order Completed", Aggregate: "max", Property: "total"}, cat.Version+1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCatalog(cat2); err != nil {
		t.Fatal(err)
	}
	if c := computedOf(t, s, "ann"); c["max_total"] != 19.99 {
		t.Fatalf("new trait: computed = %v", c)
	}
	digest := s.Catalog().Digest()
	waitFor(t, "the sweep to re-render under the new catalog", func() bool { return rawEval(t, s, "ann").digest == digest })
	// An older catalog (a stale hub reply) is ignored.
	if changed, err := s.SetCatalog(cat); err != nil || changed {
		t.Fatalf("older catalog: changed=%v err=%v", changed, err)
	}
	s = reopen(t, s)
	if s.Catalog().Digest() != digest {
		t.Fatal("the catalog did not survive a restart")
	}
	if c := computedOf(t, s, "ann"); c["max_total"] != 19.99 {
		t.Fatalf("after restart computed = %v", c)
	}
}

// Whatever happens — events, catalog changes, time passing — a stored
// view that is not stale by its own record equals a full evaluation
// from the profile's state now: the incremental rendering and its
// next-change bookkeeping never serve an out-of-date answer.
func TestStoredViewsEqualFullEvaluation(t *testing.T) {
	defs := []map[string]catalog.ComputedTrait{
		{"n_1d": {Event: "Order Completed", Aggregate: "count", Window: "24h"}},
		{"n_7d": {Event: "Order Completed", Aggregate: "count", Window: "7d"}, "avg_30d": {Event: "Order Completed", Aggregate: "avg", Property: "total", Window: "720h"}},
		{"stores": {Event: "Order Completed", Aggregate: "unique_count", Property: "store", Window: "400d"}, "last_total": {Event: "Order Completed", Aggregate: "last", Property: "total", Window: "2h"}},
	}
	// Audiences over the traits, time and each other.
	auds := map[string]catalog.Audience{
		"busy":    {Expression: `count("Order Completed", "24h") >= 2`},
		"spender": {Expression: `sum("Order Completed", "total", "7d") > 100.0`},
		"quiet":   {Expression: `days_since(last_seen) >= 2`},
		"both":    {Expression: `"busy" in audiences && "spender" in audiences`},
		"recent":  {Expression: `now - last_seen < duration("36h")`},
	}
	catalogOf := func(tb testing.TB, defs map[string]catalog.ComputedTrait, names []string) catalog.Catalog {
		c := traits(tb, defs)
		if slices.Contains(names, "both") {
			names = append(names, "busy", "spender")
		}
		slices.Sort(names)
		names = slices.Compact(names)
		slices.SortFunc(names, func(a, b string) int {
			return strings.Compare(strings.ReplaceAll(a, "both", "~"), strings.ReplaceAll(b, "both", "~"))
		})
		{
			for _, name := range names {
				var err error
				if c, _, err = c.With(name, auds[name], c.Version+1); err != nil {
					tb.Fatal(err)
				}
			}
		}
		return c
	}
	rapid.Check(t, func(rt *rapid.T) {
		clk := newTestClock(t0)
		s := open(t, func(o *Options) { o.Now = clk.now; o.SweepInterval = time.Hour })
		check := func() {
			cat, nowMs := s.Catalog(), clk.now().UnixMilli()
			err := s.db.View(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketViews).ForEach(func(k, b []byte) error {
					v, ev, err := decodeViewRecord(string(k), k, b)
					if err != nil {
						return err
					}
					fresh, err := s.freshView(tx, string(k), v, cat, nowMs)
					if err != nil {
						return err
					}
					stale := ev.stale(cat.Digest(), nowMs)
					if isBodiless(b) {
						// The JSON the applier rendered is memory's
						// (decision 0109), checked when memory holds
						// it for this state (the sweep may commit
						// meanwhile) and would serve it.
						var c *Cached
						s.mem.mu.RLock()
						if sl := s.mem.byID[string(k)]; sl != nil {
							c = sl.v.Load()
						}
						s.mem.mu.RUnlock()
						if c == nil || c.Version != v.Version || c.stale(cat.Digest(), nowMs) {
							return nil
						}
						v.JSON, stale = c.JSON, false
					}
					if !stale && string(v.JSON) != string(fresh.JSON) {
						return fmt.Errorf("profile %s: stored view not stale but differs from a full evaluation:\n%s\n%s", k, v.JSON, fresh.JSON)
					}
					return nil
				})
			})
			if err != nil {
				rt.Fatal(err)
			}
			// And every read equals the full evaluation.
			for _, u := range []string{"a", "b", "c"} {
				v, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: u})
				if err != nil {
					continue
				}
				p, err := s.Profile(v.ID)
				if err != nil {
					rt.Fatal(err)
				}
				want, _, _ := renderView(p, cat, nowMs)
				if string(v.JSON) != string(want) {
					rt.Fatalf("read of %s differs from a full evaluation", u)
				}
			}
		}
		n := 0
		for range rapid.IntRange(1, 30).Draw(rt, "steps") {
			check()
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 4: // the sweep runs: due views are rendered afresh
				if err := s.sweep(context.Background(), false); err != nil {
					rt.Fatal(err)
				}
			case 5: // a full sweep (as after a catalog change)
				if err := s.sweep(context.Background(), true); err != nil {
					rt.Fatal(err)
				}
			case 0, 1:
				u := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(rt, "user")
				back := time.Duration(rapid.Int64Range(0, 10*24*3600).Draw(rt, "back")) * time.Second
				n++
				ingest(t, s, order(u, fmt.Sprintf("m%d", n), clk.now().Add(-back), fmt.Sprint(rapid.IntRange(1, 99).Draw(rt, "total"))))
			case 2:
				names := rapid.SliceOfDistinct(rapid.SampledFrom([]string{"busy", "spender", "quiet", "both", "recent"}), rapid.ID[string]).Draw(rt, "audiences")
				if _, err := s.ReplaceCatalog(catalogOf(t, rapid.SampledFrom(defs).Draw(rt, "defs"), names)); err != nil {
					rt.Fatal(err)
				}
			case 3:
				clk.set(clk.now().Add(time.Duration(rapid.Int64Range(0, 3*24*3600).Draw(rt, "pass")) * time.Second))
			}
		}
		check()
		s.Close(context.Background())
	})
}

func TestViewJSONHasAudiences(t *testing.T) {
	s := open(t)
	ingest(t, s, order("ann", "o1", t0, "1"))
	_, v := lookup(t, s, profile.UserID, "ann")
	b, _ := json.Marshal(v["audiences"])
	if string(b) != "[]" {
		t.Fatalf("audiences = %s, want []", b)
	}
}
