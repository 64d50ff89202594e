package store

import (
	"context"
	"testing"

	"ucv/profile"
	"ucv/replication"
)

// joinedPair is the hub's state of Erin and Finn merged: Finn's state
// joined into a copy of Erin's, under the canonical ID canon.
func joinedPair(pe, pf *profile.Profile, erin, canon string) *profile.Profile {
	joined := pe.Clone()
	pf2 := pf.Clone()
	pf2.ID = erin
	joined.Merge(pf2)
	joined.ID = canon
	return joined
}

// unmergedPair builds the state a hub unmerge leaves on an edge: Erin
// (ingested here) and Finn (from another store) share an e-mail, the hub
// merged them by it, then a steward split them with a cannot-link. It
// returns the store, Erin's and Finn's profile IDs and the hub's states.
func unmergedPair(t *testing.T) (s *Store, erin, finn string, pe, pf *profile.Profile) {
	t.Helper()
	ctx := context.Background()
	s = open(t)
	other := open(t)
	erin = ingest(t, s, `{"type":"identify","anonymousId":"anon-erin","messageId":"e1","traits":{"email":"shared@example.com","name":"Erin"}}`).ProfileIDs[0]
	finn = ingest(t, other, `{"type":"identify","anonymousId":"anon-finn","messageId":"f1","traits":{"email":"shared@example.com","name":"Finn"}}`).ProfileIDs[0]
	pe, pf = stateOf(t, s, erin), stateOf(t, other, finn)
	canon := min(erin, finn)
	joined := joinedPair(pe, pf, erin, canon)
	acked, err := s.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{{ID: canon, Fragments: []string{erin, finn}, State: encode(t, joined)}}, acked); err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup(t, s, profile.AnonymousID, "anon-finn"); v.ID != canon {
		t.Fatalf("after the hub's merge anon-finn is on %s, want %s", v.ID, canon)
	}
	res, err := s.ApplyClusters(ctx, []replication.FeedItem{
		{ID: erin, Fragments: []string{erin}, State: encode(t, pe), Apart: []string{finn}},
		{ID: finn, Fragments: []string{finn}, State: encode(t, pf), Apart: []string{erin}},
	}, acked)
	if err != nil || res.Applied != 2 {
		t.Fatalf("ApplyClusters(unmerge) = %+v, %v", res, err)
	}
	return s, erin, finn, pe, pf
}

// apartHolds checks that Erin and Finn are two profiles, each with its
// own anonymousId, and that the store pushed no merge after seq.
func apartHolds(t *testing.T, s *Store, erin, finn string, seq uint64) {
	t.Helper()
	ve, _ := lookup(t, s, profile.AnonymousID, "anon-erin")
	vf, _ := lookup(t, s, profile.AnonymousID, "anon-finn")
	if ve.ID != erin || vf.ID != finn {
		t.Fatalf("anon-erin on %s, anon-finn on %s; want %s and %s apart", ve.ID, vf.ID, erin, finn)
	}
	es, err := s.Outbox(seq, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Kind == replication.KindMerge {
			t.Fatalf("outbox entry %d merges %s into %s", e.Seq, e.From, e.ProfileID)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestApartSurvivesSharedIdentifier: after the hub's unmerge of two
// people who share an e-mail, neither a new event with that e-mail, nor
// one that names both people's devices, nor a peer's gossiped merge puts
// them together again; each event lands on a deterministic profile.
// The cannot-link survives a restart; a later steward merge at the hub
// joins them.
func TestApartSurvivesSharedIdentifier(t *testing.T) {
	ctx := context.Background()
	s, erin, finn, _, _ := unmergedPair(t)
	seq, err := s.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	apartHolds(t, s, erin, finn, 0)
	if st, _ := s.Stats(); st.Profiles != 2 {
		t.Fatalf("profiles after the unmerge = %d, want 2", st.Profiles)
	}
	for _, c := range []struct{ name, body, want string }{
		// The shared e-mail and a new device: the e-mail's first holder
		// (the index's choice).
		{"e-mail only", `{"type":"track","anonymousId":"anon-x1","messageId":"x1","event":"Viewed","context":{"traits":{"email":"shared@example.com"}}}`, min(erin, finn)},
		// With Finn's device: the e-mail cannot tell, the device can.
		{"e-mail and finn's device", `{"type":"track","anonymousId":"anon-finn","messageId":"x2","event":"Viewed","context":{"traits":{"email":"shared@example.com"}}}`, finn},
		{"e-mail and erin's device", `{"type":"track","anonymousId":"anon-erin","messageId":"x3","event":"Viewed","context":{"traits":{"email":"shared@example.com"}}}`, erin},
	} {
		if got := ingest(t, s, c.body).ProfileIDs[0]; got != c.want {
			t.Errorf("%s: landed on %s, want %s", c.name, got, c.want)
		}
		apartHolds(t, s, erin, finn, seq)
	}
	// Both people's user IDs in one event: the first (by priority) wins,
	// the other is left out.
	ingest(t, s, `{"type":"identify","userId":"u-erin","anonymousId":"anon-erin","messageId":"x4"}`)
	ingest(t, s, `{"type":"identify","userId":"u-finn","anonymousId":"anon-finn","messageId":"x5"}`)
	before, _ := s.Stats()
	if got := ingest(t, s, `{"type":"identify","userId":"u-erin","anonymousId":"anon-finn","messageId":"x6"}`).ProfileIDs[0]; got != erin {
		t.Errorf("user ID of Erin with Finn's device landed on %s, want %s", got, erin)
	}
	if after, _ := s.Stats(); after.LinksSkipped[SkipApart] != before.LinksSkipped[SkipApart]+1 {
		t.Errorf("apart skips %d → %d, want one more for Finn's device", before.LinksSkipped[SkipApart], after.LinksSkipped[SkipApart])
	}
	apartHolds(t, s, erin, finn, seq)

	// A peer that had not heard of the unmerge gossips its merge: refused.
	res, err := s.ApplyRemote(ctx, []replication.Entry{{Kind: replication.KindMerge, ProfileID: min(erin, finn), From: max(erin, finn)}})
	if err != nil || res.Rejected != 1 || res.Applied != 0 {
		t.Fatalf("ApplyRemote(merge of the pair) = %+v, %v; want rejected", res, err)
	}
	apartHolds(t, s, erin, finn, seq)

	// Durable: after a restart the shared e-mail still links no one.
	s = reopen(t, s)
	ingest(t, s, `{"type":"track","anonymousId":"anon-x7","messageId":"x7","event":"Viewed","context":{"traits":{"email":"shared@example.com"}}}`)
	apartHolds(t, s, erin, finn, seq)
	if st, _ := s.Stats(); st.Profiles != 2 {
		t.Fatalf("profiles = %d, want 2", st.Profiles)
	}

	// A steward merge at the hub: one cluster without cannot-links.
	canon := min(erin, finn)
	pe, pf := stateOf(t, s, erin), stateOf(t, s, finn)
	pf.ID = erin
	pe.Merge(pf)
	pe.ID = canon
	acked, _ := s.LastSeq()
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{{ID: canon, Fragments: []string{erin, finn}, State: encode(t, pe)}}, acked); err != nil {
		t.Fatal(err)
	}
	for _, anon := range []string{"anon-erin", "anon-finn"} {
		if v, _ := lookup(t, s, profile.AnonymousID, anon); v.ID != canon {
			t.Errorf("after the steward's merge %s is on %s, want %s", anon, v.ID, canon)
		}
	}
	if res, err := s.ApplyRemote(ctx, []replication.Entry{{Kind: replication.KindMerge, ProfileID: canon, From: max(erin, finn)}}); err != nil || res.Rejected != 0 {
		t.Fatalf("ApplyRemote(merge) after the steward's merge = %+v, %v; want applied", res, err)
	}
}

// TestApartFollowsLocalMerges: a profile merged here with one side of a
// cannot-link (by an identifier the hub has not seen yet) inherits it:
// the merged profile still never merges with the other side, and a
// third profile merges freely.
func TestApartFollowsLocalMerges(t *testing.T) {
	s, erin, finn, _, _ := unmergedPair(t)
	seq, _ := s.LastSeq()
	// A new profile, then an event linking it to Erin's device: they
	// merge (no cannot-link between them).
	g := ingest(t, s, `{"type":"identify","anonymousId":"anon-gail","messageId":"g1","traits":{"phone":"+33612345678"}}`).ProfileIDs[0]
	merged := ingest(t, s, `{"type":"track","anonymousId":"anon-erin","messageId":"g2","event":"Linked","context":{"traits":{"phone":"+33612345678"}}}`).ProfileIDs[0]
	if want := min(erin, g); merged != want {
		t.Fatalf("Erin and Gail merged into %s, want %s", merged, want)
	}
	if v, _ := lookup(t, s, profile.Phone, "+33612345678"); v.ID != merged {
		t.Fatalf("Gail's phone is on %s, want %s", v.ID, merged)
	}
	// The merged profile keeps Erin's cannot-link with Finn.
	ingest(t, s, `{"type":"track","anonymousId":"anon-finn","messageId":"g3","event":"Viewed","context":{"traits":{"phone":"+33612345678","email":"shared@example.com"}}}`)
	if v, _ := lookup(t, s, profile.AnonymousID, "anon-finn"); v.ID != finn {
		t.Fatalf("anon-finn moved to %s after an event naming Gail's phone, want %s", v.ID, finn)
	}
	es, _ := s.Outbox(seq, 1000)
	for _, e := range es {
		if e.Kind == replication.KindMerge && (e.From == finn || e.ProfileID == finn) {
			t.Fatalf("outbox merges Finn: %+v", e)
		}
	}
}

// TestApartGossipConverges: two edges of one store hold Erin and Finn
// merged by the hub. One applies the hub's unmerge; the other, not yet,
// takes an event for the merged person and gossips it. The first keeps
// the pair apart (a shared identifier arriving by gossip links no one);
// once the second applies the same page, anti-entropy brings the two to
// equal digests with the pair apart on both.
func TestApartGossipConverges(t *testing.T) {
	ctx := context.Background()
	_, erin, finn, pe, pf := unmergedPair(t) // the hub's states
	canon := min(erin, finn)
	joined := joinedPair(pe, pf, erin, canon)
	merged := []replication.FeedItem{{ID: canon, Fragments: []string{erin, finn}, State: encode(t, joined)}}
	split := []replication.FeedItem{
		{ID: erin, Fragments: []string{erin}, State: encode(t, pe), Apart: []string{finn}},
		{ID: finn, Fragments: []string{finn}, State: encode(t, pf), Apart: []string{erin}},
	}
	a, b := open(t), open(t)
	for _, s := range []*Store{a, b} {
		if _, err := s.ApplyClusters(ctx, merged, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.ApplyClusters(ctx, split, 0); err != nil {
		t.Fatal(err)
	}
	// b has not heard of the unmerge: Finn's device with the e-mail lands
	// on the merged profile, and b gossips it.
	ingest(t, b, `{"type":"track","anonymousId":"anon-finn","messageId":"g1","event":"Viewed","context":{"traits":{"email":"shared@example.com"}}}`)
	replicate(t, b, a, 0)
	apartHolds(t, a, erin, finn, 0)
	// b applies the page (the hub has acknowledged nothing of b's).
	if _, err := b.ApplyClusters(ctx, split, 0); err != nil {
		t.Fatal(err)
	}
	apartHolds(t, b, erin, finn, 0)
	antiEntropy(t, a, b)
	da, db := a.Digest(), b.Digest()
	if diff := da.Diff(&db); len(diff) != 0 {
		t.Fatalf("%d digest buckets differ after anti-entropy", len(diff))
	}
	apartHolds(t, a, erin, finn, 0)
	apartHolds(t, b, erin, finn, 0)
}
