package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/api"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// privacyStatus is GET /v1/admin/privacy/requests/{id}.
type privacyStatus struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Status      string            `json:"status"`
	CreatedAt   *time.Time        `json:"created_at"`
	CompletedAt *time.Time        `json:"completed_at"`
	Edges       map[string]string `json:"edges"`
	Hub         map[string]string `json:"hub"`
	Profiles    []string          `json:"profiles"`
	Index       uint64            `json:"index"`
}

func request(t *testing.T, url, typ, identifier string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"type": typ, "identifier": identifier})
	resp, b := do(t, "POST", url+"/v1/admin/privacy/requests", admin, body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST privacy request = %d %s", resp.StatusCode, b)
	}
	var out struct{ ID, Status string }
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		t.Fatalf("answer %s: %v", b, err)
	}
	return out.ID
}

func requestStatus(t *testing.T, url, id string) privacyStatus {
	t.Helper()
	resp, b := do(t, "GET", url+"/v1/admin/privacy/requests/"+id, admin, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET request %s = %d %s", id, resp.StatusCode, b)
	}
	var st privacyStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func privacySync(t *testing.T, url, edge string, done ...string) *replication.PrivacyDirectives {
	t.Helper()
	body, err := replication.MarshalPrivacySync(&replication.PrivacySync{Edge: edge, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	resp, b := do(t, "POST", url+"/v1/sync/privacy", token, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("privacy sync = %d %s", resp.StatusCode, b)
	}
	d, err := replication.UnmarshalPrivacyDirectives(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func auditEntries(t *testing.T, url string) []hub.AuditEntry {
	t.Helper()
	resp, b := do(t, "GET", url+"/v1/admin/audit?since=0&limit=1000", admin, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET audit = %d %s", resp.StatusCode, b)
	}
	var out struct{ Entries []hub.AuditEntry }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.Entries
}

// TestEraseThroughTheAPI: a person of two fragments at one edge; the
// erasure is pending on the edge, the edge's privacy sync gets the
// directive, every lookup is 404, the feed carries the erased states,
// the receipt completes it (no Shred configured: immediate), and the
// audit log names the request and the profiles.
func TestEraseThroughTheAPI(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	ann := hubtest.Email("ann@example.com")
	phone := profile.Identifier{Type: profile.Phone, Value: "+33612345678"}
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "store-1",
		e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{ann}, Traits: map[string]any{"firstName": "Annabel"}}),
		e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{ann, phone}}),
	)); resp.StatusCode != http.StatusOK {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	id := request(t, url, "erase", "email:Ann@Example.com ") // normalised as edges do
	st := requestStatus(t, url, id)
	if st.Status != "pending" || st.Edges["store-1"] != "pending" || !slices.Equal(st.Profiles, []string{"p1", "p2"}) || st.Hub["h0"] != "pending" {
		t.Fatalf("status = %+v", st)
	}
	for _, ref := range []string{"email:ann@example.com", "phone:+33612345678", "p1", "p2"} {
		if resp, b := do(t, "GET", url+"/v1/admin/profiles/"+ref, admin, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET profile %s = %d %s, want 404", ref, resp.StatusCode, b)
		}
	}
	// The feed carries the erased states.
	resp, b := do(t, "GET", url+"/v1/sync/feed?cursor=0", token, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}
	fr, err := replication.UnmarshalFeedResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	erased := 0
	for _, it := range fr.Items {
		p, err := profile.Unmarshal(it.State)
		if err != nil {
			t.Fatal(err)
		}
		if p.Erased.Set {
			erased++
		}
	}
	if erased != 2 {
		t.Errorf("feed carries %d erased states, want 2", erased)
	}
	if strings.Contains(string(b), "ann@example.com") || strings.Contains(string(b), "Annabel") {
		t.Error("the feed still carries the person")
	}
	d := privacySync(t, url, "store-1")
	if len(d.Salt) != replication.SaltBytes || len(d.Directives) != 1 || d.Directives[0].ID != id ||
		d.Directives[0].Type != replication.DirectiveErase || !slices.Equal(d.Directives[0].ProfileIDs, []string{"p1", "p2"}) {
		t.Fatalf("directives = %+v", d)
	}
	if d := privacySync(t, url, "store-1", id); len(d.Directives) != 0 {
		t.Fatalf("after the receipt: %+v", d.Directives)
	}
	waitFor(t, "the request done", func() bool { return requestStatus(t, url, id).Status == "done" })
	st = requestStatus(t, url, id)
	if st.CompletedAt == nil || st.Edges["store-1"] != "done" || st.Hub["h0"] != "done" {
		t.Errorf("done status = %+v", st)
	}
	var found bool
	for _, a := range auditEntries(t, url) {
		if a.Action == "POST /v1/admin/privacy/requests" {
			found = true
			if a.Actor != "admin" || a.Outcome != http.StatusAccepted || !slices.Equal(a.Targets, []string{id, "p1", "p2"}) {
				t.Errorf("audit entry = %+v", a)
			}
		}
	}
	if !found {
		t.Error("the request is not audited")
	}
	// The list shows it.
	resp, b = do(t, "GET", url+"/v1/admin/privacy/requests", admin, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), id) {
		t.Errorf("list = %d %s", resp.StatusCode, b)
	}
}

// TestEraseUnknownPerson: nobody holds the identifier; the request still
// goes through (no edges registered: straight to the shred), is done and
// audited.
func TestEraseUnknownPerson(t *testing.T) {
	_, url := newHub(t)
	id := request(t, url, "erase", "email:nobody@example.com")
	waitFor(t, "done", func() bool { return requestStatus(t, url, id).Status == "done" })
	if st := requestStatus(t, url, id); len(st.Profiles) != 0 || len(st.Edges) != 0 {
		t.Errorf("status = %+v", st)
	}
	es := auditEntries(t, url)
	if len(es) != 1 || es[0].Targets[0] != id {
		t.Errorf("audit = %+v", es)
	}
}

// TestPrivacyBadInput: each refusal is 400 or 404 naming the field,
// never echoes the identifier, and changes nothing (no audit entry
// either).
func TestPrivacyBadInput(t *testing.T) {
	n, url := newHub(t)
	for _, c := range []struct {
		name, body, field string
	}{
		{"unknown type", `{"type":"forget","identifier":"email:ann@example.com"}`, "type"},
		{"no identifier", `{"type":"erase"}`, "identifier"},
		{"no type in the identifier", `{"type":"erase","identifier":"ann@example.com"}`, "identifier"},
		{"malformed e-mail", `{"type":"erase","identifier":"email:secret-value"}`, "identifier"},
		{"malformed phone", `{"type":"suppress","identifier":"phone:secret-value"}`, "identifier"},
		{"unknown field", `{"type":"erase","identifier":"email:ann@example.com","why":"x"}`, "why"},
		{"not JSON", `secret-value`, "body"},
		{"identifier as an object", `{"type":"export","identifier":{"type":"email","value":"ann@example.com"}}`, "identifier: must be a string, not an object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			idx := n.FSM().Index()
			resp, b := do(t, "POST", url+"/v1/admin/privacy/requests", admin, []byte(c.body))
			code, msg := errCode(t, b)
			if resp.StatusCode != http.StatusBadRequest || code != "invalid_request" || !strings.Contains(msg, c.field) {
				t.Errorf("= %d %s, want 400 naming %s", resp.StatusCode, b, c.field)
			}
			if strings.Contains(msg, "secret-value") || strings.Contains(msg, "ann@example.com") {
				t.Errorf("the message echoes the identifier: %s", msg)
			}
			if n.FSM().Index() != idx {
				t.Error("a refused request changed the state")
			}
		})
	}
	idx := n.FSM().Index()
	for _, path := range []string{"/v1/admin/privacy/requests/pr_nope", "/v1/admin/privacy/requests/pr_nope/export"} {
		if resp, b := do(t, "GET", url+path, admin, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d %s, want 404", path, resp.StatusCode, b)
		}
	}
	if resp, b := do(t, "DELETE", url+"/v1/admin/edges/nope", admin, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("decommission of an unknown edge = %d %s, want 404", resp.StatusCode, b)
	}
	if resp, b := do(t, "GET", url+"/v1/admin/audit?since=x", admin, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("audit since=x = %d %s", resp.StatusCode, b)
	}
	if n.FSM().Index() != idx {
		t.Error("a refused request changed the state")
	}
	// Another edge's privacy sync with an edge's own token is refused.
}

// TestDecommissionThroughTheAPI: an erasure waits for two edges; one
// confirms, the other is decommissioned: done. The decommissioned edge's
// pushes and privacy syncs are refused.
func TestDecommissionThroughTheAPI(t *testing.T) {
	_, url := newHub(t)
	for i, edge := range []string{"store-1", "store-2"} {
		e := hubtest.NewEdge(edge, 1)
		if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, edge,
			e.Delta(hubtest.Event{Profile: "p" + string(rune('1'+i)), IDs: []profile.Identifier{hubtest.Email("ann@example.com")}}))); resp.StatusCode != http.StatusOK {
			t.Fatalf("push = %d %s", resp.StatusCode, b)
		}
	}
	id := request(t, url, "erase", "email:ann@example.com")
	privacySync(t, url, "store-1", id)
	if st := requestStatus(t, url, id); st.Status != "pending" || st.Edges["store-2"] != "pending" || st.Edges["store-1"] != "done" {
		t.Fatalf("status = %+v", st)
	}
	if resp, b := do(t, "DELETE", url+"/v1/admin/edges/store-2", admin, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("decommission = %d %s", resp.StatusCode, b)
	}
	waitFor(t, "done", func() bool { return requestStatus(t, url, id).Status == "done" })
	resp, b := do(t, "GET", url+"/v1/admin/edges", admin, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `{"edge":"store-2","seq":1,"decommissioned":true}`) {
		t.Errorf("edges = %d %s", resp.StatusCode, b)
	}
	body, _ := replication.MarshalPrivacySync(&replication.PrivacySync{Edge: "store-2"})
	if resp, b := do(t, "POST", url+"/v1/sync/privacy", token, body); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a decommissioned edge's privacy sync = %d %s, want 400", resp.StatusCode, b)
	}
	var decom bool
	for _, a := range auditEntries(t, url) {
		if a.Action == "DELETE /v1/admin/edges/{id}" && slices.Equal(a.Targets, []string{"store-2"}) && a.Outcome == 200 {
			decom = true
		}
	}
	if !decom {
		t.Error("the decommission is not audited")
	}
}

// TestSuppressThroughTheAPI: suppress and unsuppress reach the edge as
// directives with the salted key, not the identifier.
func TestSuppressThroughTheAPI(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "store-1", e.Delta(hubtest.Event{Profile: "p1"}))); resp.StatusCode != http.StatusOK {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	sup := request(t, url, "suppress", "email:bob@example.com")
	d := privacySync(t, url, "store-1")
	if len(d.Directives) != 1 || d.Directives[0].Type != replication.DirectiveSuppress || len(d.Directives[0].Keys) != 1 ||
		strings.Contains(d.Directives[0].Keys[0], "bob") {
		t.Fatalf("directives = %+v", d.Directives)
	}
	uns := request(t, url, "unsuppress", "email:bob@example.com")
	d = privacySync(t, url, "store-1", sup)
	if len(d.Directives) != 1 || d.Directives[0].ID != uns || d.Directives[0].Type != replication.DirectiveUnsuppress {
		t.Fatalf("directives = %+v", d.Directives)
	}
	privacySync(t, url, "store-1", uns)
	for _, id := range []string{sup, uns} {
		if st := requestStatus(t, url, id); st.Status != "done" {
			t.Errorf("%s = %+v", id, st)
		}
	}
}

// TestExportIsComplete ingests known data and checks that the export
// holds all of it: identities, traits with their time and source,
// events, merges and why, consent, audience memberships and scores.
func TestExportIsComplete(t *testing.T) {
	_, url := newHub(t)
	for _, def := range []struct{ path, body string }{
		{"/v1/admin/computed-traits/orders", `{"event":"Order Completed","aggregate":"count"}`},
		{"/v1/admin/audiences/everyone", `{"expression":"true"}`},
	} {
		if resp, b := do(t, "PUT", url+def.path, admin, []byte(def.body)); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s = %d %s", def.path, resp.StatusCode, b)
		}
	}
	e := hubtest.NewEdge("store-1", 7)
	ann := hubtest.Email("ann@example.com")
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "store-1",
		e.Delta(hubtest.Event{Profile: "p1", Kind: profile.Identify, IDs: []profile.Identifier{ann, hubtest.Anon("a1")},
			Traits: map[string]any{"firstName": "Annabel", "city": "Lyon"}, Consent: map[string]bool{"marketing": true}, At: 1_700_000_000_000}),
		e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{ann}, Name: "Order Completed", Revenue: 20, At: 1_700_000_100_000}),
		e.Delta(hubtest.Event{Profile: "p2", Name: "Product Viewed", At: 1_700_000_200_000}),
	)); resp.StatusCode != http.StatusOK {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	id := request(t, url, "export", "email:ann@example.com")
	if st := requestStatus(t, url, id); st.Status != "done" || !slices.Equal(st.Profiles, []string{"p1", "p2"}) {
		t.Fatalf("status = %+v", st)
	}
	resp, b := do(t, "GET", url+"/v1/admin/privacy/requests/"+id+"/export", admin, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export = %d %s", resp.StatusCode, b)
	}
	var x struct {
		Request string
		People  []struct {
			ID         string
			Fragments  []string
			Identities []profile.Identifier
			Traits     []struct {
				Name  string
				Value any
				Time  time.Time
				Node  string
			}
			Consent []struct {
				Name  string
				Value any
			}
			ConsentHistory []profile.ConsentChange `json:"consent_history"`
			Events         []struct {
				Type string
				Name string
			}
			Ledger       []struct{ Type, Event string }
			Merges       []hub.Event
			MergeRecords []profile.MergeRecord `json:"merge_records"`
			Audiences    []string
			Scores       json.RawMessage
			TraitSources []api.ExportTraitSource `json:"trait_sources"`
		}
	}
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	if x.Request != id || len(x.People) != 1 {
		t.Fatalf("export = %s", b)
	}
	p := x.People[0]
	if p.ID != "p1" || !slices.Equal(p.Fragments, []string{"p1", "p2"}) {
		t.Errorf("person %s %v", p.ID, p.Fragments)
	}
	if !slices.Contains(p.Identities, ann) || !slices.Contains(p.Identities, hubtest.Anon("a1")) || len(p.Identities) != 2 {
		t.Errorf("identities = %v", p.Identities)
	}
	// The values survivorship chooses among, with source and record.
	if len(p.TraitSources) != 2 || p.TraitSources[0].Trait != "city" || p.TraitSources[0].Source != "edge-7" || p.TraitSources[0].Record != "p1" || p.TraitSources[1].Value != "Annabel" {
		t.Errorf("trait sources = %+v", p.TraitSources)
	}
	traits := map[string]any{}
	for _, tr := range p.Traits {
		traits[tr.Name] = tr.Value
		if tr.Time.UnixMilli() != 1_700_000_000_000 || tr.Node != "0000000000000007" {
			t.Errorf("trait %s written at %v by %s, want the event's time and node 7", tr.Name, tr.Time, tr.Node)
		}
	}
	if traits["firstName"] != "Annabel" || traits["city"] != "Lyon" {
		t.Errorf("traits = %v", traits)
	}
	if len(p.Consent) != 1 || p.Consent[0].Name != "marketing" || p.Consent[0].Value != true {
		t.Errorf("consent = %+v", p.Consent)
	}
	if h := p.ConsentHistory; len(h) != 1 || h[0].Category != "marketing" || !h[0].Granted || h[0].Time != 1_700_000_000_000 || h[0].MessageID == "" {
		t.Errorf("consent history = %+v", h)
	}
	if len(p.Events) != 3 || len(p.Ledger) != 3 {
		t.Errorf("events = %+v, ledger = %+v; want 3 each", p.Events, p.Ledger)
	}
	if len(p.Merges) != 1 || p.Merges[0].Kind != "merge" || len(p.MergeRecords) != 1 || p.MergeRecords[0].Reason == "" {
		t.Errorf("merges = %+v, records = %+v", p.Merges, p.MergeRecords)
	}
	if !slices.Equal(p.Audiences, []string{"everyone"}) {
		t.Errorf("audiences = %v", p.Audiences)
	}
	if !strings.Contains(string(p.Scores), `"orders"`) || !strings.Contains(string(p.Scores), "1") {
		t.Errorf("scores = %s", p.Scores)
	}
	// The download is audited, naming the request and the profiles.
	var dl bool
	for _, a := range auditEntries(t, url) {
		if a.Action == "GET /v1/admin/privacy/requests/{id}/export" && slices.Equal(a.Targets, []string{id, "p1", "p2"}) {
			dl = true
		}
	}
	if !dl {
		t.Error("the export download is not audited")
	}
}

// TestPrivacyThroughFollowers: on a 3-node hub, the request, the edge's
// privacy sync and the audit entries go through followers (forwarded to
// the leader over HTTP), and every node's shred receipt completes it.
func TestPrivacyThroughFollowers(t *testing.T) {
	nodes := newAPICluster(t, new(hubtest.Network), 3)
	var followers []apiNode
	var leader apiNode
	for _, nd := range nodes {
		if nd.hub.IsLeader() {
			leader = nd
		} else {
			followers = append(followers, nd)
		}
	}
	if leader.hub == nil || len(followers) != 2 {
		t.Fatal("no single leader")
	}
	e := hubtest.NewEdge("store-1", 1)
	if resp, b := do(t, "POST", followers[0].url+"/v1/sync/push", token, push(t, "store-1",
		e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com")}}))); resp.StatusCode != http.StatusOK {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	id := request(t, followers[0].url, "erase", "email:ann@example.com")
	// The other follower applies the request a moment after the one that
	// answered: wait for it before reading it there.
	waitFor(t, "the request on the other follower", func() bool {
		_, err := followers[1].hub.FSM().PrivacyRequest(id)
		return err == nil
	})
	if st := requestStatus(t, followers[1].url, id); st.Status != "pending" {
		t.Fatalf("on the other follower the request is %+v, want pending", st)
	}
	d := privacySync(t, followers[1].url, "store-1", id)
	if len(d.Directives) != 0 {
		t.Fatalf("directives after the receipt: %+v", d.Directives)
	}
	waitFor(t, "done on every node", func() bool {
		for _, nd := range nodes {
			st, err := nd.hub.FSM().PrivacyRequest(id)
			if err != nil || st.Status != "done" || len(st.Hub) != 3 {
				return false
			}
		}
		return true
	})
	var audited []hub.AuditEntry
	for _, a := range auditEntries(t, leader.url) {
		if a.Action == "POST /v1/admin/privacy/requests" {
			audited = append(audited, a)
		}
	}
	if len(audited) != 1 || !slices.Equal(audited[0].Targets, []string{id, "p1"}) {
		t.Errorf("audit of the request = %+v, want one entry naming it and p1", audited)
	}
}

// TestFeedWakesOnPrivacyRequest: a suppression changes no cluster, yet an
// edge long-polling the feed must hear of it at once (it runs its privacy
// step before polling again), not when its wait runs out; the page moves
// the cursor past the request so the next poll waits again.
func TestFeedWakesOnPrivacyRequest(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "store-1", e.Delta(hubtest.Event{Profile: "p1"}))); resp.StatusCode != http.StatusOK {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	feed := func(cursor uint64, wait string) *replication.FeedResponse {
		resp, b := do(t, "GET", fmt.Sprintf("%s/v1/sync/feed?cursor=%d&wait=%s", url, cursor, wait), token, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("feed = %d %s", resp.StatusCode, b)
		}
		r, err := replication.UnmarshalFeedResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cursor := feed(0, "0s").Next
	got := make(chan *replication.FeedResponse, 1)
	go func() { got <- feed(cursor, "60s") }()
	time.Sleep(100 * time.Millisecond) // let the poll start waiting (a later start answers at once, too)
	sup := request(t, url, "suppress", "email:bob@example.com")
	st := requestStatus(t, url, sup)
	var r *replication.FeedResponse
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the feed long-poll did not answer after a suppression (it waits for its 60 s)")
	}
	if len(r.Items) != 0 || r.Next < st.Index {
		t.Fatalf("page after the suppression = %d items, next %d; want none and next ≥ %d", len(r.Items), r.Next, st.Index)
	}
	if again := feed(r.Next, "0s"); again.Next != r.Next {
		t.Fatalf("the cursor moved again to %d without news", again.Next)
	}
}

// An export's lists are lists even when empty: a person who never
// stated consent, was never merged and is in no audience gets [] for
// each, never null (a consumer iterates them without a check).
func TestExportListsAreNeverNull(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 7)
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "store-1",
		e.Delta(hubtest.Event{Profile: "p1", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("quiet@example.com")}}),
	)); resp.StatusCode != http.StatusOK {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	id := request(t, url, "export", "email:quiet@example.com")
	resp, b := do(t, "GET", url+"/v1/admin/privacy/requests/"+id+"/export", admin, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export = %d %s", resp.StatusCode, b)
	}
	if bytes.Contains(b, []byte(":null")) {
		t.Fatalf("export holds a null: %s", b)
	}
}

// TestReadOnlyEdgeInStatusAndErasures: an edge that only reads (its
// privacy step, never a push) is registered by that step — an erasure
// made afterwards waits for it, and GET /v1/admin/edges lists it — and
// GET /v1/admin/status shows when it last synced, with no push (so an
// operator can tell a silent edge from a slow one before retiring it).
func TestReadOnlyEdgeInStatusAndErasures(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("till-1", 1)
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "till-1", e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com")}}))); resp.StatusCode != http.StatusOK {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	privacySync(t, url, "kiosk-1")
	resp, b := do(t, "GET", url+"/v1/admin/edges", admin, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `{"edge":"kiosk-1","seq":0,"decommissioned":false}`) {
		t.Fatalf("edges = %d %s, want the kiosk at seq 0", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", url+"/v1/admin/status", admin, nil)
	var st api.Status
	if err := json.Unmarshal(b, &st); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("status = %d %s", resp.StatusCode, b)
	}
	byEdge := map[string]api.EdgeStatus{}
	for _, es := range st.Edges {
		byEdge[es.Edge] = es
	}
	kiosk, till := byEdge["kiosk-1"], byEdge["till-1"]
	if kiosk.LastPush != "" || kiosk.AgoMs != nil || kiosk.LastSync == "" || kiosk.SyncAgoMs < 0 {
		t.Errorf("the kiosk in status = %+v, want a sync and no push", kiosk)
	}
	if till.LastPush == "" || till.AgoMs == nil || till.LastSync != till.LastPush {
		t.Errorf("the till in status = %+v, want its push as its last sync", till)
	}
	id := request(t, url, "erase", "email:ann@example.com")
	privacySync(t, url, "till-1", id)
	if st := requestStatus(t, url, id); st.Status != "pending" || st.Edges["kiosk-1"] != "pending" || st.Edges["till-1"] != "done" {
		t.Fatalf("status = %+v, want pending on the kiosk", st)
	}
	privacySync(t, url, "kiosk-1", id)
	waitFor(t, "done", func() bool { return requestStatus(t, url, id).Status == "done" })
}
