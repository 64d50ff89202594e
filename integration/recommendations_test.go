package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	edgeapi "ucv/edge/api"
	"ucv/hub"
	"ucv/profile/catalog"
)

// call sends a request with a bearer token and returns the status and
// body.
func call(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	return callBody(t, method, url, token, nil)
}

// callBody is call with a request body (nil for none).
func callBody(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// serveEdgeAPI serves the edge's store with a read key of scope
// profiles, until the test ends.
func (e *edge) serveAPI(t *testing.T) string {
	t.Helper()
	cfg := edgeapi.DefaultConfig()
	cfg.DevMode, cfg.NodeName = true, "till-1"
	cfg.ReadKeys = []edgeapi.ReadKey{{Name: "app", Secret: "read-secret-0123456789abcdef", Scopes: []edgeapi.Scope{edgeapi.ScopeProfiles}}}
	srv, err := edgeapi.New(e.st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
	return "http://" + ln.Addr().String()
}

// The hub fits recommendations on demand from the orders edges pushed;
// the model reaches the edge in the catalog, and the edge recommends
// from a profile's purchases and views, never an item it bought. Too
// little data is a 422 that keeps the model in force.
func TestRecommendationsHubToEdge(t *testing.T) {
	h, url := newHub(t, "h0")
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))

	// Nothing ordered yet: 422, nothing defined.
	code, body := call(t, "POST", url+"/v1/admin/models/recommendations/fit", "admin-secret")
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"too_little_data"`) {
		t.Fatalf("fit without data = %d %s, want 422 too_little_data", code, body)
	}
	if _, ok := h.FSM().Catalog().Models[catalog.ModelRecommendations]; ok {
		t.Fatal("a failed fit defined a model")
	}
	code, body = call(t, "GET", url+"/v1/admin/models/recommendations", "admin-secret")
	if code != 200 || !strings.Contains(string(body), `"installed":false`) {
		t.Fatalf("model info before any fit = %d %s", code, body)
	}

	// Baskets: bread goes with butter, tea with milk; u9 viewed tea.
	baskets := map[string][]string{
		"u0": {"bread", "butter"}, "u1": {"bread", "butter", "jam"}, "u2": {"bread", "butter"},
		"u3": {"tea", "milk"}, "u4": {"tea", "milk", "sugar"}, "u5": {"bread"},
	}
	var bodies []string
	n := 0
	for _, u := range []string{"u0", "u1", "u2", "u3", "u4", "u5"} {
		var ps []string
		for _, p := range baskets[u] {
			ps = append(ps, fmt.Sprintf(`{"product_id":%q,"price":2}`, p))
		}
		n++
		bodies = append(bodies, fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":%q,"messageId":"o%d","properties":{"total":9,"currency":"EUR","products":[%s]}}`,
			u, n, strings.Join(ps, ",")))
	}
	bodies = append(bodies, `{"type":"track","event":"Product Viewed","userId":"u9","messageId":"v1","properties":{"product_id":"tea"}}`)
	e.ingest(bodies...)
	e.sync(url)
	waitFor(t, "the hub to hold the edge's orders", func() bool { return e.settled(h) })

	code, body = call(t, "POST", url+"/v1/admin/models/recommendations/fit", "admin-secret")
	t.Logf("fit: %s", body)
	var fit hub.RecommendationsFit
	if code != 200 || json.Unmarshal(body, &fit) != nil {
		t.Fatalf("fit = %d %s", code, body)
	}
	if fit.Baskets != 6 || fit.Items != 6 || fit.Version == 0 || fit.Bytes == 0 {
		t.Errorf("fit = %+v, want 6 baskets of 6 items", fit)
	}
	code, body = call(t, "GET", url+"/v1/admin/models/recommendations", "admin-secret")
	if code != 200 || !strings.Contains(string(body), `"installed":true`) || !strings.Contains(string(body), `"baskets":6`) {
		t.Errorf("model info = %d %s", code, body)
	}
	waitFor(t, "the model to reach the edge", func() bool {
		_, ok := e.st.Catalog().Catalog().Models[catalog.ModelRecommendations]
		return ok
	})

	edgeURL := e.serveAPI(t)
	get := func(ref, q string) (int, []string, []byte) {
		code, body := call(t, "GET", edgeURL+"/v1/profiles/"+ref+"/recommendations"+q, "read-secret-0123456789abcdef")
		var out struct {
			Items []struct {
				ID    string  `json:"id"`
				Score float64 `json:"score"`
			} `json:"items"`
		}
		_ = json.Unmarshal(body, &out)
		var ids []string
		for _, it := range out.Items {
			ids = append(ids, it.ID)
		}
		return code, ids, body
	}
	// u5 bought bread: butter, then jam; never bread.
	code, ids, body := get("user_id:u5", "?k=2")
	t.Logf("u5: %s", body)
	if code != 200 || !slices.Equal(ids, []string{"butter", "jam"}) {
		t.Errorf("u5's recommendations = %d %s, want butter, jam", code, body)
	}
	// u0 bought bread and butter: jam first, and neither bought item.
	code, ids, body = get("user_id:u0", "")
	if code != 200 || len(ids) == 0 || ids[0] != "jam" || slices.Contains(ids, "bread") || slices.Contains(ids, "butter") {
		t.Errorf("u0's recommendations = %d %s", code, body)
	}
	// u9 only viewed tea: milk first; tea itself may come back.
	code, ids, body = get("user_id:u9", "?k=1")
	if code != 200 || !slices.Equal(ids, []string{"milk"}) {
		t.Errorf("u9's recommendations = %d %s, want milk", code, body)
	}
	for _, q := range []string{"?k=0", "?k=101", "?k=ten"} {
		if code, _, body := get("user_id:u5", q); code != 400 || !strings.Contains(string(body), "k: must be") {
			t.Errorf("%s = %d %s, want 400 naming k", q, code, body)
		}
	}
	if code, _, _ := get("user_id:nobody", ""); code != 404 {
		t.Errorf("unknown profile = %d, want 404", code)
	}
	if code, body := call(t, "GET", edgeURL+"/v1/profiles/user_id:u5/recommendations", "wrong"); code != 401 {
		t.Errorf("without a read key = %d %s, want 401", code, body)
	}

	// Roles: only an admin fits (the sync token is refused).
	if code, _ := call(t, "POST", url+"/v1/admin/models/recommendations/fit", syncToken); code != 403 {
		t.Errorf("fit with the sync token = %d, want 403", code)
	}
}

// A fit with too little data keeps the model in force.
func TestRecommendationsFailedFitKeepsModel(t *testing.T) {
	h, url := newHub(t, "h0")
	model := `{"version":1,"options":{},"baskets":2,"items":2,"neighbours":{"a":{"ids":["b"],"scores":[1]}},"popular":["a"]}`
	cmd, err := hub.MarshalDefine(&hub.Define{Kind: catalog.KindModel, Name: catalog.ModelRecommendations, Definition: []byte(model), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	code, body := call(t, "POST", url+"/v1/admin/models/recommendations/fit", "admin-secret")
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "ordered products") {
		t.Fatalf("fit = %d %s, want 422 naming the data", code, body)
	}
	if got := h.FSM().Catalog().Models[catalog.ModelRecommendations]; string(got) != model {
		t.Errorf("model after a failed fit = %s, want the previous one", got)
	}
}

// The schedule fits on the leader as soon as there is data and no
// model, without any request.
func TestRecommendationsSchedule(t *testing.T) {
	h, url := newHub(t, "h0")
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	e.ingest(
		`{"type":"track","event":"Order Completed","userId":"u1","messageId":"o1","properties":{"products":[{"product_id":"a"},{"product_id":"b"}]}}`,
		`{"type":"track","event":"Order Completed","userId":"u2","messageId":"o2","properties":{"products":[{"sku":"a"},{"sku":"b"},{"sku":"c"}]}}`,
	)
	e.sync(url)
	waitFor(t, "the hub to hold the edge's orders", func() bool { return e.settled(h) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.RecommendationsLoop(ctx, 20*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the scheduled fit", func() bool {
		info, err := h.FSM().RecommendationsInfo()
		return err == nil && info.Installed && info.Baskets == 2 && info.Items == 3
	})
}
