package api

import (
	"strings"
	"testing"

	"ucv/hub"
)

// TestExplainSplitByEdge: a split the engine made around an edge's
// merge is not worded as a steward's decision.
func TestExplainSplitByEdge(t *testing.T) {
	for _, c := range []struct {
		ev   hub.Event
		want string
	}{
		{hub.Event{Index: 7, Kind: "split", Cluster: "p1", Clusters: []string{"p1", "p2"}, Rule: "edge", Actor: "edge:till-1"},
			"p1 was split into p1, p2 when the identity engine re-clustered around a merge edge till-1 made with its own rules."},
		{hub.Event{Index: 7, Kind: "split", Cluster: "p1", Clusters: []string{"p1", "p2"}, Rule: "steward", Actor: "sam"},
			"p1 was split into p1, p2 by a steward's decision (sam)."},
		{hub.Event{Index: 7, Kind: "split", Cluster: "p1", Clusters: []string{"p1", "p2"}, Rule: "identity"},
			"p1 was split into p1, p2 because the identity engine re-clustered after new data or a decision."},
	} {
		if got := explainEvent(c.ev); !strings.HasSuffix(got, c.want) {
			t.Errorf("explainEvent(%s) = %q, want it to end %q", c.ev.Rule, got, c.want)
		}
	}
}
