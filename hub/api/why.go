package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"ucv/crdt/codec"
	"ucv/hub"
	"ucv/profile"
)

// WhyResponse is the body of GET /v1/admin/profiles/{ref}/why: the
// cluster's merge and split history, oldest first, each event with a
// sentence saying what happened and why.
type WhyResponse struct {
	ID        string   `json:"id"`
	Fragments []string `json:"fragments"`
	Reasons   []Reason `json:"reasons"`
	// Traits say, per trait of the merged profile (sorted by key), which
	// source and record its value came from and which survivorship
	// policy chose it (docs/decisions/0045-survivorship.md).
	Traits []TraitWhy `json:"traits"`
}

// TraitWhy is one trait's golden value explained.
type TraitWhy struct {
	Trait string `json:"trait"`
	// Policy is the survivorship policy applied (most_recent when the
	// catalog defines none for the trait).
	Policy string `json:"policy"`
	// Sources is the priority list of a source_priority policy.
	Sources []string `json:"sources,omitempty"`
	// Source names where the winning value came from (an edge write
	// key's label, an import's source); empty when unknown (written
	// before sources were kept per trait).
	Source string `json:"source"`
	// Record is the profile (fragment) ID the value was written to.
	Record string `json:"record"`
	// SourceRecord, when the value came from an imported record, is that
	// record's identifier as `ucv import` keyed it —
	// "record:{source}/{id}", a ref GET /v1/admin/profiles/{ref}
	// accepts (escaped) — with its value redacted for masked readers.
	SourceRecord string `json:"source_record,omitempty"`
	// At is when it was written (the HLC's wall time).
	At time.Time `json:"at"`
	// Count of the Candidates (values kept per source and record) hold
	// the winning value.
	Count      int `json:"count"`
	Candidates int `json:"candidates"`
	// Value is the winning value; left out for masked readers.
	Value json.RawMessage `json:"value,omitempty"`
	// Reason says why it won, naming source, record and policy but not
	// the value.
	Reason string `json:"reason"`
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
	out := WhyResponse{ID: v.ID, Fragments: v.Fragments, Reasons: []Reason{}, Traits: []TraitWhy{}}
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
	comp := fsm.Compiled()
	records := map[string]profile.Identifier{} // fragment ID → its import record (zero if none)
	for _, win := range comp.Winners(v.Profile) {
		pol := comp.PolicyFor(win.Trait)
		tw := TraitWhy{Trait: win.Trait, Policy: win.Policy, Source: win.Source, Record: win.Record,
			At: win.TS.Time(), Count: win.Count, Candidates: win.Candidates, Reason: win.Reason}
		if win.Policy == profile.PolicySourcePriority {
			tw.Sources = pol.Sources
		}
		if win.Record != "" && win.Source != "" {
			rec, ok := records[win.Record]
			if !ok {
				rec, _ = fsm.ImportRecord(win.Record)
				records[win.Record] = rec
			}
			tw.SourceRecord = importRecordRef(rec, win.Source, masked(r))
		}
		if !masked(r) {
			if b, _, err := codec.AppendJSON(nil, win.Val); err == nil {
				tw.Value = b
			}
		}
		out.Traits = append(out.Traits, tw)
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// importRecordRef returns rec, a fragment's "record:{source}/{id}"
// identifier (zero for an edge profile), as /why shows it for a value
// from source: only when the value came from that import — an edge that
// linked its own events to the record wrote into the same fragment under
// another source — and with the value redacted when masked; "" otherwise.
func importRecordRef(rec profile.Identifier, source string, masked bool) string {
	switch {
	case rec.Type != hub.RecordIDType || !strings.HasPrefix(rec.Value, source+"/"):
		return ""
	case masked:
		return string(rec.Type) + ":" + profile.Redact(rec.Value)
	}
	return rec.Key()
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
		switch ev.Rule {
		case "steward":
			fmt.Fprintf(&b, " by a steward's decision (%s)", orUnknown(ev.Actor))
		case "edge":
			fmt.Fprintf(&b, " when the identity engine re-clustered around a merge edge %s made with its own rules", strings.TrimPrefix(orUnknown(ev.Actor), "edge:"))
		default:
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
