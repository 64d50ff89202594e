package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An order whose amount is not a number is stored (counted as an order
// without an amount) and the answer says so, naming the field and never
// its value (decision 0120); a readable amount, or an order with no
// amount at all, is answered as before.
func TestUnreadAmountWarned(t *testing.T) {
	e := newTestEdge(t, nil)
	type answer struct {
		Success  bool `json:"success"`
		Rejected []struct {
			Index int `json:"index"`
		} `json:"rejected"`
		Warnings []struct {
			Index   *int   `json:"index"`
			Field   string `json:"field"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"warnings"`
	}
	decode := func(r response) answer {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("status = %d %s, want 200", r.status, r.body)
		}
		var a answer
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Fatalf("answer %s: %v", r.body, err)
		}
		return a
	}

	a := decode(e.post(t, "/v1/track", `{"userId":"w1","event":"Order Completed","messageId":"w1-1","properties":{"total":"12,50 EUR","currency":"EUR"}}`))
	if !a.Success || len(a.Warnings) != 1 || a.Warnings[0].Index != nil || a.Warnings[0].Field != "properties.total" || a.Warnings[0].Code != "amount_unread" {
		t.Fatalf("single order answer = %+v, want one amount_unread warning on properties.total without an index", a)
	}
	if strings.Contains(a.Warnings[0].Message, "12,50") || a.Rejected != nil {
		t.Errorf("warning %+v echoes the value or lists rejections", a.Warnings[0])
	}
	p := e.profileOf(t, "user_id:w1")
	computed := p["computed"].(map[string]any)
	if fmt.Sprint(computed["order_count"]) != "1" || len(computed["lifetime_revenue"].(map[string]any)) != 0 {
		t.Errorf("computed = %v, want one order without revenue", computed)
	}

	// Readable amounts, a later readable field, an order without any
	// amount and other events: no warning, the plain answer.
	for _, body := range []string{
		`{"userId":"w2","event":"Order Completed","properties":{"total":"12.50"}}`,
		`{"userId":"w2","event":"order completed","properties":{"total":"n/a","revenue":3}}`,
		`{"userId":"w2","event":"Order Completed","properties":{}}`,
		`{"userId":"w2","event":"Order Completed","properties":{"total":null}}`,
		`{"userId":"w2","event":"Product Viewed","properties":{"total":"n/a"}}`,
	} {
		if r := e.post(t, "/v1/track", body); r.status != http.StatusOK || string(r.body) != `{"success":true}` {
			t.Errorf("POST %s = %d %s, want the plain answer", body, r.status, r.body)
		}
	}

	// In a batch, a warning carries the item's position, counted among
	// every item sent (rejected ones included).
	a = decode(e.post(t, "/v1/batch", `{"batch":[
		{"type":"track","userId":"w3"},
		{"type":"track","userId":"w3","event":"Order Completed","properties":{"revenue":true}},
		{"type":"track","userId":"w3","event":"Order Completed","properties":{"value":"4.20"}},
		{"type":"track","userId":"w4","event":" COMPLETED ORDER ","properties":{"value":{"amount":1}}}
	]}`))
	type w struct {
		Index int
		Field string
	}
	var got []w
	for _, x := range a.Warnings {
		if x.Index == nil {
			t.Fatalf("batch warning %+v has no index", x)
		}
		got = append(got, w{*x.Index, x.Field})
	}
	if diff := cmp.Diff([]w{{1, "properties.revenue"}, {3, "properties.value"}}, got); diff != "" {
		t.Errorf("batch warnings (-want +got):\n%s", diff)
	}
	if len(a.Rejected) != 1 || a.Rejected[0].Index != 0 {
		t.Errorf("batch rejected = %+v, want item 0", a.Rejected)
	}
	if c := e.profileOf(t, "user_id:w3")["computed"].(map[string]any); fmt.Sprint(c["order_count"]) != "2" {
		t.Errorf("w3 computed = %v, want both orders counted", c)
	}

	metrics := string(e.get(t, "/metrics").body)
	for _, want := range []string{
		`ucv_events_amount_unread_total{field="properties.total"} 1`,
		`ucv_events_amount_unread_total{field="properties.revenue"} 1`,
		`ucv_events_amount_unread_total{field="properties.value"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
