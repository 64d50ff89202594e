package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/identity"
)

// TestIdentityModelsEndpoint: GET /v1/admin/identity/models answers the
// model in use and the self-training history, newest fit first, without
// record values; a sync token is refused, and an admin may not forge a
// fit through internal apply.
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
	// A fit as the leader's trainer records it (hub tests train for
	// real; here the endpoint serves what the state machine holds).
	model, err := os.ReadFile(filepath.Join("..", "testdata", "historical_50k_first1000.model"))
	if err != nil {
		t.Fatal(err)
	}
	fit := hub.ModelFit{At: time.Now().UTC().Truncate(time.Millisecond), Trigger: hub.TriggerSchedule, Fragments: 1000,
		TrainRecords: 800, HeldBackRecords: 200, Prior: 0.001, Rules: []hub.FitRule{{Rule: "birth_date", Pairs: 9, Sampled: 9, Iterations: 25}},
		Candidate: hub.FitScore{HeldOut: identity.HeldOut{Pairs: 40, LogLikelihood: -5}}, InUse: hub.FitScore{HeldOut: identity.HeldOut{Pairs: 40, LogLikelihood: -7}},
		CandidateHash: identity.HashOf(model), Decision: hub.FitInstalled, Reason: "better"}
	cmd, err := hub.MarshalModelFit(&hub.ModelFitEntry{Fit: fit, Model: model})
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := do(t, "POST", url+"/v1/internal/apply", admin, cmd); resp.StatusCode != 403 {
		t.Errorf("an admin's CmdModelFit through internal apply = %d %s, want 403", resp.StatusCode, b)
	}
	res, err := n.Apply(t.Context(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	rejected := fit
	rejected.Decision, rejected.Reason, rejected.InUseIndex = hub.FitRejected, "worse", res.Index
	cmd, err = hub.MarshalModelFit(&hub.ModelFitEntry{Fit: rejected})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := n.Apply(t.Context(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	resp, b = do(t, "GET", url+"/v1/admin/identity/models", admin, nil)
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil {
		t.Fatalf("GET after a fit = %d %s", resp.StatusCode, b)
	}
	if !got.InUse.Installed || got.InUse.Index != res.Index || got.InUse.Actor != hub.SelfTrainActor ||
		len(got.Fits) != 2 || got.Fits[0].Index != res2.Index || got.Fits[0].Decision != hub.FitRejected ||
		got.Fits[1].Installed != res.Index || len(got.Fits[1].Rules) == 0 || got.Fits[1].Candidate.Pairs != 40 {
		t.Errorf("GET after a fit = %s", b)
	}
	for _, name := range []string{"bevan", "smith"} {
		if strings.Contains(string(b), name) {
			t.Errorf("GET /v1/admin/identity/models leaks record values (%s): %s", name, b)
		}
	}
}
