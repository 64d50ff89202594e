package store

import (
	"testing"

	"ucv/profile"
)

// Segment's alias links previousId — an anonymousId or an older userId —
// to userId, subject to the identity rules. One test per case.

// The common case: a visitor browsed anonymously and then signed up; the
// app aliases the anonymous ID to the new user ID, which already has a
// profile of its own. The two become one, recorded as an alias merge.
func TestAliasAnonymousToKnownUser(t *testing.T) {
	s := open(t)
	anon := ingest(t, s, `{"type":"track","anonymousId":"anon-7","messageId":"a1","event":"Product Viewed"}`)
	user := ingest(t, s, `{"type":"identify","userId":"u-7","messageId":"a2","traits":{"plan":"pro"}}`)
	if anon.ProfileIDs[0] == user.ProfileIDs[0] {
		t.Fatal("the anonymous visitor and the user started as one profile")
	}
	ingest(t, s, `{"type":"alias","previousId":"anon-7","userId":"u-7","messageId":"a3"}`)
	id := mustResolve(t, s, profile.UserID, "u-7")
	if got := mustResolve(t, s, profile.AnonymousID, "anon-7"); got != id {
		t.Fatalf("after alias anon-7 resolves to %s and u-7 to %s; want one profile", got, id)
	}
	p, err := s.Profile(id)
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Count("event:Product Viewed"); n != 1 {
		t.Errorf("the anonymous history is lost: Product Viewed = %d", n)
	}
	recs := p.MergeRecords()
	if len(recs) != 1 || recs[0].Reason != "alias" || recs[0].Rule != "alias" {
		t.Fatalf("merge records = %+v, want one alias merge", recs)
	}
	if st, _ := s.Stats(); st.Profiles != 1 {
		t.Errorf("profiles = %d, want 1", st.Profiles)
	}
}

// previousId known, userId new: the anonymous profile takes the user ID.
func TestAliasAnonymousToNewUser(t *testing.T) {
	s := open(t)
	anon := ingest(t, s, `{"type":"page","anonymousId":"anon-8","messageId":"b1","name":"Home"}`)
	ingest(t, s, `{"type":"alias","previousId":"anon-8","userId":"u-8","messageId":"b2"}`)
	if got := mustResolve(t, s, profile.UserID, "u-8"); got != anon.ProfileIDs[0] {
		t.Fatalf("u-8 resolves to %s, want the anonymous profile %s", got, anon.ProfileIDs[0])
	}
	if st, _ := s.Stats(); st.Profiles != 1 {
		t.Errorf("profiles = %d, want 1", st.Profiles)
	}
}

// previousId is an older user ID. With rules that let a profile hold two
// user IDs (a renamed account), the two profiles merge; with the default
// user_id limit of 1 they must not: the rules win over the alias, and
// the skipped link is counted.
func TestAliasOlderUserID(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		merged bool
	}{
		{"limit 2 merges", 2, true},
		{"default limit 1 keeps apart", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, func(o *Options) {
				f := profile.DefaultRulesFile()
				for i := range f.Rules {
					if f.Rules[i].Type == profile.UserID {
						f.Rules[i].Limit = tc.limit
					}
				}
				r, err := f.Compile()
				if err != nil {
					t.Fatal(err)
				}
				o.Rules = r
			})
			old := ingest(t, s, `{"type":"identify","userId":"old-9","messageId":"c1","traits":{"plan":"basic"}}`)
			cur := ingest(t, s, `{"type":"identify","userId":"new-9","messageId":"c2","traits":{"plan":"pro"}}`)
			before, _ := s.Stats()
			ingest(t, s, `{"type":"alias","previousId":"old-9","userId":"new-9","messageId":"c3"}`)
			a, b := mustResolve(t, s, profile.UserID, "old-9"), mustResolve(t, s, profile.UserID, "new-9")
			if got := a == b; got != tc.merged {
				t.Fatalf("old-9 → %s, new-9 → %s (were %s, %s); merged = %v, want %v", a, b, old.ProfileIDs[0], cur.ProfileIDs[0], got, tc.merged)
			}
			after, _ := s.Stats()
			if !tc.merged && after.LinksSkipped[SkipLimit] != before.LinksSkipped[SkipLimit]+1 {
				t.Errorf("limit skips %d → %d, want one more", before.LinksSkipped[SkipLimit], after.LinksSkipped[SkipLimit])
			}
		})
	}
}

// previousId not seen yet (the alias overtook the anonymous events): it
// is linked as an anonymous ID, so the visitor's later events land on the
// user's profile.
func TestAliasBeforeAnonymousEvents(t *testing.T) {
	s := open(t)
	r := ingest(t, s, `{"type":"alias","previousId":"anon-10","userId":"u-10","messageId":"d1"}`)
	ingest(t, s, `{"type":"track","anonymousId":"anon-10","messageId":"d2","event":"Cart Viewed"}`)
	if got := mustResolve(t, s, profile.AnonymousID, "anon-10"); got != r.ProfileIDs[0] {
		t.Fatalf("anon-10 resolves to %s, want the aliased user's %s", got, r.ProfileIDs[0])
	}
	if st, _ := s.Stats(); st.Profiles != 1 {
		t.Errorf("profiles = %d, want 1", st.Profiles)
	}
}

// A blocked previousId is not linked, as any blocked identifier.
func TestAliasBlockedPrevious(t *testing.T) {
	s := open(t, func(o *Options) {
		f := profile.DefaultRulesFile()
		for i := range f.Rules {
			if f.Rules[i].Type == profile.AnonymousID {
				f.Rules[i].Blocked = append(f.Rules[i].Blocked, "anonymous")
			}
		}
		r, err := f.Compile()
		if err != nil {
			t.Fatal(err)
		}
		o.Rules = r
	})
	ingest(t, s, `{"type":"track","anonymousId":"anonymous","messageId":"e1","event":"X"}`)
	ingest(t, s, `{"type":"alias","previousId":"anonymous","userId":"u-11","messageId":"e2"}`)
	if st, _ := s.Stats(); st.Profiles != 2 {
		t.Errorf("profiles = %d, want 2: a blocked previousId must not link", st.Profiles)
	}
}
