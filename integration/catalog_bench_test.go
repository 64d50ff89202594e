package integration_test

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ucv/profile"
)

// BenchmarkDefinitionToEdges is issue 10's "definition change to every
// edge re-evaluating": a hub and 10 edges (real stores, hub sync over
// HTTP on loopback), each with 200 profiles; each iteration changes an
// audience's definition at the hub (so that the profiles' membership
// flips) and waits until a lookup on every edge shows the new answer.
// It reports the median and p99 of that time over the iterations.
// Target: p99 ≤ 2 s. Run: go test -run '^$' -bench DefinitionToEdges
// -benchtime 40x ./integration
func BenchmarkDefinitionToEdges(b *testing.B) {
	const edges, profiles = 10, 200
	_, url := newHub(b, "h0")
	adminPut(b, url+"/v1/admin/computed-traits/orders_30d", `{"event":"Order Completed","aggregate":"count","window":"720h"}`)
	var es []*edge
	for i := range edges {
		e := openEdge(b, filepath.Join(b.TempDir(), fmt.Sprintf("edge-%d.db", i)))
		e.orders(i*profiles, profiles)
		e.sync(url)
		es = append(es, e)
	}
	exprs := []string{`computed.orders_30d >= 1`, `computed.orders_30d >= 2`}
	member := []bool{true, false}
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		k := i % 2
		start := time.Now()
		adminPut(b, url+"/v1/admin/audiences/probe", fmt.Sprintf(`{"expression":%q}`, exprs[k]))
		for j, e := range es {
			id := profile.Identifier{Type: profile.UserID, Value: fmt.Sprintf("u%d", j*profiles+profiles/2)}
			var last []byte
			deadline := time.Now().Add(20 * time.Second)
			for {
				v, err := e.st.LookupIdentifier(id)
				if err == nil && bytes.Contains(v.JSON, []byte(`"audiences":["probe"]`)) == member[k] {
					break
				}
				last = v.JSON
				if time.Now().After(deadline) {
					// What the edge had, to tell a catalog that never
					// arrived from one that arrived and was not applied.
					b.Fatalf("edge %d: no re-evaluation after 20 s (iteration %d, want member %v); catalog version %d; lookup %s (%v); its sync log:\n%s",
						j, i, member[k], e.st.Catalog().Catalog().Version, last, err, e.logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(took[min(len(took)-1, len(took)*99/100)].Microseconds())/1000, "ms-p99")
}

func adminPut(tb testing.TB, url, body string) {
	tb.Helper()
	req, _ := http.NewRequest("PUT", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		tb.Fatalf("PUT %s = %d", url, resp.StatusCode)
	}
}
