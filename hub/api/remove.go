package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"ucv/hub"
)

// RemoveRequest is the body of POST /v1/admin/remove.
type RemoveRequest struct {
	ID string `json:"id"`
}

// forwardedHeader marks an admin request a follower relayed to the
// leader: the receiver answers itself instead of relaying it again, so
// two nodes with stale views of the leader cannot bounce it.
const forwardedHeader = "X-Hub-Forwarded"

// remove takes a member out of the Raft configuration. The leader
// applies it; a follower relays the request once to the leader's URL (as
// learnt from joins and the peer exchange) and returns its answer, or
// answers 503 naming the leader (and LeaderURLHeader when known). An ID
// that is not a member is 404. Removing the leader itself is allowed:
// it steps down once the change commits and the others elect a new one.
func (s *Server) remove(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	body, err := s.readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req RemoveRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		return fmt.Errorf("%w: id: required", ErrBadRequest)
	}
	setAuditTarget(r, req.ID)
	if n.IsLeader() {
		member, err := n.IsMember(req.ID)
		if err != nil {
			return err
		}
		if !member {
			return fmt.Errorf("%w: id: %s is not a member", ErrNoMember, req.ID)
		}
	}
	err = n.RemoveServer(r.Context(), req.ID)
	var nl *hub.NotLeaderError
	if errors.As(err, &nl) {
		u, _ := s.peers.URL(nl.LeaderID)
		if u == "" || r.Header.Get(forwardedHeader) != "" {
			if u != "" {
				w.Header().Set(LeaderURLHeader, u)
			}
			return fmt.Errorf("%w: retry at the leader %s (%s)", ErrNoLeader, nl.LeaderID, u)
		}
		relayed(r) // the leader audits it
		return s.peers.relay(w, r, u+"/v1/admin/remove", body)
	}
	if err != nil {
		return err
	}
	s.peers.remove(req.ID)
	id, _ := n.Leader()
	writeJSON(w, http.StatusOK, map[string]any{"removed": req.ID, "leader": id})
	return nil
}
