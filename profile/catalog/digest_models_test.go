package catalog

import "testing"

// TestDigestIgnoresRecommendations: the recommendations model changes
// no evaluation, so it leaves the digest alone (a refit re-renders no
// view); another model changes it.
func TestDigestIgnoresRecommendations(t *testing.T) {
	base := Catalog{Definitions: Definitions{Audiences: map[string]Audience{"all": {Expression: "true"}}}}
	d0 := mustCompile(t, base).Digest()
	with := base
	with.Models = map[string]Model{ModelRecommendations: Model(`{"version":1,"neighbours":{"a":{"ids":["b"],"scores":[1]}}}`)}
	if d := mustCompile(t, with).Digest(); d != d0 {
		t.Errorf("digest with a recommendations model %x, without %x", d, d0)
	}
	if _, ok := with.Models[ModelRecommendations]; !ok {
		t.Fatal("Compile removed the model from the caller's catalog")
	}
	other := base
	other.Models = map[string]Model{ModelRFM: Model(`{"fitted_at":"2026-01-01T00:00:00Z","customers":100,"recency_days":[40,30,20,10],"frequency":[1,2,3,4],"monetary":{"EUR":[10,20,30,40]}}`)}
	if d := mustCompile(t, other).Digest(); d == d0 {
		t.Error("another model left the digest unchanged")
	}
}

func mustCompile(t *testing.T, c Catalog) *Compiled {
	t.Helper()
	comp, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return comp
}
