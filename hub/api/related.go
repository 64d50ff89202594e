package api

import (
	"net/http"

	"ucv/hub"
	"ucv/profile"
)

// RelatedResponse is the body of GET /v1/admin/profiles/{ref}/related:
// the graph view of a person — the other clusters that share a contact
// point, a device or an identifier with it (hub.FSM.Related;
// docs/decisions/0046-relationships.md). For the masked auditor every
// Value is profile.Redact's stand-in.
type RelatedResponse struct {
	ID        string   `json:"id"`
	Fragments []string `json:"fragments"`
	// Shared: one group per value the person holds and others hold too,
	// sorted by (type, value).
	Shared []SharedValue `json:"shared"`
	// Related: one entry per related cluster, sorted by ID, at most
	// hub.MaxRelated; Total counts them all.
	Related []Relation `json:"related"`
	Total   int        `json:"total"`
	// Counts: per relationship kind, the related clusters of that kind.
	Counts map[hub.RelationKind]int `json:"counts"`
}

// SharedValue is one shared value: its type ("email", "phone",
// "address", "device_id", "anonymous_id", another identifier type), its
// normalized value, and who else holds it — the holders with the kind
// of relationship it makes, or, for a busy value (held by more than
// hub.BusyHolders other clusters), only Count, the other source
// profiles holding it — counted up to hub.MaxBusyCount, Capped when the
// count stopped there.
type SharedValue struct {
	Type    string         `json:"type"`
	Value   string         `json:"value"`
	Busy    bool           `json:"busy,omitempty"`
	Capped  bool           `json:"capped,omitempty"`
	Count   int            `json:"count"`
	Holders []SharedHolder `json:"holders,omitempty"`
}

// SharedHolder is another cluster holding a shared value.
type SharedHolder struct {
	ID   string           `json:"id"`
	Kind hub.RelationKind `json:"kind"`
}

// Relation is one related cluster: its relationship kinds, strongest
// first (Kinds[0] is the relationship), and the types of value shared.
type Relation struct {
	ID    string             `json:"id"`
	Kinds []hub.RelationKind `json:"kinds"`
	Types []string           `json:"types"`
}

// related answers the graph view of the person ref names (see resolve).
func (s *Server) related(w http.ResponseWriter, r *http.Request) error {
	fsm := s.node.FSM()
	v, _, err := resolve(fsm, r.PathValue("ref"))
	if err != nil {
		return err
	}
	rel, err := fsm.Related(v.ID)
	if err != nil {
		return err
	}
	mask := masked(r)
	out := RelatedResponse{ID: rel.ID, Fragments: rel.Fragments, Shared: []SharedValue{}, Related: []Relation{},
		Total: rel.Total, Counts: rel.Counts}
	for _, sh := range rel.Shared {
		sv := SharedValue{Type: sh.Type, Value: sh.Value, Busy: sh.Busy, Capped: sh.Capped, Count: sh.Count}
		if mask {
			sv.Value = profile.Redact(sv.Value)
		}
		for _, h := range sh.Holders {
			sv.Holders = append(sv.Holders, SharedHolder(h))
		}
		out.Shared = append(out.Shared, sv)
	}
	for _, x := range rel.Related {
		out.Related = append(out.Related, Relation(x))
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}
