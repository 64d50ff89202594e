package api

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"ucv/edge/store"
	"ucv/profile"
	"ucv/replication"
)

const landline = "+12175550100"

// hubCluster makes one person on a store of its own and returns the
// hub's cluster of it, as the feed would bring it.
func hubCluster(t *testing.T, body string) replication.FeedItem {
	t.Helper()
	src := openStore(t)
	m, err := profile.ParseMessage([]byte(body), profile.Identify, time.Now(), profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.Ingest(context.Background(), []store.Event{{Msg: m}})
	if err != nil {
		t.Fatal(err)
	}
	id := res.ProfileIDs[0]
	p, err := src.Profile(id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return replication.FeedItem{ID: id, Fragments: []string{id}, State: b}
}

// A household's landline two hub clusters hold: a lookup by it answers
// with the first holder by ID and says how many hold it
// (X-Identifier-Holders), from memory and from the file alike, without
// allocating; /holders lists them; an identifier one person holds has
// no header.
func TestLookupSharedIdentifier(t *testing.T) {
	st := openStore(t)
	ann := hubCluster(t, `{"userId":"ann","traits":{"email":"ann@example.com","phone":"`+landline+`"}}`)
	bob := hubCluster(t, `{"userId":"bob","traits":{"email":"bob@example.com","phone":"`+landline+`"}}`)
	for _, c := range []replication.FeedItem{ann, bob} {
		if _, err := st.ApplyClusters(context.Background(), []replication.FeedItem{c}, 0); err != nil {
			t.Fatal(err)
		}
	}
	e := startEdge(t, st, nil)
	want := []string{ann.ID, bob.ID}
	slices.Sort(want)
	for _, path := range []string{"/v1/profiles/phone:" + landline, "/v1/profiles/phone:%2B12175550100", "/v1/profiles/phone:" + landline + "?purpose=analytics"} {
		r := e.get(t, path)
		if r.status != 200 || r.header.Get(holdersHeader) != "2" || r.json(t)["id"] != want[0] {
			t.Errorf("GET %s = %d, %s %q, id %v; want 200, 2 holders, %s", path, r.status, holdersHeader, r.header.Get(holdersHeader), r.json(t)["id"], want[0])
		}
	}
	if r := e.get(t, "/v1/decide/phone:"+landline+"?placement=home"); r.status != 200 || r.header.Get(holdersHeader) != "2" {
		t.Errorf("GET /v1/decide by the landline = %d, %s %q; want 200 and 2 holders", r.status, holdersHeader, r.header.Get(holdersHeader))
	}
	for _, path := range []string{"/v1/profiles/email:bob@example.com", "/v1/profiles/" + bob.ID, "/v1/profiles/user_id:bob", "/v1/decide/user_id:bob?placement=home"} {
		if r := e.get(t, path); r.status != 200 || r.header.Get(holdersHeader) != "" {
			t.Errorf("GET %s = %d, %s %q; want 200 and no header", path, r.status, holdersHeader, r.header.Get(holdersHeader))
		}
	}

	var list struct {
		Identifier profile.Identifier `json:"identifier"`
		Holders    []string           `json:"holders"`
		More       bool               `json:"more"`
	}
	r := e.get(t, "/v1/profiles/phone:"+landline+"/holders")
	if r.status != 200 || json.Unmarshal(r.body, &list) != nil || !slices.Equal(list.Holders, want) || list.More ||
		list.Identifier != (profile.Identifier{Type: profile.Phone, Value: landline}) {
		t.Fatalf("holders = %d %s, want %v", r.status, r.body, want)
	}
	if r = e.get(t, "/v1/profiles/phone:"+landline+"/holders?limit=1"); r.status != 200 || json.Unmarshal(r.body, &list) != nil || len(list.Holders) != 1 || !list.More {
		t.Fatalf("holders?limit=1 = %d %s", r.status, r.body)
	}
	if r = e.get(t, "/v1/profiles/email:bob@example.com/holders"); r.status != 200 || json.Unmarshal(r.body, &list) != nil || !slices.Equal(list.Holders, []string{bob.ID}) {
		t.Fatalf("holders of Bob's e-mail = %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		path, code, field string
		status            int
	}{
		{"/v1/profiles/phone:" + landline + "/holders?limit=0", "invalid_request", "limit", 400},
		{"/v1/profiles/phone:" + landline + "/holders?limit=1001", "invalid_request", "limit", 400},
		{"/v1/profiles/" + bob.ID + "/holders", "invalid_request", "ref", 400},
		{"/v1/profiles/email:nobody@example.com/holders", "not_found", "", 404},
	} {
		r := e.get(t, c.path)
		if code, msg := r.errorCode(t); r.status != c.status || code != c.code || !strings.HasPrefix(msg, c.field) {
			t.Errorf("GET %s = %d %s %q, want %d %s naming %q", c.path, r.status, code, msg, c.status, c.code, c.field)
		}
	}

	// The header costs the memory path no allocation.
	n, resp := handlerAllocs(t, e.srv, "/v1/profiles/phone:"+landline)
	if string(resp.Header.Peek(holdersHeader)) != "2" {
		t.Fatalf("in-process lookup: %s %q", holdersHeader, resp.Header.Peek(holdersHeader))
	}
	if n != 0 {
		t.Errorf("%v allocations per lookup of a shared identifier in the best of 5 runs, want 0", n)
	}
}
