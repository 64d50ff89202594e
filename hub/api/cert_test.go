package api_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"ucv/hub/api"
	"ucv/hub/hubtest"
	hubtoken "ucv/hub/token"
	"ucv/profile"
	"ucv/tlsconf"
	"ucv/tlsconf/tlstest"
)

// tlsHub runs a single-node hub whose API is served over TLS with the
// node certificate of ca, verifying client certificates given
// (`--tls-client-ca`), and returns its https URL.
func tlsHub(t *testing.T, ca *tlstest.CA, opts ...func(*api.Config)) apiNode {
	t.Helper()
	l := tlstest.Load(t, ca.Node("h0"), ca.File())
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := l.Listener(raw, tlsconf.VerifyClientCertIfGiven)
	if err != nil {
		t.Fatal(err)
	}
	nd := serveNode(t, ln, new(hubtest.Network), "h0", true, func(c *api.Config) {
		c.HTTPURL = "https://" + raw.Addr().String()
		c.ClientCerts = true
		c.Client = &http.Client{Transport: l.Transport()}
		// serveNode wraps ln with the connection caps; under TLS they go
		// beneath it (Server.Listener), so this hub runs without them.
		c.MaxConns, c.MaxConnsPerIP = 0, 0
		for _, o := range opts {
			o(c)
		}
	})
	waitFor(t, "h0 leads", nd.hub.IsLeader)
	return nd
}

// call sends a request with client c and returns the status and body; a
// transport error (a refused handshake) is status 0.
func call(t *testing.T, c *http.Client, method, url, tok string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClientCertificates: with --tls-client-ca the sync routes need a
// certificate of the hub's CA, the routes between hub nodes a node's,
// and the admin routes their token whatever the certificate; a verified
// certificate alone is its holder's identity (an edge's: role sync, a
// node's: role node), so it opens the sync routes without a token and
// is forbidden on the admin routes; another CA's certificate is refused
// at the handshake and plain HTTP gets no answer from the API. A refused
// request changes nothing.
func TestClientCertificates(t *testing.T) {
	ca, evil := tlstest.NewCA(t), tlstest.NewCA(t)
	nd := tlsHub(t, ca)
	client := func(p tlstest.Pair) *http.Client {
		return &http.Client{Transport: tlstest.Load(t, p, ca.File()).Transport()}
	}
	anon, edge, node := client(tlstest.Pair{}), client(ca.Client("till-3")), client(ca.Node("h1"))
	forged := client(evil.Client("till-3"))
	e := hubtest.NewEdge("store-1", 1)
	body := push(t, "e1", e.Delta(hubtest.Event{Profile: "p1", IDs: []profile.Identifier{hubtest.Anon("a1")}}))

	for _, tc := range []struct {
		who          string
		c            *http.Client
		method, path string
		tok          string
		body         []byte
		status       int
		msg          string
	}{
		{"no certificate", anon, "POST", "/v1/sync/push", token, body, 401, "client certificate"},
		{"no certificate", anon, "GET", "/v1/sync/feed", token, nil, 401, "client certificate"},
		{"no certificate", anon, "GET", "/v1/internal/peers", token, nil, 401, "client certificate"},
		{"no certificate", anon, "GET", "/v1/admin/status", admin, nil, 200, ""},
		{"no certificate", anon, "GET", "/healthz", "", nil, 200, ""},
		{"an edge's certificate", edge, "GET", "/v1/sync/feed", token, nil, 200, ""},
		{"an edge's certificate", edge, "GET", "/v1/sync/feed", "", nil, 200, ""},
		{"an edge's certificate", edge, "GET", "/v1/internal/peers", token, nil, 403, "hub node"},
		{"an edge's certificate", edge, "POST", "/v1/admin/join", admin, []byte(`{}`), 403, "hub node"},
		{"an edge's certificate", edge, "GET", "/v1/admin/status", "", nil, 403, "role sync"},
		{"an edge's certificate", edge, "GET", "/v1/admin/status", token, nil, 403, ""},
		{"a node's certificate", node, "GET", "/v1/internal/peers", token, nil, 200, ""},
		{"a node's certificate", node, "GET", "/v1/admin/status", "", nil, 403, "role node"},
		{"a node's certificate", node, "GET", "/v1/internal/peers", "", nil, 200, ""},
		{"another CA's certificate", forged, "GET", "/v1/sync/feed", token, nil, 0, ""},
		{"another CA's certificate", forged, "GET", "/v1/admin/status", admin, nil, 0, ""},
		{"another CA's certificate", forged, "GET", "/healthz", "", nil, 0, ""},
	} {
		idx := nd.hub.FSM().Index()
		status, got := call(t, tc.c, tc.method, nd.url+tc.path, tc.tok, tc.body)
		if status != tc.status || !strings.Contains(got, tc.msg) {
			t.Errorf("%s %s with %s = %d %s, want %d …%s…", tc.method, tc.path, tc.who, status, got, tc.status, tc.msg)
		}
		if nd.hub.FSM().Index() != idx {
			t.Errorf("%s %s with %s changed the state", tc.method, tc.path, tc.who)
		}
	}

	// An edge's certificate (and the sync token) pushes.
	if status, got := call(t, edge, "POST", nd.url+"/v1/sync/push", token, body); status != 200 {
		t.Errorf("push with an edge's certificate = %d %s", status, got)
	}

	// Plain HTTP to the TLS port reaches no handler.
	plain := "http://" + strings.TrimPrefix(nd.url, "https://")
	if status, got := call(t, http.DefaultClient, "GET", plain+"/v1/admin/status", admin, nil); status == 200 {
		t.Errorf("plain HTTP to a TLS hub answered %d %s", status, got)
	}
}

// A client certificate and a named sync token are two credentials for
// one edge: when both are given they must name the same edge, else the
// request is 403 and nothing is stored; a certificate alone pushes as
// the edge it names, and only that edge's sequences.
func TestCertificateAndTokenAgree(t *testing.T) {
	ca := tlstest.NewCA(t)
	nd := tlsHub(t, ca, withTokens(tokenSet(t)))
	client := func(name string) *http.Client {
		return &http.Client{Transport: tlstest.Load(t, ca.Client(name), ca.File()).Transport()}
	}
	e1 := roleTokens[hubtoken.Sync]    // the sync token named e1
	body := func(edge string) []byte { // each edge's first sequence
		ed := hubtest.NewEdge(edge, 1)
		return push(t, edge, ed.Delta(hubtest.Event{Profile: "p-" + edge, IDs: []profile.Identifier{hubtest.Anon("a-" + edge)}}))
	}
	for _, tc := range []struct {
		who, cert, tok, edge string
		status               int
	}{
		{"e1's token on e2's certificate", "e2", e1.secret, "e1", 403},
		{"e1's token on e2's certificate, pushing e2", "e2", e1.secret, "e2", 403},
		{"e2's certificate alone, pushing e1", "e2", "", "e1", 403},
	} {
		idx := nd.hub.FSM().Index()
		if status, got := call(t, client(tc.cert), "POST", nd.url+"/v1/sync/push", tc.tok, body(tc.edge)); status != tc.status {
			t.Errorf("%s: push = %d %s, want %d", tc.who, status, got, tc.status)
		}
		if nd.hub.FSM().Index() != idx {
			t.Errorf("%s: a refused push changed the state", tc.who)
		}
	}
	if status, got := call(t, client("e1"), "POST", nd.url+"/v1/sync/push", e1.secret, body("e1")); status != 200 {
		t.Errorf("e1's token on e1's certificate: push = %d %s", status, got)
	}
	if status, got := call(t, client("e2"), "POST", nd.url+"/v1/sync/push", "", body("e2")); status != 200 {
		t.Errorf("e2's certificate alone, pushing e2: push = %d %s", status, got)
	}
}
