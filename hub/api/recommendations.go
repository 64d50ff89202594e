package api

import (
	"net/http"
)

// fitRecommendations handles POST /v1/admin/models/recommendations/fit:
// the hub trains the recommendations model over every cluster's orders
// and defines it in the catalog (hub.Server.FitRecommendations). 200
// with the fit's counts; 422 when too few profiles ordered products
// (the model in force stays).
func (s *Server) fitRecommendations(w http.ResponseWriter, r *http.Request) error {
	fit, err := s.node.FitRecommendations(r.Context(), actorOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fit)
	return nil
}

// recommendationsModel handles GET /v1/admin/models/recommendations:
// the model in force, counts only (hub.RecommendationsInfo).
func (s *Server) recommendationsModel(w http.ResponseWriter, r *http.Request) error {
	info, err := s.node.FSM().RecommendationsInfo()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &info)
	return nil
}
