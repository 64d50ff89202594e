package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/profile"
	"ucv/replication"
)

// TestErasedPersonNeverReappears: the person's events land on random
// replicas (each may mint them a profile ID of its own), deltas are
// delivered in random order with repeats, an erase reaches one random
// replica at a random point — naming every profile the person got so
// far, or only the one that replica resolves the e-mail to, as a hub
// that never heard of the others would — deliveries of the old deltas go on, then every replica ships
// everything to every other and they exchange full states. On every
// replica the person is gone: no identifier of theirs resolves, no
// profile ID of theirs is found, no stored state or outbox entry holds
// an identifier or trait value of theirs; another person is untouched.
func TestErasedPersonNeverReappears(t *testing.T) {
	dir := t.TempDir()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		n := rapid.IntRange(2, 3).Draw(rt, "replicas")
		stores := make([]*Store, n)
		for i := range stores {
			s := openProp(rt, filepath.Join(dir, fmt.Sprintf("r%d-%d.db", run, i)), fmt.Sprintf("till-%d", i))
			defer s.Close(context.Background())
			if err := s.SetPrivacySalt(testSalt); err != nil {
				rt.Fatal(err)
			}
			stores[i] = s
		}
		cursors := make([][]uint64, n)
		for i := range cursors {
			cursors[i] = make([]uint64, n)
		}
		deliver := func(i, j int) {
			es, err := stores[i].Outbox(0, 1<<20) // from the start: repeats and old deltas included
			if err != nil {
				rt.Fatal(err)
			}
			if len(es) == 0 {
				return
			}
			lo := rapid.IntRange(0, len(es)-1).Draw(rt, "from")
			if _, err := stores[j].ApplyRemote(context.Background(), es[lo:]); err != nil {
				rt.Fatal(err)
			}
		}
		var ids []string // every profile ID the person got anywhere
		steps := rapid.IntRange(1, 16).Draw(rt, "steps")
		eraseAt := rapid.IntRange(1, steps).Draw(rt, "erase at")
		eraser := rapid.IntRange(0, n-1).Draw(rt, "eraser")
		erasedAt := t0.Add(time.Hour).UnixMilli()
		msg := 0
		for step := range steps + 1 {
			if step == eraseAt {
				// What the hub resolved the e-mail to: either the profile
				// the eraser holds (a hub that heard of no other fragment;
				// the replicas find the rest by the e-mail's salted key),
				// or every profile the person got so far.
				pids := slices.Clone(ids)
				if id, err := stores[eraser].ResolveIdentifier(profile.Identifier{Type: profile.Email, Value: markEmail}); err == nil && rapid.Bool().Draw(rt, "hub knows one") {
					pids = []string{id}
				}
				slices.Sort(pids)
				pids = slices.Compact(pids)
				d := replication.Directive{ID: "req", Type: replication.DirectiveErase, Index: 1, At: erasedAt,
					ProfileIDs: pids, Keys: []string{crdt.TombstoneKey(testSalt, "email:"+markEmail)}}
				if err := stores[eraser].Erase(context.Background(), d); err != nil {
					rt.Fatal(err)
				}
			}
			if step == steps {
				break
			}
			i := rapid.IntRange(0, n-1).Draw(rt, "at")
			if step > 0 && rapid.Bool().Draw(rt, "deliver") {
				if j := rapid.IntRange(0, n-1).Draw(rt, "to"); j != i {
					deliver(i, j)
				}
				continue
			}
			if step >= eraseAt {
				continue // new events after the erasure are a new person's: not this property
			}
			msg++
			body := fmt.Sprintf(`{"type":"identify","messageId":"p%d","anonymousId":"za%d","traits":{"email":%q,"name":%q,"n":%d`,
				msg, rapid.IntRange(0, 2).Draw(rt, "anon"), markEmail, markName, msg)
			if rapid.Bool().Draw(rt, "phone") {
				body += fmt.Sprintf(`,"phone":%q`, markPhone)
			}
			body += "}"
			if rapid.Bool().Draw(rt, "user") {
				body += fmt.Sprintf(`,"userId":%q`, markUser)
			}
			body += "}"
			res, err := stores[i].Ingest(context.Background(), []Event{ev(t, body)})
			if err != nil {
				rt.Fatal(err)
			}
			ids = append(ids, res.ProfileIDs[0])
			if _, err := stores[i].Ingest(context.Background(), []Event{ev(t, fmt.Sprintf(
				`{"type":"identify","messageId":"o%d","userId":"u-other","traits":{"email":"other@example.com","n":%d}}`, msg, msg))}); err != nil {
				rt.Fatal(err)
			}
		}
		// Heal: everything to everyone, twice, then full states pairwise.
		for range 2 {
			for i := range stores {
				for j := range stores {
					if i != j {
						cursors[i][j] = replicate(t, stores[i], stores[j], cursors[i][j])
					}
				}
			}
		}
		for range 2 {
			for i := 1; i < n; i++ {
				antiEntropy(t, stores[0], stores[i])
			}
		}
		for r, s := range stores {
			for _, id := range []profile.Identifier{{Type: profile.Email, Value: markEmail}, {Type: profile.Phone, Value: markPhone},
				{Type: profile.UserID, Value: markUser}} {
				if v, err := s.LookupIdentifier(id); !errors.Is(err, ErrNotFound) {
					rt.Fatalf("replica %d (eraser %d): lookup by %s found %s (%v)", r, eraser, id.Type, v.ID, err)
				}
			}
			for _, id := range ids {
				if _, err := s.LookupID(id); !errors.Is(err, ErrNotFound) {
					rt.Fatalf("replica %d (eraser %d): profile %s: %v, want not found", r, eraser, id, err)
				}
			}
			if _, err := s.LookupIdentifier(profile.Identifier{Type: profile.Email, Value: "other@example.com"}); err != nil {
				rt.Fatalf("replica %d: the other person: %v", r, err)
			}
			var leak string
			s.BucketEntries(everyDigestBucket(), func(e replication.Entry) error {
				for _, m := range markers {
					if bytes.Contains(e.Delta, []byte(m)) {
						leak = e.ProfileID
					}
				}
				return nil
			})
			es, _ := s.Outbox(0, 1<<20)
			for _, e := range es {
				for _, m := range markers {
					if bytes.Contains(e.Delta, []byte(m)) {
						leak = "outbox " + e.ProfileID
					}
				}
			}
			if leak != "" {
				rt.Fatalf("replica %d (eraser %d): %s still holds the person's data", r, eraser, leak)
			}
			keys, _ := s.identifierKeys()
			for _, k := range keys {
				if slices.Contains([]string{"email:" + markEmail, "phone:" + markPhone, "user_id:" + markUser}, k) {
					rt.Fatalf("replica %d: identifier %s is indexed", r, k)
				}
			}
			if err := s.Check(); err != nil {
				rt.Fatal(err)
			}
		}
	})
}

func everyDigestBucket() []int {
	b := make([]int, DigestBuckets)
	for i := range b {
		b[i] = i
	}
	return b
}
