package hubtest

import (
	"fmt"
	"time"

	"ucv/crdt"
	"ucv/profile"
	"ucv/replication"
)

// Event describes one event an edge ingested, for building the outbox
// entries a test pushes to the hub.
type Event struct {
	Profile   string               // the edge's profile ID
	MessageID string               // defaults to Profile + "-" + Seq
	Kind      profile.Kind         // defaults to track
	Name      string               // event name; "Order Completed" counts an order
	IDs       []profile.Identifier // identifiers to link
	Traits    map[string]any
	Revenue   float64 // with Name "Order Completed": the order total in USD
	// Consent is context.consent.categoryPreferences.
	Consent map[string]bool
	At      int64 // event time, ms since the epoch; defaults to a fixed time + Seq
	// Source is the source name (profile.Source.Name); defaults to
	// "edge-<node>".
	Source string
}

// Email and Anon build identifiers.
func Email(v string) profile.Identifier { return profile.Identifier{Type: profile.Email, Value: v} }

// Anon returns an anonymous_id identifier.
func Anon(v string) profile.Identifier {
	return profile.Identifier{Type: profile.AnonymousID, Value: v}
}

// Edge builds the outbox an edge would write: it keeps each profile's
// state, so deltas carry per-replica counter totals as a real edge's do,
// and numbers entries from 1. It is deterministic and not safe for
// concurrent use.
type Edge struct {
	Name string
	Node crdt.ReplicaID
	seq  uint64
	ps   map[string]*profile.Profile
}

// NewEdge returns an edge with an empty outbox.
func NewEdge(name string, node crdt.ReplicaID) *Edge {
	return &Edge{Name: name, Node: node, ps: map[string]*profile.Profile{}}
}

// Delta returns the next outbox entry: the delta of ev.
func (e *Edge) Delta(ev Event) replication.Entry {
	e.seq++
	p, ok := e.ps[ev.Profile]
	if !ok {
		p = profile.New(ev.Profile)
		e.ps[ev.Profile] = p
	}
	return delta(p, e.Node, e.seq, ev)
}

// Merge returns the next outbox entry: from was merged into into.
func (e *Edge) Merge(from, into string) replication.Entry {
	e.seq++
	return MergeEntry(e.seq, from, into)
}

// Seq returns the sequence of the last entry built.
func (e *Edge) Seq() uint64 { return e.seq }

// Delta returns the outbox entry at sequence seq of an edge with HLC
// node ID node that has never seen ev.Profile before. Use an Edge for
// more than one event per profile.
func Delta(node crdt.ReplicaID, seq uint64, ev Event) replication.Entry {
	return delta(profile.New(ev.Profile), node, seq, ev)
}

func delta(p *profile.Profile, node crdt.ReplicaID, seq uint64, ev Event) replication.Entry {
	at := ev.At
	if at == 0 {
		at = 1_700_000_000_000 + int64(seq)
	}
	m := &profile.Message{
		Kind:        ev.Kind,
		MessageID:   ev.MessageID,
		Event:       ev.Name,
		Traits:      ev.Traits,
		Identifiers: ev.IDs,
		Timestamp:   time.UnixMilli(at).UTC(),
		Consent:     ev.Consent,
	}
	if m.Kind == "" {
		m.Kind = profile.Track
	}
	if m.MessageID == "" {
		m.MessageID = fmt.Sprintf("%s-%d-%d", ev.Profile, node, seq)
	}
	if ev.Revenue != 0 {
		m.Properties = map[string]any{"revenue": ev.Revenue, "currency": "USD"}
	}
	src := ev.Source
	if src == "" {
		src = fmt.Sprintf("edge-%d", node)
	}
	d := p.Apply(m, ev.IDs, profile.Source{Node: node, Name: src},
		crdt.Timestamp{Wall: at, Node: node})
	b, err := d.Marshal()
	if err != nil {
		panic(fmt.Sprintf("hubtest: marshal delta: %v", err)) // plain in-memory profile
	}
	return replication.Entry{Seq: seq, Kind: replication.KindDelta, ProfileID: ev.Profile, Delta: b}
}

// MergeEntry returns the outbox entry of an edge's decision that from
// was merged into into.
func MergeEntry(seq uint64, from, into string) replication.Entry {
	return replication.Entry{Seq: seq, Kind: replication.KindMerge, ProfileID: into, From: from}
}
