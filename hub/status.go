package hub

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// Role is a node's part in the Raft cluster at one moment.
type Role uint8

// Roles, numbered as Raft numbers its states (the ucv_hub_raft_state
// metric exports the number).
const (
	Follower Role = iota
	Candidate
	Leader
	Shutdown
)

// String returns "Follower", "Candidate", "Leader" or "Shutdown".
func (r Role) String() string {
	switch r {
	case Follower:
		return "Follower"
	case Candidate:
		return "Candidate"
	case Leader:
		return "Leader"
	case Shutdown:
		return "Shutdown"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Progress is where this node's Raft log stands. LastIndex ≥
// CommitIndex ≥ AppliedIndex; each only grows while the node runs.
type Progress struct {
	Role         Role
	LastIndex    uint64 // last entry in the local log
	CommitIndex  uint64 // last entry known committed
	AppliedIndex uint64 // last entry handed to the FSM
}

// Progress returns the node's role and log indexes. It never blocks on
// the cluster; the fields are read one after the other, not atomically.
func (s *Server) Progress() Progress {
	return Progress{
		Role:         roleOf(s.raft.State()),
		LastIndex:    s.raft.LastIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
	}
}

func roleOf(st raft.RaftState) Role {
	switch st {
	case raft.Follower:
		return Follower
	case raft.Candidate:
		return Candidate
	case raft.Leader:
		return Leader
	}
	return Shutdown
}

// Member is one server of the Raft configuration.
type Member struct {
	ID       string
	RaftAddr string
	// Voter is false for a non-voting member (staging or non-voter).
	Voter bool
}

// Members returns the latest Raft configuration this node knows (which
// may not be committed yet), in configuration order. A node that was
// neither bootstrapped nor added by a leader has none: it waits to be
// joined. It errors only when Raft has shut down.
func (s *Server) Members() ([]Member, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("hub: raft configuration: %w", err)
	}
	servers := f.Configuration().Servers
	out := make([]Member, 0, len(servers))
	for _, sv := range servers {
		out = append(out, Member{ID: string(sv.ID), RaftAddr: string(sv.Address), Voter: sv.Suffrage == raft.Voter})
	}
	return out, nil
}

// IsMember reports whether id is in the latest configuration this node
// knows.
func (s *Server) IsMember(id string) (bool, error) {
	ms, err := s.Members()
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.ID == id {
			return true, nil
		}
	}
	return false, nil
}
