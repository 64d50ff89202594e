package store

import (
	"context"
	"testing"

	"ucv/profile"
	"ucv/replication"
)

// marshal returns the state of profile id (canonical) under that id.
func stateOf(t *testing.T, s *Store, id string) *profile.Profile {
	t.Helper()
	p, err := s.Profile(id)
	if err != nil {
		t.Fatalf("Profile(%s): %v", id, err)
	}
	return p
}

func encode(t *testing.T, p *profile.Profile) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The hub merges two people this edge holds apart (a steward's merge),
// then splits them again (an unmerge). The edge follows both: one
// profile, then two, each with only its own traits and events, and an
// event ingested here while the two were one and not yet acknowledged by
// the hub is kept.
func TestApplyClustersMergeThenSplit(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	ra := ingest(t, s, `{"type":"identify","anonymousId":"anon-a","messageId":"a1","traits":{"email":"ann@example.com","name":"Ann"}}`)
	rb := ingest(t, s, `{"type":"identify","anonymousId":"anon-b","messageId":"b1","traits":{"email":"bob@example.com","name":"Bob"}}`)
	a, b := ra.ProfileIDs[0], rb.ProfileIDs[0]
	if b < a {
		t.Fatal("profile IDs are minted in increasing order")
	}
	pa, pb := stateOf(t, s, a), stateOf(t, s, b)
	acked, err := s.LastSeq() // the hub has everything so far
	if err != nil {
		t.Fatal(err)
	}
	joined := pa.Clone()
	pb2 := pb.Clone()
	pb2.ID = a
	joined.Merge(pb2)
	res, err := s.ApplyClusters(ctx, []replication.FeedItem{{ID: a, Fragments: []string{a, b}, State: encode(t, joined)}}, acked)
	if err != nil || res.Applied != 1 {
		t.Fatalf("ApplyClusters(merge) = %+v, %v", res, err)
	}
	if v, _ := lookup(t, s, "anonymous_id", "anon-b"); v.ID != a {
		t.Fatalf("after the hub's merge anon-b is on %s, want %s", v.ID, a)
	}
	// Written here while merged; the hub has not acknowledged it.
	ingest(t, s, `{"type":"track","anonymousId":"anon-a","messageId":"a2","event":"Local Only"}`)

	res, err = s.ApplyClusters(ctx, []replication.FeedItem{
		{ID: a, Fragments: []string{a}, State: encode(t, pa)},
		{ID: b, Fragments: []string{b}, State: encode(t, pb)},
	}, acked)
	if err != nil || res.Applied != 2 || res.Rejected != 0 {
		t.Fatalf("ApplyClusters(split) = %+v, %v", res, err)
	}
	for _, c := range []struct{ anon, email, want, name string }{
		{"anon-a", "ann@example.com", a, `"Ann"`},
		{"anon-b", "bob@example.com", b, `"Bob"`},
	} {
		va, _ := lookup(t, s, "anonymous_id", c.anon)
		ve, _ := lookup(t, s, "email", c.email)
		if va.ID != c.want || ve.ID != c.want {
			t.Errorf("after the split %s is on %s and %s on %s, want both on %s", c.anon, va.ID, c.email, ve.ID, c.want)
		}
	}
	got := stateOf(t, s, a)
	if got.Identities.Has(profile.Identifier{Type: "email", Value: "bob@example.com"}.Key()) {
		t.Errorf("profile %s still holds Bob's e-mail after the split", a)
	}
	if n := len(got.Timeline.Items); n != 2 {
		t.Errorf("profile %s has %d events after the split, want 2 (its identify and the unacknowledged track)", a, n)
	}
	if n := len(stateOf(t, s, b).Timeline.Items); n != 1 {
		t.Errorf("profile %s has %d events after the split, want 1", b, n)
	}
	// Applying the same page again changes nothing.
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{
		{ID: a, Fragments: []string{a}, State: encode(t, pa)},
		{ID: b, Fragments: []string{b}, State: encode(t, pb)},
	}, acked); err != nil {
		t.Fatal(err)
	}
	if n := len(stateOf(t, s, a).Timeline.Items); n != 2 {
		t.Errorf("after a replay profile %s has %d events, want 2", a, n)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("store invariants after the split: %v", err)
	}
}

// A snapshot bootstrap replaces every cluster, page by page in cluster-ID
// order: the hub split two people this edge holds folded, and the two
// sides arrive in different pages. After both pages each side holds only
// its own data, plus an event written here the hub has not acknowledged.
func TestBootstrapClustersSplitAcrossPages(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	ra := ingest(t, s, `{"type":"identify","anonymousId":"anon-a","messageId":"a1","traits":{"email":"ann@example.com","name":"Ann"}}`)
	rb := ingest(t, s, `{"type":"identify","anonymousId":"anon-b","messageId":"b1","traits":{"email":"bob@example.com","name":"Bob"}}`)
	a, b := ra.ProfileIDs[0], rb.ProfileIDs[0]
	pa, pb := stateOf(t, s, a), stateOf(t, s, b)
	acked, err := s.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	joined := pa.Clone()
	pb2 := pb.Clone()
	pb2.ID = a
	joined.Merge(pb2)
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{{ID: a, Fragments: []string{a, b}, State: encode(t, joined)}}, acked); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, `{"type":"track","anonymousId":"anon-b","messageId":"b2","event":"Local Only"}`) // lands on a, unacknowledged

	// Page 1 holds a alone: b still resolves to a meanwhile.
	if res, err := s.BootstrapClusters(ctx, []replication.FeedItem{{ID: a, Fragments: []string{a}, State: encode(t, pa)}}, acked); err != nil || res.Applied != 1 {
		t.Fatalf("page 1: %+v, %v", res, err)
	}
	if res, err := s.BootstrapClusters(ctx, []replication.FeedItem{{ID: b, Fragments: []string{b}, State: encode(t, pb)}}, acked); err != nil || res.Applied != 1 {
		t.Fatalf("page 2: %+v, %v", res, err)
	}
	for _, c := range []struct{ anon, email, want string }{{"anon-a", "ann@example.com", a}, {"anon-b", "bob@example.com", b}} {
		va, _ := lookup(t, s, "anonymous_id", c.anon)
		ve, _ := lookup(t, s, "email", c.email)
		if va.ID != c.want || ve.ID != c.want {
			t.Errorf("after the bootstrap %s is on %s and %s on %s, want both on %s", c.anon, va.ID, c.email, ve.ID, c.want)
		}
	}
	if got := stateOf(t, s, a); got.Identities.Has(profile.Identifier{Type: "email", Value: "bob@example.com"}.Key()) {
		t.Errorf("profile %s still holds Bob's e-mail", a)
	}
	// b2 was written while b was folded into a; replayed, it follows anon-b.
	var events []string
	for _, id := range []string{a, b} {
		for _, it := range stateOf(t, s, id).Timeline.Items {
			events = append(events, id+":"+it.ID)
		}
	}
	if len(events) != 3 {
		t.Errorf("events after the bootstrap: %v, want a1 on %s, b1 and the unacknowledged b2 kept", events, a)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("store invariants after the bootstrap: %v", err)
	}
}

// On an empty store a bootstrap is the join: a replica built from another
// store's clusters holds the same profiles, redirects and index (equal
// digests).
func TestBootstrapClustersFreshStoreEqualsSource(t *testing.T) {
	ctx := context.Background()
	src := open(t)
	r1 := ingest(t, src, `{"type":"identify","anonymousId":"x1","messageId":"m1","traits":{"email":"c@example.com"}}`)
	r2 := ingest(t, src, `{"type":"identify","anonymousId":"x2","messageId":"m2","traits":{"phone":"+33612345678"}}`)
	ingest(t, src, `{"type":"identify","anonymousId":"x2","messageId":"m3","traits":{"email":"c@example.com"}}`) // merges the two
	a, b := r1.ProfileIDs[0], r2.ProfileIDs[0]
	canon := min(a, b)
	p := stateOf(t, src, canon)
	dst := open(t)
	if res, err := dst.BootstrapClusters(ctx, []replication.FeedItem{{ID: canon, Fragments: []string{a, b}, State: encode(t, p)}}, 0); err != nil || res.Applied != 1 {
		t.Fatalf("bootstrap: %+v, %v", res, err)
	}
	d1, d2 := src.Digest(), dst.Digest()
	if diff := d1.Diff(&d2); len(diff) != 0 {
		t.Fatalf("%d digest buckets differ between the source and the bootstrapped store", len(diff))
	}
	for _, k := range [][2]string{{"email", "c@example.com"}, {"phone", "+33612345678"}, {"anonymous_id", "x1"}} {
		if v, _ := lookup(t, dst, profile.IDType(k[0]), k[1]); v.ID != canon {
			t.Errorf("%s resolves to %s on the bootstrapped store, want %s", k[0], v.ID, canon)
		}
	}
	if err := dst.Check(); err != nil {
		t.Fatal(err)
	}
}
