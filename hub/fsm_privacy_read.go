package hub

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"ucv/replication"
)

// Request statuses.
const (
	StatusPending = "pending"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// PrivacyStatus is a privacy request as the API shows it
// (GET /v1/admin/privacy/requests/{id}).
type PrivacyStatus struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at"`
	// Edges are the edges the request waits for (registered when it was
	// made, not decommissioned since): "pending" or "done".
	Edges map[string]string `json:"edges"`
	// Hub are the hub voters' shred receipts (erase): "pending" or
	// "done". Before the first receipt it lists none; the API adds the
	// current voters.
	Hub map[string]string `json:"hub"`
	// Profiles are the profile IDs the request covers: the whole
	// clusters the identifier resolved to.
	Profiles []string `json:"profiles"`
	Actor    string   `json:"actor"`
	// Index is the request's Raft index.
	Index uint64 `json:"index"`
}

func (st *state) status(r *privReq) PrivacyStatus {
	ps := PrivacyStatus{ID: r.id, Type: r.typ.String(), Status: StatusPending, CreatedAt: time.UnixMilli(r.at).UTC(),
		Edges: map[string]string{}, Hub: map[string]string{}, Profiles: slices.Clone(r.profiles), Actor: r.actor, Index: r.index}
	if ps.Profiles == nil {
		ps.Profiles = []string{}
	}
	if r.completed != 0 {
		ps.Status = StatusDone
		t := time.UnixMilli(r.completed).UTC()
		ps.CompletedAt = &t
	}
	for _, e := range r.edges {
		if st.decommissioned(e) {
			continue
		}
		ps.Edges[e] = StatusPending
		if has(r.acks, e) {
			ps.Edges[e] = StatusDone
		}
	}
	for _, v := range r.voters {
		ps.Hub[v] = StatusPending
	}
	for _, n := range r.shreds {
		ps.Hub[n] = StatusDone
	}
	return ps
}

// PrivacyRequest returns request id's status, or an error wrapping
// ErrNotFound. Safe for concurrent use.
func (f *FSM) PrivacyRequest(id string) (PrivacyStatus, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.st.priv.byID[id]
	if !ok {
		return PrivacyStatus{}, fmt.Errorf("%w: no privacy request %s", ErrNotFound, id)
	}
	return f.st.status(r), nil
}

// PrivacyRequests returns the requests after Raft index after, oldest
// first, at most limit of them. Safe for concurrent use.
func (f *FSM) PrivacyRequests(after uint64, limit int) []PrivacyStatus {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := []PrivacyStatus{}
	f.st.priv.reqs.AscendGreaterOrEqual(&privReq{index: after + 1}, func(r *privReq) bool {
		if len(out) >= limit {
			return false
		}
		out = append(out, f.st.status(r))
		return true
	})
	return out
}

// PrivacySalt returns the hub's privacy salt (nil before the first
// request). The caller must not modify it.
func (f *FSM) PrivacySalt() []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.priv.salt
}

// PendingReceipts returns the IDs among ids of requests that edge has
// not confirmed (unknown IDs and exports are left out): the receipts a
// privacy sync must commit.
func (f *FSM) PendingReceipts(edge string, ids []string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for _, id := range ids {
		r, ok := f.st.priv.byID[id]
		if ok && r.typ != PrivacyExport && !has(r.acks, edge) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// PrivacyDirectives returns the hub's salt and what edge must carry
// out: every erase, suppress and unsuppress request it has not
// confirmed, in Raft index order, at most limit of them. Every edge gets
// them, including edges that registered after a request (a suppression
// list must be whole everywhere; an erasure is idempotent); only the
// edges registered at request time block its completion. A
// decommissioned edge gets none. Safe for concurrent use.
func (f *FSM) PrivacyDirectives(edge string, limit int) replication.PrivacyDirectives {
	f.mu.RLock()
	defer f.mu.RUnlock()
	pv := f.st.priv
	out := replication.PrivacyDirectives{Salt: bytes.Clone(pv.salt)}
	if f.st.decommissioned(edge) {
		return out
	}
	pv.reqs.Ascend(func(r *privReq) bool {
		if len(out.Directives) >= limit {
			return false
		}
		if r.typ == PrivacyExport || has(r.acks, edge) {
			return true
		}
		d := replication.Directive{ID: r.id, Type: r.typ.directive(), Index: r.index, At: r.at, Keys: slices.Clone(r.keys)}
		if r.typ == PrivacyErase {
			d.ProfileIDs = slices.Clone(r.profiles)
		}
		out.Directives = append(out.Directives, d)
		return true
	})
	return out
}

// PendingShred returns the IDs of the erase requests whose edges have
// all confirmed and that node has not shredded for, oldest first: what
// node's shred loop must do.
func (f *FSM) PendingShred(node string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	pv := f.st.priv
	var open []*privReq
	for _, r := range pv.open {
		if !has(r.shreds, node) && pv.edgesDone(r) {
			open = append(open, r)
		}
	}
	slices.SortFunc(open, func(a, b *privReq) int { return cmp.Compare(a.index, b.index) })
	var out []string
	for _, r := range open[:min(len(open), MaxReceipts)] {
		out = append(out, r.id)
	}
	return out
}

// EdgeState is one edge the hub knows: its last applied sync sequence
// and whether it was decommissioned.
type EdgeState struct {
	Edge           string `json:"edge"`
	Seq            uint64 `json:"seq"`
	Decommissioned bool   `json:"decommissioned"`
}

// Edges returns every edge the hub knows (it pushed, or was
// decommissioned), sorted. Safe for concurrent use.
func (f *FSM) Edges() []EdgeState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := []EdgeState{}
	f.st.edges.Ascend(func(e edgeSeq) bool {
		out = append(out, EdgeState{Edge: e.edge, Seq: e.seq, Decommissioned: f.st.decommissioned(e.edge)})
		return true
	})
	f.st.priv.decom.Ascend(func(e string) bool {
		if _, known := f.st.edges.Get(edgeSeq{edge: e}); !known {
			out = append(out, EdgeState{Edge: e, Decommissioned: true})
		}
		return true
	})
	slices.SortFunc(out, func(a, b EdgeState) int {
		switch {
		case a.Edge < b.Edge:
			return -1
		case a.Edge > b.Edge:
			return 1
		}
		return 0
	})
	return out
}

// Audit returns the audit entries numbered after since, oldest first, at
// most limit of them. Safe for concurrent use.
func (f *FSM) Audit(since uint64, limit int) []AuditEntry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := []AuditEntry{}
	f.st.priv.audit.AscendGreaterOrEqual(&AuditEntry{Seq: since + 1}, func(e *AuditEntry) bool {
		if len(out) >= limit {
			return false
		}
		cp := *e
		cp.Targets = slices.Clone(e.Targets)
		if cp.Targets == nil {
			cp.Targets = []string{}
		}
		out = append(out, cp)
		return true
	})
	return out
}

// Suppressed reports whether salted key is on the suppression list.
func (f *FSM) Suppressed(key string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.st.priv.suppressed.Get(key)
	return ok
}

// ServedProfile is Profile with the hub's merge records added, as the
// feed and the bootstrap copy serve the cluster (fsm_merges.go): every
// merge of the person and why. Errors wrap ErrNotFound.
func (f *FSM) ServedProfile(id string) (View, error) {
	v, err := f.Profile(id)
	if err != nil {
		return v, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	recordMerges(f.st.linked, v.Profile, v.Fragments)
	return v, nil
}
