package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"ucv/hub"
	"ucv/profile/catalog"
)

// The catalog of definitions: PUT, GET and DELETE
// /v1/admin/computed-traits/{name} and /v1/admin/audiences/{name}, and
// GET of each kind's list
// (docs/decisions/0033-hub-catalog-and-transitions.md). A change is
// checked here against the catalog this node holds (so a bad definition
// is a 4xx naming the field and never reaches the log), then committed
// through Raft, where the state machine checks it again against the
// catalog as of its index.

// DefinitionResponse is one definition: the body of GET and PUT
// /v1/admin/{kind}/{name} and of DELETE (without Definition).
type DefinitionResponse struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Definition is a catalog.ComputedTrait or a catalog.Audience.
	Definition any `json:"definition,omitempty"`
	// Version is the catalog's version: the Raft index of its last
	// change (of the PUT or DELETE itself, for those).
	Version uint64 `json:"version"`
	// Size is an audience's number of members (profiles: hub clusters).
	Size *int `json:"size,omitempty"`
}

// definitionError turns a catalog error into the API's: the field and
// the problem, 400 for an invalid definition, 409 for a conflict with
// other definitions, 404 for one that does not exist.
func definitionError(err error) error {
	var ce *catalog.Error
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return fmt.Errorf("%w: no such definition", hub.ErrNoDefinition)
	case errors.As(err, &ce) && ce.Conflict:
		return &fieldError{kind: hub.ErrConflict, msg: ce.Field + ": " + ce.Message}
	case errors.As(err, &ce):
		return fmt.Errorf("%w: %s: %s", ErrBadRequest, ce.Field, ce.Message)
	}
	return fmt.Errorf("%w: %v", ErrBadRequest, err)
}

// fieldError is an error whose message names a field and which matches
// kind (for the status) without kind's text in the message.
type fieldError struct {
	kind error
	msg  string
}

func (e *fieldError) Error() string { return e.msg }
func (e *fieldError) Unwrap() error { return e.kind }

// actorOf names who changes the catalog: ?actor=, else the token's name,
// else "admin".
func actorOf(r *http.Request) string {
	if a := r.URL.Query().Get("actor"); a != "" {
		return a
	}
	if id := identityOf(r); id.Name != "" {
		return id.Name
	}
	return "admin"
}

// define handles PUT /v1/admin/{kind}/{name}.
func (s *Server) define(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		body, err := s.readBody(w, r, hub.MaxDefinitionBytes)
		if err != nil {
			return err
		}
		if err := catalog.CheckName(kind, name); err != nil {
			return definitionError(err)
		}
		def, err := catalog.ParseDefinition(kind, name, body)
		if err != nil {
			return definitionError(err)
		}
		if _, _, err := s.node.FSM().Catalog().With(name, def, 0); err != nil {
			return definitionError(err)
		}
		canonical, err := json.Marshal(def)
		if err != nil {
			return fmt.Errorf("api: encode definition: %w", err)
		}
		cmd, err := hub.MarshalDefine(&hub.Define{Kind: kind, Name: name, Definition: canonical, Actor: actorOf(r)})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		res, err := s.node.Apply(r.Context(), cmd)
		if err != nil {
			return err
		}
		out := DefinitionResponse{Kind: kind, Name: name, Definition: def, Version: res.Index}
		if kind == catalog.KindAudience {
			n := s.node.FSM().AudienceSize(name)
			out.Size = &n
		}
		writeJSON(w, http.StatusOK, &out)
		return nil
	}
}

// undefine handles DELETE /v1/admin/{kind}/{name}.
func (s *Server) undefine(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		if err := catalog.CheckName(kind, name); err != nil {
			return definitionError(err)
		}
		if _, _, err := s.node.FSM().Catalog().Without(kind, name, 0); errors.Is(err, catalog.ErrNotFound) {
			return fmt.Errorf("%w: no %s named %q", hub.ErrNoDefinition, singular(kind), name)
		} else if err != nil {
			return definitionError(err)
		}
		if ds := s.node.FSM().DestinationsReading(name); kind == catalog.KindAudience && len(ds) > 0 {
			return &fieldError{kind: hub.ErrConflict, msg: fmt.Sprintf("name: destination %q sends its transitions", ds[0])}
		}
		cmd, err := hub.MarshalUndefine(&hub.Undefine{Kind: kind, Name: name, Actor: actorOf(r)})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		res, err := s.node.Apply(r.Context(), cmd)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, &DefinitionResponse{Kind: kind, Name: name, Version: res.Index})
		return nil
	}
}

// definition handles GET /v1/admin/{kind}/{name}.
func (s *Server) definition(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		fsm := s.node.FSM()
		c := fsm.Catalog()
		def, ok := c.Get(kind, name)
		if !ok {
			return fmt.Errorf("%w: no %s named %q", hub.ErrNoDefinition, singular(kind), name)
		}
		out := DefinitionResponse{Kind: kind, Name: name, Definition: def, Version: c.Version}
		if kind == catalog.KindAudience {
			n := fsm.AudienceSize(name)
			out.Size = &n
		}
		writeJSON(w, http.StatusOK, &out)
		return nil
	}
}

// definitions handles GET /v1/admin/{kind}: the catalog's version and
// every definition of the kind, by name, in the shape of a definitions
// file ({"computed_traits": {…}} or {"audiences": {…}}, with the
// audiences' "sizes").
func (s *Server) definitions(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		fsm := s.node.FSM()
		c := fsm.Catalog()
		out := map[string]any{"version": c.Version}
		switch kind {
		case catalog.KindComputedTrait:
			defs := c.ComputedTraits
			if defs == nil {
				defs = map[string]catalog.ComputedTrait{}
			}
			out["computed_traits"] = defs
		case catalog.KindAudience:
			defs := c.Audiences
			if defs == nil {
				defs = map[string]catalog.Audience{}
			}
			sizes := map[string]int{}
			for name := range defs {
				sizes[name] = fsm.AudienceSize(name)
			}
			out["audiences"], out["sizes"] = defs, sizes
		case catalog.KindOffer:
			defs := c.Offers
			if defs == nil {
				defs = map[string]catalog.Offer{}
			}
			out["offers"] = defs
		case catalog.KindPurpose:
			defs := c.ConsentPurposes
			if defs == nil {
				defs = map[string]catalog.ConsentPurpose{}
			}
			out["consent_purposes"] = defs
		case catalog.KindRetention:
			defs := c.Retention
			if defs == nil {
				defs = map[string]catalog.Retention{}
			}
			out["retention"] = defs
		case catalog.KindSurvivorship:
			defs := c.Survivorship
			if defs == nil {
				defs = map[string]catalog.Survivorship{}
			}
			out["survivorship"] = defs
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func singular(kind string) string {
	switch kind {
	case catalog.KindComputedTrait:
		return "computed trait"
	case catalog.KindOffer:
		return "offer"
	case catalog.KindPurpose:
		return "consent purpose"
	case catalog.KindRetention:
		return "retention policy"
	case catalog.KindSurvivorship:
		return "survivorship policy"
	}
	return "audience"
}

// Page sizes of the audience members and transitions listings.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// listLimit reads ?limit= (1..maxListLimit, default defaultListLimit).
func listLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, fmt.Errorf("%w: limit: must be 1..%d", ErrBadRequest, maxListLimit)
	}
	return n, nil
}

// MembersResponse is the body of GET /v1/admin/audiences/{name}/members:
// a page of the audience's members (profile IDs: the hub clusters'
// canonical IDs), sorted, and the cursor of the next page (null on the
// last).
type MembersResponse struct {
	Audience string   `json:"audience"`
	Size     int      `json:"size"`
	Data     []string `json:"data"`
	Cursor   struct {
		Next *string `json:"next"`
	} `json:"cursor"`
}

// members handles GET /v1/admin/audiences/{name}/members?limit=&cursor=
// (cursor: the last profile ID of the previous page).
func (s *Server) members(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	limit, err := listLimit(r)
	if err != nil {
		return err
	}
	fsm := s.node.FSM()
	if _, ok := fsm.Catalog().Get(catalog.KindAudience, name); !ok {
		return fmt.Errorf("%w: no audience named %q", hub.ErrNoDefinition, name)
	}
	cursor := r.URL.Query().Get("cursor")
	ids, more := fsm.AudienceMembers(name, cursor, limit)
	out := MembersResponse{Audience: name, Size: fsm.AudienceSize(name), Data: ids}
	if more {
		last := ids[len(ids)-1]
		out.Cursor.Next = &last
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// TransitionsResponse is the body of GET /v1/admin/transitions: the
// transitions after the cursor, oldest first, and the cursor to ask
// from next (the last one's sequence; the request's when none).
type TransitionsResponse struct {
	Data []hub.Transition `json:"data"`
	Next uint64           `json:"next"`
}

// transitions handles GET /v1/admin/transitions?after=<seq>&limit=.
// The hub keeps the last hub.MaxTransitions: a reader further behind
// sees the first sequence it gets jump past after+1.
func (s *Server) transitions(w http.ResponseWriter, r *http.Request) error {
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		var err error
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("%w: after: not an unsigned integer", ErrBadRequest)
		}
	}
	limit, err := listLimit(r)
	if err != nil {
		return err
	}
	out := TransitionsResponse{Data: s.node.FSM().Transitions(after, limit), Next: after}
	if n := len(out.Data); n > 0 {
		out.Next = out.Data[n-1].Seq
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}
