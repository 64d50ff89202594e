package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/replication"
)

// TestIdentityModelsEndpoint: GET /v1/admin/identity/models answers the
// model in use and the self-training history, newest fit first, without
// record values; a sync token is refused.
func TestIdentityModelsEndpoint(t *testing.T) {
	n, url := newHub(t)
	resp, b := do(t, "GET", url+"/v1/admin/identity/models", admin, nil)
	var got struct {
		InUse hub.ModelInfo  `json:"in_use"`
		Fits  []hub.ModelFit `json:"fits"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || got.InUse.Installed || len(got.Fits) != 0 {
		t.Fatalf("GET before any fit = %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, "GET", url+"/v1/admin/identity/models", token, nil); resp.StatusCode != 403 {
		t.Errorf("GET with a sync token = %d, want 403", resp.StatusCode)
	}
	e := hubtest.NewEdge("store-a", 1)
	var es []replication.Entry
	for _, ev := range hubtest.People(3, "R", hub.DefaultIdentityTrainMinRecords) {
		es = append(es, e.Delta(ev))
	}
	if _, err := n.Sync(t.Context(), &hub.SyncBatch{Edge: e.Name, Entries: es}); err != nil {
		t.Fatal(err)
	}
	fit, err := n.TrainIdentity(t.Context(), hub.TriggerManual)
	if err != nil || fit.Decision != hub.FitInstalled {
		t.Fatalf("TrainIdentity = %+v, %v", fit, err)
	}
	resp, b = do(t, "GET", url+"/v1/admin/identity/models", admin, nil)
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil {
		t.Fatalf("GET after a fit = %d %s", resp.StatusCode, b)
	}
	if !got.InUse.Installed || got.InUse.Index != fit.Installed || got.InUse.Actor != hub.SelfTrainActor ||
		len(got.Fits) != 1 || got.Fits[0].Index != fit.Index || got.Fits[0].Decision != hub.FitInstalled ||
		len(got.Fits[0].Rules) == 0 || got.Fits[0].Candidate.Pairs == 0 {
		t.Errorf("GET after a fit = %s", b)
	}
	for _, name := range []string{"smith", "jones", "leeds", "example.com"} {
		if strings.Contains(string(b), name) {
			t.Errorf("GET /v1/admin/identity/models leaks record values (%s): %s", name, b)
		}
	}
}
