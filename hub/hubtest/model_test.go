package hubtest_test

import (
	"os"
	"path/filepath"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
)

// TestModelInstallReplicates: a model installed through a follower
// switches every node at the same index; all snapshots stay
// byte-identical, and records pushed after the switch are scored with
// it everywhere.
func TestModelInstallReplicates(t *testing.T) {
	c := hubtest.NewCluster(t, 3)
	a, b := hubtest.NewEdge("store-a", 1), hubtest.NewEdge("store-b", 2)
	// historical_50k Q43127454-1 and -10: in review under the untrained
	// model, a match under the trained one (hub/model_test.go).
	push(t, c, 0, a.Name, a.Delta(hubtest.Event{Profile: "H1", Kind: profile.Identify,
		Traits: map[string]any{"firstName": "irwin", "lastName": "bevan", "birthday": "1852-01-01", "city": "wales",
			"postalCode": "m9 6ns", "gender": "male"}}))
	push(t, c, 1, b.Name, b.Delta(hubtest.Event{Profile: "H2", Kind: profile.Identify,
		Traits: map[string]any{"firstName": "irving", "lastName": "bevan", "city": "wales"}}))
	converged(t, c)
	model, err := os.ReadFile(filepath.Join("..", "testdata", "historical_50k_first1000.model"))
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := hub.MarshalSetModel(&hub.SetModel{Model: model, Actor: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	follower := (c.Leader() + 1) % c.Len()
	res, err := c.Apply(follower, cmd)
	if err != nil {
		t.Fatal(err)
	}
	push(t, c, 2, a.Name, a.Delta(hubtest.Event{Profile: "H3", Kind: profile.Identify,
		Traits: map[string]any{"firstName": "irwin", "lastName": "bevan", "birthday": "1852-01-01", "city": "wales"}}))
	converged(t, c)
	for i := range c.Len() {
		f := c.Server(i).FSM()
		info, err := f.Model()
		if err != nil || !info.Installed || info.Index != res.Index {
			t.Errorf("node %d: Model() = %+v, %v; want installed at %d", i, info, err, res.Index)
		}
		for _, id := range []string{"H2", "H3"} {
			if v, _ := f.Profile(id); v.ID != "H1" {
				t.Errorf("node %d: %s resolves to %s, want H1", i, id, v.ID)
			}
		}
	}
}
