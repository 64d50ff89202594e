package integration_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
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

	importHousehold(t, url, `["1","Ann","Lee","ann.lee@example.com","217-555-0100","1980-04-02"]`, `["2","Bob","Lee","","217-555-0100","1978-11-19"]`)
	resolve := e.resolver()
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
	// The edge has read everything the hub fed since: a merge the hub
	// made of the till event would be on the edge by now.
	waitFor(t, "the edge to settle", func() bool { return e.settled(h) })
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

// importHousehold imports two CRM records (source crm) into the hub at
// url, each a JSON array of id, first name, last name, e-mail, phone and
// birth date, at one address.
func importHousehold(t *testing.T, url string, rows ...string) {
	t.Helper()
	var recs []string
	for _, r := range rows {
		id, vals, _ := strings.Cut(strings.TrimPrefix(r, "["), ",")
		recs = append(recs, `{"id":`+id+`,"values":[`+vals[:len(vals)-1]+`,"62704"]}`)
	}
	imp := `{"source":"crm","columns":[{"name":"first","kind":"first_name"},{"name":"last","kind":"last_name"},{"name":"email","kind":"email"},` +
		`{"name":"phone","kind":"phone"},{"name":"dob","kind":"birth_date"},{"name":"zip","kind":"postcode"}],"records":[` + strings.Join(recs, ",") + `]}`
	if code, b := adminJSON(t, "POST", url+"/v1/admin/import", imp); code != 200 {
		t.Fatalf("import = %d %s", code, b)
	}
}

// resolver returns a function that resolves an identifier on the edge
// to its canonical profile ID ("" when it resolves to none).
func (e *edge) resolver() func(typ profile.IDType, v string) string {
	return func(typ profile.IDType, v string) string {
		id, err := e.st.ResolveIdentifier(profile.Identifier{Type: typ, Value: v})
		if err != nil {
			return ""
		}
		return id
	}
}

// adminJSON sends an admin request to the hub and returns the status
// and body.
func adminJSON(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	return callBody(t, method, url, "admin-secret", []byte(body))
}

// Erasing one member of a household spares the other: Cat and Dan Kim
// share a landline (imported; the hub keeps them two people). An erase
// or export request by the landline is refused — it names two people —
// and changes nothing; an erase by Cat's own record ID erases Cat on the
// hub and the edge, and Dan stays, also after a till event that carries
// the landline. Before decision 0059 the erasure's keys held every
// identifier of Cat's, the landline too, and the edge erased every
// profile holding one of them: the whole household.
func TestErasingOneHouseholdMemberSparesTheOther(t *testing.T) {
	h, url := newHub(t, "hub-er")
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	e.sync(url)
	importHousehold(t, url, `["11","Cat","Kim","cat.kim@example.com","217-555-0111","1981-05-02"]`, `["12","Dan","Kim","","217-555-0111","1979-10-19"]`)
	resolve := e.resolver()
	waitFor(t, "both records on the edge", func() bool { return resolve("record", "crm/11") != "" && resolve("record", "crm/12") != "" })
	if resolve("record", "crm/11") == resolve("record", "crm/12") {
		t.Fatal("Cat and Dan are one profile on the edge")
	}
	before := h.FSM().Index()
	for _, typ := range []string{"erase", "export"} {
		code, b := adminJSON(t, "POST", url+"/v1/admin/privacy/requests", `{"type":"`+typ+`","identifier":"phone:+12175550111"}`)
		if code != http.StatusConflict || !strings.Contains(string(b), `"code":"conflict"`) || !strings.Contains(string(b), "2 people hold this phone") || strings.Contains(string(b), "555") {
			t.Fatalf("%s by the shared landline = %d %s; want 409 naming two people and not the number", typ, code, b)
		}
	}
	if h.FSM().Index() != before {
		t.Fatalf("a refused request changed the hub: index %d → %d", before, h.FSM().Index())
	}

	code, b := adminJSON(t, "POST", url+"/v1/admin/privacy/requests", `{"type":"erase","identifier":"record:crm/11"}`)
	var st struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if code != http.StatusAccepted || json.Unmarshal(b, &st) != nil {
		t.Fatalf("erase Cat = %d %s", code, b)
	}
	waitFor(t, "the erasure done", func() bool {
		_, b := adminJSON(t, "GET", url+"/v1/admin/privacy/requests/"+st.ID, "")
		return json.Unmarshal(b, &st) == nil && st.Status == "done"
	})
	e.ingest(`{"type":"identify","anonymousId":"till-dan","messageId":"d1","traits":{"phone":"+12175550111","firstName":"Dan"}}`)
	waitFor(t, "the till event at the hub", func() bool {
		_, _, err := h.FSM().ProfileByIdentifier("anonymous_id:till-dan")
		return err == nil
	})
	waitFor(t, "the edge to settle", func() bool { return e.settled(h) })
	if id := resolve("record", "crm/11"); id != "" {
		t.Errorf("Cat's record still resolves on the edge to %s", id)
	}
	if _, _, err := h.FSM().ProfileByIdentifier("record:crm/11"); err == nil {
		t.Error("Cat's record still resolves at the hub")
	}
	dan := resolve("record", "crm/12")
	if dan == "" {
		t.Fatal("the erasure of Cat erased Dan on the edge")
	}
	if v, err := e.st.LookupID(dan); err != nil || !strings.Contains(string(v.JSON), `"Dan"`) {
		t.Fatalf("Dan on the edge: %v %.300s", err, v.JSON)
	}
	if v, _, err := h.FSM().ProfileByIdentifier("record:crm/12"); err != nil || v.Profile.Erased.Set {
		t.Fatalf("Dan at the hub: %v, erased %v", err, err == nil && v.Profile.Erased.Set)
	}
}
