package api

import (
	"strings"
	"testing"

	"ucv/profile/catalog"
)

// Lookups list the profile's audiences; /audiences answers them with
// ?explain=true showing what each expression read; the stream shows the
// transition when an order makes the profile a repeat buyer.
func TestAudiencesOverHTTP(t *testing.T) {
	e := newTestEdge(t, nil)
	c, _, err := catalog.ParseFile([]byte(`{
		"computed_traits": {"orders_30d": {"event": "Order Completed", "aggregate": "count", "window": "30d"}},
		"audiences": {"repeat_buyers": {"expression": "computed.orders_30d >= 2"},
		              "gold": {"expression": "\"plan\" in traits && traits.plan == \"gold\""}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ReplaceCatalog(c); err != nil {
		t.Fatal(err)
	}
	s := openStream(t, e.url+"/v1/stream?types=audience.entered,audience.exited")
	e.mustPost(t, "/v1/identify", `{"userId":"h1","traits":{"plan":"gold"}}`)
	if ev := s.next(t); ev.event != "audience.entered" || ev.data["audience"] != "gold" {
		t.Fatalf("event %+v", ev)
	}
	e.mustPost(t, "/v1/track", `{"userId":"h1","event":"Order Completed","properties":{"total":5}}`)
	e.mustPost(t, "/v1/track", `{"userId":"h1","event":"Order Completed","properties":{"total":7}}`)
	if ev := s.next(t); ev.event != "audience.entered" || ev.data["audience"] != "repeat_buyers" {
		t.Fatalf("event %+v", ev)
	}
	p := e.profileOf(t, "user_id:h1")
	if strings.Join(toStrings(p["audiences"]), ",") != "gold,repeat_buyers" {
		t.Fatalf("lookup audiences %v", p["audiences"])
	}
	if n := p["computed"].(map[string]any)["orders_30d"]; n == nil || n.(interface{ String() string }).String() != "2" {
		t.Fatalf("computed.orders_30d = %v", n)
	}
	r := e.get(t, "/v1/profiles/user_id:h1/audiences?explain=true").json(t)
	if strings.Join(toStrings(r["audiences"]), ",") != "gold,repeat_buyers" {
		t.Fatalf("/audiences %v", r)
	}
	var found bool
	for _, x := range r["explain"].([]any) {
		ex := x.(map[string]any)
		if ex["audience"] == "repeat_buyers" {
			reads := ex["reads"].([]any)
			read := reads[0].(map[string]any)
			found = ex["member"] == true && read["name"] == "computed.orders_30d"
		}
	}
	if !found {
		t.Fatalf("explain %v", r["explain"])
	}
	if r := e.get(t, "/v1/profiles/user_id:h1/audiences?explain=maybe"); r.status != 400 {
		t.Fatalf("explain=maybe: %d", r.status)
	}
}
