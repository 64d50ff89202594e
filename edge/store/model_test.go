package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"

	"ucv/profile"
)

// TestStoreModel drives the store with random requests (repeated
// messageIds, overlapping identifiers, concurrent-looking groupings) and
// checks the invariants a user relies on after every step and across a
// restart: each messageId counted once, every indexed identifier resolves
// to a profile that holds it, no profile over a type's limit.
func TestStoreModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		o := DefaultOptions(filepath.Join(t.TempDir(), fmt.Sprintf("m%d.db", rapid.IntRange(0, 1<<30).Draw(rt, "file"))))
		o.NoSync = true // durability is tested elsewhere; this is about logic
		s, err := Open(o)
		if err != nil {
			rt.Fatal(err)
		}
		defer s.Close(context.Background())
		unique := map[string]bool{}
		for range rapid.IntRange(1, 12).Draw(rt, "requests") {
			var evs []Event
			for range rapid.IntRange(1, 5).Draw(rt, "events") {
				mid := fmt.Sprintf("m%d", rapid.IntRange(0, 25).Draw(rt, "mid"))
				body := fmt.Sprintf(`{"type":"identify","messageId":%q`, mid)
				if rapid.Bool().Draw(rt, "hasUser") {
					body += fmt.Sprintf(`,"userId":"u%d"`, rapid.IntRange(0, 3).Draw(rt, "user"))
				}
				body += fmt.Sprintf(`,"anonymousId":"a%d"`, rapid.IntRange(0, 5).Draw(rt, "anon"))
				if rapid.Bool().Draw(rt, "hasEmail") {
					body += fmt.Sprintf(`,"traits":{"email":"p%d@example.com"}`, rapid.IntRange(0, 4).Draw(rt, "email"))
				}
				body += "}"
				evs = append(evs, ev(t, body))
			}
			if _, err := s.Ingest(context.Background(), evs); err != nil {
				rt.Fatal(err)
			}
			for _, e := range evs {
				unique[e.Msg.MessageID] = true
			}
		}
		check := func(s *Store) map[string]string {
			var total int64
			views := map[string]string{}
			st, _ := s.Stats()
			seenProfiles := map[string]bool{}
			for _, key := range allKeys(s) {
				id, _ := profile.ParseKey(key)
				pid, err := s.ResolveIdentifier(id)
				if err != nil {
					rt.Fatalf("indexed %s does not resolve: %v", key, err)
				}
				p, err := s.Profile(pid)
				if err != nil {
					rt.Fatal(err)
				}
				if !p.Identities.Has(key) {
					rt.Fatalf("%s resolves to %s which does not hold it", key, pid)
				}
				if !seenProfiles[pid] {
					seenProfiles[pid] = true
					total += p.Count("kind:identify")
					users := 0
					for _, i := range p.IdentityList() {
						if i.Type == profile.UserID {
							users++
						}
					}
					if users > 1 {
						rt.Fatalf("profile %s holds %d user IDs", pid, users)
					}
					v, _ := s.LookupID(pid)
					views[pid] = string(v.JSON)
				}
			}
			if st.Profiles != len(seenProfiles) {
				rt.Fatalf("profile gauge %d, %d profiles reachable", st.Profiles, len(seenProfiles))
			}
			if total != int64(len(unique)) {
				rt.Fatalf("%d events counted for %d unique messageIds", total, len(unique))
			}
			if err := s.Check(); err != nil {
				rt.Fatal(err)
			}
			// The digest the writer keeps by difference (each state
			// written hashed in, the one it replaced hashed out) is
			// the one the stored records give.
			d := s.Digest()
			_ = s.view(func(tx *bolt.Tx) error {
				for b := range d {
					if got := digestOf(tx, b); got != d[b] {
						rt.Fatalf("digest bucket %d: kept %x, the stored records give %x", b, d[b], got)
					}
				}
				return nil
			})
			return views
		}
		before := check(s)
		if err := s.Close(context.Background()); err != nil {
			rt.Fatal(err)
		}
		s2, err := Open(o)
		if err != nil {
			rt.Fatal(err)
		}
		defer s2.Close(context.Background())
		after := check(s2)
		if fmt.Sprint(before) != fmt.Sprint(after) {
			rt.Fatal("views changed across a restart")
		}
	})
}

func allKeys(s *Store) []string {
	keys, _ := s.identifierKeys()
	return keys
}
