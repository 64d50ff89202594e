package api

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ucv/edge/store"
	"ucv/profile/catalog"
)

// offersCatalog is what a hub would ship: an audience, two offers at
// checkout that split the population (one capped at two impressions a
// day), one that needs marketing consent, one at another placement.
func offersCatalog(t testing.TB, version uint64) catalog.Catalog {
	t.Helper()
	c, _, err := catalog.ParseFile([]byte(`{
		"audiences": {"buyers": {"expression": "count(\"Order Completed\", \"lifetime\") >= 1"}},
		"offers": {
			"welcome": {"placement": "checkout", "eligibility": "!(\"buyers\" in audiences)", "priority": 1, "payload": {"code": "HELLO"}},
			"loyal": {"placement": "checkout", "eligibility": "\"buyers\" in audiences",
				"priority": "10.0 * double(count(\"Order Completed\", \"30d\"))", "cap": {"max": 2, "window": "24h"}, "payload": {"code": "LOYAL"}},
			"news": {"placement": "checkout", "priority": 5, "consent": "marketing", "payload": "sign up"},
			"banner": {"placement": "home", "priority": 100}
		}}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Version = version
	return c
}

type decided struct {
	Offers []struct {
		ID      string          `json:"id"`
		Score   float64         `json:"score"`
		Payload json.RawMessage `json:"payload"`
	} `json:"offers"`
	ProfileVersion *string                    `json:"profile_version"`
	Explain        []catalog.OfferExplanation `json:"explain"`
}

func (d decided) ids() []string {
	out := []string{}
	for _, o := range d.Offers {
		out = append(out, fmt.Sprintf("%s=%g", o.ID, o.Score))
	}
	return out
}

// decide asks e and fails unless it answers 200.
func (e *testEdge) decide(tb testing.TB, path string, hdr ...string) decided {
	tb.Helper()
	r := e.get(tb, path, hdr...)
	if r.status != 200 {
		tb.Fatalf("GET %s = %d %s", path, r.status, r.body)
	}
	var d decided
	if err := json.Unmarshal(r.body, &d); err != nil {
		tb.Fatalf("GET %s: %v in %s", path, err, r.body)
	}
	if !strings.Contains(path, "explain=") {
		// The stored decision (fast path) agrees with deciding from the
		// profile (explain always does).
		x := e.get(tb, path+"&explain=true", hdr...)
		var slow decided
		if x.status != 200 || json.Unmarshal(x.body, &slow) != nil {
			tb.Fatalf("GET %s&explain=true = %d %s", path, x.status, x.body)
		}
		if got, want := d.ids(), slow.ids(); !slices.Equal(got, want) || (d.ProfileVersion == nil) != (slow.ProfileVersion == nil) ||
			d.ProfileVersion != nil && *d.ProfileVersion != *slow.ProfileVersion {
			tb.Fatalf("GET %s: %v at %v, but deciding from the profile gives %v at %v", path, got, d.ProfileVersion, want, slow.ProfileVersion)
		}
	}
	return d
}

func wantOffers(tb testing.TB, what string, d decided, want ...string) {
	tb.Helper()
	if want == nil {
		want = []string{}
	}
	if got := d.ids(); !slices.Equal(got, want) {
		tb.Fatalf("%s: offers %v, want %v", what, got, want)
	}
}

func showOffer(id, user, offer string) string {
	return fmt.Sprintf(`{"messageId":%q,"userId":%q,"event":"Offer Shown","properties":{"offer_id":%q}}`, id, user, offer)
}

// The decision route end to end: an unknown visitor, a buyer, consent
// blocking and admitting an offer, a capped offer disappearing after
// cap.max "Offer Shown" events (a retried one counting once), explain,
// the limit.
func TestDecideOverHTTP(t *testing.T) {
	e := newTestEdge(t, nil)
	if _, err := e.st.SetCatalog(offersCatalog(t, 7)); err != nil {
		t.Fatal(err)
	}
	const q = "?placement=checkout"
	d := e.decide(t, "/v1/decide/user_id:nobody"+q)
	wantOffers(t, "unknown visitor", d, "welcome=1")
	if d.ProfileVersion != nil || string(d.Offers[0].Payload) != `{"code":"HELLO"}` {
		t.Fatalf("unknown visitor: %+v", d)
	}
	wantOffers(t, "another placement", e.decide(t, "/v1/decide/user_id:nobody?placement=home"), "banner=100")
	wantOffers(t, "no offers there", e.decide(t, "/v1/decide/user_id:nobody?placement=nowhere"))

	e.mustPost(t, "/v1/track", `{"userId":"u1","event":"Order Completed","properties":{"total":5}}`)
	d = e.decide(t, "/v1/decide/user_id:u1"+q)
	wantOffers(t, "a buyer", d, "loyal=10")
	if d.ProfileVersion == nil || *d.ProfileVersion == "" {
		t.Fatalf("a buyer: no profile_version")
	}

	// Consent refused, then granted. The latest statement by event time
	// wins and two in one millisecond tie by message (decision 0041), so
	// the statements carry their times, a second apart.
	stated := time.Now().Add(-time.Minute).UTC()
	e.mustPost(t, "/v1/identify", `{"userId":"u1","timestamp":"`+stated.Format(time.RFC3339Nano)+`","context":{"consent":{"categoryPreferences":{"marketing":false}}}}`)
	wantOffers(t, "consent refused", e.decide(t, "/v1/decide/user_id:u1"+q), "loyal=10")
	d = e.decide(t, "/v1/decide/user_id:u1"+q+"&explain=true")
	var news *catalog.OfferExplanation
	for i := range d.Explain {
		if d.Explain[i].Offer == "news" {
			news = &d.Explain[i]
		}
	}
	if news == nil || news.Eligible || news.Reason != catalog.ReasonConsent || news.Consent == nil || news.Consent.Granted {
		t.Fatalf("explain of news: %+v", d.Explain)
	}
	e.mustPost(t, "/v1/identify", `{"userId":"u1","timestamp":"`+stated.Add(time.Second).Format(time.RFC3339Nano)+`","context":{"consent":{"categoryPreferences":{"marketing":true}}}}`)
	wantOffers(t, "consent granted", e.decide(t, "/v1/decide/user_id:u1"+q), "loyal=10", "news=5")
	wantOffers(t, "limit=1", e.decide(t, "/v1/decide/user_id:u1"+q+"&limit=1"), "loyal=10")

	// The cap: two impressions (one retried) within 24h.
	e.mustPost(t, "/v1/track", showOffer("imp-1", "u1", "loyal"))
	e.mustPost(t, "/v1/track", showOffer("imp-1", "u1", "loyal")) // a retry
	wantOffers(t, "one impression", e.decide(t, "/v1/decide/user_id:u1"+q), "loyal=10", "news=5")
	e.mustPost(t, "/v1/track", showOffer("imp-2", "u1", "loyal"))
	d = e.decide(t, "/v1/decide/user_id:u1"+q+"&explain=true")
	wantOffers(t, "cap reached", d, "news=5")
	var loyal catalog.OfferExplanation
	for _, x := range d.Explain {
		if x.Offer == "loyal" {
			loyal = x
		}
	}
	if loyal.Reason != catalog.ReasonCap || loyal.Cap == nil || loyal.Cap.Shown != 2 || loyal.Cap.Max != 2 ||
		len(loyal.Reads) != 1 || loyal.Reads[0].Name != "audiences" {
		t.Fatalf("explain of loyal: %+v", loyal)
	}
	// An impression of another offer counts against that one only.
	e.mustPost(t, "/v1/track", showOffer("imp-3", "u1", "news"))
	wantOffers(t, "news uncapped", e.decide(t, "/v1/decide/user_id:u1"+q), "news=5")
}

// A bad query is a 400 naming the parameter.
func TestDecideBadInput(t *testing.T) {
	e := newTestEdge(t, nil)
	if _, err := e.st.SetCatalog(offersCatalog(t, 7)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, field string }{
		{"/v1/decide/user_id:u1", "placement:"},
		{"/v1/decide/user_id:u1?placement=", "placement:"},
		{"/v1/decide/user_id:u1?placement=" + strings.Repeat("p", 65), "placement:"},
		{"/v1/decide/user_id:u1?placement=checkout&limit=0", "limit:"},
		{"/v1/decide/user_id:u1?placement=checkout&limit=51", "limit:"},
		{"/v1/decide/user_id:u1?placement=checkout&limit=three", "limit:"},
		{"/v1/decide/user_id:u1?placement=checkout&explain=maybe", "explain:"},
		{"/v1/decide/" + strings.Repeat("i", 129) + "?placement=checkout", "profile id:"},
		{"/v1/decide/email:not-an-email?placement=checkout", "identifier"},
	} {
		r := e.get(t, tc.path)
		if r.status != 400 {
			t.Errorf("%s = %d %s, want 400", tc.path, r.status, r.body)
			continue
		}
		if _, msg := r.errorCode(t); !strings.Contains(msg, tc.field) {
			t.Errorf("%s: message %q does not name %q", tc.path, msg, tc.field)
		}
	}
	if r := e.post(t, "/v1/decide/user_id:u1?placement=checkout", ""); r.status != 405 {
		t.Errorf("POST = %d, want 405", r.status)
	}
	if r := e.get(t, "/v1/decide/?placement=checkout"); r.status != 404 {
		t.Errorf("no ref = %d, want 404", r.status)
	}
}

// Decide needs the decide scope; explain, which shows what expressions
// read, the profiles scope too.
func TestDecideScopes(t *testing.T) {
	e := newTestEdge(t, withReadKeys)
	if _, err := e.st.SetCatalog(offersCatalog(t, 7)); err != nil {
		t.Fatal(err)
	}
	const path = "/v1/decide/user_id:u1?placement=checkout"
	for _, tc := range []struct {
		secret, query string
		status        int
	}{
		{"", "", 401},
		{secretProfiles, "", 403},
		{secretStream, "", 403},
		{secretDecide, "", 200},
		{secretDecide, "&explain=true", 403},
		{secretBoth, "&explain=true", 200},
	} {
		var hdr []string
		if tc.secret != "" {
			hdr = []string{"Authorization", bearer(tc.secret)}
		}
		r := e.get(t, path+tc.query, hdr...)
		if r.status != tc.status {
			t.Errorf("key %q%s = %d %s, want %d", tc.secret, tc.query, r.status, r.body, tc.status)
		}
		noSecret(t, "decide", r)
	}
}

// An edge that restarts without its hub decides with the last catalog
// the hub shipped: the store keeps it.
func TestDecideOffline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	opts := store.DefaultOptions(path)
	opts.NodeName, opts.NoSync = "test-edge", true
	st, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetCatalog(offersCatalog(t, 7)); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(opts) // no hub configured: nothing ships a catalog
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	e := startEdge(t, st, nil)
	e.mustPost(t, "/v1/track", `{"userId":"u1","event":"Order Completed","properties":{"total":5}}`)
	wantOffers(t, "offline", e.decide(t, "/v1/decide/user_id:u1?placement=checkout"), "loyal=10")
	wantOffers(t, "offline, unknown visitor", e.decide(t, "/v1/decide/user_id:u2?placement=checkout"), "welcome=1")
}

// Caps hold across two edges: the same "Offer Shown" message at both
// counts once once their states meet; impressions at each add up.
func TestDecideCapAcrossEdges(t *testing.T) {
	a, b := newTestEdge(t, nil), newTestEdge(t, nil)
	for _, e := range []*testEdge{a, b} {
		if _, err := e.st.SetCatalog(offersCatalog(t, 7)); err != nil {
			t.Fatal(err)
		}
	}
	var sent [2]uint64 // outbox positions already delivered, per edge
	exchange := func() {
		t.Helper()
		for i, pair := range [][2]*testEdge{{a, b}, {b, a}} {
			es, err := pair[0].st.Outbox(sent[i], 10000)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) == 0 {
				continue
			}
			if _, err := pair[1].st.ApplyRemote(context.Background(), es); err != nil {
				t.Fatal(err)
			}
			sent[i] = es[len(es)-1].Seq
		}
	}
	a.mustPost(t, "/v1/track", `{"messageId":"o1","userId":"u1","event":"Order Completed","properties":{"total":5}}`)
	exchange()
	const q = "/v1/decide/user_id:u1?placement=checkout"
	wantOffers(t, "b after the exchange", b.decide(t, q), "loyal=10")
	// The app reports one impression to both tills (a retry to another
	// edge): it counts once at each.
	a.mustPost(t, "/v1/track", showOffer("imp-1", "u1", "loyal"))
	b.mustPost(t, "/v1/track", showOffer("imp-1", "u1", "loyal"))
	exchange()
	exchange()
	for _, e := range []*testEdge{a, b} {
		d := e.decide(t, q+"&explain=true")
		wantOffers(t, e.url+" one impression at two edges", d, "loyal=10")
		for _, x := range d.Explain {
			if x.Offer == "loyal" && (x.Cap == nil || x.Cap.Shown != 1) {
				t.Fatalf("%s: loyal's cap %+v, want one impression", e.url, x.Cap)
			}
		}
	}
	// A second impression at b caps the offer at both.
	b.mustPost(t, "/v1/track", showOffer("imp-2", "u1", "loyal"))
	exchange()
	for _, e := range []*testEdge{a, b} {
		wantOffers(t, e.url+" two impressions", e.decide(t, q))
	}
}

// The fast path's encoding is the JSON encoder's.
func TestAppendDecision(t *testing.T) {
	for _, tc := range []struct {
		offers  []catalog.Decided
		version string
	}{
		{nil, "0000019a-0001-0002"},
		{[]catalog.Decided{{ID: "a", Score: 1.5, Payload: json.RawMessage(`{"x":[1,"é"]}`)}, {ID: "b_2", Score: -3e21}, {ID: "c", Score: 1e-7, Payload: json.RawMessage(`"s"`)}}, `odd"\version` + "\n"},
	} {
		offers := tc.offers
		if offers == nil {
			offers = []catalog.Decided{}
		}
		want, err := json.Marshal(&decideResponse{Offers: offers, ProfileVersion: &tc.version})
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		got := appendDecision(nil, tc.offers, tc.version)
		if json.Unmarshal(got, &a) != nil || json.Unmarshal(want, &b) != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("appendDecision = %s, want %s", got, want)
		}
	}
}
