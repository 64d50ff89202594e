package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"ucv/profile"
)

// TestDeferralIsInvisible: any stream of events — tracks, pages,
// screens, identifies that give one person's e-mail to another (merges),
// aliases, events with two identifiers, repeated messageIds — cut into
// any batches, ends with the same profiles in a store that defers plain
// events (settling every few profiles, or only at the commit) as in one
// that applies every event at once (decision 0121).
func TestDeferralIsInvisible(t *testing.T) {
	dir := t.TempDir()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		users := rapid.IntRange(2, 12).Draw(rt, "users")
		settleAt := rapid.SampledFrom([]int{0, 1, 3, 8}).Draw(rt, "settleAt")
		mk := func(name string, later bool) *Store {
			return openProp(rt, filepath.Join(dir, fmt.Sprintf("%s-%d.db", name, run)), "till-1", func(o *Options) {
				o.noLater, o.settleAt = !later, settleAt
			})
		}
		later, now := mk("later", true), mk("now", false)
		defer later.Close(context.Background())
		defer now.Close(context.Background())

		n := rapid.IntRange(1, 80).Draw(rt, "events")
		var bodies []string
		for i := range n {
			u := rapid.IntRange(0, users-1).Draw(rt, "user")
			mid := fmt.Sprintf("m%d", i)
			if rapid.IntRange(0, 9).Draw(rt, "repeat") == 0 && i > 0 {
				mid = fmt.Sprintf("m%d", rapid.IntRange(0, i-1).Draw(rt, "repeated"))
			}
			b := propEvent(rt, rapid.IntRange(0, propKinds-1).Draw(rt, "kind"), u, i, users, 4)
			bodies = append(bodies, b[:len(b)-1]+fmt.Sprintf(`,"messageId":%q}`, mid))
		}
		for len(bodies) > 0 {
			k := rapid.IntRange(1, len(bodies)).Draw(rt, "batch")
			evs := make([]Event, k)
			for i, b := range bodies[:k] {
				evs[i] = ev(rt, b)
			}
			bodies = bodies[k:]
			for _, s := range []*Store{later, now} {
				if _, err := s.Ingest(context.Background(), evs); err != nil {
					rt.Fatal(err)
				}
			}
		}
		for _, s := range []*Store{later, now} {
			if err := s.Check(); err != nil {
				rt.Fatalf("store invariants: %v", err)
			}
		}
		seen := func(s *Store, typ profile.IDType, v string) map[string]any {
			view, err := s.LookupIdentifier(profile.Identifier{Type: typ, Value: v})
			if err != nil {
				return nil // not found in either, or compared below
			}
			return comparableView(rt, view)
		}
		for u := range users {
			for _, id := range []profile.Identifier{
				{Type: profile.UserID, Value: fmt.Sprintf("u%d", u)},
				{Type: profile.Email, Value: fmt.Sprintf("e%d@example.com", u)},
			} {
				if diff := cmp.Diff(seen(now, id.Type, id.Value), seen(later, id.Type, id.Value)); diff != "" {
					rt.Fatalf("%s differs with deferral (-at once +deferred):\n%s", id.Key(), diff)
				}
			}
		}
		for a := range 4 {
			v := fmt.Sprintf("a%d", a)
			if diff := cmp.Diff(seen(now, profile.AnonymousID, v), seen(later, profile.AnonymousID, v)); diff != "" {
				rt.Fatalf("anonymous_id:%s differs with deferral (-at once +deferred):\n%s", v, diff)
			}
		}
	})
}

// openProp opens a store at path for a property test's run: no fsync,
// named node, compaction an hour away, then opts. The caller closes it.
func openProp(rt *rapid.T, path, node string, opts ...func(*Options)) *Store {
	o := DefaultOptions(path)
	o.NoSync, o.NodeName, o.CompactDelay = true, node, time.Hour
	for _, f := range opts {
		f(&o)
	}
	s, err := Open(o)
	if err != nil {
		rt.Fatal(err)
	}
	return s
}

// propKinds is how many kinds of event propEvent draws.
const propKinds = 7

// propEvent is the JSON body of one event of kind (0 to propKinds-1:
// an order, twice as likely as the rest, a page, an identify giving an
// e-mail, an alias, a sign-in linking an anonymous ID, a screen of an
// anonymous visitor) by user u of users, the stream's i-th event, with
// anons anonymous IDs. The caller adds its messageId.
func propEvent(rt *rapid.T, kind, u, i, users, anons int) string {
	switch kind {
	case 0, 1:
		return fmt.Sprintf(`{"type":"track","userId":"u%d","event":"Order Completed","properties":{"total":%d}}`, u, i+1)
	case 2:
		return fmt.Sprintf(`{"type":"page","userId":"u%d","name":"p%d","properties":{"category":"c%d"}}`, u, i%3, i%4)
	case 3:
		return fmt.Sprintf(`{"type":"identify","userId":"u%d","traits":{"email":"e%d@example.com","n":%d}}`,
			u, rapid.IntRange(0, users-1).Draw(rt, "email"), i)
	case 4:
		return fmt.Sprintf(`{"type":"alias","userId":"u%d","previousId":"a%d"}`, u, rapid.IntRange(0, anons-1).Draw(rt, "anon"))
	case 5:
		return fmt.Sprintf(`{"type":"track","userId":"u%d","anonymousId":"a%d","event":"Signed In"}`, u, rapid.IntRange(0, anons-1).Draw(rt, "anon"))
	default:
		return fmt.Sprintf(`{"type":"screen","anonymousId":"a%d","name":"s"}`, rapid.IntRange(0, anons-1).Draw(rt, "anon"))
	}
}
