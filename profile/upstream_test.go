package profile

import (
	"encoding/json"
	"testing"
	"time"
)

// Upstream keeps what the client sent, sets type, messageId (derived
// when missing) and the corrected timestamp, merges the envelope's
// context, and drops the client's write key and its send times.
func TestUpstream(t *testing.T) {
	recv := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body := `{"batch":[
	  {"type":"track","userId":"u1","event":"Viewed","writeKey":"ours","properties":{"n":1.50},
	   "originalTimestamp":"2026-03-01T11:59:00Z","sentAt":"2026-03-01T12:00:30Z","integrations":{"All":false},"context":{"ip":"1.2.3.4"}},
	  {"action":"Identify","anonymousId":"a1","traits":{"plan":"gold"}}],
	 "context":{"library":{"name":"analytics-go"}},"sentAt":"2026-03-01T12:00:30Z","writeKey":"ours"}`
	b, err := ParseBatch([]byte(body), recv, ParseOptions{Normalize: DefaultNormalizeOptions()})
	if err != nil || len(b.Messages) != 2 {
		t.Fatalf("ParseBatch: %v, %+v", err, b)
	}
	var got []map[string]any
	for _, m := range b.Messages {
		raw, err := m.Upstream()
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatalf("Upstream is not JSON: %v", err)
		}
		got = append(got, o)
	}
	tr, id := got[0], got[1]
	for _, k := range []string{"writeKey", "sentAt", "receivedAt", "action"} {
		if _, has := tr[k]; has {
			t.Errorf("track keeps %q", k)
		}
		if _, has := id[k]; has {
			t.Errorf("identify keeps %q", k)
		}
	}
	// Skew-corrected: received at 12:00:00, sent at 12:00:30 by a clock
	// 30 s ahead, so 11:59:00 on that clock is 11:58:30.
	if tr["timestamp"] != "2026-03-01T11:58:30.000Z" || tr["originalTimestamp"] != "2026-03-01T11:59:00Z" {
		t.Errorf("timestamp %v, originalTimestamp %v", tr["timestamp"], tr["originalTimestamp"])
	}
	if tr["type"] != "track" || tr["messageId"] != b.Messages[0].MessageID || tr["messageId"] == "" {
		t.Errorf("type %v messageId %v", tr["type"], tr["messageId"])
	}
	ctx, _ := tr["context"].(map[string]any)
	if ctx["ip"] != "1.2.3.4" || ctx["library"] == nil {
		t.Errorf("context %v: want the item's and the envelope's", ctx)
	}
	if p, _ := tr["properties"].(map[string]any); p["n"] != 1.5 || tr["integrations"] == nil {
		t.Errorf("properties %v, integrations %v: want them as sent", tr["properties"], tr["integrations"])
	}
	if id["type"] != "identify" || id["messageId"] != b.Messages[1].MessageID || id["messageId"] == "" {
		t.Errorf("identify: type %v messageId %v (derived)", id["type"], id["messageId"])
	}
	if _, err := (&Message{}).Upstream(); err == nil {
		t.Error("Upstream of a Message not parsed from JSON succeeded")
	}
}
