package store

import (
	"context"
	"maps"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
	"ucv/replication"
)

// holderEntries returns the holders bucket: identifier key → profile IDs.
func holderEntries(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	if err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHolders).ForEach(func(k, _ []byte) error {
			key := string(holderKeyIdent(k))
			out[key] = append(out[key], string(k[len(key)+1:]))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checked fails unless the store's invariants hold and memory agrees
// with the file.
func checked(t *testing.T, s *Store, what string) {
	t.Helper()
	if _, err := s.Stats(); err != nil { // everything acknowledged applied
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	checkMem(t, s, what)
}

// TestHoldersEntriesOnlyWhenShared: a person's own identifiers leave the
// holders bucket empty (the index is their holder); a landline two
// clusters share gets one entry per holder, and loses them when the hub
// merges the two — lookups, HoldersOf and the shared counts saying the
// same throughout.
func TestHoldersEntriesOnlyWhenShared(t *testing.T) {
	ctx := context.Background()
	ann, annC := hubPerson(t, `{"type":"identify","anonymousId":"anon-ann","messageId":"a1","traits":{"email":"ann@example.com","phone":"`+landline+`","name":"Ann Lee"}}`)
	bob, bobC := hubPerson(t, `{"type":"identify","anonymousId":"anon-bob","messageId":"b1","traits":{"email":"bob@example.com","phone":"`+landline+`","name":"Bob Lee"}}`)
	s := open(t)
	local := ingest(t, s, `{"type":"identify","anonymousId":"anon-cy","messageId":"c1","traits":{"email":"cy@example.com"}}`).ProfileIDs[0]
	checked(t, s, "one local person")
	if h := holderEntries(t, s); len(h) != 0 {
		t.Fatalf("one person's identifiers left holders entries %v", h)
	}
	onProfile(t, s, profile.Email, "cy@example.com", local, "one local person")

	seq, _ := s.LastSeq()
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{annC}, seq); err != nil {
		t.Fatal(err)
	}
	checked(t, s, "Ann's cluster")
	if h := holderEntries(t, s); len(h) != 0 {
		t.Fatalf("Ann's cluster left holders entries %v", h)
	}
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{bobC}, seq); err != nil {
		t.Fatal(err)
	}
	checked(t, s, "Bob's cluster")
	want := map[string][]string{"phone:" + landline: slices.Sorted(slices.Values([]string{ann, bob}))}
	if h := holderEntries(t, s); !maps.EqualFunc(h, want, slices.Equal) {
		t.Fatalf("holders entries %v, want %v", h, want)
	}
	sharedBy(t, s, []string{ann, bob}, "Bob's cluster")

	// The hub merges them: one holder again, no entries.
	canon := min(ann, bob)
	joined := joinedPair(stateOf(t, s, ann), stateOf(t, s, bob), ann, canon)
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{{ID: canon, Fragments: []string{ann, bob}, State: encode(t, joined)}}, seq); err != nil {
		t.Fatal(err)
	}
	checked(t, s, "the hub's merge")
	if h := holderEntries(t, s); len(h) != 0 {
		t.Fatalf("after the merge holders entries %v, want none", h)
	}
	onProfile(t, s, profile.Phone, landline, canon, "the hub's merge")
	onProfile(t, s, profile.AnonymousID, "anon-bob", canon, "the hub's merge")
	if n := s.IdentifierHolders([]byte("phone:" + landline)); n != 0 {
		t.Fatalf("after the merge the landline counts %d holders, want 0 (not shared)", n)
	}
	if got, _, err := s.HoldersOf(profile.Identifier{Type: profile.Phone, Value: landline}, 0); err != nil || !slices.Equal(got, []string{canon}) {
		t.Fatalf("HoldersOf = %v, %v; want [%s]", got, err, canon)
	}
}

// TestSchema2FileReadAsIs: a file written before schema 3 — a holders
// entry for every holder — opens as schema 3 unchanged, answers the
// same, and loses an identifier's single entry once its holders change;
// the store's invariants hold at every step.
func TestSchema2FileReadAsIs(t *testing.T) {
	ctx := context.Background()
	ann, annC := hubPerson(t, `{"type":"identify","anonymousId":"anon-ann","messageId":"a1","traits":{"email":"ann@example.com","phone":"`+landline+`","name":"Ann Lee"}}`)
	bob, bobC := hubPerson(t, `{"type":"identify","anonymousId":"anon-bob","messageId":"b1","traits":{"email":"bob@example.com","phone":"`+landline+`","name":"Bob Lee"}}`)
	s := open(t)
	seq, _ := s.LastSeq()
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{annC}, seq); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{bobC}, seq); err != nil {
		t.Fatal(err)
	}
	cy := ingest(t, s, `{"type":"identify","anonymousId":"anon-cy","messageId":"c1","traits":{"email":"cy@example.com"}}`).ProfileIDs[0]
	checked(t, s, "before")
	// Write it back as schema 2 wrote it.
	singles := 0
	opts := rewriteAs(t, s, 2, func(tx *bolt.Tx) error {
		holders := tx.Bucket(bucketHolders)
		var add [][]byte
		if err := eachHeld(tx.Bucket(bucketIndex), holders, nil, func(k, h []byte) error {
			if holders.Get(append(append(append([]byte(nil), k...), 0), h...)) == nil {
				add = append(add, append(append(append([]byte(nil), k...), 0), h...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range add {
			if err := holders.Put(k, nil); err != nil {
				return err
			}
		}
		singles = len(add)
		return nil
	})
	if singles < 6 {
		t.Fatalf("wrote %d single holders entries, want one per identifier held alone (≥ 6)", singles)
	}
	rep, err := Verify(opts.Path)
	if err != nil || !rep.OK() || rep.Schema != 2 {
		t.Fatalf("Verify(schema 2 file) = %+v, %v", rep, err)
	}

	s = reopenUpgraded(t, opts)
	checked(t, s, "reopened")
	sharedBy(t, s, []string{ann, bob}, "reopened")
	onProfile(t, s, profile.Email, "cy@example.com", cy, "reopened")
	if got, _, err := s.HoldersOf(profile.Identifier{Type: profile.Email, Value: "ann@example.com"}, 0); err != nil || !slices.Equal(got, []string{ann}) {
		t.Fatalf("HoldersOf(ann's e-mail) = %v, %v", got, err)
	}

	// Cy gains identifiers (new keys: no entries); the hub merges Ann and
	// Bob: the landline's entries go, and so do the single entries of
	// the identifiers that move from the merged-away profile.
	if got := ingest(t, s, `{"type":"identify","userId":"cy-1","anonymousId":"anon-cy2","messageId":"c2","traits":{"email":"cy@example.com"}}`).ProfileIDs[0]; got != cy {
		t.Fatalf("cy's second event landed on %s, want %s", got, cy)
	}
	canon := min(ann, bob)
	joined := joinedPair(stateOf(t, s, ann), stateOf(t, s, bob), ann, canon)
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{{ID: canon, Fragments: []string{ann, bob}, State: encode(t, joined)}}, seq); err != nil {
		t.Fatal(err)
	}
	checked(t, s, "after the merge")
	gone, goneAnon := bob, "anon-bob"
	if gone == canon {
		gone, goneAnon = ann, "anon-ann"
	}
	moved := []string{"phone:" + landline, profile.Identifier{Type: profile.AnonymousID, Value: goneAnon}.Key()}
	entries := holderEntries(t, s)
	for _, k := range moved {
		if hs := entries[k]; len(hs) > 0 {
			t.Errorf("after the merge %s keeps holders entries %v", k, hs)
		}
	}
	for k, hs := range entries {
		if len(hs) > 1 || slices.Contains(hs, gone) {
			t.Errorf("after the merge %s keeps holders entries %v", k, hs)
		}
	}
	onProfile(t, s, profile.Phone, landline, canon, "after the merge")
	onProfile(t, s, profile.AnonymousID, "anon-cy2", cy, "after the merge")
}
