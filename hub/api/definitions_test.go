package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"ucv/hub/hubtest"
	"ucv/profile/catalog"
)

type definitionBody struct {
	Kind       string          `json:"kind"`
	Name       string          `json:"name"`
	Definition json.RawMessage `json:"definition"`
	Version    uint64          `json:"version"`
	Size       *int            `json:"size"`
}

// The computed-trait routes: PUT answers the stored definition and the
// catalog's version, GET one and all read it back, DELETE removes it;
// writes through a follower are forwarded to the leader.
func TestComputedTraitRoutes(t *testing.T) {
	nodes := newAPICluster(t, new(hubtest.Network), 2)
	leader, follower := nodes[0], nodes[1]
	resp, b := do(t, "PUT", follower.url+"/v1/admin/computed-traits/orders_30d", admin,
		[]byte(`{"event":"Order Completed","aggregate":"count","window":"30d","description":"orders in 30 days"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("PUT via the follower = %d %s", resp.StatusCode, b)
	}
	var put definitionBody
	if err := json.Unmarshal(b, &put); err != nil {
		t.Fatal(err)
	}
	if put.Kind != catalog.KindComputedTrait || put.Name != "orders_30d" || put.Version == 0 || put.Size != nil ||
		string(put.Definition) != `{"event":"Order Completed","aggregate":"count","window":"30d","description":"orders in 30 days"}` {
		t.Fatalf("PUT answered %s", b)
	}
	if v := leader.hub.FSM().Catalog().Version; v != put.Version {
		t.Fatalf("leader's catalog at version %d, PUT said %d", v, put.Version)
	}
	waitFor(t, "the follower to apply the definition", func() bool { return follower.hub.FSM().Catalog().Version == put.Version })
	for _, nd := range nodes {
		resp, b := do(t, "GET", nd.url+"/v1/admin/computed-traits/orders_30d", admin, nil)
		var got definitionBody
		if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || string(got.Definition) != string(put.Definition) || got.Version != put.Version {
			t.Errorf("GET one from %s = %d %s", nd.url, resp.StatusCode, b)
		}
	}
	resp, b = do(t, "GET", leader.url+"/v1/admin/computed-traits", admin, nil)
	var all struct {
		Version        uint64                           `json:"version"`
		ComputedTraits map[string]catalog.ComputedTrait `json:"computed_traits"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &all) != nil || all.Version != put.Version || len(all.ComputedTraits) != 1 ||
		all.ComputedTraits["orders_30d"].Window != "30d" {
		t.Fatalf("GET all = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "GET", leader.url+"/v1/admin/computed-traits/nope", admin, nil); resp.StatusCode != 404 {
		t.Errorf("GET unknown = %d %s, want 404", resp.StatusCode, b)
	}
	resp, b = do(t, "DELETE", follower.url+"/v1/admin/computed-traits/orders_30d", admin, nil)
	var del definitionBody
	if resp.StatusCode != 200 || json.Unmarshal(b, &del) != nil || del.Version <= put.Version {
		t.Fatalf("DELETE via the follower = %d %s", resp.StatusCode, b)
	}
	if c := leader.hub.FSM().Catalog(); len(c.ComputedTraits) != 0 || c.Version != del.Version {
		t.Fatalf("catalog after DELETE = %+v", c)
	}
	if resp, b := do(t, "DELETE", leader.url+"/v1/admin/computed-traits/orders_30d", admin, nil); resp.StatusCode != 404 {
		t.Errorf("DELETE again = %d %s, want 404", resp.StatusCode, b)
	} else if _, msg := errCode(t, b); !strings.HasSuffix(msg, `no computed trait named "orders_30d"`) || strings.Count(msg, "no such definition") > 1 {
		t.Errorf("DELETE again says %q, want it to name the computed trait once", msg)
	}
	resp, b = do(t, "GET", leader.url+"/v1/admin/audiences", admin, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"audiences":{}`) {
		t.Errorf("GET audiences = %d %s", resp.StatusCode, b)
	}
}

// Bad input is a 4xx naming the field, and the catalog (the log) is
// unchanged.
func TestDefinitionBadInput(t *testing.T) {
	n, url := newHub(t)
	if resp, b := do(t, "PUT", url+"/v1/admin/computed-traits/orders", admin, []byte(`{"event":"Order Completed","aggregate":"count"}`)); resp.StatusCode != 200 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		field                    string // the message starts with it
	}{
		{"bad name", "PUT", "/v1/admin/computed-traits/Orders-1", `{"event":"E","aggregate":"count"}`, 400, "name:"},
		{"long name", "PUT", "/v1/admin/computed-traits/" + strings.Repeat("a", 65), `{"event":"E","aggregate":"count"}`, 400, "name:"},
		{"built-in name", "PUT", "/v1/admin/computed-traits/order_count", `{"event":"E","aggregate":"count"}`, 400, "name:"},
		{"unknown aggregate", "PUT", "/v1/admin/computed-traits/x", `{"event":"E","aggregate":"median","property":"p"}`, 400, "aggregate:"},
		{"window over 400 days", "PUT", "/v1/admin/computed-traits/x", `{"event":"E","aggregate":"count","window":"401d"}`, 400, "window:"},
		{"window in hours over 400 days", "PUT", "/v1/admin/computed-traits/x", `{"event":"E","aggregate":"count","window":"9601h"}`, 400, "window:"},
		{"negative window", "PUT", "/v1/admin/computed-traits/x", `{"event":"E","aggregate":"count","window":"-1h"}`, 400, "window:"},
		{"unknown field", "PUT", "/v1/admin/computed-traits/x", `{"event":"E","aggregate":"count","colour":"red"}`, 400, "colour:"},
		{"property on count", "PUT", "/v1/admin/computed-traits/x", `{"event":"E","aggregate":"count","property":"total"}`, 400, "property:"},
		{"no property for sum", "PUT", "/v1/admin/computed-traits/x", `{"event":"E","aggregate":"sum"}`, 400, "property:"},
		{"no event", "PUT", "/v1/admin/computed-traits/x", `{"aggregate":"count"}`, 400, "event:"},
		{"not JSON", "PUT", "/v1/admin/computed-traits/x", `{"event":`, 400, "body:"},
		{"empty expression", "PUT", "/v1/admin/audiences/vip", `{"expression":" "}`, 400, "expression:"},
		{"unknown audience field", "PUT", "/v1/admin/audiences/vip", `{"expression":"true","size":3}`, 400, "size:"},
		{"delete unknown", "DELETE", "/v1/admin/computed-traits/nope", ``, 404, ""},
		{"delete unknown audience", "DELETE", "/v1/admin/audiences/nope", ``, 404, ""},
		{"delete bad name", "DELETE", "/v1/admin/audiences/No", ``, 400, "name:"},
	} {
		idx := n.FSM().Index()
		resp, b := do(t, tc.method, url+tc.path, admin, []byte(tc.body))
		code, msg := errCode(t, b)
		if resp.StatusCode != tc.status || !strings.HasPrefix(msg, tc.field) {
			t.Errorf("%s: %d %s %q, want %d and a message starting %q", tc.name, resp.StatusCode, code, msg, tc.status, tc.field)
		}
		if n.FSM().Index() != idx {
			t.Errorf("%s: a refused request changed the state", tc.name)
		}
	}
	if c := n.FSM().Catalog(); len(c.ComputedTraits) != 1 || len(c.Audiences) != 0 {
		t.Fatalf("catalog after the refusals = %+v", c)
	}
}

// Removing an audience another audience reads is a 409 naming the
// reader, and removes nothing. (A computed trait an expression reads
// through the computed map is not known to the catalog at compile time:
// see docs/decisions/0033-hub-catalog-and-transitions.md.)
func TestDefinitionConflict(t *testing.T) {
	n, url := newHub(t)
	for _, req := range []struct{ path, body string }{
		{"/v1/admin/computed-traits/orders_30d", `{"event":"Order Completed","aggregate":"count","window":"720h"}`},
		{"/v1/admin/audiences/repeat_buyers", `{"expression":"computed.orders_30d >= 2"}`},
		{"/v1/admin/audiences/vip_repeat", `{"expression":"\"repeat_buyers\" in audiences"}`},
	} {
		if resp, b := do(t, "PUT", url+req.path, admin, []byte(req.body)); resp.StatusCode != 200 {
			t.Fatalf("PUT %s = %d %s", req.path, resp.StatusCode, b)
		}
	}
	for _, path := range []string{"/v1/admin/audiences/repeat_buyers"} {
		idx := n.FSM().Index()
		resp, b := do(t, "DELETE", url+path, admin, nil)
		code, msg := errCode(t, b)
		if resp.StatusCode != 409 || code != "conflict" || !strings.HasPrefix(msg, "name:") || !strings.Contains(msg, "vip_repeat") {
			t.Errorf("DELETE %s = %d %s %q, want 409 conflict naming the reader", path, resp.StatusCode, code, msg)
		}
		if n.FSM().Index() != idx {
			t.Errorf("DELETE %s was refused but changed the state", path)
		}
	}
	// A bad expression names the expression.
	resp, b := do(t, "PUT", url+"/v1/admin/audiences/bad", admin, []byte(`{"expression":"computed.orders_30d >= "}`))
	if _, msg := errCode(t, b); resp.StatusCode != 400 || !strings.HasPrefix(msg, "expression:") {
		t.Errorf("bad expression = %d %q", resp.StatusCode, msg)
	}
	if c := n.FSM().Catalog(); len(c.Audiences) != 2 || len(c.ComputedTraits) != 1 {
		t.Fatalf("catalog = %+v", c)
	}
}
