package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"ucv/profile"
)

// adminDo sends a definitions request to the hub with the admin token
// and returns the catalog version it answered.
func adminDo(t *testing.T, method, url, body string) uint64 {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Version uint64 `json:"version"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Version == 0 {
		t.Fatalf("%s %s = %d %s", method, url, resp.StatusCode, b)
	}
	return out.Version
}

// The catalog of definitions reaches a real edge store: a new edge gets
// it with the snapshot bootstrap, later changes come through the change
// feed, and the edge keeps the last one it received across a restart
// with the hub gone.
func TestCatalogReachesEdges(t *testing.T) {
	_, url := newHub(t, "h0")
	v1 := adminDo(t, "PUT", url+"/v1/admin/computed-traits/orders_30d", `{"event":"Order Completed","aggregate":"count","window":"720h"}`)

	path := filepath.Join(t.TempDir(), "edge.db")
	e := openEdge(t, path)
	e.orders(0, 3)
	stop := e.sync(url)
	waitFor(t, "the bootstrap to bring the catalog", func() bool { return e.st.Catalog().Catalog().Version == v1 })
	if got := e.st.Catalog().Catalog().ComputedTraits["orders_30d"]; got.Window != "720h" || got.Aggregate != "count" {
		t.Fatalf("edge's definition = %+v", got)
	}
	// A change while the edge follows the feed.
	v2 := adminDo(t, "PUT", url+"/v1/admin/computed-traits/revenue", `{"event":"Order Completed","aggregate":"sum","property":"revenue"}`)
	waitFor(t, "the feed to bring the new catalog", func() bool { return e.st.Catalog().Catalog().Version == v2 })
	v3 := adminDo(t, "DELETE", url+"/v1/admin/computed-traits/orders_30d", "")
	waitFor(t, "the feed to bring the removal", func() bool { return e.st.Catalog().Catalog().Version == v3 })
	if c := e.st.Catalog().Catalog(); len(c.ComputedTraits) != 1 || c.ComputedTraits["revenue"].Property != "revenue" {
		t.Fatalf("edge's catalog = %+v", c)
	}
	if !bytes.Contains([]byte(e.logs.String()), []byte("catalog of definitions updated")) {
		t.Errorf("the client did not log the update:\n%s", e.logs)
	}
	// Restart without the hub: the catalog is still in force.
	stop()
	if err := e.st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	e = openEdge(t, path)
	if c := e.st.Catalog().Catalog(); c.Version != v3 || len(c.ComputedTraits) != 1 {
		t.Fatalf("after a restart the edge's catalog = %+v, want version %d", c, v3)
	}
}

// Three edges of different stores receive the same order (one
// messageId, as a retried client might send it to each) for one person;
// then a second order at the first: the hub records the person's entry
// into repeat_buyers once (the same order three times counted once), and
// every edge lists them. An edge that
// was away while the definition changed catches up when it returns, and
// kept evaluating with the old one meanwhile.
func TestTransitionOnceAcrossEdges(t *testing.T) {
	h, url := newHub(t, "h0")
	adminDo(t, "PUT", url+"/v1/admin/computed-traits/orders_30d", `{"event":"Order Completed","aggregate":"count","window":"720h"}`)
	adminDo(t, "PUT", url+"/v1/admin/audiences/repeat_buyers", `{"expression":"computed.orders_30d >= 2"}`)
	var es []*edge
	var stops []func()
	for i := range 3 {
		e := openEdge(t, filepath.Join(t.TempDir(), fmt.Sprintf("edge-%d.db", i)))
		stops = append(stops, e.sync(url))
		es = append(es, e)
	}
	same := `{"type":"track","event":"Order Completed","userId":"zoe","messageId":"order-1","timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	for _, e := range es {
		e.ingest(same)
	}
	// Each edge minted its own profile for zoe; the hub merges them into
	// one cluster (whose ID may change as the pushes arrive — a
	// membership then moves with a merge exit and entry). Once it has,
	// the second order is the one change that makes zoe a repeat buyer.
	waitFor(t, "every edge to settle", func() bool { return es[0].settled(h) && es[1].settled(h) && es[2].settled(h) })
	es[0].ingest(`{"type":"track","event":"Order Completed","userId":"zoe","messageId":"order-2"}`)
	zoe := profile.Identifier{Type: profile.UserID, Value: "zoe"}
	for _, e := range es {
		waitFor(t, "every edge to list zoe", func() bool {
			v, err := e.st.LookupIdentifier(zoe)
			return err == nil && bytes.Contains(v.JSON, []byte(`"audiences":["repeat_buyers"]`)) && bytes.Contains(v.JSON, []byte(`"orders_30d":2`))
		})
	}
	waitFor(t, "every edge to settle", func() bool { return es[0].settled(h) && es[1].settled(h) && es[2].settled(h) })
	if tr := h.FSM().Transitions(0, 100); len(tr) != 1 || tr[0].Audience != "repeat_buyers" || !tr[0].Entered {
		t.Fatalf("hub transitions = %+v, want one entry", tr)
	}

	// Edge 2 goes away; the definition changes; it keeps evaluating the
	// old one, then catches up when it returns.
	stops[2]()
	v := adminDo(t, "PUT", url+"/v1/admin/audiences/repeat_buyers", `{"expression":"computed.orders_30d >= 3"}`)
	for _, e := range es[:2] {
		waitFor(t, "the online edges to apply the change", func() bool {
			v, err := e.st.LookupIdentifier(zoe)
			return err == nil && bytes.Contains(v.JSON, []byte(`"audiences":[]`))
		})
	}
	if v, _ := es[2].st.LookupIdentifier(zoe); !bytes.Contains(v.JSON, []byte(`"audiences":["repeat_buyers"]`)) {
		t.Fatalf("the offline edge stopped evaluating its last catalog: %s", v.JSON)
	}
	es[2].sync(url)
	waitFor(t, "the returning edge to catch up", func() bool {
		v2, err := es[2].st.LookupIdentifier(zoe)
		return es[2].st.Catalog().Catalog().Version == v && err == nil && bytes.Contains(v2.JSON, []byte(`"audiences":[]`))
	})
	if tr := h.FSM().Transitions(0, 100); len(tr) != 2 || tr[1].Entered {
		t.Fatalf("hub transitions = %+v, want the entry and one exit", tr)
	}
}
