package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
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
