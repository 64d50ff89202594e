package store

import (
	"strings"
	"testing"

	"ucv/profile"
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
