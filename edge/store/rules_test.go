package store

import (
	"context"
	"strings"
	"testing"

	"ucv/profile"
	"ucv/replication"
)

// A rules file that names only email leaves user_id at its default limit
// of 1: two users who log in on one kiosk (one anonymousId) stay two
// profiles instead of being glued together by a fallback limit.
func TestRulesFileNamingOnlyEmailKeepsUserIDLimit(t *testing.T) {
	rules, err := profile.LoadRules(strings.NewReader(`{"rules":[{"type":"email","limit":3}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, func(o *Options) { o.Rules = rules })
	a := ingest(t, s, `{"type":"identify","userId":"u-1","anonymousId":"kiosk-anon","messageId":"1"}`)
	b := ingest(t, s, `{"type":"identify","userId":"u-2","anonymousId":"kiosk-anon","messageId":"2"}`)
	if a.ProfileIDs[0] == b.ProfileIDs[0] {
		t.Fatalf("u-1 and u-2 share profile %s, want two profiles (user_id limit 1)", a.ProfileIDs[0])
	}
	if p1, p2 := mustResolve(t, s, profile.UserID, "u-1"), mustResolve(t, s, profile.UserID, "u-2"); p1 == p2 {
		t.Fatalf("u-1 and u-2 resolve to one profile %s", p1)
	}
	if st, _ := s.Stats(); st.Profiles != 2 {
		t.Fatalf("profiles = %d, want 2", st.Profiles)
	}
}

// A profile a peer (or the hub) merged holds two user IDs, past the
// user_id limit of 1 — their word needs no limit check. Later events of
// either user land on it (they made a fresh profile each before: the
// merged profile "did not fit" its own identities), it still gains an
// e-mail, and a third user ID is still kept out: gus, signing in with
// eve's e-mail, is a profile of his own, as without the merge.
func TestMergedProfileOverTheLimitKeepsItsEvents(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	ingest(t, s,
		`{"type":"identify","userId":"eve","messageId":"e1","traits":{"email":"eve@example.com"}}`,
		`{"type":"identify","userId":"fay","messageId":"f1","traits":{"email":"fay@example.com"}}`)
	eve, fay := mustResolve(t, s, profile.UserID, "eve"), mustResolve(t, s, profile.UserID, "fay")
	if _, err := s.ApplyRemote(context.Background(), []replication.Entry{{Kind: replication.KindMerge, ProfileID: min(eve, fay), From: max(eve, fay)}}); err != nil {
		t.Fatal(err)
	}
	canon := min(eve, fay)
	for i, body := range []string{
		`{"type":"track","userId":"fay","messageId":"f2","event":"Viewed"}`,
		`{"type":"track","userId":"eve","messageId":"e2","event":"Viewed"}`,
		`{"type":"identify","userId":"fay","messageId":"f3","traits":{"email":"fay@work.example"}}`,
	} {
		if got := ingest(t, s, body).ProfileIDs[0]; got != canon {
			t.Errorf("event %d landed on %s, want the merged profile %s", i, got, canon)
		}
	}
	if got := mustResolve(t, s, profile.Email, "fay@work.example"); got != canon {
		t.Errorf("the new e-mail resolves to %s, want %s", got, canon)
	}
	if got := ingest(t, s, `{"type":"identify","userId":"gus","messageId":"g1","traits":{"email":"eve@example.com"}}`).ProfileIDs[0]; got == canon {
		t.Errorf("a third user ID joined the merged profile")
	}
	if got := mustResolve(t, s, profile.Email, "eve@example.com"); got != canon {
		t.Errorf("eve's e-mail resolves to %s, want %s", got, canon)
	}
	if st, _ := s.Stats(); st.Profiles != 2 {
		t.Errorf("profiles = %d, want the merged one and gus's", st.Profiles)
	}
}
