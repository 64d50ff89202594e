package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/raft"

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
	n, err := s.hub()
	if err != nil {
		return err
	}
	body, err := readBody(r, maxJSONBytes)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req RemoveRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		return fmt.Errorf("%w: id: required", ErrBadRequest)
	}
	if n.IsLeader() {
		f := n.Raft().GetConfiguration()
		if err := f.Error(); err != nil {
			return fmt.Errorf("api: raft configuration: %w", err)
		}
		member := false
		for _, sv := range f.Configuration().Servers {
			member = member || sv.ID == raft.ServerID(req.ID)
		}
		if !member {
			return fmt.Errorf("%w: id: %s is not a member", ErrNoMember, req.ID)
		}
	}
	err = n.RemoveServer(r.Context(), req.ID)
	var nl *hub.NotLeaderError
	if errors.As(err, &nl) {
		u, _ := s.peers.get(string(nl.LeaderID))
		if u == "" || r.Header.Get(forwardedHeader) != "" {
			if u != "" {
				w.Header().Set(LeaderURLHeader, u)
			}
			return fmt.Errorf("%w: retry at the leader %s (%s)", ErrNoLeader, nl.LeaderID, u)
		}
		return s.relay(w, r, u+"/v1/admin/remove", body)
	}
	if err != nil {
		return err
	}
	s.peers.del(req.ID)
	id, _ := n.Leader()
	writeJSON(w, http.StatusOK, map[string]any{"removed": req.ID, "leader": string(id)})
	return nil
}

// relay posts body to url (the leader) with this hub's admin token and
// copies the answer back.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, url string, body []byte) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("api: relay to the leader: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(forwardedHeader, s.cfg.NodeID)
	s.auth(req, s.cfg.AdminToken)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: relay to the leader: %w", ErrNoLeader, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBytes))
	if err != nil {
		return fmt.Errorf("%w: relay to the leader: %w", ErrNoLeader, err)
	}
	for _, h := range []string{"Content-Type", LeaderURLHeader, "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(b)
	return nil
}
