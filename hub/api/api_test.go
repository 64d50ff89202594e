package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/api"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

const token = "sync-secret"

// apiNode is one hub node behind its API.
type apiNode struct {
	hub   *hub.Server
	api   *api.Server
	url   string
	peers *api.Peers
}

// startNode starts hub node id on nw behind its API, served by the
// API's own HTTPServer (the product's timeouts) on 127.0.0.1, port 0,
// and stops both when the test ends. Options adjust the API config.
func startNode(t *testing.T, nw *hubtest.Network, id string, bootstrap bool, opts ...func(*api.Config)) apiNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveNode(t, ln, nw, id, bootstrap, opts...)
}

// serveNode is startNode on a listener of the caller's.
func serveNode(t *testing.T, ln net.Listener, nw *hubtest.Network, id string, bootstrap bool, opts ...func(*api.Config)) apiNode {
	t.Helper()
	url := "http://" + ln.Addr().String()
	ac := api.DefaultConfig()
	ac.NodeID, ac.HTTPURL, ac.SyncToken, ac.AdminToken = id, url, token, admin
	for _, o := range opts {
		o(&ac)
	}
	url = ac.HTTPURL // an option may serve https
	peers, err := api.NewPeers(ac)
	if err != nil {
		t.Fatal(err)
	}
	hc := nw.Config(id, bootstrap)
	hc.Forward = peers.Forward
	h, err := hub.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	as, err := api.New(ac, h, peers)
	if err != nil {
		t.Fatal(err)
	}
	base, endRequests := context.WithCancel(context.Background())
	srv := as.HTTPServer(base)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(as.Listener(ln)) }()
	t.Cleanup(func() {
		endRequests()
		srv.Close()
		<-served
		h.Close(context.Background())
	})
	return apiNode{hub: h, api: as, url: url, peers: peers}
}

// newHub runs a single-node hub on raft's in-memory transport behind
// the API and waits until it leads.
func newHub(t *testing.T, opts ...func(*api.Config)) (*hub.Server, string) {
	t.Helper()
	nd := startNode(t, new(hubtest.Network), "h0", true, opts...)
	waitFor(t, "h0 leads", nd.hub.IsLeader)
	return nd.hub, nd.url
}

func do(t *testing.T, method, url, tok string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func push(t *testing.T, edge string, es ...replication.Entry) []byte {
	t.Helper()
	b, err := replication.MarshalSyncPush(&replication.SyncPush{Edge: edge, First: es[0].Seq, Entries: es})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ack(t *testing.T, b []byte) *replication.SyncAck {
	t.Helper()
	a, err := replication.UnmarshalSyncAck(b)
	if err != nil {
		t.Fatalf("ack: %v (body %q)", err, b)
	}
	return a
}

func errCode(t *testing.T, b []byte) (code, msg string) {
	t.Helper()
	var eb struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	return eb.Error.Code, eb.Error.Message
}

func TestPush(t *testing.T) {
	n, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com")}})
	d2 := e.Delta(hubtest.Event{Profile: "p1", Name: "Viewed"})
	d3 := e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{hubtest.Anon("a2")}})
	d4 := e.Delta(hubtest.Event{Profile: "p2", Name: "Viewed"})

	// Acknowledged only after commit: the FSM already holds it.
	resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d1, d2))
	if resp.StatusCode != 200 {
		t.Fatalf("push = %d %s, want 200", resp.StatusCode, b)
	}
	if a := ack(t, b); a.Status != replication.AckApplied || a.Seq != 2 || a.Index == 0 {
		t.Fatalf("ack = %+v, want applied up to 2", a)
	}
	if got := n.FSM().EdgeSeq("e1"); got != 2 {
		t.Fatalf("EdgeSeq after ack = %d, want 2", got)
	}
	// A replay is a duplicate and changes nothing.
	before := n.FSM().Index()
	resp, b = do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d1, d2))
	if a := ack(t, b); resp.StatusCode != 200 || a.Status != replication.AckDuplicate || a.Seq != 2 {
		t.Fatalf("replay = %d %+v, want 200 duplicate up to 2", resp.StatusCode, a)
	}
	if _, err := n.FSM().Profile("p1"); err != nil {
		t.Fatal(err)
	}
	// A gap is 409 naming the expected sequence; nothing applied.
	resp, b = do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d4))
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Expected-Seq") != "3" {
		t.Fatalf("gap = %d X-Expected-Seq %q, want 409 and 3", resp.StatusCode, resp.Header.Get("X-Expected-Seq"))
	}
	if a := ack(t, b); a.Status != replication.AckGap || a.Seq != 3 {
		t.Fatalf("gap ack = %+v, want gap expecting 3", a)
	}
	if _, err := n.FSM().Profile("p2"); err == nil {
		t.Fatal("a refused gap batch applied p2")
	}
	// An edge the hub has never seen must start at 1: mid-stream is a
	// gap expecting 1, nothing applied; from 1 it is accepted.
	e2 := hubtest.NewEdge("store-2", 2)
	s1 := e2.Delta(hubtest.Event{Profile: "q1"})
	s2 := e2.Delta(hubtest.Event{Profile: "q2"})
	resp, b = do(t, "POST", url+"/v1/sync/push", token, push(t, "stranger", s2))
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Expected-Seq") != "1" {
		t.Fatalf("unknown edge at 2 = %d X-Expected-Seq %q, want 409 and 1", resp.StatusCode, resp.Header.Get("X-Expected-Seq"))
	}
	if a := ack(t, b); a.Status != replication.AckGap || a.Seq != 1 {
		t.Fatalf("unknown edge ack = %+v, want gap expecting 1", a)
	}
	if _, err := n.FSM().Profile("q2"); err == nil || n.FSM().EdgeSeq("stranger") != 0 {
		t.Fatal("a refused batch from an unknown edge was applied")
	}
	resp, b = do(t, "POST", url+"/v1/sync/push", token, push(t, "stranger", s1, s2))
	if a := ack(t, b); resp.StatusCode != 200 || a.Status != replication.AckApplied || a.Seq != 2 {
		t.Fatalf("unknown edge from 1 = %d %+v, want applied up to 2", resp.StatusCode, a)
	}
	// An overlapping retry applies only what is new.
	resp, b = do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d2, d3, d4))
	if a := ack(t, b); resp.StatusCode != 200 || a.Status != replication.AckApplied || a.Seq != 4 {
		t.Fatalf("overlap = %d %+v, want applied up to 4", resp.StatusCode, a)
	}
	if n.FSM().Index() <= before {
		t.Fatal("index did not advance")
	}

	bad := map[string]struct {
		tok    string
		body   []byte
		status int
		code   string
		field  string
	}{
		"no token":    {"", push(t, "e1", d1), 401, "unauthorized", ""},
		"bad token":   {"nope", push(t, "e1", d1), 401, "unauthorized", ""},
		"admin token": {"admin-secret", push(t, "e1", d1), 403, "forbidden", ""},
		"malformed":   {token, []byte{byte(replication.MsgSyncPush), 0x93}, 400, "invalid_request", "body"},
		"gossip type": {token, []byte{byte(replication.MsgEntries), 0x90}, 400, "invalid_request", "body"},
		"bad delta": {token, push(t, "e9", replication.Entry{Seq: 1, Kind: replication.KindDelta, ProfileID: "x", Delta: []byte{1}}),
			400, "invalid_request", "entries"},
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			idx := n.FSM().Index()
			resp, b := do(t, "POST", url+"/v1/sync/push", c.tok, c.body)
			code, msg := errCode(t, b)
			if resp.StatusCode != c.status || code != c.code || !strings.Contains(msg, c.field) {
				t.Fatalf("= %d %s %q, want %d %s naming %q", resp.StatusCode, code, msg, c.status, c.code, c.field)
			}
			if n.FSM().EdgeSeq("e9") != 0 || (c.status == 401 || c.status == 403) && n.FSM().Index() != idx {
				t.Fatal("a refused push changed the state")
			}
		})
	}
}

func TestFeedLongPoll(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	// Nothing yet: a wait returns empty with the same cursor.
	start := time.Now()
	resp, b := do(t, "GET", url+"/v1/sync/feed?cursor=0&wait=100ms", token, nil)
	page, err := replication.UnmarshalFeedResponse(b)
	if resp.StatusCode != 200 || err != nil || len(page.Items) != 0 || page.Next != 0 {
		t.Fatalf("empty feed = %d %+v %v", resp.StatusCode, page, err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("long-poll returned before its wait")
	}
	// A waiting reader wakes up when a push commits.
	if resp, _ := do(t, "GET", url+"/v1/sync/feed?cursor=0&wait=10s", "", nil); resp.StatusCode != 401 {
		t.Fatalf("feed without token = %d, want 401", resp.StatusCode)
	}
	ch := longPoll(url + "/v1/sync/feed?cursor=0&wait=10s")
	time.Sleep(50 * time.Millisecond) // let the reader start waiting (the test passes either way)
	pushed := time.Now()
	d := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com")}})
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.page.Items) != 1 || r.page.Items[0].ID != "p1" || r.page.Next == 0 {
		t.Fatalf("feed after push = %+v", r.page)
	}
	if lat := time.Since(pushed); lat > 2*time.Second {
		t.Fatalf("long-poll answered %v after the commit", lat)
	}
	// From its cursor, nothing new.
	resp, b = do(t, "GET", url+"/v1/sync/feed?cursor="+strconv.FormatUint(r.page.Next, 10), token, nil)
	if page, err := replication.UnmarshalFeedResponse(b); resp.StatusCode != 200 || err != nil || len(page.Items) != 0 {
		t.Fatalf("feed from next = %d %+v %v", resp.StatusCode, page, err)
	}
	for q, field := range map[string]string{"cursor=-1": "cursor", "max=0": "max", "wait=forever": "wait", "wait=10m": "wait"} {
		resp, b := do(t, "GET", url+"/v1/sync/feed?"+q, token, nil)
		if code, msg := errCode(t, b); resp.StatusCode != 400 || code != "invalid_request" || !strings.Contains(msg, field) {
			t.Errorf("feed?%s = %d %s %q, want 400 naming %s", q, resp.StatusCode, code, msg, field)
		}
	}
}

func TestAdmin(t *testing.T) {
	_, url := newHub(t)
	e := hubtest.NewEdge("store-1", 1)
	d1 := e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Email("ann@example.com"), hubtest.Anon("a1")}})
	d2 := e.Delta(hubtest.Event{Profile: "p2", IDs: []profile.Identifier{hubtest.Email("ann@example.com"), hubtest.Anon("a2")}})
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "e1", d1, d2)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, "GET", url+"/v1/admin/status", "", nil); resp.StatusCode != 401 {
		t.Fatalf("status without token = %d, want 401", resp.StatusCode)
	}
	resp, b := do(t, "GET", url+"/v1/admin/status", "admin-secret", nil)
	var st api.Status
	if err := json.Unmarshal(b, &st); resp.StatusCode != 200 || err != nil || st.Leader != "h0" || len(st.Edges) != 1 {
		t.Fatalf("status = %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", url+"/v1/admin/profiles/email:Ann@Example.com", "admin-secret", nil)
	var pr api.ProfileResponse
	if err := json.Unmarshal(b, &pr); resp.StatusCode != 200 || err != nil || pr.ID != "p1" || len(pr.Fragments) != 2 || len(pr.History) == 0 {
		t.Fatalf("profile by e-mail = %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "GET", url+"/v1/admin/profiles/nobody", "admin-secret", nil); resp.StatusCode != 404 {
		t.Fatalf("unknown profile = %d %s, want 404", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", url+"/v1/admin/unmerge", "admin-secret", []byte(`{"a":"p1"}`)); resp.StatusCode != 400 || !strings.Contains(string(b), "b: required") {
		t.Fatalf("unmerge without b = %d %s, want 400 naming b", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", url+"/v1/admin/unmerge", "admin-secret", []byte(`{"a":"p1","b":"p2","reason":"two people"}`)); resp.StatusCode != 200 {
		t.Fatalf("unmerge = %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", url+"/v1/admin/profiles/p2", "admin-secret", nil)
	pr = api.ProfileResponse{}
	if err := json.Unmarshal(b, &pr); resp.StatusCode != 200 || err != nil || pr.ID != "p2" || len(pr.Fragments) != 1 ||
		len(pr.Apart) != 1 || pr.Apart[0] != "p1" {
		t.Fatalf("p2 after unmerge = %d %s, want alone, apart from p1", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", url+"/v1/admin/unmerge", "admin-secret", []byte(`{"a":"p1","b":"p2"}`)); resp.StatusCode != 409 || !strings.Contains(string(b), `"code":"conflict"`) {
		t.Fatalf("unmerge again = %d %s, want 409 conflict", resp.StatusCode, b)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp, b := do(t, "GET", url+p, "", nil); resp.StatusCode != 200 {
			t.Errorf("%s = %d %s", p, resp.StatusCode, b)
		}
	}
	if _, b := do(t, "GET", url+"/metrics", "", nil); !strings.Contains(string(b), `ucv_hub_sync_batches_total{result="applied"} 1`) {
		t.Errorf("metrics lack the applied batch:\n%s", b)
	}
}

// feedPage is what a long-poll of the feed got.
type feedPage struct {
	page *replication.FeedResponse
	err  error
}

// longPoll GETs a feed URL with the sync token in the background; the
// channel receives its page.
func longPoll(url string) <-chan feedPage {
	ch := make(chan feedPage, 1)
	go func() {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- feedPage{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		p, err := replication.UnmarshalFeedResponse(b)
		ch <- feedPage{p, err}
	}()
	return ch
}
