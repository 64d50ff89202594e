package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"ucv/hub"
	"ucv/replication"
)

const (
	msgpackType  = "application/msgpack"
	maxFeedItems = replication.MaxFeedItems
)

// push commits one edge sync batch and answers only after Raft commit.
func (s *Server) push(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	body, err := s.readBody(w, r, replication.MaxMessageBytes)
	if err != nil {
		return err
	}
	p, err := replication.UnmarshalSyncPush(body)
	if err != nil {
		s.met.batches.With("malformed").Inc()
		return fmt.Errorf("%w: body: %w", ErrBadRequest, err)
	}
	if err := s.ownEdge(identityOf(r), p.Edge); err != nil {
		s.met.batches.With("forbidden").Inc()
		return err
	}
	start := time.Now()
	res, err := n.Sync(r.Context(), &hub.SyncBatch{Edge: p.Edge, Resync: p.Resync, Entries: p.Entries})
	s.met.applyLatency.Observe(time.Since(start).Seconds())
	var ack replication.SyncAck
	switch {
	case errors.Is(err, hub.ErrSequenceGap):
		s.met.batches.With("gap").Inc()
		exp := n.FSM().EdgeSeq(p.Edge) + 1
		if res != nil && res.LastSeq > 0 { // forwarded: the leader's view
			exp = res.LastSeq + 1
		}
		ack = replication.SyncAck{Status: replication.AckGap, Seq: exp}
		w.Header().Set("X-Expected-Seq", strconv.FormatUint(exp, 10))
		return writeAck(w, http.StatusConflict, &ack)
	case err != nil:
		s.met.batches.With("error").Inc()
		if errors.Is(err, hub.ErrInvalid) {
			return fmt.Errorf("%w: entries: %w", ErrBadRequest, err)
		}
		return err
	case res.Duplicate:
		s.met.batches.With("duplicate").Inc()
		ack = replication.SyncAck{Status: replication.AckDuplicate, Seq: res.LastSeq, Index: res.Index}
	default:
		s.met.batches.With("applied").Inc()
		s.met.entries.Add(float64(res.Applied))
		ack = replication.SyncAck{Status: replication.AckApplied, Seq: res.LastSeq, Index: res.Index}
	}
	now := s.cfg.Now()
	s.edgesMu.Lock()
	s.edges[p.Edge] = edgeInfo{seq: ack.Seq, last: now, sync: now}
	s.edgesMu.Unlock()
	return writeAck(w, http.StatusOK, &ack)
}

func writeAck(w http.ResponseWriter, code int, a *replication.SyncAck) error {
	b, err := replication.MarshalSyncAck(a)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", msgpackType)
	w.WriteHeader(code)
	_, _ = w.Write(b)
	return nil
}

// feed answers a page of the change feed after cursor, waiting up to
// wait for news when there is none; it answers as soon as this node
// applies a command that puts something after cursor.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	q := r.URL.Query()
	var err error
	var cursor uint64
	if v := q.Get("cursor"); v != "" {
		if cursor, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("%w: cursor: not an unsigned integer", ErrBadRequest)
		}
	}
	limit := s.cfg.FeedItems
	if v := q.Get("max"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxFeedItems {
			return fmt.Errorf("%w: max: must be 1..%d", ErrBadRequest, maxFeedItems)
		}
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 || wait > s.cfg.MaxFeedWait {
			return fmt.Errorf("%w: wait: must be a duration in 0..%s", ErrBadRequest, s.cfg.MaxFeedWait)
		}
	}
	s.met.feedRequests.Inc()
	// The long-poll may wait longer than the server's read and write
	// timeouts: give this request its wait on top of them.
	s.hold(w, wait+s.cfg.WriteTimeout)
	fsm := n.FSM()
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	var page hub.FeedPage
	// The long-poll sleeps until the FSM applies something (Watch), not
	// on a timer: the channel is taken before the feed is read, so a
	// commit in between wakes it at once. A new catalog of definitions
	// is news too, and so is a privacy request for the edges (the edge
	// then runs its privacy step before it polls again).
	parked := false
poll:
	for {
		_, advanced := fsm.Watch()
		if page = fsm.FeedPage(cursor, limit); len(page.Items) > 0 || page.Catalog != nil || page.Privacy || wait == 0 {
			break
		}
		if !parked {
			parked = true
			s.met.feedWaiting.Inc()
			defer s.met.feedWaiting.Dec()
		}
		select {
		case <-advanced:
		case <-deadline:
			break poll
		case <-r.Context().Done():
			return nil
		}
	}
	// A page must fit a message: halve it until it does.
	for {
		resp := replication.FeedResponse{Next: page.Next, Items: make([]replication.FeedItem, 0, len(page.Items)), Catalog: page.Catalog}
		for _, v := range page.Items {
			st, err := v.Profile.Marshal()
			if err != nil {
				return fmt.Errorf("api: feed: encode profile: %w", err)
			}
			resp.Items = append(resp.Items, replication.FeedItem{Index: v.Changed, ID: v.ID, Fragments: v.Fragments, State: st, Apart: v.Apart})
		}
		b, err := replication.MarshalFeedResponse(&resp)
		if err != nil && limit > 1 {
			limit /= 2
			page = fsm.FeedPage(cursor, limit)
			continue
		}
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", msgpackType)
		w.Header().Set("X-Hub-Index", strconv.FormatUint(fsm.Index(), 10))
		_, _ = w.Write(b)
		return nil
	}
}

// result is a hub.Result on the wire between hub nodes.
type result struct {
	Index     uint64   `json:"index"`
	Code      string   `json:"code,omitempty"`
	Message   string   `json:"message,omitempty"`
	Applied   int      `json:"applied"`
	Skipped   int      `json:"skipped"`
	Duplicate bool     `json:"duplicate"`
	LastSeq   uint64   `json:"last_seq"`
	Clusters  []string `json:"clusters,omitempty"`
	Dropped   int      `json:"dropped,omitempty"`
	Replayed  int      `json:"replayed,omitempty"`
}

// internalApply applies a command a follower forwarded. Only the leader
// applies; a node that lost leadership answers 503 and the follower's
// caller retries.
func (s *Server) internalApply(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	cmd, err := s.readBody(w, r, hub.MaxCommandBytes)
	if err != nil {
		return err
	}
	if err := s.mayApply(identityOf(r), cmd); err != nil {
		return err
	}
	if !n.IsLeader() {
		return fmt.Errorf("%w: %s is not the leader", ErrNoLeader, s.cfg.NodeID)
	}
	res, err := n.Apply(r.Context(), cmd)
	if res == nil {
		return err
	}
	out := result{Index: res.Index, Applied: res.Applied, Skipped: res.Skipped, Duplicate: res.Duplicate, Dropped: res.Dropped, Replayed: res.Replayed,
		LastSeq: res.LastSeq, Clusters: res.Clusters}
	if res.Err != nil {
		out.Code = resultCode(res.Err)
		out.Message = res.Err.Error()
		if errors.Is(res.Err, hub.ErrSequenceGap) {
			if b, derr := hub.UnmarshalSync(cmd); derr == nil {
				out.LastSeq = n.FSM().EdgeSeq(b.Edge)
			}
		}
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// isSyncBatch reports whether cmd is an edge's sync batch (the others
// are a steward's or an admin's).
func isSyncBatch(cmd []byte) bool { return len(cmd) > 0 && hub.CmdType(cmd[0]) == hub.CmdSync }
