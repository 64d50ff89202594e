package store

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucv/profile"
	"ucv/replication"
)

// Events deferred to their profile's settling (later.go) end exactly as
// events applied at once: a store that defers and one that does not
// (noLater) hold the same profiles and the same outbox after the same
// batches — plain events on known people, identifies that merge two of
// them mid-batch (settling what was deferred for both), aliases,
// events with two identifiers whose limit check loads a deferred
// profile (settling it alone), new people — and the plain events were
// deferred.
func TestDeferredEventsEndAsAppliedAtOnce(t *testing.T) {
	// settled at the commit, and between batches once 8 profiles wait
	for _, at := range []int{0, 8} {
		t.Run(fmt.Sprintf("settleAt=%d", at), func(t *testing.T) { testDeferred(t, at) })
	}
}

func testDeferred(t *testing.T, settleAt int) {
	const people = 120
	later := open(t, func(o *Options) { o.settleAt = settleAt })
	now := open(t, func(o *Options) { o.noLater = true })
	both := func(bodies ...string) {
		t.Helper()
		for _, s := range []*Store{later, now} {
			ingest(t, s, bodies...)
		}
	}
	var seed []string
	for i := range people {
		seed = append(seed, fmt.Sprintf(`{"type":"identify","userId":"p%d","messageId":"seed-%d","traits":{"email":"p%d@example.com","plan":"basic"}}`, i, i, i))
	}
	both(seed...)
	for round := range 3 {
		var batch []string
		add := func(format string, args ...any) {
			batch = append(batch, fmt.Sprintf(format, args...))
		}
		for i := range people {
			add(`{"type":"track","userId":"p%d","event":"Order Completed","messageId":"r%d-o%d","properties":{"total":%d.%02d,"currency":"EUR"}}`, i, round, i, i+round, i%100)
			switch {
			case i%17 == round:
				// p(i) takes p(i+1)'s e-mail: the two profiles merge here,
				// after p(i)'s order was deferred.
				add(`{"type":"identify","userId":"p%d","messageId":"r%d-m%d","traits":{"email":"p%d@example.com"}}`, i, round, i, (i+1)%people)
			case i%23 == round:
				add(`{"type":"alias","userId":"p%d","previousId":"anon-%d-%d","messageId":"r%d-a%d"}`, i, round, i, round, i)
			case i%11 == round:
				// two identifiers: resolve weighs p(i)'s identities, so its
				// deferred order is applied first
				add(`{"type":"track","userId":"p%d","anonymousId":"dev-%d","event":"Signed In","messageId":"r%d-s%d"}`, i, i, round, i)
			}
			add(`{"type":"page","userId":"p%d","name":"Home","messageId":"r%d-v%d","properties":{"category":"c%d"}}`, i, round, i, i%7)
		}
		add(`{"type":"track","userId":"new-%d","event":"Product Viewed","messageId":"r%d-new"}`, round, round)
		add(`{"type":"track","userId":"new-%d","event":"Product Viewed","messageId":"r%d-new2"}`, round, round)
		both(batch...)
	}

	lst, err := later.Stats()
	if err != nil {
		t.Fatal(err)
	}
	nst, _ := now.Stats()
	if lst.DeferredEvents < people || nst.DeferredEvents != 0 {
		t.Fatalf("deferred %d and %d events, want at least %d and none", lst.DeferredEvents, nst.DeferredEvents, people)
	}
	t.Logf("deferred %d events", lst.DeferredEvents)
	for i := range people {
		key := fmt.Sprintf("p%d", i)
		a, b := viewOf(t, later, key), viewOf(t, now, key)
		if diff := cmp.Diff(b, a); diff != "" {
			t.Errorf("%s differs with deferred events (-at once +deferred):\n%s", key, diff)
		}
	}
	// The outbox holds the same changes: per kind, and per profile the
	// same number of deltas.
	summary := func(s *Store) map[string]int {
		entries, err := s.Outbox(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, e := range entries {
			out[fmt.Sprint("kind ", e.Kind)]++
			if e.Kind == replication.KindDelta && len(e.Delta) == 0 {
				out["empty deltas"]++
			}
		}
		return out
	}
	if diff := cmp.Diff(summary(now), summary(later)); diff != "" {
		t.Errorf("outbox differs (-at once +deferred):\n%s", diff)
	}
	// Each profile's deltas, merged in outbox order into an empty
	// profile, give its events (the peers' and the hub's view).
	counts := func(s *Store) map[string]int {
		entries, _ := s.Outbox(0, 1<<20)
		by := map[string]*profile.Profile{}
		for _, e := range entries {
			if e.Kind != replication.KindDelta || len(e.Delta) == 0 {
				continue
			}
			d, err := profile.Unmarshal(e.Delta)
			if err != nil {
				t.Fatal(err)
			}
			if by[e.ProfileID] == nil {
				by[e.ProfileID] = profile.New(e.ProfileID)
			}
			by[e.ProfileID].Merge(d)
		}
		out := map[string]int{}
		for _, p := range by {
			for _, k := range p.Identities.Elems() {
				out[k] += p.Ledger.Len()
			}
		}
		return out
	}
	if diff := cmp.Diff(counts(now), counts(later)); diff != "" {
		t.Errorf("the deltas' ledgers differ (-at once +deferred):\n%s", diff)
	}
}

// viewOf is user_id:key's view in s as comparableView gives it.
func viewOf(tb testing.TB, s *Store, key string) map[string]any {
	tb.Helper()
	v, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: key})
	if err != nil {
		tb.Fatalf("LookupIdentifier(user_id:%s): %v", key, err)
	}
	return comparableView(tb, v)
}

// comparableView is what view v holds, without what differs between two
// stores fed the same events by design: minted IDs, HLC versions,
// wall-clock moments.
func comparableView(tb fataler, v View) map[string]any {
	tb.Helper()
	full := append(append([]byte(nil), v.JSON...), []byte(`,"days_since_last_seen":null}}`)...)
	var m map[string]any
	if err := json.Unmarshal(full, &m); err != nil {
		tb.Fatalf("view is not JSON once completed: %v\n%s", err, full)
	}
	for _, k := range []string{"id", "version", "first_seen", "last_seen", "merged_from", "replica"} {
		delete(m, k)
	}
	if c, ok := m["computed"].(map[string]any); ok {
		delete(c, "last_order_at")
	}
	return m
}
