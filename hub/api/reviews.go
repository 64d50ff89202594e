package api

import (
	"net/http"

	"ucv/hub"
	"ucv/hub/identity"
)

// ReviewsResponse is the body of GET /v1/admin/reviews.
type ReviewsResponse struct {
	Reviews []ReviewItem `json:"reviews"`
}

// ReviewItem is one pending pair of the review queue and why the engine
// neither merged nor dismissed it. Levels carry the compared values:
// personal data for the steward who asked, never logged.
type ReviewItem struct {
	A           string  `json:"a"`
	B           string  `json:"b"`
	ClusterA    string  `json:"cluster_a"`
	ClusterB    string  `json:"cluster_b"`
	Weight      float64 `json:"weight"`
	Probability float64 `json:"probability"`
	// ClusterProbability is the estimated probability that the two
	// clusters are one person; ExpectedBenefit the records' worth of
	// B³ error a ruling is expected to fix (the queue's order); SizeA
	// and SizeB the clusters' sizes; Pairs the candidate pairs between
	// them this item stands for (identity.Review).
	ClusterProbability float64 `json:"cluster_probability"`
	ExpectedBenefit    float64 `json:"expected_benefit"`
	SizeA              int     `json:"size_a"`
	SizeB              int     `json:"size_b"`
	Pairs              int     `json:"pairs"`
	PriorWeight        float64 `json:"prior_weight"`
	// Swapped: first and last name were compared crosswise.
	Swapped bool `json:"swapped"`
	// Identifiers are the types of the identifiers the two share.
	Identifiers []string         `json:"identifiers"`
	Levels      []identity.Level `json:"levels"`
	// Summary is the explanation in one line, without values.
	Summary string `json:"summary"`
}

// reviews lists the pending review queue of this node's FSM, highest
// expected benefit first.
func (s *Server) reviews(w http.ResponseWriter, _ *http.Request) error {
	n := s.node
	out := ReviewsResponse{Reviews: []ReviewItem{}}
	for _, rv := range n.FSM().Reviews() {
		e := rv.Explanation
		it := ReviewItem{A: rv.A, B: rv.B, ClusterA: rv.ClusterA, ClusterB: rv.ClusterB,
			Weight: rv.Weight, Probability: rv.Probability,
			ClusterProbability: rv.ClusterProbability, ExpectedBenefit: rv.Benefit,
			SizeA: rv.SizeA, SizeB: rv.SizeB, Pairs: rv.Pairs,
			PriorWeight: e.PriorWeight, Swapped: e.Swapped,
			Identifiers: []string{}, Levels: e.Levels, Summary: e.String()}
		for _, id := range e.Identifiers {
			it.Identifiers = append(it.Identifiers, string(id.Type))
		}
		if it.Levels == nil {
			it.Levels = []identity.Level{}
		}
		out.Reviews = append(out.Reviews, it)
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// review accepts or rejects a pending pair through Raft (CmdReviewAccept
// or CmdReviewReject). A pair that is not pending is 404.
func (s *Server) review(accept bool) handler {
	return s.stewardCommand(func(req *StewardRequest) ([]byte, error) {
		return hub.MarshalReview(&hub.Review{A: req.A, B: req.B, Accept: accept, Actor: req.Actor, Reason: req.Reason})
	})
}
