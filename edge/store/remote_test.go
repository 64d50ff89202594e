package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"ucv/profile"
	"ucv/replication"
)

// replicate ships every outbox entry of from (after seq) to to.
func replicate(t testing.TB, from, to *Store, after uint64) uint64 {
	es, err := from.Outbox(after, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return after
	}
	if _, err := to.ApplyRemote(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	return es[len(es)-1].Seq
}

// antiEntropy pulls every bucket in which a and b differ, both ways,
// until their digests agree (bounded rounds).
func antiEntropy(t testing.TB, a, b *Store) {
	for range 5 {
		da, db := a.Digest(), b.Digest()
		diff := da.Diff(&db)
		if len(diff) == 0 {
			return
		}
		for _, pair := range [][2]*Store{{a, b}, {b, a}} {
			var es []replication.Entry
			if err := pair[0].BucketEntries(diff, func(e replication.Entry) error { es = append(es, e); return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := pair[1].ApplyRemote(context.Background(), es); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Two tills register the same new e-mail at the same moment: each mints a
// profile; once they exchange deltas, both hold one canonical profile.
func TestConcurrentMintsConverge(t *testing.T) {
	a := open(t, func(o *Options) { o.NodeName = "till-1" })
	b := open(t, func(o *Options) { o.NodeName = "till-2" })
	ra := ingest(t, a, `{"type":"identify","anonymousId":"kiosk-a","messageId":"x1","traits":{"email":"new@example.com","name":"Ann"}}`)
	rb := ingest(t, b, `{"type":"identify","anonymousId":"till-b","messageId":"x2","traits":{"email":"new@example.com","plan":"gold"}}`)
	if ra.ProfileIDs[0] == rb.ProfileIDs[0] {
		t.Fatal("independent mints collided")
	}
	replicate(t, a, b, 0)
	replicate(t, b, a, 0)
	replicate(t, a, b, 0) // a's merge decision travels back too
	replicate(t, b, a, 0)
	want := min(ra.ProfileIDs[0], rb.ProfileIDs[0])
	for _, s := range []*Store{a, b} {
		id := mustResolve(t, s, profile.Email, "new@example.com")
		if id != want {
			t.Fatalf("%s: e-mail resolves to %s, want %s", s.opts.NodeName, id, want)
		}
		for _, anon := range []string{"kiosk-a", "till-b"} {
			if got := mustResolve(t, s, profile.AnonymousID, anon); got != want {
				t.Fatalf("%s: %s resolves to %s, want %s", s.opts.NodeName, anon, got, want)
			}
		}
	}
	antiEntropy(t, a, b)
	da, db := a.Digest(), b.Digest()
	if d := da.Diff(&db); len(d) != 0 {
		t.Fatalf("digests differ in %d buckets after exchange", len(d))
	}
}

// TestReplicasConverge: random events at random stores, outboxes shipped
// in random order with duplicates, then anti-entropy: every store ends
// with the same digest and the same view of every identifier.
func TestReplicasConverge(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(rt, "stores")
		stores := make([]*Store, n)
		for i := range stores {
			o := DefaultOptions(filepath.Join(t.TempDir(), fmt.Sprintf("s%d-%d.db", i, rapid.IntRange(0, 1<<30).Draw(rt, "f"))))
			o.NoSync = true
			o.NodeName = fmt.Sprintf("till-%d", i)
			s, err := Open(o)
			if err != nil {
				rt.Fatal(err)
			}
			defer s.Close(context.Background())
			stores[i] = s
		}
		cursors := make([][]uint64, n)
		for i := range cursors {
			cursors[i] = make([]uint64, n)
		}
		for range rapid.IntRange(1, 25).Draw(rt, "steps") {
			i := rapid.IntRange(0, n-1).Draw(rt, "at")
			if rapid.IntRange(0, 3).Draw(rt, "op") == 0 {
				j := rapid.IntRange(0, n-1).Draw(rt, "to")
				if i != j {
					cursors[i][j] = replicate(t, stores[i], stores[j], cursors[i][j])
				}
				continue
			}
			body := fmt.Sprintf(`{"type":"identify","messageId":"m%d"`, rapid.IntRange(0, 40).Draw(rt, "mid"))
			if rapid.Bool().Draw(rt, "user") {
				body += fmt.Sprintf(`,"userId":"u%d"`, rapid.IntRange(0, 3).Draw(rt, "uid"))
			}
			body += fmt.Sprintf(`,"anonymousId":"a%d","traits":{"email":"p%d@example.com","n":%d}}`,
				rapid.IntRange(0, 5).Draw(rt, "anon"), rapid.IntRange(0, 3).Draw(rt, "email"), rapid.IntRange(0, 9).Draw(rt, "v"))
			if _, err := stores[i].Ingest(context.Background(), []Event{ev(t, body)}); err != nil {
				rt.Fatal(err)
			}
		}
		// Heal: everyone ships everything to everyone (twice, so decisions
		// taken on receipt travel too), then anti-entropy pairwise.
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
		d0 := stores[0].Digest()
		for i := 1; i < n; i++ {
			di := stores[i].Digest()
			if diff := d0.Diff(&di); len(diff) != 0 {
				dump := func(s *Store) string {
					var out string
					s.BucketEntries(diff, func(e replication.Entry) error {
						if e.Kind == replication.KindDelta {
							p, _ := profile.Unmarshal(e.Delta)
							out += fmt.Sprintf("  profile %s v=%s ids=%v merges=%v timeline=%d traits=%d\n", e.ProfileID, p.Version, p.Identities.Elems(), p.Merges.Keys(), len(p.Timeline.Items), p.Traits.Len())
						} else {
							out += fmt.Sprintf("  redirect %s -> %s\n", e.From, e.ProfileID)
						}
						return nil
					})
					return out
				}
				rt.Fatalf("store %d differs from store 0 in %d buckets:\nstore 0:\n%s\nstore %d:\n%s", i, len(diff), dump(stores[0]), i, dump(stores[i]))
			}
		}
		for _, k := range allKeys(stores[0]) {
			id, _ := profile.ParseKey(k)
			want, _ := stores[0].ResolveIdentifier(id)
			for i := 1; i < n; i++ {
				if got, _ := stores[i].ResolveIdentifier(id); got != want {
					rt.Fatalf("%s resolves to %s on store %d, %s on store 0", k, got, i, want)
				}
			}
		}
		for _, s := range stores {
			if err := s.Check(); err != nil {
				rt.Fatal(err)
			}
		}
	})
}
