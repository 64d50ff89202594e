package api

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"ucv/hub"
	"ucv/profile"
)

const maxJSONBytes = 64 << 10

func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := s.readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	return decodeStrict(b, v)
}

// JoinRequest is the body of POST /v1/admin/join.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPURL  string `json:"http_url"`
}

// JoinResponse answers a join: the hub's peer map, so the new node can
// forward to the leader at once.
type JoinResponse struct {
	Leader string            `json:"leader"`
	Peers  map[string]string `json:"peers"`
}

// LeaderURLHeader is set on a 503 answer to a join sent to a follower:
// the leader's HTTP URL (when this node knows it), where the joiner
// should retry.
const LeaderURLHeader = "X-Leader-URL"

// join adds a voter. On a follower it answers 503 naming the leader in
// the message and its URL in LeaderURLHeader; the joiner retries there.
func (s *Server) join(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	var req JoinRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.ID == "":
		return fmt.Errorf("%w: id: required", ErrBadRequest)
	case req.RaftAddr == "":
		return fmt.Errorf("%w: raft_addr: required", ErrBadRequest)
	case !strings.HasPrefix(req.HTTPURL, "http://") && !strings.HasPrefix(req.HTTPURL, "https://"):
		return fmt.Errorf("%w: http_url: must be an http(s) URL", ErrBadRequest)
	}
	setAuditTarget(r, req.ID)
	if err := n.AddVoter(r.Context(), req.ID, req.RaftAddr); err != nil {
		var nl *hub.NotLeaderError
		if errors.As(err, &nl) {
			u, _ := s.peers.URL(nl.LeaderID)
			if u != "" {
				w.Header().Set(LeaderURLHeader, u)
			}
			return fmt.Errorf("%w: retry at the leader %s (%s)", ErrNoLeader, nl.LeaderID, u)
		}
		return err
	}
	s.peers.Add(req.ID, req.HTTPURL)
	id, _ := n.Leader()
	writeJSON(w, http.StatusOK, &JoinResponse{Leader: id, Peers: s.peers.All()})
	return nil
}

// Status is the body of GET /v1/admin/status.
type Status struct {
	Node         string       `json:"node"`
	State        string       `json:"state"`
	Leader       string       `json:"leader"`
	LeaderURL    string       `json:"leader_url,omitempty"`
	Peers        []Peer       `json:"peers"`
	LastIndex    uint64       `json:"last_index"`
	CommitIndex  uint64       `json:"commit_index"`
	AppliedIndex uint64       `json:"applied_index"`
	FSMIndex     uint64       `json:"fsm_index"`
	Edges        []EdgeStatus `json:"edges"`
}

// Peer is one Raft member.
type Peer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPURL  string `json:"http_url,omitempty"`
	Voter    bool   `json:"voter"`
}

// EdgeStatus is an edge that synced with this node: its last
// acknowledged sequence and how long ago it pushed (LastPush "" and
// AgoMs null when it never pushed here: an edge that only reads), and
// how long ago it last synced at all (a push or the privacy step every
// pull starts with). An edge gone silent for days blocks erasures until
// it is retired (DELETE /v1/admin/edges/{id}); what this node saw of it
// is how an operator tells. Volatile: each node's own view since it
// started.
type EdgeStatus struct {
	Edge      string `json:"edge"`
	Seq       uint64 `json:"seq"`
	LastPush  string `json:"last_push"`
	AgoMs     *int64 `json:"ago_ms"`
	LastSync  string `json:"last_sync"`
	SyncAgoMs int64  `json:"sync_ago_ms"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	pr := n.Progress()
	lid, _ := n.Leader()
	st := Status{Node: s.cfg.NodeID, State: pr.Role.String(), Leader: lid,
		LastIndex: pr.LastIndex, CommitIndex: pr.CommitIndex, AppliedIndex: pr.AppliedIndex, FSMIndex: n.FSM().Index(),
		Peers: []Peer{}, Edges: []EdgeStatus{}}
	st.LeaderURL, _ = s.peers.URL(lid)
	if ms, err := n.Members(); err == nil {
		for _, m := range ms {
			u, _ := s.peers.URL(m.ID)
			st.Peers = append(st.Peers, Peer{ID: m.ID, RaftAddr: m.RaftAddr, HTTPURL: u, Voter: m.Voter})
		}
	}
	now := s.cfg.Now()
	s.edgesMu.Lock()
	for e, in := range s.edges {
		es := EdgeStatus{Edge: e, Seq: in.seq, LastSync: in.sync.UTC().Format(time.RFC3339Nano), SyncAgoMs: now.Sub(in.sync).Milliseconds()}
		if !in.last.IsZero() {
			ago := now.Sub(in.last).Milliseconds()
			es.LastPush, es.AgoMs = in.last.UTC().Format(time.RFC3339Nano), &ago
		}
		st.Edges = append(st.Edges, es)
	}
	s.edgesMu.Unlock()
	slices.SortFunc(st.Edges, func(a, b EdgeStatus) int { return strings.Compare(a.Edge, b.Edge) })
	writeJSON(w, http.StatusOK, &st)
	return nil
}

// ProfileResponse is the body of GET /v1/admin/profiles/{ref}: the
// resolved person, each fragment as edges pushed it, and the merge and
// split history of the cluster and its fragments, and the fragments a
// steward ruled different people (cannot-links, which edges honour too).
type ProfileResponse struct {
	ID        string                  `json:"id"`
	Changed   uint64                  `json:"changed"`
	Profile   profile.View            `json:"profile"`
	Fragments map[string]profile.View `json:"fragments"`
	History   []hub.Event             `json:"history"`
	Apart     []string                `json:"apart,omitempty"`
	// Holders, for a type:value ref that more than one cluster holds
	// (people a steward unmerged who share an e-mail, a generic value),
	// are those clusters' IDs, sorted, at most maxHolders of them; ID is
	// the first. HoldersTotal counts them all.
	Holders      []string `json:"holders,omitempty"`
	HoldersTotal int      `json:"holders_total,omitempty"`
}

// maxHolders caps ProfileResponse.Holders: a generic value can be held
// by thousands of clusters.
const maxHolders = 100

// profile looks a person up by profile (fragment) ID or by type:value
// (see resolve).
func (s *Server) profile(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	fsm := n.FSM()
	v, holders, err := resolve(fsm, r.PathValue("ref"))
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	out := ProfileResponse{ID: v.ID, Changed: v.Changed, Profile: fsm.Compiled().Survive(v.Profile).View(now), Fragments: map[string]profile.View{}, History: history(fsm, v), Apart: v.Apart}
	// User-defined computed traits as of now; audiences as the hub last
	// evaluated them (what GET /v1/admin/audiences/{name}/members and
	// the transitions say).
	if comp := fsm.Compiled(); !comp.Empty() {
		res := comp.Evaluate(v.Profile, now)
		values := make([]profile.ComputedValue, len(res.Computed))
		for i, cv := range res.Computed {
			values[i] = profile.ComputedValue(cv)
			if str, ok := cv.Value.(string); ok && masked(r) {
				values[i].Value = profile.Redact(str)
			}
		}
		out.Profile.SetEvaluation(values, fsm.Audiences(v.ID))
	}
	if len(holders) > 1 {
		out.Holders, out.HoldersTotal = holders[:min(len(holders), maxHolders)], len(holders)
	}
	for _, id := range append([]string{v.ID}, v.Fragments...) {
		if p, err := fsm.Fragment(id); err == nil {
			out.Fragments[id] = fsm.Compiled().Survive(p).View(now)
		}
	}
	if masked(r) {
		out.Profile, out.History = maskView(out.Profile), maskEvents(out.History)
		for id, f := range out.Fragments {
			out.Fragments[id] = maskView(f)
		}
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// resolve finds the person a ref names: a profile (fragment) ID, or
// type:value, normalized as edges normalize it and looked up in the
// FSM's identifier index (hub.FSM.ProfileByIdentifier). For type:value,
// holders lists every cluster holding the identifier, sorted; when there
// are several, the person returned is the first (smallest ID). Errors
// wrap ErrBadRequest for a value that does not normalize and
// hub.ErrNotFound; neither carries the value.
func resolve(fsm *hub.FSM, ref string) (v hub.View, holders []string, err error) {
	if !strings.Contains(ref, ":") {
		v, err = fsm.Profile(ref)
		if err == nil && v.Profile.Erased.Set {
			// An erased person is gone; its fragments stay only as
			// tombstones for the replicas (0040).
			return hub.View{}, nil, fmt.Errorf("%w: %s", hub.ErrNotFound, ref)
		}
		return v, nil, err
	}
	id, err := parseIdentifier("ref", ref)
	if err != nil {
		return hub.View{}, nil, err
	}
	v, holders, err = fsm.ProfileByIdentifier(id.Key())
	if errors.Is(err, hub.ErrNotFound) {
		return hub.View{}, nil, fmt.Errorf("%w: no profile holds that %s", hub.ErrNotFound, id.Type)
	}
	return v, holders, err
}

// history returns the merge and split events of a cluster and of each of
// its fragments, once each, oldest first.
func history(fsm *hub.FSM, v hub.View) []hub.Event {
	out := []hub.Event{}
	seen := map[[2]uint64]bool{}
	for _, id := range append([]string{v.ID}, v.Fragments...) {
		for _, ev := range fsm.History(id) {
			k := [2]uint64{ev.Index, uint64(ev.N)}
			if !seen[k] {
				seen[k] = true
				out = append(out, ev)
			}
		}
	}
	slices.SortFunc(out, func(a, b hub.Event) int {
		if a.Index != b.Index {
			return cmp.Compare(a.Index, b.Index)
		}
		return a.N - b.N
	})
	return out
}

// StewardRequest is the body of POST /v1/admin/merge, /unmerge,
// /reviews/accept and /reviews/reject.
type StewardRequest struct {
	A      string `json:"a"`
	B      string `json:"b"`
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// check validates the pair, naming the field, and defaults Actor to
// "admin".
func (req *StewardRequest) check() error {
	switch {
	case req.A == "":
		return fmt.Errorf("%w: a: required", ErrBadRequest)
	case req.B == "":
		return fmt.Errorf("%w: b: required", ErrBadRequest)
	case req.A == req.B:
		return fmt.Errorf("%w: b: must differ from a", ErrBadRequest)
	}
	// Profile IDs only: an identifier here ("email:…") would be echoed
	// back by the not-found answer, and the steward means its holder.
	for _, f := range [...]struct{ name, v string }{{"a", req.A}, {"b", req.B}} {
		if strings.ContainsAny(f.v, ":@") {
			return fmt.Errorf("%w: %s: must be a profile ID (GET /v1/admin/profiles/{type:value} finds the profile holding an identifier)", ErrBadRequest, f.name)
		}
	}
	if req.Actor == "" {
		req.Actor = "admin"
	}
	return nil
}

func (s *Server) steward(merge bool) handler {
	return s.stewardCommand(func(req *StewardRequest) ([]byte, error) {
		if merge {
			return hub.MarshalMerge(&hub.Merge{A: req.A, B: req.B, Actor: req.Actor, Reason: req.Reason})
		}
		return hub.MarshalUnmerge(&hub.Unmerge{A: req.A, B: req.B, Actor: req.Actor, Reason: req.Reason})
	})
}

// stewardCommand is the handler shared by a steward's pair commands
// (merge, unmerge, review accept/reject): decode and check the request,
// encode the command with build, commit it through Raft, and answer the
// Raft index and the clusters it touched.
func (s *Server) stewardCommand(build func(*StewardRequest) ([]byte, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		n := s.node
		var req StewardRequest
		if err := s.decodeJSON(w, r, &req); err != nil {
			return err
		}
		if err := req.check(); err != nil {
			return err
		}
		setAuditTarget(r, req.A, req.B)
		cmd, err := build(&req)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		res, err := n.Apply(r.Context(), cmd)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"index": res.Index, "clusters": res.Clusters})
		return nil
	}
}
