package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	"ucv/crdt"
	"ucv/profile"
	"ucv/replication"
)

const landline = "+12175550100"

// hubPerson makes one person on a store of its own (so no rule of this
// edge has seen it) and returns the hub's cluster of it.
func hubPerson(t *testing.T, body string) (string, replication.FeedItem) {
	t.Helper()
	src := open(t)
	id := ingest(t, src, body).ProfileIDs[0]
	return id, replication.FeedItem{ID: id, Fragments: []string{id}, State: encode(t, stateOf(t, src, id))}
}

// noMerges fails if the outbox after seq holds a merge.
func noMerges(t *testing.T, s *Store, seq uint64, what string) {
	t.Helper()
	es, err := s.Outbox(seq, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Kind == replication.KindMerge {
			t.Fatalf("%s: outbox entry %d merges %s into %s", what, e.Seq, e.From, e.ProfileID)
		}
	}
}

// onProfile fails unless identifier typ:value resolves to profile want.
func onProfile(t *testing.T, s *Store, typ profile.IDType, value, want, what string) {
	t.Helper()
	if v, _ := lookup(t, s, typ, value); v.ID != want {
		t.Fatalf("%s: %s:%s is on %s, want %s", what, typ, value, v.ID, want)
	}
}

// sharedBy checks what the store says of the landline's holders: the
// count lookups report, the list in ID order (its first the profile a
// lookup answers with), and memory agreeing with the file.
func sharedBy(t *testing.T, s *Store, want []string, what string) {
	t.Helper()
	checkMem(t, s, what)
	slices.Sort(want)
	if n := s.IdentifierHolders([]byte("phone:" + landline)); n != len(want) {
		t.Fatalf("%s: IdentifierHolders = %d, want %d", what, n, len(want))
	}
	got, more, err := s.HoldersOf(profile.Identifier{Type: profile.Phone, Value: landline}, 0)
	if err != nil || more || !slices.Equal(got, want) {
		t.Fatalf("%s: HoldersOf = %v %v %v, want %v", what, got, more, err, want)
	}
	if got, more, _ := s.HoldersOf(profile.Identifier{Type: profile.Phone, Value: landline}, 1); len(got) != 1 || !more {
		t.Fatalf("%s: HoldersOf(limit 1) = %v, more %v", what, got, more)
	}
	onProfile(t, s, profile.Phone, landline, want[0], what)
	if n := s.IdentifierHolders([]byte("email:bob@example.com")); n != 0 {
		t.Fatalf("%s: Bob's own e-mail counts %d holders, want 0 (not shared)", what, n)
	}
}

// TestHubClustersSharingContactStayApart: the hub delivers Ann and Bob
// Lee as two people though they share a landline (a household the hub's
// engine kept apart). The edge does not glue them by its own rules — not
// when the second cluster arrives, not through events that carry the
// landline with one person's own identifiers, not through a peer's
// gossip, not after a restart — and a third person's cluster or a local
// profile with the same landline joins nobody either. An identifier only
// one profile holds still merges as before.
func TestHubClustersSharingContactStayApart(t *testing.T) {
	ctx := context.Background()
	ann, annC := hubPerson(t, `{"type":"identify","anonymousId":"anon-ann","messageId":"a1","traits":{"email":"ann@example.com","phone":"`+landline+`","name":"Ann Lee"}}`)
	bob, bobC := hubPerson(t, `{"type":"identify","anonymousId":"anon-bob","messageId":"b1","traits":{"email":"bob@example.com","phone":"`+landline+`","name":"Bob Lee"}}`)
	if ann >= bob {
		t.Fatalf("profile IDs %s, %s: the test needs Ann's to sort first", ann, bob)
	}
	s := open(t)
	seq, _ := s.LastSeq()
	for _, c := range []replication.FeedItem{annC, bobC} { // two feed pages
		if res, err := s.ApplyClusters(ctx, []replication.FeedItem{c}, seq); err != nil || res.Applied != 1 {
			t.Fatalf("ApplyClusters(%s) = %+v, %v", c.ID, res, err)
		}
	}
	apart := func(what string) {
		t.Helper()
		onProfile(t, s, profile.AnonymousID, "anon-ann", ann, what)
		onProfile(t, s, profile.AnonymousID, "anon-bob", bob, what)
		onProfile(t, s, profile.Email, "bob@example.com", bob, what)
		noMerges(t, s, seq, what)
		if err := s.Check(); err != nil {
			t.Fatal(err)
		}
	}
	apart("after the two clusters")
	sharedBy(t, s, []string{ann, bob}, "after the two clusters")
	if st, _ := s.Stats(); st.Profiles != 2 {
		t.Fatalf("profiles = %d, want 2", st.Profiles)
	}

	// A new edge that bootstraps from the hub's snapshot (both clusters
	// in one page, replaced rather than joined) keeps them apart too.
	boot := open(t)
	if res, err := boot.BootstrapClusters(ctx, []replication.FeedItem{annC, bobC}, 0); err != nil || res.Applied != 2 {
		t.Fatalf("BootstrapClusters = %+v, %v", res, err)
	}
	onProfile(t, boot, profile.AnonymousID, "anon-bob", bob, "bootstrap")
	onProfile(t, boot, profile.AnonymousID, "anon-ann", ann, "bootstrap")
	noMerges(t, boot, 0, "bootstrap")

	// Events with the landline and one person's own identifiers land on
	// that person (the landline alone cannot pull the other in).
	for _, c := range []struct{ name, body, want string }{
		{"bob's device and the landline", `{"type":"track","anonymousId":"anon-bob","messageId":"e1","event":"Called","context":{"traits":{"phone":"` + landline + `"}}}`, bob},
		{"bob's e-mail and the landline", `{"type":"identify","messageId":"e2","anonymousId":"anon-b2","traits":{"email":"bob@example.com","phone":"` + landline + `"}}`, bob},
		{"ann's e-mail and the landline", `{"type":"identify","messageId":"e3","anonymousId":"anon-a2","traits":{"email":"ann@example.com","phone":"` + landline + `"}}`, ann},
	} {
		if got := ingest(t, s, c.body).ProfileIDs[0]; got != c.want {
			t.Errorf("%s: landed on %s, want %s", c.name, got, c.want)
		}
		apart("after " + c.name)
	}
	// A peer gossips Bob's state with something new: no merge either.
	pb := stateOf(t, s, bob)
	pb.Traits.Set("tier", []byte(`"gold"`), s.clock.Now())
	if _, err := s.ApplyRemote(ctx, []replication.Entry{{Kind: replication.KindDelta, ProfileID: bob, Delta: encode(t, pb)}}); err != nil {
		t.Fatal(err)
	}
	apart("after a peer's delta of Bob")

	// A third person's cluster, and a local profile a peer made, with the
	// same landline: two holders already share it, so it joins nobody.
	cara, caraC := hubPerson(t, `{"type":"identify","anonymousId":"anon-cara","messageId":"c1","traits":{"email":"cara@example.com","phone":"`+landline+`"}}`)
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{caraC}, seq); err != nil {
		t.Fatal(err)
	}
	sharedBy(t, s, []string{ann, bob, cara}, "after Cara")
	peer := open(t)
	dan := ingest(t, peer, `{"type":"identify","anonymousId":"anon-dan","messageId":"d1","traits":{"phone":"`+landline+`"}}`).ProfileIDs[0]
	if _, err := s.ApplyRemote(ctx, []replication.Entry{{Kind: replication.KindDelta, ProfileID: dan, Delta: encode(t, stateOf(t, peer, dan))}}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	apart("after Cara, Dan and a restart")
	onProfile(t, s, profile.AnonymousID, "anon-cara", cara, "Cara")
	onProfile(t, s, profile.AnonymousID, "anon-dan", dan, "Dan")
	sharedBy(t, s, []string{ann, bob, cara, dan}, "after a restart")
	if st, _ := s.Stats(); st.Profiles != 4 {
		t.Fatalf("profiles = %d, want 4 (Ann, Bob, Cara, Dan)", st.Profiles)
	}

	// An identifier one hub-held profile holds still merges a local
	// profile that a peer made with it (the ordinary rule).
	eve, eveC := hubPerson(t, `{"type":"identify","anonymousId":"anon-eve","messageId":"v1","traits":{"phone":"+12175550199"}}`)
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{eveC}, seq); err != nil {
		t.Fatal(err)
	}
	peer2 := open(t)
	eve2 := ingest(t, peer2, `{"type":"identify","anonymousId":"anon-eve-phone","messageId":"v2","traits":{"phone":"+12175550199"}}`).ProfileIDs[0]
	if _, err := s.ApplyRemote(ctx, []replication.Entry{{Kind: replication.KindDelta, ProfileID: eve2, Delta: encode(t, stateOf(t, peer2, eve2))}}); err != nil {
		t.Fatal(err)
	}
	onProfile(t, s, profile.AnonymousID, "anon-eve-phone", min(eve, eve2), "Eve's second device")
	onProfile(t, s, profile.AnonymousID, "anon-eve", min(eve, eve2), "Eve")
}

// TestEraseSparesHubHeldSharers: Cat and Dan (hub clusters) and x (a
// profile a peer made, the hub has not judged) hold one landline. An
// erase directive for Cat whose keys include the landline (as a hub
// before decision 0059 sent it) erases Cat and x — the edge's rule for
// copies of the person it cannot tell apart — but not Dan, whom the hub
// delivered and did not name. A second edge that learns of the erasure
// only from the first's erased state by gossip does the same.
func TestEraseSparesHubHeldSharers(t *testing.T) {
	ctx := context.Background()
	cat, catC := hubPerson(t, `{"type":"identify","anonymousId":"anon-cat","messageId":"c1","traits":{"email":"cat@example.com","phone":"`+landline+`"}}`)
	dan, danC := hubPerson(t, `{"type":"identify","anonymousId":"anon-dan","messageId":"d1","traits":{"phone":"`+landline+`"}}`)
	peer := open(t)
	x := ingest(t, peer, `{"type":"identify","anonymousId":"till-x","messageId":"x1","traits":{"phone":"`+landline+`"}}`).ProfileIDs[0]
	xState := encode(t, stateOf(t, peer, x))
	a, b := privStore(t), privStore(t)
	for _, s := range []*Store{a, b} {
		for _, c := range []replication.FeedItem{catC, danC} {
			if _, err := s.ApplyClusters(ctx, []replication.FeedItem{c}, 0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.ApplyRemote(ctx, []replication.Entry{{Kind: replication.KindDelta, ProfileID: x, Delta: xState}}); err != nil {
			t.Fatal(err)
		}
		sharedBy(t, s, []string{cat, dan, x}, "before the erasure")
	}
	seqA, _ := a.LastSeq()
	at := t0.UnixMilli() + 1000
	d := replication.Directive{ID: "req-cat", Type: replication.DirectiveErase, Index: 1, At: at, ProfileIDs: []string{cat},
		Keys: []string{crdt.TombstoneKey(testSalt, "email:cat@example.com"), crdt.TombstoneKey(testSalt, "phone:"+landline)}}
	if err := a.Erase(ctx, d); err != nil {
		t.Fatal(err)
	}
	replicate(t, a, b, seqA)
	// A peer's delta of Dan's, his data older than the erasure, does not
	// erase him on arrival either.
	pd := stateOf(t, a, dan)
	pd.Traits.Set("tier", []byte(`"gold"`), a.clock.Now())
	if _, err := a.ApplyRemote(ctx, []replication.Entry{{Kind: replication.KindDelta, ProfileID: dan, Delta: encode(t, pd)}}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Store{"directive": a, "gossip": b} {
		for _, c := range []struct {
			typ   profile.IDType
			value string
			want  string // "" for gone
		}{
			{profile.AnonymousID, "anon-cat", ""}, {profile.Email, "cat@example.com", ""},
			{profile.AnonymousID, "till-x", ""},
			{profile.AnonymousID, "anon-dan", dan}, {profile.Phone, landline, dan},
		} {
			v, err := s.LookupIdentifier(profile.Identifier{Type: c.typ, Value: c.value})
			switch {
			case c.want == "" && !errors.Is(err, ErrNotFound):
				t.Errorf("%s: %s:%s is on %s (%v), want erased", name, c.typ, c.value, v.ID, err)
			case c.want != "" && (err != nil || v.ID != c.want):
				t.Errorf("%s: %s:%s is on %s (%v), want %s", name, c.typ, c.value, v.ID, err, c.want)
			}
		}
	}
}

// TestLocalMergeKeepsHubJudgement: Ann's cluster (an imported record,
// whose ID sorts after the edge's) is folded by an event into a till
// profile of hers made here; the merged profile keeps the hub's word on
// Ann, so Bob's cluster, arriving with the same landline, stays apart.
func TestLocalMergeKeepsHubJudgement(t *testing.T) {
	ctx := context.Background()
	_, annC := hubPerson(t, `{"type":"identify","anonymousId":"crm-ann","messageId":"a1","traits":{"email":"ann@example.com","phone":"`+landline+`"}}`)
	_, bobC := hubPerson(t, `{"type":"identify","anonymousId":"crm-bob","messageId":"b1","traits":{"phone":"`+landline+`"}}`)
	annC.ID, annC.Fragments = "rann", []string{"rann"} // import fragment IDs sort after ULIDs
	bobC.ID, bobC.Fragments = "rbob", []string{"rbob"}
	s := open(t)
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{annC}, 0); err != nil {
		t.Fatal(err)
	}
	till := ingest(t, s, `{"type":"page","anonymousId":"till-ann","messageId":"t0"}`).ProfileIDs[0]
	ingest(t, s, `{"type":"identify","anonymousId":"till-ann","messageId":"t1","traits":{"email":"ann@example.com"}}`)
	if till >= "rann" {
		t.Fatalf("till profile %s does not sort before rann", till)
	}
	onProfile(t, s, profile.AnonymousID, "crm-ann", till, "after the till event")
	seq, _ := s.LastSeq()
	if _, err := s.ApplyClusters(ctx, []replication.FeedItem{bobC}, seq); err != nil {
		t.Fatal(err)
	}
	onProfile(t, s, profile.AnonymousID, "crm-bob", "rbob", "after Bob's cluster")
	noMerges(t, s, seq, "Bob's cluster")
}
