package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// The hub's audience reads: an audience's size and members (paged by
// profile ID), the transitions after a cursor, and profile lookups with
// the user-defined computed traits and the audiences.
func TestAudienceReads(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	now := time.Now().UnixMilli()
	var es []replication.Entry
	for i := range 5 {
		id := fmt.Sprintf("p%d", i)
		es = append(es, e.Delta(hubtest.Event{Profile: id, Name: "Order Completed", Revenue: 10, At: now,
			IDs: []profile.Identifier{hubtest.Email(id + "@example.org")}}))
		if i%2 == 0 {
			es = append(es, e.Delta(hubtest.Event{Profile: id, Name: "Order Completed", Revenue: 20, At: now}))
		}
	}
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", es...)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	for _, req := range []struct{ path, body string }{
		{"/v1/admin/computed-traits/orders_30d", `{"event":"Order Completed","aggregate":"count","window":"720h"}`},
		{"/v1/admin/computed-traits/spend", `{"event":"Order Completed","aggregate":"sum","property":"revenue"}`},
		{"/v1/admin/audiences/repeat_buyers", `{"expression":"computed.orders_30d >= 2","description":"two orders in 30 days"}`},
	} {
		if resp, b := do(t, "PUT", url+req.path, admin, []byte(req.body)); resp.StatusCode != 200 {
			t.Fatalf("PUT %s = %d %s", req.path, resp.StatusCode, b)
		}
	}
	resp, b := do(t, "GET", url+"/v1/admin/audiences/repeat_buyers", admin, nil)
	var one definitionBody
	if resp.StatusCode != 200 || json.Unmarshal(b, &one) != nil || one.Size == nil || *one.Size != 3 {
		t.Fatalf("GET audience = %d %s, want size 3", resp.StatusCode, b)
	}
	var pages [][]string
	cursor := ""
	for {
		resp, b := do(t, "GET", url+"/v1/admin/audiences/repeat_buyers/members?limit=2&cursor="+cursor, admin, nil)
		var page struct {
			Size   int      `json:"size"`
			Data   []string `json:"data"`
			Cursor struct {
				Next *string `json:"next"`
			} `json:"cursor"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &page) != nil || page.Size != 3 {
			t.Fatalf("members page = %d %s", resp.StatusCode, b)
		}
		pages = append(pages, page.Data)
		if page.Cursor.Next == nil {
			break
		}
		cursor = *page.Cursor.Next
	}
	if got := fmt.Sprint(pages); got != "[[p0 p2] [p4]]" {
		t.Errorf("member pages = %s, want [[p0 p2] [p4]]", got)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x"} {
		resp, b := do(t, "GET", url+"/v1/admin/audiences/repeat_buyers/members?"+bad, admin, nil)
		if _, msg := errCode(t, b); resp.StatusCode != 400 || !strings.HasPrefix(msg, "limit:") {
			t.Errorf("members?%s = %d %s", bad, resp.StatusCode, b)
		}
	}
	if resp, _ := do(t, "GET", url+"/v1/admin/audiences/nope/members", admin, nil); resp.StatusCode != 404 {
		t.Errorf("members of an unknown audience = %d, want 404", resp.StatusCode)
	}

	var tr struct {
		Data []struct {
			Seq      uint64 `json:"seq"`
			Profile  string `json:"profile"`
			Audience string `json:"audience"`
			Entered  bool   `json:"entered"`
			Cause    string `json:"cause"`
		} `json:"data"`
		Next uint64 `json:"next"`
	}
	resp, b = do(t, "GET", url+"/v1/admin/transitions?after=0&limit=2", admin, nil)
	if resp.StatusCode != 200 || json.Unmarshal(b, &tr) != nil || len(tr.Data) != 2 || tr.Next != 2 ||
		tr.Data[0].Profile != "p0" || !tr.Data[0].Entered || tr.Data[0].Cause != "definition" || tr.Data[0].Audience != "repeat_buyers" {
		t.Fatalf("transitions page = %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", url+"/v1/admin/transitions?after=2", admin, nil)
	if resp.StatusCode != 200 || json.Unmarshal(b, &tr) != nil || len(tr.Data) != 1 || tr.Data[0].Profile != "p4" || tr.Next != 3 {
		t.Fatalf("second transitions page = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "GET", url+"/v1/admin/transitions?after=-1", admin, nil); resp.StatusCode != 400 {
		t.Errorf("transitions?after=-1 = %d %s", resp.StatusCode, b)
	}

	resp, b = do(t, "GET", url+"/v1/admin/profiles/p0", admin, nil)
	var pr struct {
		Profile struct {
			Audiences []string       `json:"audiences"`
			Computed  map[string]any `json:"computed"`
		} `json:"profile"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &pr) != nil {
		t.Fatalf("profile = %d %s", resp.StatusCode, b)
	}
	// spend is there, 0: the test edge's deltas keep no property values
	// (an edge keeps those its catalog reads: decision 0032).
	if _, ok := pr.Profile.Computed["spend"]; !ok || fmt.Sprint(pr.Profile.Audiences) != "[repeat_buyers]" || pr.Profile.Computed["orders_30d"] != float64(2) ||
		pr.Profile.Computed["order_count"] != float64(2) {
		t.Errorf("profile p0: audiences %v, computed %v", pr.Profile.Audiences, pr.Profile.Computed)
	}
	resp, b = do(t, "GET", url+"/v1/admin/profiles/p1", admin, nil)
	if resp.StatusCode != 200 || json.Unmarshal(b, &pr) != nil || len(pr.Profile.Audiences) != 0 || pr.Profile.Audiences == nil {
		t.Errorf("profile p1 = %d %s, want no audiences", resp.StatusCode, b)
	}
}
