package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"ucv/edge/store"
	"ucv/profile/catalog"
)

// consentCatalog marks, under advertising, the e-mail (trait and
// identifier), a computed trait, an audience, the recommendations and
// an offer.
func consentCatalog(t testing.TB) catalog.Catalog {
	t.Helper()
	c, _, err := catalog.ParseFile([]byte(`{
		"computed_traits": {"orders": {"event": "Order Completed", "aggregate": "count"},
			"views": {"event": "Product Viewed", "aggregate": "count"}},
		"audiences": {"buyers": {"expression": "count(\"Order Completed\", \"lifetime\") >= 1"},
			"everyone": {"expression": "true"}},
		"offers": {"retarget": {"placement": "home", "priority": 2},
			"plain": {"placement": "home", "priority": 1}},
		"consent_purposes": {"advertising": {"traits": ["email", "orders"], "audiences": ["buyers"],
			"offers": ["retarget"], "recommendations": true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Version = 3
	return c
}

// ingestPerson posts an identify with an e-mail and consent, and an order.
func ingestPerson(t *testing.T, e *testEdge, user, consent string) {
	t.Helper()
	ctx := ""
	if consent != "" {
		ctx = `,"context":{"consent":{"categoryPreferences":` + consent + `}}`
	}
	e.mustPost(t, "/v1/identify", `{"userId":"`+user+`","traits":{"email":"`+user+`@example.com","plan":"gold"}`+ctx+`}`)
	e.mustPost(t, "/v1/track", `{"userId":"`+user+`","event":"Order Completed","properties":{"total":5}}`)
}

// TestLookupForPurpose: ?purpose=advertising for a person who declined
// it leaves out the e-mail, the marked computed trait, the marked
// audience and the recommendations on every profile route; for one who
// granted it, and without ?purpose, everything is there; the stored
// view bytes are served as they are.
func TestLookupForPurpose(t *testing.T) {
	e := newTestEdge(t, nil)
	if _, err := e.st.SetCatalog(consentCatalog(t)); err != nil {
		t.Fatal(err)
	}
	ingestPerson(t, e, "ann", `{"Advertising":false,"analytics":true}`)
	ingestPerson(t, e, "bob", `{"advertising":true}`)

	whole := e.get(t, "/v1/profiles/user_id:ann", "")
	declined := e.get(t, "/v1/profiles/user_id:ann?purpose=advertising", "")
	if whole.status != 200 || declined.status != 200 {
		t.Fatalf("lookups = %d, %d", whole.status, declined.status)
	}
	for _, want := range []string{`"email":"ann@example.com"`, `"buyers"`, `"orders":1`} {
		if !strings.Contains(string(whole.body), want) {
			t.Errorf("without purpose the view lacks %s: %s", want, whole.body)
		}
	}
	for _, gone := range []string{"ann@example.com", `"buyers"`, `"orders"`} {
		if strings.Contains(string(declined.body), gone) {
			t.Errorf("?purpose=advertising for a person who declined shows %s: %s", gone, declined.body)
		}
	}
	for _, kept := range []string{`"plan":"gold"`, `"everyone"`, `"views":0`, `"user_id"`} {
		if !strings.Contains(string(declined.body), kept) {
			t.Errorf("?purpose=advertising lost %s, which the purpose does not mark: %s", kept, declined.body)
		}
	}
	var v map[string]any
	if err := json.Unmarshal(declined.body, &v); err != nil {
		t.Fatalf("the filtered view is not JSON: %v", err)
	}
	if analytics := e.get(t, "/v1/profiles/user_id:ann?purpose=analytics", ""); string(analytics.body) != string(whole.body) {
		t.Errorf("a purpose that marks nothing changed the view:\n%s\n%s", analytics.body, whole.body)
	}
	if granted := e.get(t, "/v1/profiles/user_id:bob?purpose=advertising", ""); !strings.Contains(string(granted.body), "bob@example.com") ||
		!strings.Contains(string(granted.body), `"buyers"`) {
		t.Errorf("?purpose=advertising for a person who granted it: %s", granted.body)
	}

	for path, gone := range map[string]string{
		"/traits":       "ann@example.com",
		"/external_ids": "ann@example.com",
		"/computed":     `"orders"`,
		"/audiences":    `"buyers"`,
	} {
		r := e.get(t, "/v1/profiles/user_id:ann"+path+"?purpose=advertising", "")
		if r.status != 200 || strings.Contains(string(r.body), gone) {
			t.Errorf("%s?purpose=advertising = %d %s, shows %s", path, r.status, r.body, gone)
		}
		if all := e.get(t, "/v1/profiles/user_id:ann"+path, ""); !strings.Contains(string(all.body), gone) {
			t.Errorf("%s without purpose lacks %s: %s", path, gone, all.body)
		}
	}
	if r := e.get(t, "/v1/profiles/user_id:ann/audiences?purpose=advertising&explain=true", ""); strings.Contains(string(r.body), `"audience":"buyers"`) {
		t.Errorf("explain shows the withheld audience: %s", r.body)
	}
	if r := e.get(t, "/v1/profiles/user_id:ann/recommendations?purpose=advertising", ""); r.status != 200 || !strings.Contains(string(r.body), `"items":[]`) {
		t.Errorf("recommendations for a declined purpose = %d %s", r.status, r.body)
	}

	// The decision for the offer needing advertising: not offered to
	// ann, asked for a purpose or not; offered to bob.
	wantOffers(t, "ann declined", e.decide(t, "/v1/decide/user_id:ann?placement=home"), "plain=1")
	wantOffers(t, "ann declined, for a purpose", e.decide(t, "/v1/decide/user_id:ann?placement=home&purpose=advertising"), "plain=1")
	wantOffers(t, "bob granted", e.decide(t, "/v1/decide/user_id:bob?placement=home"), "retarget=2", "plain=1")
}

// TestConsentDefault: a person with no consent data is treated as the
// edge's --consent-default says.
func TestConsentDefault(t *testing.T) {
	for _, granted := range []bool{false, true} {
		e := startEdge(t, openStore(t, func(o *store.Options) { o.ConsentGranted = granted }), nil)
		if _, err := e.st.SetCatalog(consentCatalog(t)); err != nil {
			t.Fatal(err)
		}
		ingestPerson(t, e, "cy", "")
		r := e.get(t, "/v1/profiles/user_id:cy?purpose=advertising", "")
		if shown := strings.Contains(string(r.body), "cy@example.com"); shown != granted {
			t.Errorf("default granted=%v: e-mail shown %v: %s", granted, shown, r.body)
		}
		want := []string{"plain=1"}
		if granted {
			want = []string{"retarget=2", "plain=1"}
		}
		wantOffers(t, "silent person", e.decide(t, "/v1/decide/user_id:cy?placement=home"), want...)
	}
}

// TestPurposeBadInput: an unknown or empty purpose is a 400 naming
// purpose, on every route that takes it, before anything is read.
func TestPurposeBadInput(t *testing.T) {
	e := newTestEdge(t, nil)
	if _, err := e.st.SetCatalog(consentCatalog(t)); err != nil {
		t.Fatal(err)
	}
	ingestPerson(t, e, "ann", `{"advertising":false}`)
	before := e.get(t, "/v1/profiles/user_id:ann", "")
	for _, path := range []string{
		"/v1/profiles/user_id:ann?purpose=adverts",
		"/v1/profiles/user_id:ann?purpose=",
		"/v1/profiles/user_id:ann/traits?purpose=nope",
		"/v1/profiles/user_id:ann/audiences?purpose=nope",
		"/v1/profiles/user_id:ann/recommendations?purpose=nope",
		"/v1/profiles/user_id:nobody?purpose=nope", // refused before the lookup
		"/v1/decide/user_id:ann?placement=home&purpose=nope",
	} {
		r := e.get(t, path, "")
		code, msg := r.errorCode(t)
		if r.status != 400 || code != "invalid_request" || !strings.HasPrefix(msg, "purpose:") {
			t.Errorf("GET %s = %d %s %q, want 400 naming purpose", path, r.status, code, msg)
		}
	}
	if after := e.get(t, "/v1/profiles/user_id:ann", ""); !slices.Equal(after.body, before.body) {
		t.Error("a refused lookup changed the profile")
	}
	// A purpose the catalog defines, not built in, is known.
	c := consentCatalog(t)
	c.ConsentPurposes["club"] = catalog.ConsentPurpose{}
	c.Version = 4
	if _, err := e.st.SetCatalog(c); err != nil {
		t.Fatal(err)
	}
	if r := e.get(t, "/v1/profiles/user_id:ann?purpose=club", ""); r.status != 200 {
		t.Errorf("a defined purpose = %d %s", r.status, r.body)
	}
}
