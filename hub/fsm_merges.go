package hub

import (
	"encoding/json"
	"slices"

	"github.com/google/btree"

	"ucv/crdt"
	"ucv/profile"
)

// Merge records for the edges (issue 9 §6). An edge shows why a profile
// is what it is from the profile's Merges map; merges an edge decided
// carry their record in the state the edge pushed, but merges the hub
// decided (its rules, its model, a steward) exist only in the hub's
// history. The hub's view of a cluster therefore adds, for every fragment
// the joined state has no record for, one derived from the last merge
// event that linked that fragment. The record is a function of the
// replicated history, so every hub node serves the same bytes; it is
// stamped with the event's Raft index as its wall time, below any HLC
// time, so a record an edge wrote itself always wins the LWW map.

// The records are added where a cluster is served to edges — the change
// feed and the bootstrap copy — not to the FSM's Profile view, which is
// the replicated state alone: two hubs that applied the same deltas in
// different orders hold the same state but different histories.

// linkedEntry lists the merge events that named a fragment as an end of
// their link, oldest first. Events are immutable once recorded, and an
// entry's slice is never appended to in place (the bootstrap copy shares
// it).
type linkedEntry struct {
	frag string
	evs  []*Event
}

// noteLinked adds ev to the entries of the fragments its link names.
// Caller holds the write lock (Apply) or owns st (rebuild).
func (st *state) noteLinked(ev *Event) {
	if ev.Kind != "merge" {
		return
	}
	for _, f := range []string{ev.A, ev.B} {
		if f == "" {
			continue
		}
		le, _ := st.linked.Get(linkedEntry{frag: f})
		st.linked.ReplaceOrInsert(linkedEntry{frag: f, evs: append(slices.Clip(le.evs), ev)})
	}
}

// explains returns the event that explains fragment m's place in a
// cluster of members: the oldest merge linking m to another member.
// (After a split and a new merge, an older link between the same members
// may be the one shown; it still joins two of them.)
func explains(linked *btree.BTreeG[linkedEntry], m string, members []string) *Event {
	le, ok := linked.Get(linkedEntry{frag: m})
	if !ok {
		return nil
	}
	for _, ev := range le.evs {
		other := ev.A
		if other == m {
			other = ev.B
		}
		if _, found := slices.BinarySearch(members, other); found {
			return ev
		}
	}
	return nil
}

// recordMerges adds to p (the joined view of a cluster of members, owned
// by the caller) the hub's record of each member merged into it that p
// has no record of, from linked.
func recordMerges(linked *btree.BTreeG[linkedEntry], p *profile.Profile, members []string) {
	for _, m := range members {
		if m == p.ID {
			continue
		}
		if _, ok := p.Merges.Get(m); ok {
			continue
		}
		rec := profile.MergeRecord{From: m, Into: p.ID, Node: "hub", Reason: "matched at the hub", Rule: "hub", DecidedBy: "hub"}
		var at uint64
		if ev := explains(linked, m, members); ev != nil {
			at = ev.Index
			rec.Rule, rec.Identifiers, rec.Score = ev.Rule, ev.Identifiers, ev.Weight
			switch ev.Rule {
			case "identifier":
				rec.Reason, rec.DecidedBy = "shared identifier", "hub:rules"
			case "probabilistic":
				rec.Reason, rec.DecidedBy = "probabilistic match", "hub:model"
			case "steward":
				rec.Reason, rec.DecidedBy = "steward merge", "steward:"+ev.Actor
			case "edge":
				rec.Reason, rec.DecidedBy = "shared identifier", ev.Actor
			}
			if ev.Reason != "" {
				rec.Reason = ev.Reason
			}
		}
		b, _ := json.Marshal(rec) // plain fields cannot fail
		p.Merges.Set(m, b, crdt.Timestamp{Wall: int64(at)})
	}
}
