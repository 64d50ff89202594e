package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"ucv/profile/catalog"
)

// Consent purposes and the retention policy at the hub: PUT, GET one
// and all, DELETE through the generic definition routes (Raft
// CmdDefine/CmdUndefine); bad ones are a 400 naming the field and
// change nothing.
func TestConsentPurposeAndRetentionRoutes(t *testing.T) {
	n, url := newHub(t)
	if resp, b := do(t, "PUT", url+"/v1/admin/audiences/buyers", admin, []byte(`{"expression":"count(\"Order Completed\", \"lifetime\") >= 1"}`)); resp.StatusCode != 200 {
		t.Fatalf("PUT audience = %d %s", resp.StatusCode, b)
	}
	resp, b := do(t, "PUT", url+"/v1/admin/consent-purposes/advertising", admin,
		[]byte(`{"traits":["email"],"audiences":["buyers"],"destinations":["ads_hook"]}`))
	var put definitionBody
	if resp.StatusCode != 200 || json.Unmarshal(b, &put) != nil || put.Kind != catalog.KindPurpose || put.Version == 0 {
		t.Fatalf("PUT consent purpose = %d %s", resp.StatusCode, b)
	}
	if cp := n.FSM().Catalog().ConsentPurposes["advertising"]; len(cp.Audiences) != 1 || cp.Destinations[0] != "ads_hook" {
		t.Fatalf("catalog purpose = %+v", cp)
	}
	if !n.FSM().Compiled().KnownPurpose("advertising") {
		t.Fatal("the compiled catalog does not know the purpose")
	}
	if resp, b := do(t, "GET", url+"/v1/admin/consent-purposes", admin, nil); resp.StatusCode != 200 || !strings.Contains(string(b), `"consent_purposes":{"advertising":{`) {
		t.Errorf("GET consent purposes = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "GET", url+"/v1/admin/consent-purposes/nope", admin, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "no consent purpose named") {
		t.Errorf("GET unknown purpose = %d %s", resp.StatusCode, b)
	}
	// A purpose lists the audience: removing it is a conflict.
	if resp, b := do(t, "DELETE", url+"/v1/admin/audiences/buyers", admin, nil); resp.StatusCode != 409 {
		t.Errorf("DELETE an audience a purpose lists = %d %s, want 409", resp.StatusCode, b)
	}
	// An offer may now need the purpose the catalog defines.
	if resp, b := do(t, "PUT", url+"/v1/admin/offers/retarget", admin, []byte(`{"placement":"home","consent":"advertising"}`)); resp.StatusCode != 200 {
		t.Fatalf("PUT offer needing a defined purpose = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "PUT", url+"/v1/admin/retention/default", admin, []byte(`{"events_days":90,"inactive_days":730,"anonymous_days":30}`)); resp.StatusCode != 200 {
		t.Fatalf("PUT retention = %d %s", resp.StatusCode, b)
	}
	if r, ok := n.FSM().Compiled().RetentionPolicy(); !ok || r.AnonymousDays != 30 {
		t.Fatalf("retention policy = %+v %v", r, ok)
	}
	if resp, b := do(t, "GET", url+"/v1/admin/retention/default", admin, nil); resp.StatusCode != 200 || !strings.Contains(string(b), `"events_days":90`) {
		t.Errorf("GET retention = %d %s", resp.StatusCode, b)
	}

	for _, tc := range []struct{ name, path, body, field string }{
		{"unknown audience", "consent-purposes/ads", `{"audiences":["vip"]}`, "audiences:"},
		{"bad destination", "consent-purposes/ads", `{"destinations":["Not A Name"]}`, "destinations:"},
		{"unknown field", "consent-purposes/ads", `{"colour":"red"}`, "colour:"},
		{"bad name", "consent-purposes/Ads", `{}`, "name:"},
		{"retention name", "retention/weekly", `{"events_days":7}`, "name:"},
		{"empty policy", "retention/default", `{}`, "events_days:"},
		{"negative days", "retention/default", `{"events_days":-3}`, "events_days:"},
		{"anonymous longer", "retention/default", `{"inactive_days":10,"anonymous_days":20}`, "anonymous_days:"},
		{"unknown consent on an offer", "offers/other", `{"placement":"home","consent":"adverts"}`, "consent:"},
	} {
		idx := n.FSM().Index()
		resp, b := do(t, "PUT", url+"/v1/admin/"+tc.path, admin, []byte(tc.body))
		_, msg := errCode(t, b)
		if resp.StatusCode != 400 || !strings.HasPrefix(msg, tc.field) {
			t.Errorf("%s: %d %q, want 400 and a message starting %q", tc.name, resp.StatusCode, msg, tc.field)
		}
		if n.FSM().Index() != idx {
			t.Errorf("%s: a refused definition changed the state", tc.name)
		}
	}
	// An offer needing a purpose that is not built in: removing the
	// purpose is a conflict.
	for _, p := range [][2]string{{"consent-purposes/club", `{}`}, {"offers/members", `{"placement":"home","consent":"club"}`}} {
		if resp, b := do(t, "PUT", url+"/v1/admin/"+p[0], admin, []byte(p[1])); resp.StatusCode != 200 {
			t.Fatalf("PUT %s = %d %s", p[0], resp.StatusCode, b)
		}
	}
	if resp, b := do(t, "DELETE", url+"/v1/admin/consent-purposes/club", admin, nil); resp.StatusCode != 409 {
		t.Errorf("DELETE a purpose an offer needs = %d %s, want 409", resp.StatusCode, b)
	}
	for _, p := range []string{"offers/retarget", "offers/members", "consent-purposes/club", "consent-purposes/advertising", "retention/default"} {
		if resp, b := do(t, "DELETE", url+"/v1/admin/"+p, admin, nil); resp.StatusCode != 200 {
			t.Fatalf("DELETE %s = %d %s", p, resp.StatusCode, b)
		}
	}
	if c := n.FSM().Catalog(); len(c.ConsentPurposes) != 0 || len(c.Retention) != 0 {
		t.Fatalf("after DELETE: %+v %+v", c.ConsentPurposes, c.Retention)
	}
}
