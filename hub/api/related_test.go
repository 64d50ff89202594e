package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"ucv/hub"
	"ucv/hub/api"
	"ucv/hub/hubtest"
	hubtoken "ucv/hub/token"
	"ucv/profile"
	"ucv/replication"
)

// TestRelatedOverHTTP: GET /v1/admin/profiles/{ref}/related for a
// household of three (one address written three ways, one phone, a
// family e-mail for two of them) that a steward keeps apart, and a
// store's e-mail typed into many records: the admin, steward and privacy
// roles see the values, the auditor their stand-ins; a type:value ref
// finds the person; an unknown ref is 404 naming it, a malformed one 400
// naming the field.
func TestRelatedOverHTTP(t *testing.T) {
	_, url := newHub(t, withTokens(tokenSet(t)))
	e := hubtest.NewEdge("e1", 1)
	phone := profile.Identifier{Type: profile.Phone, Value: "+12175550111"}
	family, store := hubtest.Email("lees@example.org"), hubtest.Email("orders@shop.example")
	person := func(id, first, last, street, postcode string, ids ...profile.Identifier) replication.Entry {
		return e.Delta(hubtest.Event{Profile: id, Kind: profile.Identify, IDs: append(ids, phone),
			Traits: map[string]any{"firstName": first, "lastName": last,
				"address": map[string]any{"street": street, "city": "Springfield", "postalCode": postcode}}})
	}
	es := []replication.Entry{
		person("ann", "Ann", "Lee", "12 Elm St.", "62704", family, store),
		person("bob", "Bob", "Lee", "12 elm street", "62704", family),
		person("cara", "Cara", "Diaz", "12 ELM STREET", "627 04"),
	}
	names := []string{"Quentin", "Rosalind", "Ignatius", "Winifred", "Bartholomew", "Gwendolyn", "Cornelius", "Philippa",
		"Leopold", "Octavia", "Thaddeus", "Henrietta", "Barnaby", "Clementine", "Ezekiel", "Marguerite", "Fitzgerald",
		"Araminta", "Percival", "Drusilla", "Montgomery", "Evangeline", "Zebedee"}
	for i, n := range names { // more than hub.BusyHolders other people
		es = append(es, e.Delta(hubtest.Event{Profile: fmt.Sprintf("s%02d", i), Kind: profile.Identify,
			IDs: []profile.Identifier{store}, Traits: map[string]any{"name": n + " " + names[(i+7)%len(names)] + "son"}}))
	}
	if resp, b := do(t, "POST", url+"/v1/sync/push", roleTokens[hubtoken.Sync].secret, push(t, "e1", es...)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	get := func(ref string, role hubtoken.Role) (int, []byte) {
		t.Helper()
		resp, b := do(t, "GET", url+"/v1/admin/profiles/"+ref+"/related", roleTokens[role].secret, nil)
		return resp.StatusCode, b
	}
	// Keep the three apart where today's engine merged them.
	ids := []string{"ann", "bob", "cara"}
	for i, a := range ids {
		for _, b := range ids[i+1:] {
			_, body := do(t, "GET", url+"/v1/admin/profiles/"+a, roleTokens[hubtoken.Admin].secret, nil)
			var p api.ProfileResponse
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if _, ok := p.Fragments[b]; !ok {
				continue
			}
			t.Logf("today's engine merged %s and %s; the steward unmerges them", a, b)
			req := fmt.Sprintf(`{"a":%q,"b":%q,"actor":"sam","reason":"a household"}`, a, b)
			if resp, body := do(t, "POST", url+"/v1/admin/unmerge", roleTokens[hubtoken.Steward].secret, []byte(req)); resp.StatusCode != 200 {
				t.Fatalf("unmerge %s %s = %d %s", a, b, resp.StatusCode, body)
			}
		}
	}

	status, b := get("ann", hubtoken.Admin)
	if status != 200 {
		t.Fatalf("related ann = %d %s", status, b)
	}
	var got api.RelatedResponse
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := api.RelatedResponse{ID: "ann", Fragments: []string{"ann"},
		Shared: []api.SharedValue{
			{Type: "address", Value: "12 elm street, 62704", Count: 2, Holders: []api.SharedHolder{{ID: "bob", Kind: hub.Household}, {ID: "cara", Kind: hub.Household}}},
			{Type: "email", Value: family.Value, Count: 1, Holders: []api.SharedHolder{{ID: "bob", Kind: hub.Household}}},
			{Type: "email", Value: store.Value, Busy: true, Count: len(names)},
			{Type: "phone", Value: phone.Value, Count: 2, Holders: []api.SharedHolder{{ID: "bob", Kind: hub.Household}, {ID: "cara", Kind: hub.SharedContact}}},
		},
		Related: []api.Relation{
			{ID: "bob", Kinds: []hub.RelationKind{hub.Household}, Types: []string{"address", "email", "phone"}},
			{ID: "cara", Kinds: []hub.RelationKind{hub.Household, hub.SharedContact}, Types: []string{"address", "phone"}},
		},
		Total:  2,
		Counts: map[hub.RelationKind]int{hub.Household: 2, hub.SharedContact: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("related ann =\n%s\nwant\n%+v", b, want)
	}
	t.Logf("GET /v1/admin/profiles/ann/related:\n%s", b)
	if !strings.Contains(string(b), `"busy":true,"count":23}`) {
		t.Errorf("the busy e-mail is not a bare count: %s", b)
	}
	for _, role := range []hubtoken.Role{hubtoken.Steward, hubtoken.Privacy} {
		if status, rb := get("ann", role); status != 200 || string(rb) != string(b) {
			t.Errorf("%s: related ann = %d %s, want the admin's answer", role, status, rb)
		}
	}
	// By type:value: the family e-mail's first holder, Ann.
	if status, rb := get("email:LEES@example.org", hubtoken.Admin); status != 200 || string(rb) != string(b) {
		t.Errorf("related email:… = %d %s, want Ann's", status, rb)
	}

	// The auditor sees the same graph with stand-ins for the values.
	status, masked := get("ann", hubtoken.Auditor)
	if status != 200 {
		t.Fatalf("auditor: related ann = %d %s", status, masked)
	}
	for _, raw := range []string{family.Value, store.Value, phone.Value, "12 elm", "62704"} {
		if strings.Contains(string(masked), raw) {
			t.Errorf("the auditor's answer shows %s:\n%s", raw, masked)
		}
	}
	var m api.RelatedResponse
	if err := json.Unmarshal(masked, &m); err != nil {
		t.Fatal(err)
	}
	for i := range want.Shared {
		want.Shared[i].Value = profile.Redact(want.Shared[i].Value)
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("auditor: related ann =\n%s\nwant the admin's with stand-ins", masked)
	}

	// Bad refs.
	status, b = get("nobody", hubtoken.Admin)
	if code, msg := errCode(t, b); status != 404 || code != "not_found" || !strings.Contains(msg, "nobody") {
		t.Errorf("related nobody = %d %s, want 404 not_found naming it", status, b)
	}
	status, b = get("email:not-an-email", hubtoken.Admin)
	if code, msg := errCode(t, b); status != 400 || msg != "ref: not a valid e-mail address" || strings.Contains(msg, "not-an-email") {
		t.Errorf("related email:not-an-email = %d %s %s, want 400 naming ref, not the value", status, code, b)
	}
	if resp, _ := do(t, "GET", url+"/v1/admin/profiles/ann/related", roleTokens[hubtoken.Sync].secret, nil); resp.StatusCode != 403 {
		t.Errorf("related with a sync token = %d, want 403", resp.StatusCode)
	}
}
