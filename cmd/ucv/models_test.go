package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucv/profile/clv"
)

// TestModelsAndOffersProcesses (issue 11): a hub and an edge. Orders of
// 300 simulated customers over a year (BG/NBD and Gamma-Gamma at CDNOW's
// published parameters, in days), baskets drawn from product pairs;
// the value, RFM and recommendations models are fitted on demand at the
// hub; the edge shows the scores and recommendations, and a capped offer
// that disappears after cap.max Offer Shown events.
func TestModelsAndOffersProcesses(t *testing.T) {
	bin := buildUCV(t)
	dir := t.TempDir()
	h := startHub(t, bin, filepath.Join(dir, "hub"), "127.0.0.1:0", "127.0.0.1:0", "--bootstrap", "--model-fit-interval", "0", "--recommendations-fit-interval", "0")
	e := start(t, bin, nil, "edge", "--data-dir", filepath.Join(dir, "edge"), "--http-addr", "127.0.0.1:0",
		"--node-name", "till-1", "--write-key", "k=pos", "--hub", h.url, "--sync-token", "st")
	admin := []string{"Authorization", "Bearer at"}

	rng := rand.New(rand.NewPCG(11, 12))
	txs := clv.Simulate(rng, 300, clv.BGNBD{R: 0.25, Alpha: 33, A: 0.78, B: 2.4}, clv.GammaGamma{P: 6.25, Q: 3.74, V: 15.4}, 365)
	firstDay := time.Now().UTC().Add(-366 * 24 * time.Hour).Truncate(24 * time.Hour)
	pairs := [][2]string{{"tent", "stove"}, {"boots", "socks"}, {"kayak", "paddle"}, {"lamp", "bulb"}}
	var batch []string
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if code, b := httpDo(t, "POST", e.url+"/v1/batch", `{"batch":[`+strings.Join(batch, ",")+`]}`, "X-Write-Key", "k"); code != 200 || strings.Contains(string(b), "rejected") {
			t.Fatalf("batch = %d %s", code, b)
		}
		batch = batch[:0]
	}
	for i, tx := range txs {
		p := pairs[rng.IntN(len(pairs))]
		products := fmt.Sprintf(`[{"product_id":%q},{"product_id":%q}]`, p[0], p[1])
		if rng.IntN(3) == 0 {
			products = fmt.Sprintf(`[{"product_id":%q}]`, p[0])
		}
		at := firstDay.Add(time.Duration(tx.Day)*24*time.Hour + time.Duration(i%600)*time.Second)
		batch = append(batch, fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":"c-%s","messageId":"o-%d","timestamp":%q,"properties":{"total":%.2f,"currency":"EUR","products":%s}}`,
			tx.Customer, i, at.Format(time.RFC3339), tx.Amount, products))
		if len(batch) == 400 {
			flush()
		}
	}
	flush()

	// Fit on demand once the hub holds the orders (422 until it does).
	for _, m := range []string{"clv", "rfm", "recommendations"} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, b := httpDo(t, "POST", h.url+"/v1/admin/models/"+m+"/fit", "", admin...)
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fit %s = %d %s", m, code, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if code, b := httpDo(t, "GET", h.url+"/v1/admin/models/clv", "", admin...); code != 200 || !strings.Contains(string(b), `"customers"`) {
		t.Fatalf("GET clv model = %d %s", code, b)
	}
	// A customer with repeat orders: scores and recommendations on the edge.
	counts := map[string]int{}
	for _, tx := range txs {
		counts[tx.Customer]++
	}
	var who string
	for c, n := range counts {
		if n >= 3 && (who == "" || c < who) {
			who = c
		}
	}
	ref := e.url + "/v1/profiles/user_id:c-" + who
	defer func() {
		if t.Failed() {
			t.Logf("edge log:\n%s", e.stderr)
		}
	}()
	waitBody(t, ref, `"p_alive":`, `"expected_orders_90d":`, `"predicted_value_365d":{"EUR":`, `"rfm":{"f":`, `"segment":`)
	// The three fits reach the edge as three catalog changes: wait for
	// the recommendations model too.
	var recs struct {
		Items []struct {
			ID    string  `json:"id"`
			Score float64 `json:"score"`
		} `json:"items"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, b := httpDo(t, "GET", ref+"/recommendations?k=5", "")
		if code != 200 || json.Unmarshal(b, &recs) != nil {
			t.Fatalf("recommendations = %d %s", code, b)
		}
		if len(recs.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recommendations still empty after 20 s: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A capped offer: twice in 24 hours, then gone.
	if code, b := httpDo(t, "PUT", h.url+"/v1/admin/offers/welcome", `{"placement":"checkout","priority":1,"cap":{"max":2,"window":"24h"},"payload":{"code":"HELLO"}}`, admin...); code != 200 {
		t.Fatalf("PUT offer = %d %s", code, b)
	}
	decide := e.url + "/v1/decide/user_id:c-" + who + "?placement=checkout"
	waitBody(t, decide, `"id":"welcome"`, `"HELLO"`)
	for i := range 2 {
		shown := fmt.Sprintf(`{"userId":"c-%s","event":"Offer Shown","messageId":"shown-%d","properties":{"offer_id":"welcome"}}`, who, i)
		if code, b := httpDo(t, "POST", e.url+"/v1/track", shown, "X-Write-Key", "k"); code != 200 {
			t.Fatalf("Offer Shown = %d %s", code, b)
		}
	}
	code, b := httpDo(t, "GET", decide, "")
	if code != 200 || strings.Contains(string(b), `"welcome"`) || !strings.Contains(string(b), `"offers":[]`) {
		t.Fatalf("after 2 impressions decide = %d %s, want no offers", code, b)
	}
}
