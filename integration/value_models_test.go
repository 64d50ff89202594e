package integration_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/profile/clv"
)

// The value models end to end: orders ingested at an edge reach the
// hub, the hub fits on demand, the parameters reach the edge through the
// catalog, and the edge's lookups show p_alive, expected_orders_90d,
// predicted_value_365d and rfm computed from the profile's own history —
// the closed forms of profile/clv with the hub's parameters — and put a
// weekly buyer in an audience on computed.rfm.segment; with the hub
// gone the edge keeps scoring.
func TestValueModelsReachEdges(t *testing.T) {
	h, url := newHub(t, "h0")
	adminDo(t, "PUT", url+"/v1/admin/audiences/champions", `{"expression":"computed.rfm.segment == \"Champions\""}`)
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	stop := e.sync(url)

	now := time.Now().UTC()
	day := 24 * time.Hour
	order := func(user, id string, at time.Time, total float64) string {
		return fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":%q,"messageId":%q,"timestamp":%q,"properties":{"total":%.2f,"currency":"EUR"}}`,
			user, id, at.Format(time.RFC3339Nano), total)
	}
	// 200 customers drawn from the models over the last year.
	var bodies []string
	start := now.Truncate(day).Add(-364 * day)
	for i, tx := range clv.Simulate(rand.New(rand.NewPCG(5, 6)), 200, clv.BGNBD{R: 0.8, Alpha: 40, A: 0.6, B: 2.5}, clv.GammaGamma{P: 6, Q: 4, V: 150}, 365) {
		at := start.Add(time.Duration(tx.Day)*day + time.Duration(i)*time.Second)
		if at.After(now) {
			at = now.Add(-time.Minute)
		}
		bodies = append(bodies, order(tx.Customer, fmt.Sprint("s", i), at, tx.Amount))
	}
	// Ann: orders 60, 50 and 30 days ago (two that day): x = 2,
	// t_x = 30, T = 60 days. At noon UTC of those days, so that the two
	// of one day stay on one day whenever the test runs (a minute apart
	// from 23:59:30 they fell on two: x = 3). Walt: weekly, the last
	// yesterday.
	noon := now.Truncate(day).Add(12 * time.Hour)
	bodies = append(bodies, order("ann", "a1", noon.Add(-60*day), 10), order("ann", "a2", noon.Add(-50*day), 20),
		order("ann", "a3", noon.Add(-30*day), 15), order("ann", "a4", noon.Add(-30*day).Add(time.Minute), 25))
	for k := range 10 {
		bodies = append(bodies, order("walt", fmt.Sprint("w", k), now.Add(-time.Duration(1+7*k)*day), 60))
	}
	e.ingest(bodies...)
	waitFor(t, "the hub to hold the orders", func() bool { return e.settled(h) })
	vclv := adminDo(t, "POST", url+"/v1/admin/models/clv/fit", "")
	vrfm := adminDo(t, "POST", url+"/v1/admin/models/rfm/fit", "")
	waitFor(t, "the models to reach the edge", func() bool { return e.st.Catalog().Catalog().Version >= max(vclv, vrfm) })

	var m catalog.CLV
	getJSON(t, url+"/v1/admin/models/clv", &struct {
		Parameters *catalog.CLV `json:"parameters"`
	}{&m})
	if m.Customers != 202 || m.Currencies["EUR"].RepeatCustomers == 0 {
		t.Fatalf("clv model %+v", m)
	}

	lookup := func(user string) map[string]any {
		v, err := e.st.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: user})
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		// The stored view ends inside "computed" (the API completes it).
		if err := json.Unmarshal(append(append([]byte(nil), v.JSON...), "}}"...), &out); err != nil {
			t.Fatalf("%v: %s", err, v.JSON)
		}
		return out
	}
	check := func() {
		t.Helper()
		ann := lookup("ann")["computed"].(map[string]any)
		// Age in whole UTC days as of the lookup (a midnight may pass).
		dayOf := func(t time.Time) int64 { return t.UnixMilli() / day.Milliseconds() }
		s := clv.Summary{Frequency: 2, Recency: 30, Age: float64(dayOf(time.Now()) - dayOf(noon.Add(-60*day))), MeanSpend: 30}
		round := func(v float64, d int) float64 { p := math.Pow10(d); return math.Round(v*p) / p }
		if got, want := ann["p_alive"], round(m.BGNBD.PAlive(s), 6); got != want {
			t.Errorf("ann's p_alive = %v, want %v", got, want)
		}
		if got, want := ann["expected_orders_90d"], round(m.BGNBD.ExpectedPurchases(s, 90), 6); got != want {
			t.Errorf("ann's expected_orders_90d = %v, want %v", got, want)
		}
		eur := m.Currencies["EUR"]
		want := round(eur.BGNBD.ExpectedPurchases(s, 365)*eur.GammaGamma.ExpectedSpend(s), 2)
		if got := ann["predicted_value_365d"].(map[string]any)["EUR"]; got != want {
			t.Errorf("ann's predicted_value_365d = %v, want {EUR: %v}", ann["predicted_value_365d"], want)
		}
		walt := lookup("walt")
		rfm := walt["computed"].(map[string]any)["rfm"].(map[string]any)
		if rfm["segment"] != "Champions" || rfm["r"] != 5.0 || rfm["f"] != 5.0 || fmt.Sprint(walt["audiences"]) != "[champions]" {
			t.Errorf("walt: rfm %v, audiences %v", rfm, walt["audiences"])
		}
	}
	check()
	// The hub away: the edge keeps scoring with the last catalog.
	stop()
	check()
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, v) != nil {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
	}
}
