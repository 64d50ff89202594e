package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"ucv/hub"
	"ucv/profile/jsonbody"
)

// Destinations: PUT, GET and DELETE /v1/admin/destinations/{name}, GET
// of the list, the dead letters and their replay
// (docs/decisions/0036-webhooks.md). A destination's secret goes in
// with PUT and never comes out: every answer says "secret_set" instead.

// DestinationView is a destination as the API shows it: without its
// secret.
type DestinationView struct {
	Type        string   `json:"type"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Audiences   []string `json:"audiences,omitempty"`
	Consent     string   `json:"consent,omitempty"`
	MaxAttempts int      `json:"max_attempts"`
	SecretSet   bool     `json:"secret_set"`
}

// DestinationStats are a destination's delivery counters.
type DestinationStats struct {
	// Delivered counts deliveries the receiver acknowledged (2xx).
	Delivered uint64 `json:"delivered"`
	// Pending counts deliveries queued now (including those waiting
	// for a retry).
	Pending int `json:"pending"`
	// Failed counts the dead letters held now; FailedTotal every
	// delivery that ever went to the list.
	Failed      int    `json:"failed"`
	FailedTotal uint64 `json:"failed_total"`
	// Dropped counts deliveries dropped for a full queue or list.
	Dropped     uint64     `json:"dropped"`
	LastError   *string    `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
	// OldestPendingAge is how long the oldest queued delivery has
	// waited, in seconds (null when none is queued).
	OldestPendingAge *float64 `json:"oldest_pending_age_seconds"`
}

// DestinationResponse is the body of GET and PUT
// /v1/admin/destinations/{name}.
type DestinationResponse struct {
	Kind       string          `json:"kind"`
	Name       string          `json:"name"`
	Definition DestinationView `json:"definition"`
	// Version is the Raft index of the destination's last change.
	Version uint64           `json:"version"`
	Stats   DestinationStats `json:"stats"`
}

func destinationResponse(st hub.DestinationStatus, now time.Time) DestinationResponse {
	d := st.Definition
	out := DestinationResponse{Kind: hub.KindDestination, Name: st.Name, Version: st.Version,
		Definition: DestinationView{Type: d.Type, URL: d.URL, Events: d.Events, Audiences: d.Audiences, Consent: d.Consent,
			MaxAttempts: d.MaxAttempts, SecretSet: true},
		Stats: DestinationStats{Delivered: st.Delivered, Pending: st.Pending, Failed: st.DeadLetters, FailedTotal: st.Failed, Dropped: st.Dropped}}
	if st.LastError != "" {
		e, at := st.LastError, st.LastErrorAt
		out.Stats.LastError, out.Stats.LastErrorAt = &e, &at
	}
	if !st.OldestPending.IsZero() {
		age := max(now.Sub(st.OldestPending), 0).Seconds()
		out.Stats.OldestPendingAge = &age
	}
	return out
}

// waitApplied waits (briefly) until this node's state machine has
// applied index: a write forwarded to the leader is answered with this
// node's view of it.
func (s *Server) waitApplied(ctx context.Context, index uint64) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		applied, advanced := s.node.FSM().Watch()
		if applied >= index {
			return
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return
		}
	}
}

// defineDestination handles PUT /v1/admin/destinations/{name}. A body
// without "secret" keeps the current one (and is refused for a new
// destination).
func (s *Server) defineDestination(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	body, err := s.readBody(w, r, hub.MaxDefinitionBytes)
	if err != nil {
		return err
	}
	d, err := hub.ParseDestination(name, body)
	if err != nil {
		return definitionError(err)
	}
	fsm := s.node.FSM()
	if err := fsm.CheckDestination(name, d); err != nil {
		return definitionError(err)
	}
	canonical, err := json.Marshal(&d)
	if err != nil {
		return fmt.Errorf("api: encode destination: %w", err)
	}
	cmd, err := hub.MarshalDefine(&hub.Define{Kind: hub.KindDestination, Name: name, Definition: canonical, Actor: actorOf(r)})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	res, err := s.node.Apply(r.Context(), cmd)
	if err != nil {
		return err
	}
	s.waitApplied(r.Context(), res.Index)
	st, ok := fsm.Destination(name)
	if !ok { // removed again meanwhile
		return fmt.Errorf("%w: no destination named %q", hub.ErrNoDefinition, name)
	}
	writeJSON(w, http.StatusOK, destinationResponse(st, time.Now()))
	return nil
}

// undefineDestination handles DELETE /v1/admin/destinations/{name}:
// the destination's queued deliveries and dead letters go with it;
// "dropped" counts the queued ones.
func (s *Server) undefineDestination(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, ok := s.node.FSM().Destination(name); !ok {
		return fmt.Errorf("%w: no destination named %q", hub.ErrNoDefinition, name)
	}
	cmd, err := hub.MarshalUndefine(&hub.Undefine{Kind: hub.KindDestination, Name: name, Actor: actorOf(r)})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	res, err := s.node.Apply(r.Context(), cmd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": hub.KindDestination, "name": name, "version": res.Index, "dropped": res.Dropped})
	return nil
}

// destination handles GET /v1/admin/destinations/{name}.
func (s *Server) destination(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	st, ok := s.node.FSM().Destination(name)
	if !ok {
		return fmt.Errorf("%w: no destination named %q", hub.ErrNoDefinition, name)
	}
	writeJSON(w, http.StatusOK, destinationResponse(st, time.Now()))
	return nil
}

// destinations handles GET /v1/admin/destinations:
// {"destinations": {name: {…}}}.
func (s *Server) destinations(w http.ResponseWriter, r *http.Request) error {
	now := time.Now()
	out := map[string]DestinationResponse{}
	for _, st := range s.node.FSM().Destinations() {
		out[st.Name] = destinationResponse(st, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{"destinations": out})
	return nil
}

// DeadLettersResponse is the body of GET
// /v1/admin/destinations/{name}/failed: a page of dead letters, oldest
// first, without their bodies, and the cursor of the next page (null
// on the last).
type DeadLettersResponse struct {
	Destination string           `json:"destination"`
	Data        []hub.DeadLetter `json:"data"`
	Cursor      struct {
		Next *string `json:"next"`
	} `json:"cursor"`
}

// deadLetters handles GET /v1/admin/destinations/{name}/failed?limit=&cursor=.
func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	limit, err := listLimit(r)
	if err != nil {
		return err
	}
	var cursor uint64
	if v := r.URL.Query().Get("cursor"); v != "" {
		if cursor, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("%w: cursor: not a cursor this listing gave", ErrBadRequest)
		}
	}
	fsm := s.node.FSM()
	if _, ok := fsm.Destination(name); !ok {
		return fmt.Errorf("%w: no destination named %q", hub.ErrNoDefinition, name)
	}
	data, more := fsm.DeadLetters(name, cursor, limit)
	out := DeadLettersResponse{Destination: name, Data: data}
	if more {
		next := strconv.FormatUint(data[len(data)-1].Q, 10)
		out.Cursor.Next = &next
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// replay handles POST /v1/admin/destinations/{name}/failed/replay with
// an optional body {"ids": ["dlv_…", …]}: those dead letters (all of
// them without a body or a list) go back to the end of the queue with
// their attempts reset, under their delivery IDs.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	body, err := s.readBody(w, r, 1<<20)
	if err != nil {
		return err
	}
	var req struct {
		IDs []string `json:"ids"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := jsonbody.Decode(body, &req); err != nil {
			return fmt.Errorf("%w: %w (the body is {\"ids\": [\"dlv_…\", …]})", ErrBadRequest, err)
		}
	}
	if len(req.IDs) > hub.MaxReplayIDs {
		return fmt.Errorf("%w: ids: at most %d", ErrBadRequest, hub.MaxReplayIDs)
	}
	rp := &hub.Replay{Dest: name, Actor: actorOf(r)}
	for i, v := range req.IDs {
		id, ok := hub.ParseDeliveryID(v)
		if !ok {
			return fmt.Errorf("%w: ids[%d]: not a delivery ID (dlv_…)", ErrBadRequest, i)
		}
		rp.IDs = append(rp.IDs, id)
	}
	if _, ok := s.node.FSM().Destination(name); !ok {
		return fmt.Errorf("%w: no destination named %q", hub.ErrNoDefinition, name)
	}
	cmd, err := hub.MarshalReplay(rp)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	res, err := s.node.Apply(r.Context(), cmd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"destination": name, "replayed": res.Replayed, "version": res.Index})
	return nil
}
