package api

import (
	"net/http"
	"slices"

	"ucv/hub"
)

// IdentityModels is the body of GET /v1/admin/identity/models: the
// identity model in use and the self-training fit history
// (docs/decisions/0047-hub-self-training.md), newest fit first. Neither
// holds personal data.
type IdentityModels struct {
	InUse hub.ModelInfo  `json:"in_use"`
	Fits  []hub.ModelFit `json:"fits"`
}

// identityModels answers the model in use and the fits this node holds
// (replicated: every node serves the same history, up to its lag).
func (s *Server) identityModels(w http.ResponseWriter, r *http.Request) error {
	f := s.node.FSM()
	info, err := f.Model()
	if err != nil {
		return err
	}
	fits := f.ModelFits()
	slices.Reverse(fits)
	writeJSON(w, http.StatusOK, &IdentityModels{InUse: info, Fits: fits})
	return nil
}
