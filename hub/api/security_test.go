package api_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/api"
	"ucv/hub/hubtest"
	hubtoken "ucv/hub/token"
	"ucv/profile"
	"ucv/replication"
)

// roleToken is one token per role: its name and secret.
var roleTokens = map[hubtoken.Role]struct{ name, secret string }{
	hubtoken.Admin:   {"ops", "ops.secret"},
	hubtoken.Steward: {"stew", "stew.secret"},
	hubtoken.Privacy: {"priv", "priv.secret"},
	hubtoken.Auditor: {"aud", "aud.secret"},
	hubtoken.Sync:    {"e1", "e1.secret"}, // the edge e1
	hubtoken.Node:    {"hub-nodes", "hub-nodes.secret"},
}

// tokenSet is a tokens file with roleTokens, hashed at bcrypt's minimum
// cost, plus extra name role secret triples.
func tokenSet(t testing.TB, extra ...[3]string) *hubtoken.Set {
	t.Helper()
	var b strings.Builder
	add := func(name string, role hubtoken.Role, secret string) {
		h, err := hubtoken.Hash(secret, hubtoken.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", name, role, h)
	}
	for _, r := range hubtoken.Roles() {
		add(roleTokens[r].name, r, roleTokens[r].secret)
	}
	for _, e := range extra {
		add(e[0], hubtoken.Role(e[1]), e[2])
	}
	s, err := hubtoken.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withTokens configures a hub with a tokens file and no shortcuts.
func withTokens(set *hubtoken.Set) func(*api.Config) {
	return func(c *api.Config) {
		c.SyncToken, c.AdminToken = "", ""
		c.Tokens, c.NodeToken = set, roleTokens[hubtoken.Node].secret
	}
}

// TestRoleMatrixWalk walks every route of the role matrix with every
// role's token, no token and an unknown one: a role the route does not
// list is 403 "forbidden" and changes nothing, a role it lists passes
// the door, no token or an unknown one is 401 (public routes answer
// anyone). The walk takes its routes from api.RoleMatrix, so a new route
// without a request here fails the test.
func TestRoleMatrixWalk(t *testing.T) {
	n, url := newHub(t, withTokens(tokenSet(t)))
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com")}})
	d2 := e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{hubtest.Anon("a2")}})
	syncCmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "e1", Entries: []replication.Entry{d1, d2}})
	if err != nil {
		t.Fatal(err)
	}
	pair := []byte(`{"a":"p1","b":"p2"}`)
	requests := map[string]struct {
		path string // with a query or ref filled in
		body []byte
		// allowed overrides the route's grants where the request decides
		// (internal apply of a sync batch: not the admin's).
		allowed []hubtoken.Role
	}{
		"GET /healthz":                         {path: "/healthz"},
		"GET /readyz":                          {path: "/readyz"},
		"GET /metrics":                         {path: "/metrics"},
		"POST /v1/sync/push":                   {body: push(t, "e1", d1, d2)},
		"GET /v1/sync/feed":                    {path: "/v1/sync/feed?cursor=0"},
		"GET /v1/sync/snapshot":                {},
		"POST /v1/internal/apply":              {body: syncCmd, allowed: []hubtoken.Role{hubtoken.Sync, hubtoken.Node}},
		"GET /v1/internal/peers":               {},
		"POST /v1/admin/join":                  {body: []byte(`{}`)},
		"POST /v1/admin/remove":                {body: []byte(`{}`)},
		"GET /v1/admin/status":                 {},
		"GET /v1/admin/profiles/{ref}":         {path: "/v1/admin/profiles/p1"},
		"GET /v1/admin/profiles/{ref}/why":     {path: "/v1/admin/profiles/p1/why"},
		"GET /v1/admin/profiles/{ref}/related": {path: "/v1/admin/profiles/p1/related"},
		"POST /v1/admin/import":                {body: []byte(`{"source":"crm","columns":[{"name":"email","kind":"email"}],"records":[{"id":"1","values":["ann@example.com"]}]}`)},
		"GET /v1/admin/import/{source}":        {path: "/v1/admin/import/crm"},
		"POST /v1/admin/merge":                 {body: pair},
		"POST /v1/admin/unmerge":               {body: pair},
		"GET /v1/admin/reviews":                {},
		"POST /v1/admin/reviews/accept":        {body: pair},
		"POST /v1/admin/reviews/reject":        {body: pair},
		"GET /v1/admin/model":                  {},
		"POST /v1/admin/model":                 {body: []byte{}},
		"GET /v1/admin/identity/models":        {},
		"GET /v1/admin/computed-traits":        {},
		"GET /v1/admin/computed-traits/{name}": {path: "/v1/admin/computed-traits/orders"},
		"PUT /v1/admin/computed-traits/{name}": {path: "/v1/admin/computed-traits/orders",
			body: []byte(`{"event":"Order Completed","aggregate":"count"}`)},
		"DELETE /v1/admin/computed-traits/{name}":  {path: "/v1/admin/computed-traits/orders"},
		"GET /v1/admin/audiences":                  {},
		"GET /v1/admin/audiences/{name}":           {path: "/v1/admin/audiences/vip"},
		"PUT /v1/admin/audiences/{name}":           {path: "/v1/admin/audiences/vip", body: []byte(`{"expression":"true"}`)},
		"DELETE /v1/admin/audiences/{name}":        {path: "/v1/admin/audiences/vip"},
		"GET /v1/admin/audiences/{name}/members":   {path: "/v1/admin/audiences/vip/members"},
		"GET /v1/admin/offers":                     {},
		"GET /v1/admin/offers/{name}":              {path: "/v1/admin/offers/ship"},
		"PUT /v1/admin/offers/{name}":              {path: "/v1/admin/offers/ship", body: []byte(`{"placement":"checkout"}`)},
		"DELETE /v1/admin/offers/{name}":           {path: "/v1/admin/offers/ship"},
		"GET /v1/admin/consent-purposes":           {},
		"GET /v1/admin/consent-purposes/{name}":    {path: "/v1/admin/consent-purposes/ads"},
		"PUT /v1/admin/consent-purposes/{name}":    {path: "/v1/admin/consent-purposes/ads", body: []byte(`{}`)},
		"DELETE /v1/admin/consent-purposes/{name}": {path: "/v1/admin/consent-purposes/ads"},
		"GET /v1/admin/retention":                  {},
		"GET /v1/admin/retention/{name}":           {path: "/v1/admin/retention/default"},
		"PUT /v1/admin/retention/{name}":           {path: "/v1/admin/retention/default", body: []byte(`{"events_days":30}`)},
		"DELETE /v1/admin/retention/{name}":        {path: "/v1/admin/retention/default"},
		"GET /v1/admin/survivorship":               {},
		"GET /v1/admin/survivorship/{name}":        {path: "/v1/admin/survivorship/default"},
		"PUT /v1/admin/survivorship/{name}":        {path: "/v1/admin/survivorship/default", body: []byte(`{"policy":"longest"}`)},
		"DELETE /v1/admin/survivorship/{name}":     {path: "/v1/admin/survivorship/default"},
		"GET /v1/admin/transitions":                {path: "/v1/admin/transitions?after=0"},
		"GET /v1/admin/destinations":               {},
		"GET /v1/admin/destinations/{name}":        {path: "/v1/admin/destinations/crm"},
		"PUT /v1/admin/destinations/{name}": {path: "/v1/admin/destinations/crm",
			body: []byte(`{"type":"webhook","url":"http://127.0.0.1:9/hook","secret":"0123456789abcdef","events":["audience.entered"]}`)},
		"DELETE /v1/admin/destinations/{name}":             {path: "/v1/admin/destinations/crm"},
		"GET /v1/admin/destinations/{name}/failed":         {path: "/v1/admin/destinations/crm/failed"},
		"POST /v1/admin/destinations/{name}/failed/replay": {path: "/v1/admin/destinations/crm/failed/replay"},
		"POST /v1/sync/privacy":                            {body: privacySyncBody(t, "e1")},
		"POST /v1/admin/privacy/requests":                  {body: []byte(`{"type":"export","identifier":"email:ann@example.com"}`)},
		"GET /v1/admin/privacy/requests":                   {},
		"GET /v1/admin/privacy/requests/{id}":              {path: "/v1/admin/privacy/requests/pr_x"},
		"GET /v1/admin/privacy/requests/{id}/export":       {path: "/v1/admin/privacy/requests/pr_x/export"},
		"GET /v1/admin/edges":                              {},
		"DELETE /v1/admin/edges/{id}":                      {path: "/v1/admin/edges/e9"},
		"GET /v1/admin/audit":                              {path: "/v1/admin/audit?since=0"},
		"GET /v1/admin/models/recommendations":             {},
		"POST /v1/admin/models/recommendations/fit":        {},
		"GET /v1/admin/models/clv":                         {},
		"POST /v1/admin/models/clv/fit":                    {},
		"GET /v1/admin/models/rfm":                         {},
		"POST /v1/admin/models/rfm/fit":                    {},
	}
	matrix := api.RoleMatrix()
	if len(matrix) != len(requests) {
		t.Errorf("the matrix has %d routes, the walk %d requests", len(matrix), len(requests))
	}
	for _, rt := range matrix {
		key := rt.Method + " " + rt.Path
		req, ok := requests[key]
		if !ok {
			t.Errorf("no request for %s: add one to the walk", key)
			continue
		}
		path := req.path
		if path == "" {
			path = rt.Path
		}
		allowed := req.allowed
		if allowed == nil {
			for _, g := range rt.Grants {
				allowed = append(allowed, g.Role)
			}
		}
		try := func(who, secret string, wantStatus int, wantCode string) {
			t.Helper()
			idx := n.FSM().Index()
			resp, b := do(t, rt.Method, url+path, secret, req.body)
			switch {
			case wantStatus == 0 && (resp.StatusCode == 401 || resp.StatusCode == 403 || resp.StatusCode == 429):
				t.Errorf("%s %s as %s = %d %s, want past the door", rt.Method, path, who, resp.StatusCode, b)
			case wantStatus != 0:
				if code, _ := errCode(t, b); resp.StatusCode != wantStatus || code != wantCode {
					t.Errorf("%s %s as %s = %d %s, want %d %s", rt.Method, path, who, resp.StatusCode, b, wantStatus, wantCode)
				}
				if n.FSM().Index() != idx {
					t.Errorf("%s %s as %s was refused but changed the state", rt.Method, path, who)
				}
			}
		}
		if rt.Open {
			try("anyone", "", 0, "")
			try("an unknown token", "nope", 0, "")
		} else {
			try("anyone", "", 401, "unauthorized")
			try("an unknown token", "nope", 401, "unauthorized")
		}
		for _, role := range hubtoken.Roles() {
			if rt.Open || slices.Contains(allowed, role) {
				try(string(role), roleTokens[role].secret, 0, "")
			} else {
				try(string(role), roleTokens[role].secret, 403, "forbidden")
			}
		}
	}

	// Internal apply of a steward's command: admin and node, not the
	// edge (and the steward does not reach internal apply at all).
	merge, err := hub.MarshalMerge(&hub.Merge{A: "p1", B: "p2", Actor: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		role   hubtoken.Role
		status int
	}{{hubtoken.Sync, 403}, {hubtoken.Steward, 403}, {hubtoken.Auditor, 403}, {hubtoken.Admin, 200}, {hubtoken.Node, 200}} {
		idx := n.FSM().Index()
		resp, b := do(t, "POST", url+"/v1/internal/apply", roleTokens[c.role].secret, merge)
		if resp.StatusCode != c.status {
			t.Errorf("internal apply of a merge as %s = %d %s, want %d", c.role, resp.StatusCode, b, c.status)
		}
		if c.status == 403 && n.FSM().Index() != idx {
			t.Errorf("internal apply of a merge as %s was refused but changed the state", c.role)
		}
	}
}

// TestEdgeIdentity: a sync token names its edge. It pushes only that
// edge's sequences (another edge's batch is 403 and changes nothing,
// through the push and through internal apply), reads the feed and the
// snapshot; the snapshot is refused to anyone without a sync hubtoken.
func TestEdgeIdentity(t *testing.T) {
	n, url := newHub(t, withTokens(tokenSet(t, [3]string{"e2", "sync", "e2.secret"})))
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com")}})
	e1 := roleTokens[hubtoken.Sync].secret

	resp, b := do(t, "POST", url+"/v1/sync/push", e1, push(t, "e2", d1))
	if code, msg := errCode(t, b); resp.StatusCode != 403 || code != "forbidden" || !strings.Contains(msg, `edge: the token "e1" pushes only edge "e1"`) {
		t.Fatalf("e1 pushing e2's sequences = %d %s, want 403 naming the edge", resp.StatusCode, b)
	}
	cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "e2", Entries: []replication.Entry{d1}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := do(t, "POST", url+"/v1/internal/apply", e1, cmd); resp.StatusCode != 403 {
		t.Fatalf("e1 applying e2's batch internally = %d %s, want 403", resp.StatusCode, b)
	}
	if got := n.FSM().EdgeSeq("e2"); got != 0 || len(n.FSM().Clusters()) != 0 {
		t.Fatalf("after refused pushes: e2 at seq %d, clusters %v; want nothing", got, n.FSM().Clusters())
	}
	// e2's own token pushes e2's sequences.
	if resp, b := do(t, "POST", url+"/v1/sync/push", "e2.secret", push(t, "e2", d1)); resp.StatusCode != 200 {
		t.Fatalf("e2 pushing its own = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "GET", url+"/v1/sync/feed?cursor=0", e1, nil); resp.StatusCode != 200 {
		t.Fatalf("e1 reading the feed = %d %s", resp.StatusCode, b)
	}
	for _, c := range []struct {
		who, secret string
		status      int
	}{
		{"e1", e1, 200},
		{"anyone", "", 401},
		{"the admin", roleTokens[hubtoken.Admin].secret, 403},
		{"a hub node", roleTokens[hubtoken.Node].secret, 403},
	} {
		if resp, b := do(t, "GET", url+"/v1/sync/snapshot", c.secret, nil); resp.StatusCode != c.status {
			t.Errorf("snapshot for %s = %d %.200s, want %d", c.who, resp.StatusCode, b, c.status)
		}
	}
}

// TestSharedSyncTokenPushesAnyEdge: the --sync-token shortcut is shared
// by every edge of a development setup, so it names none and pushes for
// any (what the multi-process tests rely on).
func TestSharedSyncTokenPushesAnyEdge(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Anon("a1")}})
	for _, edge := range []string{"till-1", "till-2"} {
		if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, edge, d1)); resp.StatusCode != 200 {
			t.Fatalf("shared sync token pushing %s = %d %s", edge, resp.StatusCode, b)
		}
	}
}

// TestBasicAuth: a token may come as Basic's password; the user name
// does not matter.
func TestBasicAuth(t *testing.T) {
	_, url := newHub(t, withTokens(tokenSet(t)))
	for _, c := range []struct {
		user, password string
		status         int
	}{{"ops", roleTokens[hubtoken.Admin].secret, 200}, {"anyone", roleTokens[hubtoken.Admin].secret, 200}, {"ops", "nope", 401}} {
		req, err := http.NewRequest("GET", url+"/v1/admin/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(c.user, c.password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("status with Basic %s:%s = %d, want %d", c.user, c.password, resp.StatusCode, c.status)
		}
	}
}

// TestOpenHubIgnoresTokens: a hub without any token (`ucv dev`,
// loopback) serves every route to anyone, whatever credential a client
// sends.
func TestOpenHubIgnoresTokens(t *testing.T) {
	_, url := newHub(t, func(c *api.Config) { c.SyncToken, c.AdminToken = "", "" })
	for _, secret := range []string{"", "whatever"} {
		if resp, b := do(t, "GET", url+"/v1/admin/status", secret, nil); resp.StatusCode != 200 {
			t.Errorf("status on an open hub with token %q = %d %s", secret, resp.StatusCode, b)
		}
		if resp, b := do(t, "GET", url+"/v1/sync/snapshot", secret, nil); resp.StatusCode != 200 {
			t.Errorf("snapshot on an open hub with token %q = %d %.100s", secret, resp.StatusCode, b)
		}
	}
}

// TestAuditorSeesNoRawIdentifiers: an admin's, a steward's and the
// privacy role's profile lookups show the e-mail and the traits; the auditor's the same profile with identifier
// values and trait values replaced by their redacted stand-ins (the
// ones the logs print), in the profile, its fragments and the history
// of /why.
func TestAuditorSeesNoRawIdentifiers(t *testing.T) {
	_, url := newHub(t, withTokens(tokenSet(t)))
	e := hubtest.NewEdge("e1", 1)
	ann := hubtest.Email("ann@example.com")
	d1 := e.Delta(hubtest.Event{Profile: "p1", Kind: profile.Identify, IDs: []profile.Identifier{ann, hubtest.Anon("a1")},
		Traits: map[string]any{"name": "Ann Smith", "street": "1 Main St"}})
	d2 := e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{ann}})
	if resp, b := do(t, "POST", url+"/v1/sync/push", roleTokens[hubtoken.Sync].secret, push(t, "e1", d1, d2)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	raw := []string{"ann@example.com", "Ann Smith", "1 Main St", `"a1"`}
	for _, path := range []string{"/v1/admin/profiles/email:ann@example.com", "/v1/admin/profiles/p1/why"} {
		for _, role := range []hubtoken.Role{hubtoken.Admin, hubtoken.Steward, hubtoken.Privacy} {
			resp, full := do(t, "GET", url+path, roleTokens[role].secret, nil)
			if resp.StatusCode != 200 || !strings.Contains(string(full), "ann@example.com") {
				t.Fatalf("%s GET %s = %d %s, want the e-mail", role, path, resp.StatusCode, full)
			}
		}
		resp, b := do(t, "GET", url+path, roleTokens[hubtoken.Auditor].secret, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("auditor GET %s = %d %s", path, resp.StatusCode, b)
		}
		for _, v := range raw {
			if strings.Contains(string(b), v) {
				t.Errorf("auditor GET %s shows %s:\n%s", path, v, b)
			}
		}
		if want := profile.Redact("ann@example.com"); !strings.Contains(string(b), want) {
			t.Errorf("auditor GET %s lacks the e-mail's stand-in %s:\n%s", path, want, b)
		}
	}
	_, b := do(t, "GET", url+"/v1/admin/profiles/p1", roleTokens[hubtoken.Auditor].secret, nil)
	for _, want := range []string{`"name":"` + profile.Redact(`"Ann Smith"`) + `"`, `"type":"email"`, `"type":"anonymous_id"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("auditor's profile lacks %s:\n%s", want, b)
		}
	}
}

// TestRateLimit: a token's requests over its budget are 429 with
// Retry-After and the code rate_limited; other tokens keep their own
// budget, anonymous requests share their IP's, node tokens have none.
// The clock moves only when the test moves it.
func TestRateLimit(t *testing.T) {
	var clock atomic.Int64 // seconds since start
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, url := newHub(t, withTokens(tokenSet(t)), func(c *api.Config) {
		c.RateLimit, c.RateBurst = 0.5, 2
		c.Now = func() time.Time { return start.Add(time.Duration(clock.Load()) * time.Second) }
	})
	get := func(path string, role hubtoken.Role) *http.Response {
		t.Helper()
		secret := ""
		if role != "" {
			secret = roleTokens[role].secret
		}
		resp, _ := do(t, "GET", url+path, secret, nil)
		return resp
	}
	for i := range 2 {
		if resp := get("/v1/sync/feed", hubtoken.Sync); resp.StatusCode != 200 {
			t.Fatalf("feed request %d = %d, want 200 within the burst", i+1, resp.StatusCode)
		}
	}
	resp, b := do(t, "GET", url+"/v1/sync/feed", roleTokens[hubtoken.Sync].secret, nil)
	if code, _ := errCode(t, b); resp.StatusCode != 429 || code != "rate_limited" || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("third feed request = %d %s Retry-After %q, want 429 rate_limited Retry-After 2", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	clock.Add(1)
	if resp := get("/v1/sync/feed", hubtoken.Sync); resp.StatusCode != 429 {
		t.Fatalf("feed request after 1 s = %d, want 429 (half a token refilled)", resp.StatusCode)
	}
	clock.Add(1)
	if resp := get("/v1/sync/feed", hubtoken.Sync); resp.StatusCode != 200 {
		t.Fatalf("feed request after 2 s = %d, want 200 (one token refilled)", resp.StatusCode)
	}
	if resp := get("/v1/admin/status", hubtoken.Auditor); resp.StatusCode != 200 {
		t.Errorf("another token = %d, want its own budget", resp.StatusCode)
	}
	for i := range 5 {
		if resp := get("/v1/internal/peers", hubtoken.Node); resp.StatusCode != 200 {
			t.Fatalf("node request %d = %d, want no limit", i+1, resp.StatusCode)
		}
	}
	for i := range 2 {
		if resp := get("/healthz", ""); resp.StatusCode != 200 {
			t.Fatalf("healthz %d = %d", i+1, resp.StatusCode)
		}
	}
	if resp := get("/healthz", ""); resp.StatusCode != 429 {
		t.Errorf("third anonymous request from the IP = %d, want 429", resp.StatusCode)
	}
}

// TestGuessingCostsNoBcryptOverTheLimit: failed authentications spend
// the client IP's budget, and once it is spent the hub answers a secret
// it has not seen with 429 without running bcrypt; a token already
// verified is answered from the cache.
func TestGuessingCostsNoBcryptOverTheLimit(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	set := tokenSet(t)
	_, url := newHub(t, withTokens(set), func(c *api.Config) {
		c.RateLimit, c.RateBurst, c.Now = 1, 3, func() time.Time { return at }
	})
	for i := range 50 {
		if resp, _ := do(t, "GET", url+"/v1/sync/feed", roleTokens[hubtoken.Sync].secret, nil); i < 3 && resp.StatusCode != 200 {
			t.Fatalf("feed %d = %d", i, resp.StatusCode)
		}
	}
	if got, max := set.Compares(), int64(len(roleTokens)); got > max {
		t.Errorf("%d bcrypt comparisons for 50 requests with one token, want at most %d (its first request)", got, max)
	}
	before := set.Compares()
	var statuses []int
	for i := range 10 {
		resp, _ := do(t, "GET", url+"/v1/admin/status", fmt.Sprint("guess-", i), nil)
		statuses = append(statuses, resp.StatusCode)
	}
	if !slices.Equal(statuses[:3], []int{401, 401, 401}) || slices.ContainsFunc(statuses[3:], func(s int) bool { return s != 429 }) {
		t.Errorf("statuses of 10 guesses = %v, want 3 × 401 (the budget), then 429s", statuses)
	}
	if got, want := set.Compares()-before, 3*int64(len(roleTokens)); got != want {
		t.Errorf("%d bcrypt comparisons for 10 guesses, want %d (the three guesses within the budget)", got, want)
	}
}

// TestForwardingWithNodeTokens: in a cluster with a tokens file and no
// shortcuts, nodes join and forward with their node token; an edge's
// push and a steward's merge sent to a follower commit at the leader.
func TestForwardingWithNodeTokens(t *testing.T) {
	nodes := newAPICluster(t, new(hubtest.Network), 2, withTokens(tokenSet(t)))
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Anon("a1")}})
	d2 := e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{hubtest.Anon("a2")}})
	if resp, b := do(t, "POST", nodes[1].url+"/v1/sync/push", roleTokens[hubtoken.Sync].secret, push(t, "e1", d1, d2)); resp.StatusCode != 200 {
		t.Fatalf("push via the follower = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", nodes[1].url+"/v1/admin/merge", roleTokens[hubtoken.Steward].secret, []byte(`{"a":"p1","b":"p2","actor":"stew"}`)); resp.StatusCode != 200 {
		t.Fatalf("merge via the follower = %d %s", resp.StatusCode, b)
	}
	if got := nodes[0].hub.FSM().Clusters(); len(got["p1"]) != 2 {
		t.Fatalf("leader's clusters = %v, want p1 and p2 merged", got)
	}
}

// TestConnectionCaps: a connection over the per-IP or the total cap is
// closed at accept, before a byte is read, and counted; once one of the
// open ones closes, a new one is served.
func TestConnectionCaps(t *testing.T) {
	for _, c := range []struct {
		cap        string
		total, per int
	}{{"per_ip", 0, 2}, {"total", 2, 0}} {
		t.Run(c.cap, func(t *testing.T) {
			_, url := newHub(t, func(cf *api.Config) { cf.MaxConns, cf.MaxConnsPerIP = c.total, c.per })
			addr := strings.TrimPrefix(url, "http://")
			get := func(conn net.Conn) error {
				if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"); err != nil {
					return err
				}
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			dial := func() net.Conn {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				// A guard against hanging, not an assertion on time.
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				return conn
			}
			held := []net.Conn{dial(), dial()}
			for i, conn := range held {
				if err := get(conn); err != nil {
					t.Fatalf("connection %d within the cap: %v", i+1, err)
				}
			}
			if err := get(dial()); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("a request on a connection over the cap: %v, want the connection closed by the hub", err)
			}
			held[0].Close()
			waitFor(t, "a slot to free once a connection closed", func() bool {
				conn := dial()
				defer conn.Close()
				return get(conn) == nil
			})
			held[1].Close()
			waitFor(t, "the refused connection counted in /metrics", func() bool {
				resp, err := http.Get(url + "/metrics")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return strings.Contains(string(b), `ucv_hub_http_conns_refused_total{cap="`+c.cap+`"} `)
			})
		})
	}
}

func privacySyncBody(t *testing.T, edge string) []byte {
	t.Helper()
	b, err := replication.MarshalPrivacySync(&replication.PrivacySync{Edge: edge})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
