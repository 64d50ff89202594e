package api

import (
	"fmt"
	"net/http"

	"ucv/hub"
	"ucv/hub/identity"
)

// ModelResponse is the body of POST /v1/admin/model: the Raft index at
// which every node switched, the installed model's hash, and how many
// clusters the re-clustering changed.
type ModelResponse struct {
	Index           uint64 `json:"index"`
	Hash            string `json:"hash"`
	ChangedClusters int    `json:"changed_clusters"`
}

// setModel installs the trained model in the body (the file `ucv resolve
// --save-model` writes) through Raft. The body is decoded here first, so
// a bad file is a 400 naming the problem and never reaches the log; the
// log entry carries the model re-encoded, so every node stores and
// hashes the same bytes. ?actor= names who installed it (default
// "admin").
func (s *Server) setModel(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	body, err := s.readBody(w, r, hub.MaxModelBytes)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return fmt.Errorf("%w: body: empty; send the model file `ucv resolve --save-model` wrote", ErrBadRequest)
	}
	m, err := identity.Unmarshal(body)
	if err != nil {
		return fmt.Errorf("%w: body: %w", ErrBadRequest, err)
	}
	enc, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("%w: body: %w", ErrBadRequest, err)
	}
	actor := r.URL.Query().Get("actor")
	if actor == "" {
		actor = "admin"
	}
	cmd, err := hub.MarshalSetModel(&hub.SetModel{Model: enc, Actor: actor})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	res, err := n.Apply(r.Context(), cmd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &ModelResponse{Index: res.Index, Hash: identity.HashOf(enc), ChangedClusters: len(res.Clusters)})
	return nil
}

// model answers the summary of the model this node scores with
// (hub.ModelInfo: no personal data).
func (s *Server) model(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	info, err := n.FSM().Model()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &info)
	return nil
}
