package api

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"ucv/crdt"
	"ucv/replication"
)

// Events of a suppressed identifier are accepted (200), dropped and
// counted in ucv_edge_events_suppressed_total; a batch's other events
// are stored. Erased profiles answer 404 by ID and every identifier.
func TestSuppressedEventsOverHTTP(t *testing.T) {
	e := newTestEdge(t, nil)
	salt := bytes.Repeat([]byte{3}, replication.SaltBytes)
	if err := e.st.SetPrivacySalt(salt); err != nil {
		t.Fatal(err)
	}
	key := crdt.TombstoneKey(salt, "email:hidden.person@example.com")
	if err := e.st.ApplyDirective(context.Background(), replication.Directive{ID: "s1", Type: replication.DirectiveSuppress, Index: 1, Keys: []string{key}}); err != nil {
		t.Fatal(err)
	}
	e.mustPost(t, "/v1/batch", `{"batch":[
		{"type":"identify","userId":"hid1","messageId":"b1","traits":{"email":"Hidden.Person@example.com"}},
		{"type":"identify","userId":"vis1","messageId":"b2","traits":{"email":"visible@example.com"}}]}`)
	e.absent(t, "email:hidden.person@example.com")
	e.absent(t, "user_id:hid1")
	p := e.profileOf(t, "email:visible@example.com")
	if !strings.Contains(string(e.get(t, "/metrics").body), "ucv_edge_events_suppressed_total 1") {
		t.Errorf("metrics lack ucv_edge_events_suppressed_total 1")
	}
	id := p["id"].(string)
	if err := e.st.Erase(context.Background(), replication.Directive{ID: "e1", Type: replication.DirectiveErase, Index: 2, At: 1, ProfileIDs: []string{id}}); err != nil {
		t.Fatal(err)
	}
	e.absent(t, "email:visible@example.com")
	e.absent(t, "user_id:vis1")
	e.absent(t, id)
}
