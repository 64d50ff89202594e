package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"ucv/crdt"
	"ucv/crdt/codec"
	"ucv/hub"
	"ucv/profile"
	"ucv/replication"
)

// Privacy requests, the edges' privacy sync, decommissioning and the
// audit log (docs/decisions/0040-privacy.md).

// PrivacyRequestBody is the body of POST /v1/admin/privacy/requests.
type PrivacyRequestBody struct {
	Type string `json:"type"`
	// Identifier is "type:value" ("email:ann@example.com"), normalised
	// as edges normalise it. It is never stored, logged or echoed.
	Identifier string `json:"identifier"`
}

// callerOf names the caller of r for privacy requests and the audit
// log: its token's name and role ("anonymous" on an open hub).
func callerOf(r *http.Request) (actor, role string) {
	id := identityOf(r)
	if id.Anonymous() {
		return "anonymous", ""
	}
	return id.Name, string(id.Role)
}

// parseIdentifier normalises a type:value identifier for field. Its
// errors name the field and the reason, never the value.
func parseIdentifier(field, s string) (profile.Identifier, error) {
	if s == "" {
		return profile.Identifier{}, fmt.Errorf("%w: %s: required", ErrBadRequest, field)
	}
	t, raw, ok := strings.Cut(s, ":")
	if !ok || t == "" {
		return profile.Identifier{}, fmt.Errorf("%w: %s: must be type:value (email:…, phone:…, user_id:…)", ErrBadRequest, field)
	}
	id, err := profile.NewIdentifier(field, profile.IDType(t), raw, profile.DefaultNormalizeOptions())
	if err != nil {
		reason := "not a valid identifier"
		var fe *profile.FieldError
		if errors.As(err, &fe) {
			reason = fe.Reason
		}
		return profile.Identifier{}, fmt.Errorf("%w: %s: %s", ErrBadRequest, field, reason)
	}
	return id, nil
}

// createPrivacy checks the request and has the leader make it: a
// follower relays it there (with the caller's credential), so the
// identifier is resolved against the leader's state, which holds every
// acknowledged change (Barrier).
func (s *Server) createPrivacy(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	var req PrivacyRequestBody
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	typ, ok := hub.ParsePrivacyType(req.Type)
	if !ok {
		return fmt.Errorf("%w: type: must be one of erase, suppress, unsuppress, export", ErrBadRequest)
	}
	id, err := parseIdentifier("identifier", req.Identifier)
	if err != nil {
		return err
	}
	if !s.node.IsLeader() && r.Header.Get(forwardedHeader) == "" {
		lid, _ := s.node.Leader()
		u, ok := s.peers.URL(lid)
		if !ok {
			return fmt.Errorf("%w: the leader's HTTP address is unknown", ErrNoLeader)
		}
		relayed(r) // the leader audits it
		return s.peers.relay(w, r, u+"/v1/admin/privacy/requests", body)
	}
	actor, _ := callerOf(r)
	st, err := s.node.RequestPrivacy(r.Context(), typ, id, actor)
	if err != nil {
		return err
	}
	setAuditTarget(r, append([]string{st.ID}, st.Profiles...)...)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": st.ID, "status": st.Status})
	return nil
}

// withVoters adds the current voters to an erase request's pending
// hub receipts (the FSM knows the voters only from receipts).
func (s *Server) withVoters(st hub.PrivacyStatus) hub.PrivacyStatus {
	if st.Type != hub.PrivacyErase.String() || st.Status != hub.StatusPending {
		return st
	}
	if ms, err := s.node.Members(); err == nil {
		for _, m := range ms {
			if _, ok := st.Hub[m.ID]; m.Voter && !ok {
				st.Hub[m.ID] = hub.StatusPending
			}
		}
	}
	return st
}

func (s *Server) privacyRequests(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := page(r, "after", 100, 1000)
	if err != nil {
		return err
	}
	list := s.node.FSM().PrivacyRequests(after, limit)
	for i := range list {
		list[i] = s.withVoters(list[i])
	}
	var next uint64
	if len(list) > 0 {
		next = list[len(list)-1].Index
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": list, "next": next})
	return nil
}

func (s *Server) privacyRequest(w http.ResponseWriter, r *http.Request) error {
	st, err := s.node.FSM().PrivacyRequest(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withVoters(st))
	return nil
}

// page reads a cursor parameter and limit (1..maxLimit, default def).
func page(r *http.Request, cursor string, def, maxLimit int) (uint64, int, error) {
	q := r.URL.Query()
	var after uint64
	var err error
	if v := q.Get(cursor); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%w: %s: not an unsigned integer", ErrBadRequest, cursor)
		}
	}
	limit := def
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, fmt.Errorf("%w: limit: must be 1..%d", ErrBadRequest, maxLimit)
		}
	}
	return after, limit, nil
}

// privacySync is an edge's privacy call: receipts committed through
// Raft, then the directives it has not confirmed.
func (s *Server) privacySync(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, replication.MaxMessageBytes)
	if err != nil {
		return err
	}
	p, err := replication.UnmarshalPrivacySync(body)
	if err != nil {
		return fmt.Errorf("%w: body: %w", ErrBadRequest, err)
	}
	if err := s.ownEdge(identityOf(r), p.Edge); err != nil {
		return err
	}
	d, err := s.node.PrivacySync(r.Context(), p.Edge, p.Done)
	if err != nil {
		return err
	}
	s.edgesMu.Lock()
	in := s.edges[p.Edge]
	in.sync = s.cfg.Now()
	s.edges[p.Edge] = in
	s.edgesMu.Unlock()
	b, err := replication.MarshalPrivacyDirectives(d)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", msgpackType)
	_, _ = w.Write(b)
	return nil
}

func (s *Server) edgeList(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"edges": s.node.FSM().Edges()})
	return nil
}

func (s *Server) decommission(w http.ResponseWriter, r *http.Request) error {
	edge := r.PathValue("id")
	known := slices.ContainsFunc(s.node.FSM().Edges(), func(e hub.EdgeState) bool { return e.Edge == edge })
	if !known {
		return fmt.Errorf("%w: no edge %s", hub.ErrNotFound, edge)
	}
	actor, _ := callerOf(r)
	if err := s.node.Decommission(r.Context(), edge, actor); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"edge": edge, "decommissioned": true})
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	since, limit, err := page(r, "since", 100, 1000)
	if err != nil {
		return err
	}
	es := s.node.FSM().Audit(since, limit)
	next := since
	if len(es) > 0 {
		next = es[len(es)-1].Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es, "next": next})
	return nil
}

// The audit middleware (wrap): every admitted request to an auditable
// route that was not refused (4xx: it changed nothing, so it leaves no
// audit entry either) appends one entry through Raft once its handler
// is done, before the answer leaves. A
// handler names what it acted on with setAuditTarget; otherwise the
// route's {id} or {name} is the target.

type auditKey struct{}

type auditNote struct {
	targets []string
	set     bool
	relayed bool // handed to the leader, which audits it
}

// auditable reports whether requests to rt are audited: every admin
// mutation (non-GET /v1/admin/ routes) and the export download.
func auditable(rt *Route) bool {
	if !strings.HasPrefix(rt.Path, "/v1/admin/") {
		return false
	}
	return rt.Method != http.MethodGet || strings.HasSuffix(rt.Path, "/export")
}

// setAuditTarget names what the request acted on (profile IDs, request
// IDs, definition names — never a raw identifier).
func setAuditTarget(r *http.Request, targets ...string) {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		n.targets, n.set = targets, true
	}
}

// relayed says that the request was handed to the leader, whose own
// audit entry records it.
func relayed(r *http.Request) {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		n.relayed = true
	}
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// audited runs h as wrap does and appends the audit entry.
func (s *Server) audited(rt *Route, h handler, w http.ResponseWriter, r *http.Request) {
	note := &auditNote{}
	r = r.WithContext(context.WithValue(r.Context(), auditKey{}, note))
	sw := &statusWriter{ResponseWriter: w}
	if err := h(sw, r); err != nil {
		s.writeError(sw, r, err)
	}
	if note.relayed || sw.code >= 400 && sw.code < 500 {
		// Refused: it changed nothing, and neither does its audit
		// (a 5xx may have taken effect, and is audited).
		return
	}
	targets := note.targets
	if !note.set {
		for _, p := range []string{"id", "name"} {
			if v := r.PathValue(p); v != "" && strings.Contains(rt.Path, "{"+p+"}") {
				targets = append(targets, v)
			}
		}
	}
	actor, role := callerOf(r)
	e := &hub.AuditEntry{Actor: actor, Role: role, Action: rt.Method + " " + rt.Path, Targets: clip(targets), Outcome: max(sw.code, http.StatusOK)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if err := s.node.AppendAudit(ctx, e); err != nil {
		s.log.Warn("audit entry not appended", "action", e.Action, "outcome", e.Outcome, "err", err)
	}
}

// clip keeps targets within the audit command's limits.
func clip(ts []string) []string {
	var out []string
	for _, t := range ts {
		if t != "" && len(t) <= hub.MaxNameBytes && len(out) < hub.MaxAuditTargets {
			out = append(out, t)
		}
	}
	return out
}

// Export is the body of GET /v1/admin/privacy/requests/{id}/export:
// everything the hub holds about the person.
type Export struct {
	Request   string          `json:"request"`
	CreatedAt time.Time       `json:"created_at"`
	Profiles  []string        `json:"profiles"`
	People    []ExportProfile `json:"people"`
}

// ExportProfile is one resolved person (hub cluster) of an export.
type ExportProfile struct {
	ID         string               `json:"id"`
	Fragments  []string             `json:"fragments"`
	Identities []profile.Identifier `json:"identities"`
	Traits     []ExportValue        `json:"traits"`
	Consent    []ExportValue        `json:"consent"`
	// ConsentHistory is every consent statement kept (the messageId
	// ledger's), oldest first by event time, each with its message and
	// source.
	ConsentHistory []profile.ConsentChange `json:"consent_history"`
	Events         []ExportEvent           `json:"events"`
	Ledger         []ExportLedgerEntry     `json:"ledger"`
	Merges         []hub.Event             `json:"merges"`
	MergeRecords   []profile.MergeRecord   `json:"merge_records"`
	Audiences      []string                `json:"audiences"`
	Scores         []profile.ComputedValue `json:"scores"`
	FirstSeen      *time.Time              `json:"first_seen"`
	LastSeen       *time.Time              `json:"last_seen"`
	Channels       []string                `json:"channels"`
	Sources        []string                `json:"sources"`
	// TraitSources are the values each source wrote to each record, per
	// trait, that survivorship chooses among (0045), sorted by trait,
	// source and record.
	TraitSources []ExportTraitSource `json:"trait_sources,omitempty"`
}

// ExportTraitSource is one trait value as one source wrote it to one
// record (profile.Candidate).
type ExportTraitSource struct {
	Trait  string    `json:"trait"`
	Source string    `json:"source"`
	Record string    `json:"record"`
	Value  any       `json:"value"`
	Time   time.Time `json:"time"`
}

// ExportValue is one value with its time and source: the HLC timestamp
// of the write that set it (wall time and the writing node's HLC ID).
type ExportValue struct {
	Name  string    `json:"name"`
	Value any       `json:"value"`
	Time  time.Time `json:"time"`
	HLC   string    `json:"hlc"`
	Node  string    `json:"node"`
}

// ExportEvent is one timeline event.
type ExportEvent struct {
	Time time.Time `json:"time"`
	profile.TimelineEvent
}

// ExportLedgerEntry is one event's contribution kept in the ledger.
type ExportLedgerEntry struct {
	Time         time.Time `json:"time"`
	Kind         string    `json:"type"`
	Event        string    `json:"event,omitempty"`
	Order        bool      `json:"order,omitempty"`
	Currency     string    `json:"currency,omitempty"`
	RevenueMinor int64     `json:"revenue_minor,omitempty"`
}

// values renders an LWW map's live registers, sorted by name.
func values(m map[string]crdt.Register) []ExportValue {
	out := []ExportValue{}
	for _, k := range crdt.SortedKeys(m) {
		reg := m[k]
		if reg.Val == nil {
			continue // removed
		}
		v, err := codec.UnmarshalValue(reg.Val)
		if err != nil {
			continue
		}
		out = append(out, ExportValue{Name: k, Value: profile.JSONValue(v), Time: time.UnixMilli(reg.TS.Wall).UTC(), HLC: reg.TS.String(),
			Node: fmt.Sprintf("%016x", uint64(reg.TS.Node))})
	}
	return out
}

func (s *Server) privacyExport(w http.ResponseWriter, r *http.Request) error {
	fsm := s.node.FSM()
	st, err := fsm.PrivacyRequest(r.PathValue("id"))
	if err != nil {
		return err
	}
	if st.Type != hub.PrivacyExport.String() {
		return fmt.Errorf("%w: id: request %s is a %s request, not an export", ErrBadRequest, st.ID, st.Type)
	}
	setAuditTarget(r, append([]string{st.ID}, st.Profiles...)...)
	now := s.cfg.Now()
	out := Export{Request: st.ID, CreatedAt: st.CreatedAt, Profiles: st.Profiles, People: []ExportProfile{}}
	seen := map[string]bool{}
	comp := fsm.Compiled()
	for _, id := range st.Profiles {
		v, err := fsm.ServedProfile(id)
		if err != nil || seen[v.ID] || v.Profile.Erased.Set {
			continue
		}
		seen[v.ID] = true
		p := v.Profile
		view := p.View(now)
		ep := ExportProfile{ID: v.ID, Fragments: v.Fragments, Identities: p.IdentityList(), Traits: values(p.Traits.M),
			Consent: values(p.Consent.M), ConsentHistory: p.ConsentHistory(), Events: []ExportEvent{}, Ledger: []ExportLedgerEntry{}, Merges: history(fsm, v),
			MergeRecords: p.MergeRecords(), Audiences: fsm.Audiences(v.ID), Scores: []profile.ComputedValue{},
			FirstSeen: view.FirstSeen, LastSeen: view.LastSeen, Channels: view.Channels, Sources: view.Sources}
		for _, ev := range p.Events() {
			ep.Events = append(ep.Events, ExportEvent{Time: time.UnixMilli(ev.Time).UTC(), TimelineEvent: ev})
		}
		for _, k := range p.Traits.Keys() {
			for _, c := range p.CandidatesOf(k) {
				if c.Source == "" && c.Record == "" {
					continue // the trait's own register, exported above
				}
				if v, err := codec.UnmarshalValue(c.Val); err == nil {
					ep.TraitSources = append(ep.TraitSources, ExportTraitSource{Trait: k, Source: c.Source, Record: c.Record, Value: profile.JSONValue(v), Time: c.TS.Time()})
				}
			}
		}
		p.LedgerEvents(func(e *profile.LedgerEvent) {
			ep.Ledger = append(ep.Ledger, ExportLedgerEntry{Time: time.UnixMilli(e.Time).UTC(), Kind: string(e.Kind), Event: string(e.Event),
				Order: e.Order, Currency: string(e.Currency), RevenueMinor: e.Minor})
		})
		if !comp.Empty() {
			for _, cv := range comp.Evaluate(p, now).Computed {
				ep.Scores = append(ep.Scores, profile.ComputedValue(cv))
			}
		}
		if ep.Audiences == nil {
			ep.Audiences = []string{}
		}
		if ep.MergeRecords == nil {
			ep.MergeRecords = []profile.MergeRecord{}
		}
		if ep.ConsentHistory == nil {
			ep.ConsentHistory = []profile.ConsentChange{}
		}
		if ep.Merges == nil {
			ep.Merges = []hub.Event{}
		}
		out.People = append(out.People, ep)
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}
