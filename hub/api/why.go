package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"ucv/hub"
)

// WhyResponse is the body of GET /v1/admin/profiles/{ref}/why: the
// cluster's merge and split history, oldest first, each event with a
// sentence saying what happened and why.
type WhyResponse struct {
	ID        string   `json:"id"`
	Fragments []string `json:"fragments"`
	Reasons   []Reason `json:"reasons"`
}

// Reason is one history event explained.
type Reason struct {
	// Text is a human-readable account of the event. It names identifier
	// types, never their values.
	Text string `json:"text"`
	// Comparison, for a merge link, is the engine's comparison of the
	// two fragments as they are now (levels and weights, without values);
	// empty when the engine no longer knows either of them.
	Comparison string    `json:"comparison,omitempty"`
	Event      hub.Event `json:"event"`
}

// why explains the history of the person ref names.
func (s *Server) why(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	fsm := n.FSM()
	v, _, err := resolve(fsm, r.PathValue("ref"))
	if err != nil {
		return err
	}
	out := WhyResponse{ID: v.ID, Fragments: v.Fragments, Reasons: []Reason{}}
	if out.Fragments == nil {
		out.Fragments = []string{}
	}
	evs := history(fsm, v)
	if masked(r) {
		evs = maskEvents(evs)
	}
	for _, ev := range evs {
		rs := Reason{Text: explainEvent(ev), Event: ev}
		if ev.Kind == "merge" && ev.A != "" && ev.B != "" {
			if e, err := fsm.Explain(ev.A, ev.B); err == nil {
				rs.Comparison = e.String()
			}
		}
		out.Reasons = append(out.Reasons, rs)
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// explainEvent renders one history event as a sentence.
func explainEvent(ev hub.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "At Raft index %d, ", ev.Index)
	switch ev.Kind {
	case "merge":
		fmt.Fprintf(&b, "%s and %s were merged into %s", ev.A, ev.B, ev.Cluster)
		switch ev.Rule {
		case "identifier":
			var types []string
			for _, k := range ev.Identifiers {
				t, _, _ := strings.Cut(k, ":")
				if t != "" && !slices.Contains(types, t) {
					types = append(types, t)
				}
			}
			if len(types) == 0 {
				types = []string{"an identifier"}
			}
			fmt.Fprintf(&b, " because they share the same %s (deterministic identifier rule)", strings.Join(types, ", "))
		case "probabilistic":
			fmt.Fprintf(&b, " because their records look like one person (probabilistic match, weight %+.2f)", ev.Weight)
		case "steward":
			fmt.Fprintf(&b, " by a steward's decision (%s)", orUnknown(ev.Actor))
		case "edge":
			fmt.Fprintf(&b, " because edge %s merged them with its own rules", strings.TrimPrefix(orUnknown(ev.Actor), "edge:"))
		default:
			fmt.Fprintf(&b, " (rule %s)", ev.Rule)
		}
	case "split":
		fmt.Fprintf(&b, "%s was split into %s", ev.Cluster, strings.Join(ev.Clusters, ", "))
		if ev.Rule == "steward" {
			fmt.Fprintf(&b, " by a steward's decision (%s)", orUnknown(ev.Actor))
		} else {
			b.WriteString(" because the identity engine re-clustered after new data or a decision")
		}
	default:
		fmt.Fprintf(&b, "event %q on %s", ev.Kind, ev.Cluster)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, "; reason given: %q", ev.Reason)
	}
	b.WriteString(".")
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
