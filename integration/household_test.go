package integration_test

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"ucv/profile"
)

// An imported household stays two people on the edge: Ann shopped at
// the till (her e-mail); the CRM import then brings Ann (same e-mail,
// the family landline) and Bob Lee (his own name and birth date, the
// same landline). The hub's engine links Ann's record to her till
// profile and keeps Bob apart; the edge, applying both clusters, must
// not glue Bob into Ann by its own rule on the shared landline — and
// so the hub, which follows an edge's merges, keeps them apart too
// (docs/decisions/0059-edge-keeps-hub-judgement.md). A till event with
// Bob's own identifier and the landline then lands on Bob.
func TestImportedHouseholdStaysApartOnEdge(t *testing.T) {
	h, url := newHub(t, "hub-hh")
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	e.ingest(`{"type":"identify","anonymousId":"till-ann","messageId":"m1","traits":{"email":"ann.lee@example.com","firstName":"Ann","lastName":"Lee"}}`)
	e.sync(url)
	waitFor(t, "the edge to settle", func() bool { return e.settled(h) })

	imp := `{"source":"crm","columns":[{"name":"first","kind":"first_name"},{"name":"last","kind":"last_name"},{"name":"email","kind":"email"},` +
		`{"name":"phone","kind":"phone"},{"name":"dob","kind":"birth_date"},{"name":"zip","kind":"postcode"}],"records":[` +
		`{"id":"1","values":["Ann","Lee","ann.lee@example.com","217-555-0100","1980-04-02","62704"]},` +
		`{"id":"2","values":["Bob","Lee","","217-555-0100","1978-11-19","62704"]}]}`
	req, err := http.NewRequest("POST", url+"/v1/admin/import", bytes.NewReader([]byte(imp)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("import = %d %s", resp.StatusCode, b)
	}
	resolve := func(typ profile.IDType, v string) string {
		id, err := e.st.ResolveIdentifier(profile.Identifier{Type: typ, Value: v})
		if err != nil {
			return ""
		}
		return id
	}
	bobRec := profile.Identifier{Type: "record", Value: "crm/2"}
	waitFor(t, "both records on the edge", func() bool {
		return resolve(bobRec.Type, bobRec.Value) != "" && resolve("record", "crm/1") != ""
	})
	ann, bob := resolve(profile.AnonymousID, "till-ann"), resolve(bobRec.Type, bobRec.Value)
	if ann == "" || resolve("record", "crm/1") != ann {
		t.Fatalf("Ann's record is on %q, her till profile on %q: the hub should have linked them", resolve("record", "crm/1"), ann)
	}
	if bob == ann {
		t.Fatalf("the edge glued Bob's record into Ann's profile %s", ann)
	}
	// A till event with a new device and the landline lands on one of
	// them (the landline cannot say whose) and merges nobody, on the
	// edge or at the hub.
	e.ingest(`{"type":"identify","anonymousId":"till-new","messageId":"m2","traits":{"phone":"+12175550100"}}`)
	waitFor(t, "the till event at the hub", func() bool {
		_, _, err := h.FSM().ProfileByIdentifier("anonymous_id:till-new")
		return err == nil
	})
	ann2, bob2 := resolve(profile.AnonymousID, "till-ann"), resolve(bobRec.Type, bobRec.Value)
	if ann2 == bob2 {
		t.Fatalf("after a till event with the landline Ann and Bob are one profile %s", ann2)
	}
	va, err := h.FSM().Profile(ann2)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := h.FSM().Profile(bob2)
	if err != nil {
		t.Fatal(err)
	}
	if va.ID == vb.ID {
		t.Fatalf("the hub holds Ann and Bob as one cluster %s %v", va.ID, va.Fragments)
	}
}
