package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"ucv/hub/hubtest"
	"ucv/replication"
)

// POST /v1/admin/models/{clv,rfm}/fit: 422 too_little_data with the
// reason when the orders cannot identify the model (and the model in
// force stays: none here), 200 with the fit when they can; GET shows
// the model in force, 404 before the first fit.
func TestValueModelFitAPI(t *testing.T) {
	_, url := newHub(t)
	const adm = "admin-secret"
	for _, m := range []string{"clv", "rfm"} {
		if resp, b := do(t, "GET", url+"/v1/admin/models/"+m, adm, nil); resp.StatusCode != 404 {
			t.Fatalf("GET %s before a fit = %d %s, want 404", m, resp.StatusCode, b)
		}
		resp, b := do(t, "POST", url+"/v1/admin/models/"+m+"/fit", adm, nil)
		if code, msg := errCode(t, b); resp.StatusCode != 422 || code != "too_little_data" || !strings.Contains(msg, m+" model over 0 profiles") {
			t.Fatalf("fit %s with no order = %d %s, want 422 too_little_data", m, resp.StatusCode, b)
		}
	}
	// Five one-time buyers: enough for RFM quintiles, not for CLV (no
	// repeat purchase).
	e := hubtest.NewEdge("store-1", 1)
	var es []replication.Entry
	now := time.Now()
	for i := range 5 {
		es = append(es, e.Delta(hubtest.Event{Profile: fmt.Sprint("p", i), Name: "Order Completed", Revenue: float64(10 * (i + 1)),
			At: now.Add(-time.Duration(i+1) * 24 * time.Hour).UnixMilli()}))
	}
	if resp, b := do(t, "POST", url+"/v1/sync/push", token, push(t, "store-1", es...)); resp.StatusCode != 200 {
		t.Fatalf("push = %d %s", resp.StatusCode, b)
	}
	resp, b := do(t, "POST", url+"/v1/admin/models/clv/fit", adm, nil)
	if code, msg := errCode(t, b); resp.StatusCode != 422 || code != "too_little_data" || !strings.Contains(msg, "repeat") {
		t.Fatalf("clv fit on one-time buyers = %d %s, want 422 naming the missing repeat customers", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", url+"/v1/admin/models/rfm/fit", adm, nil)
	var fit struct {
		Model      string          `json:"model"`
		Version    uint64          `json:"version"`
		Customers  int             `json:"customers"`
		Seconds    float64         `json:"fit_seconds"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(b, &fit); err != nil || resp.StatusCode != 200 || fit.Model != "rfm" || fit.Customers != 5 || fit.Version == 0 {
		t.Fatalf("rfm fit = %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", url+"/v1/admin/models/rfm", adm, nil)
	var got struct {
		Model      string `json:"model"`
		Version    uint64 `json:"version"`
		Parameters struct {
			FittedAt  time.Time            `json:"fitted_at"`
			Customers int                  `json:"customers"`
			Monetary  map[string][]float64 `json:"monetary"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 || got.Version != fit.Version || got.Parameters.Customers != 5 ||
		got.Parameters.FittedAt.IsZero() || len(got.Parameters.Monetary["USD"]) != 4 {
		t.Fatalf("GET rfm = %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, "GET", url+"/v1/admin/models/clv", adm, nil); resp.StatusCode != 404 {
		t.Fatalf("GET clv after a refused fit = %d, want 404", resp.StatusCode)
	}
}
