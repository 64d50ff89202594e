package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"ucv/profile/catalog"
)

// Offers at the hub: PUT, GET one and all, DELETE through the generic
// definition routes; bad offers are a 400 naming the field and change
// nothing.
func TestOfferRoutes(t *testing.T) {
	n, url := newHub(t)
	if resp, b := do(t, "PUT", url+"/v1/admin/audiences/buyers", admin, []byte(`{"expression":"count(\"Order Completed\", \"lifetime\") >= 1"}`)); resp.StatusCode != 200 {
		t.Fatalf("PUT audience = %d %s", resp.StatusCode, b)
	}
	body := `{"placement":"checkout","eligibility":"\"buyers\" in audiences","priority":"double(count(\"Order Completed\", \"30d\"))",` +
		`"cap":{"max":3,"window":"24h"},"consent":"marketing","payload":{"code":"LOYAL","pct":10}}`
	resp, b := do(t, "PUT", url+"/v1/admin/offers/loyal", admin, []byte(body))
	var put definitionBody
	if resp.StatusCode != 200 || json.Unmarshal(b, &put) != nil || put.Kind != catalog.KindOffer || put.Version == 0 {
		t.Fatalf("PUT offer = %d %s", resp.StatusCode, b)
	}
	if o := n.FSM().Catalog().Offers["loyal"]; o.Cap == nil || o.Cap.Max != 3 || string(o.Payload) != `{"code":"LOYAL","pct":10}` {
		t.Fatalf("catalog offer = %+v", o)
	}
	resp, b = do(t, "GET", url+"/v1/admin/offers/loyal", admin, nil)
	var got definitionBody
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || string(got.Definition) != string(put.Definition) {
		t.Errorf("GET offer = %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", url+"/v1/admin/offers", admin, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"offers":{"loyal":{`) {
		t.Errorf("GET offers = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "GET", url+"/v1/admin/offers/nope", admin, nil); resp.StatusCode != 404 || !strings.Contains(string(b), "no offer named") {
		t.Errorf("GET unknown offer = %d %s", resp.StatusCode, b)
	}
	// Removing the audience the offer reads is a conflict.
	if resp, b := do(t, "DELETE", url+"/v1/admin/audiences/buyers", admin, nil); resp.StatusCode != 409 {
		t.Errorf("DELETE an audience an offer reads = %d %s, want 409", resp.StatusCode, b)
	}

	for _, tc := range []struct{ name, body, field string }{
		{"invalid expression", `{"placement":"checkout","eligibility":"count(\"x\","}`, "eligibility:"},
		{"non-bool eligibility", `{"placement":"checkout","eligibility":"1 + 1"}`, "eligibility:"},
		{"unknown audience", `{"placement":"checkout","eligibility":"\"vip\" in audiences"}`, "eligibility:"},
		{"invalid priority", `{"placement":"checkout","priority":"traits.score >"}`, "priority:"},
		{"bool priority", `{"placement":"checkout","priority":"true"}`, "priority:"},
		{"unknown consent category", `{"placement":"checkout","consent":"newsletter"}`, "consent:"},
		{"negative cap", `{"placement":"checkout","cap":{"max":-3,"window":"24h"}}`, "cap.max:"},
		{"zero cap", `{"placement":"checkout","cap":{"max":0,"window":"24h"}}`, "cap.max:"},
		{"bad cap window", `{"placement":"checkout","cap":{"max":3,"window":"forever"}}`, "cap.window:"},
		{"no placement", `{"priority":1}`, "placement:"},
		{"unknown field", `{"placement":"checkout","weight":1}`, "weight:"},
	} {
		idx := n.FSM().Index()
		resp, b := do(t, "PUT", url+"/v1/admin/offers/loyal", admin, []byte(tc.body))
		_, msg := errCode(t, b)
		if resp.StatusCode != 400 || !strings.HasPrefix(msg, tc.field) {
			t.Errorf("%s: %d %q, want 400 and a message starting %q", tc.name, resp.StatusCode, msg, tc.field)
		}
		if n.FSM().Index() != idx {
			t.Errorf("%s: a refused offer changed the state", tc.name)
		}
	}
	if o := n.FSM().Catalog().Offers["loyal"]; o.Consent != "marketing" || o.Cap.Max != 3 {
		t.Errorf("the offer after the refusals = %+v", o)
	}
	if resp, b := do(t, "DELETE", url+"/v1/admin/offers/loyal", admin, nil); resp.StatusCode != 200 {
		t.Fatalf("DELETE offer = %d %s", resp.StatusCode, b)
	}
	if c := n.FSM().Catalog(); len(c.Offers) != 0 {
		t.Fatalf("offers after DELETE = %v", c.Offers)
	}
}
