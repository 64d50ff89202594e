package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// specDir finds ../shared/data/segment-spec by walking up from the test's
// directory.
func specDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		d := filepath.Join(dir, "shared", "data", "segment-spec")
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("segment-spec fixtures not found above the test directory")
		}
		dir = parent
	}
}

// TestSegmentSpecPayloads feeds every documented Segment payload to the
// edge as a Segment user would send it: *-http-api bodies to their
// endpoint, the batch to /v1/batch, the others to their type's endpoint.
// Each is accepted and shows in the profile, or — the four *-minimal
// examples without any user ID — rejected with a 400 naming userId.
func TestSegmentSpecPayloads(t *testing.T) {
	dir := specDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no payloads in %s (%v)", dir, err)
	}
	if len(files) != 30 {
		t.Errorf("%d payloads in %s, want 30", len(files), dir)
	}
	rejected := map[string]bool{"track-minimal.json": true, "page-minimal.json": true, "screen-minimal.json": true, "group-minimal.json": true}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			kind, _, _ := strings.Cut(name, "-")
			// A fresh edge per payload: the documented examples reuse
			// messageIds, which the edge (like Segment) deduplicates.
			// Received when Segment documented them: the examples date from
			// 2012–2015, and an edge refuses events over 5 years old.
			e := newTestEdge(t, func(c *Config) { c.Now = func() time.Time { return documented } })
			r := e.post(t, "/v1/"+kind, string(body))
			if rejected[name] {
				if r.status != http.StatusBadRequest {
					t.Fatalf("POST /v1/%s = %d %s, want 400", kind, r.status, r.body)
				}
				if _, msg := r.errorCode(t); !strings.Contains(msg, "userId") {
					t.Errorf("message %q does not name userId", msg)
				}
				return
			}
			if r.status != http.StatusOK || string(r.body) != `{"success":true}` {
				t.Fatalf("POST /v1/%s = %d %s, want 200 {\"success\":true}", kind, r.status, r.body)
			}
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			msgs := []map[string]any{doc}
			if kind == "batch" {
				msgs = nil
				for _, it := range doc["batch"].([]any) {
					msgs = append(msgs, it.(map[string]any))
				}
			}
			for _, m := range msgs {
				checkReflected(t, e, kind, m)
			}
		})
	}
}

// documented is when the spec examples were written (their newest
// timestamp is December 2015).
var documented = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)

// checkReflected looks the message's person up and checks the message
// left its mark: identify traits, track event counts.
func checkReflected(t *testing.T, e *testEdge, kind string, m map[string]any) {
	t.Helper()
	ref := ""
	if uid, ok := m["userId"].(string); ok {
		ref = "user_id:" + url.PathEscape(uid)
	} else if aid, ok := m["anonymousId"].(string); ok {
		ref = "anonymous_id:" + url.PathEscape(aid)
	}
	p := e.profileOf(t, ref)
	typ, _ := m["type"].(string)
	if typ == "" {
		typ, _ = m["action"].(string)
	}
	if typ == "" {
		typ = kind
	}
	switch typ {
	case "identify":
		traits := p["traits"].(map[string]any)
		for k, want := range m["traits"].(map[string]any) {
			if got, ok := traits[k]; !ok || fmt.Sprint(got) == "" {
				t.Errorf("%s: trait %q = %v, want %v", ref, k, got, want)
			}
		}
	case "track":
		counts := p["computed"].(map[string]any)["event_counts"].(map[string]any)
		if ev := m["event"].(string); counts[ev] == nil {
			t.Errorf("%s: computed.event_counts lacks %q: %v", ref, ev, counts)
		}
		if strings.HasSuffix(m["event"].(string), "Order Completed") {
			if n := p["computed"].(map[string]any)["order_count"]; fmt.Sprint(n) == "0" {
				t.Errorf("%s: order_count = 0 after Order Completed", ref)
			}
		}
	}
}
