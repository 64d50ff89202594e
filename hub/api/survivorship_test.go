package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"ucv/hub/api"
	"ucv/hub/hubtest"
	hubtoken "ucv/hub/token"
	"ucv/profile"
)

// TestSurvivorshipOverHTTP: policies defined through the admin API
// choose the hub's golden record — the CRM's first name over the web's
// later typo (source_priority), the last name two of three records hold
// (most_frequent) — and /why names the source, record, time and rule of
// each trait's value.
func TestSurvivorshipOverHTTP(t *testing.T) {
	_, url := newHub(t)
	for path, body := range map[string]string{
		"first_name": `{"policy":"source_priority","sources":["crm","pos"]}`,
		"last_name":  `{"policy":"most_frequent"}`,
	} {
		if resp, b := do(t, "PUT", url+"/v1/admin/survivorship/"+path, admin, []byte(body)); resp.StatusCode != 200 {
			t.Fatalf("PUT %s = %d %s", path, resp.StatusCode, b)
		}
	}
	// A bad policy is a 400 naming the field, and changes nothing.
	resp, b := do(t, "PUT", url+"/v1/admin/survivorship/first_name", admin, []byte(`{"policy":"source_priority"}`))
	if resp.StatusCode != 400 || !strings.Contains(string(b), "sources") {
		t.Fatalf("bad PUT = %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", url+"/v1/admin/survivorship", admin, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"sources":["crm","pos"]`) {
		t.Fatalf("GET list = %d %s", resp.StatusCode, b)
	}
	ann := hubtest.Email("ann@example.com")
	const t1 = 1_700_000_000_000
	web, crm, pos := hubtest.NewEdge("web-1", 1), hubtest.NewEdge("crm-1", 2), hubtest.NewEdge("pos-1", 3)
	for _, p := range []struct {
		e    *hubtest.Edge
		name string
		ev   hubtest.Event
	}{
		{crm, "e2", hubtest.Event{Profile: "p2", Kind: profile.Identify, IDs: []profile.Identifier{ann}, Source: "crm", At: t1,
			Traits: map[string]any{"first_name": "Katherine", "last_name": "Smith"}}},
		{pos, "e3", hubtest.Event{Profile: "p3", Kind: profile.Identify, IDs: []profile.Identifier{ann}, Source: "pos", At: t1 + 1000,
			Traits: map[string]any{"last_name": "Smith"}}},
		{web, "e1", hubtest.Event{Profile: "p1", Kind: profile.Identify, IDs: []profile.Identifier{ann}, Source: "web", At: t1 + 5000,
			Traits: map[string]any{"first_name": "Katherin", "last_name": "Smiht"}}},
	} {
		if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, p.name, p.e.Delta(p.ev))); resp.StatusCode != 200 {
			t.Fatalf("push = %d %s", resp.StatusCode, b)
		}
	}
	resp, b = do(t, "GET", url+"/v1/admin/profiles/email:ann@example.com", admin, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("profile = %d %s", resp.StatusCode, b)
	}
	var pr struct {
		Profile struct {
			Traits map[string]any `json:"traits"`
		} `json:"profile"`
		Fragments map[string]any `json:"fragments"`
	}
	if err := json.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Fragments) != 3 || pr.Profile.Traits["first_name"] != "Katherine" || pr.Profile.Traits["last_name"] != "Smith" {
		t.Fatalf("golden record %v over %d fragments, want Katherine Smith over 3", pr.Profile.Traits, len(pr.Fragments))
	}
	resp, b = do(t, "GET", url+"/v1/admin/profiles/email:ann@example.com/why", admin, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("why = %d %s", resp.StatusCode, b)
	}
	var w api.WhyResponse
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	got := map[string]api.TraitWhy{}
	for _, tw := range w.Traits {
		got[tw.Trait] = tw
		if strings.Contains(tw.Reason, "Smith") || strings.Contains(tw.Reason, "Kath") {
			t.Errorf("reason carries a value: %s", tw.Reason)
		}
	}
	fn, ln := got["first_name"], got["last_name"]
	if fn.Policy != "source_priority" || fn.Source != "crm" || fn.Record != "p2" || fn.At.UnixMilli() != t1 ||
		string(fn.Value) != `"Katherine"` || !strings.Contains(fn.Reason, "ranked 1st") {
		t.Errorf("first_name why = %+v", fn)
	}
	if ln.Policy != "most_frequent" || ln.Count != 2 || ln.Candidates != 3 || !strings.Contains(ln.Reason, "2 of 3") || string(ln.Value) != `"Smith"` {
		t.Errorf("last_name why = %+v", ln)
	}
	// Without the policy, the latest write wins again.
	if resp, b := do(t, "DELETE", url+"/v1/admin/survivorship/first_name", admin, nil); resp.StatusCode != 200 {
		t.Fatalf("DELETE = %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", url+"/v1/admin/profiles/email:ann@example.com/why", admin, nil)
	if err := json.Unmarshal(b, &w); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode, err)
	}
	for _, tw := range w.Traits {
		if tw.Trait == "first_name" && (tw.Policy != "most_recent" || tw.Source != "web" || string(tw.Value) != `"Katherin"`) {
			t.Errorf("first_name without a policy = %+v", tw)
		}
	}
}

// TestWhyNamesImportedRecord: a value that came from `ucv import` is
// explained with the record's own identifier (record:{source}/{id}, a
// ref the profile route accepts), not only the hub's fragment ID; an
// edge's value has none; the auditor sees the record ID redacted.
func TestWhyNamesImportedRecord(t *testing.T) {
	_, url := newHub(t, withTokens(tokenSet(t)))
	adm := roleTokens[hubtoken.Admin].secret
	if resp, b := do(t, "PUT", url+"/v1/admin/survivorship/firstName", adm,
		[]byte(`{"policy":"source_priority","sources":["crm","web"]}`)); resp.StatusCode != 200 {
		t.Fatalf("PUT policy = %d %s", resp.StatusCode, b)
	}
	imp := `{"source":"crm","columns":[{"name":"email","kind":"email"},{"name":"first","kind":"first_name"},{"name":"last","kind":"last_name"}],` +
		`"records":[{"id":"1001","values":["ann@example.com","Katherine","Smith"]}]}`
	if resp, b := do(t, "POST", url+"/v1/admin/import", adm, []byte(imp)); resp.StatusCode != 200 {
		t.Fatalf("import = %d %s", resp.StatusCode, b)
	}
	web := hubtest.NewEdge("e1", 1)
	ev := web.Delta(hubtest.Event{Profile: "w1", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("ann@example.com")},
		Source: "web", At: 1_900_000_000_000, Traits: map[string]any{"firstName": "Katherin", "lastName": "Smiht"}})
	if resp, b := do(t, "POST", url+"/v1/sync/push", roleTokens[hubtoken.Sync].secret, push(t, "e1", ev)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	why := func(tok string) map[string]api.TraitWhy {
		t.Helper()
		resp, b := do(t, "GET", url+"/v1/admin/profiles/record:crm%2F1001/why", tok, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("why = %d %s", resp.StatusCode, b)
		}
		var w api.WhyResponse
		if err := json.Unmarshal(b, &w); err != nil {
			t.Fatal(err)
		}
		if len(w.Fragments) != 2 {
			t.Fatalf("why over fragments %v, want the import and the web profile", w.Fragments)
		}
		got := map[string]api.TraitWhy{}
		for _, tw := range w.Traits {
			got[tw.Trait] = tw
		}
		return got
	}
	got := why(adm)
	if fn := got["firstName"]; fn.Source != "crm" || fn.SourceRecord != "record:crm/1001" || string(fn.Value) != `"Katherine"` {
		t.Errorf("firstName why = %+v, want crm's record:crm/1001", fn)
	}
	if ln := got["lastName"]; ln.Source != "web" || ln.SourceRecord != "" || ln.Record != "w1" {
		t.Errorf("lastName why = %+v, want the web profile w1 (most_recent) and no import record", ln)
	}
	masked := why(roleTokens[hubtoken.Auditor].secret)
	if fn := masked["firstName"]; fn.SourceRecord != "record:"+profile.Redact("crm/1001") || strings.Contains(fn.SourceRecord, "1001") {
		t.Errorf("auditor: firstName source record %q, want it redacted", fn.SourceRecord)
	}
}
