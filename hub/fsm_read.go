package hub

import (
	"fmt"
	"io"
	"slices"

	"ucv/hub/identity"
	"ucv/profile"
)

// View is a resolved person as the hub sees it.
type View struct {
	// ID is the cluster's canonical ID: its smallest fragment ID.
	ID string
	// Fragments are the source profile IDs merged into it, sorted; every
	// one but ID is a redirect to ID.
	Fragments []string
	// Profile is the join of the fragments' CRDT states under ID. The
	// caller owns it.
	Profile *profile.Profile
	// Changed is the Raft index of the cluster's last change.
	Changed uint64
	// Apart are the fragments a steward ruled different people from a
	// fragment of this cluster (unmerge, review reject), sorted: the
	// cluster must never merge with a cluster holding one of them.
	Apart []string
}

// view builds the View of cluster cid. Caller holds f.mu.
func (st *state) view(cid string) (View, bool) {
	members, ok := st.clusters[cid]
	if !ok {
		return View{}, false
	}
	v := View{ID: cid, Fragments: slices.Clone(members), Profile: profile.New(cid), Apart: apartOf(st.apart, members)}
	for _, m := range members {
		fr, ok := st.frags.Get(&fragment{id: m})
		if !ok {
			continue
		}
		p := fr.profile()
		if m != cid {
			if fr.state != nil { // the Apply's own: shared
				p = p.Clone()
			}
			p.ID = cid
		}
		v.Profile.Merge(p)
		v.Changed = max(v.Changed, fr.changed)
	}
	// A merge record naming a profile the hub holds in another cluster is
	// stale: that profile was split off (a steward's unmerge) after the
	// edge that merged it wrote the record into the state it pushed, a
	// last-writer-wins map that cannot forget it. The person no longer
	// contains that profile, so no view of it says so; edges, whose copy
	// a split replaces with this view, lose it too. A record naming a
	// profile the hub has not seen yet stays (its fragment is on its way).
	v.Profile.Merges.DropKeys(func(k string) bool {
		fr, ok := st.frags.Get(&fragment{id: k})
		return ok && fr.cluster != cid
	})
	return v, true
}

// Profile returns the person that profile (fragment) id belongs to, or
// an error wrapping ErrNotFound. Safe for concurrent use.
func (f *FSM) Profile(id string) (View, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fr, ok := f.st.frags.Get(&fragment{id: id})
	if !ok {
		return View{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	v, ok := f.st.view(fr.cluster)
	if !ok {
		return View{}, fmt.Errorf("%w: cluster %s of %s", ErrNotFound, fr.cluster, id)
	}
	return v, nil
}

// Fragment returns the CRDT state of one source profile as edges pushed
// it (not merged with its cluster). The caller owns the result.
func (f *FSM) Fragment(id string) (*profile.Profile, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fr, ok := f.st.frags.Get(&fragment{id: id})
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if fr.state != nil {
		return fr.state.Clone(), nil
	}
	return fr.profile(), nil // a fresh decoding: the caller's
}

// History returns the merge and split events that involve cluster or
// fragment id (as the resulting cluster, a linked fragment or the split
// cluster), oldest first.
func (f *FSM) History(id string) []Event {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []Event
	f.st.history.Ascend(func(ev *Event) bool {
		if ev.Cluster == id || ev.A == id || ev.B == id || slices.Contains(ev.Clusters, id) {
			out = append(out, *ev)
		}
		return true
	})
	return out
}

// Index returns the Raft index of the last command applied (Raft's own
// AppliedIndex runs ahead of the FSM, and counts entries, such as
// barriers, that never reach it).
func (f *FSM) Index() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.applied
}

// EdgeSeq returns the last sync sequence applied from edge (0 if none).
func (f *FSM) EdgeSeq(edge string) uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, _ := f.st.edges.Get(edgeSeq{edge: edge})
	return e.seq
}

// Clusters returns every cluster with more than one fragment: cluster ID
// → its fragment IDs, sorted.
func (f *FSM) Clusters() map[string][]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string][]string{}
	for id, ms := range f.st.clusters {
		if len(ms) > 1 {
			out[id] = slices.Clone(ms)
		}
	}
	return out
}

// Feed returns the clusters changed after Raft index after, in the order
// of their last change, and the cursor to pass next time. The feed is
// state-based: a cluster changed several times after the cursor appears
// once, with its current state, at the position of its last change, so a
// reader far behind gets exactly what a snapshot would give it. A split
// or merge touches every fragment of the clusters involved, so the reader
// sees both sides. limit is soft: the items of the last index read are
// never cut apart. next == after means nothing new. It is FeedPage
// without the catalog.
func (f *FSM) Feed(after uint64, limit int) (items []View, next uint64) {
	p := f.FeedPage(after, limit)
	return p.Items, p.Next
}

// FeedPage is a page of the change feed.
type FeedPage struct {
	// Items and Next are as Feed returns them.
	Items []View
	Next  uint64
	// Catalog is the encoded catalog of definitions (catalog.Marshal)
	// when it changed after the cursor, else nil. It is shared: do not
	// modify it.
	Catalog []byte
	// Privacy says that an erase, suppress or unsuppress request was
	// committed after the cursor: news to a long-poll, so an edge waiting
	// on the feed goes back to its privacy step at once (the feed itself
	// may not change: a suppression changes no cluster).
	Privacy bool
}

// FeedPage reads the change feed as Feed does, and the catalog of
// definitions when it changed after the cursor. A page that reaches the
// end of the feed moves Next up to the catalog's version, so a reader
// that applies the catalog is not sent it again, and a change of the
// catalog alone is news to a long-poll; so is a privacy request edges
// must carry out (Privacy). Safe for concurrent use.
func (f *FSM) FeedPage(after uint64, limit int) FeedPage {
	f.mu.RLock()
	defer f.mu.RUnlock()
	next := after
	var items []View
	seen := map[string]bool{}
	complete := true
	f.st.feed.AscendGreaterOrEqual(feedKey{index: after + 1}, func(k feedKey) bool {
		if k.index != next && len(items) >= limit {
			complete = false
			return false
		}
		next = k.index
		fr, ok := f.st.frags.Get(&fragment{id: k.id})
		if !ok || seen[fr.cluster] {
			return true
		}
		seen[fr.cluster] = true
		if v, ok := f.st.view(fr.cluster); ok {
			recordMerges(f.st.linked, v.Profile, v.Fragments)
			items = append(items, v)
		}
		return true
	})
	p := FeedPage{Items: items, Next: next}
	if d := f.st.defs; d.encoded != nil && d.cat.Version > after {
		p.Catalog = d.encoded
		if complete {
			p.Next = max(p.Next, d.cat.Version)
		}
	}
	// A page that reaches the end of the feed moves Next past the last
	// request edges must carry out, as past a catalog: every feed entry
	// before it is in this page or an earlier one.
	if complete && f.st.priv != nil {
		f.st.priv.reqs.Descend(func(r *privReq) bool {
			if r.index <= after {
				return false
			}
			if r.typ != PrivacyExport {
				p.Next, p.Privacy = max(p.Next, r.index), true
				return false
			}
			return true
		})
	}
	return p
}

// WriteSnapshot writes the current state in the snapshot format (as
// Persist does) to w: for tests and offline inspection.
func (f *FSM) WriteSnapshot(w io.Writer) error {
	s, err := f.Snapshot()
	if err != nil {
		return err
	}
	defer s.Release()
	return s.(*snapshot).write(w)
}

// PendingReview is one item of the identity engine's review queue
// (identity.Index.Reviews): two fragments in different clusters whose
// match weight lies in the review band (or above it, refused by the
// whole-cluster check), not ruled on by a steward, standing for their two
// clusters, with the clusters' match probability and the expected
// benefit of a ruling.
type PendingReview struct {
	identity.Review
	// ClusterA and ClusterB are the clusters A and B belong to now.
	ClusterA, ClusterB string
	// Explanation holds every comparison's level and weight. Its values
	// are personal data: show them to stewards, never log them (its
	// LogValue leaves them out).
	Explanation identity.Explanation
}

// Reviews returns the pending review queue in the engine's order:
// highest expected benefit first (decision 0048). It takes
// the write lock: the engine's read paths are not documented as safe for
// concurrent use.
func (f *FSM) Reviews() []PendingReview {
	f.mu.Lock()
	defer f.mu.Unlock()
	ix := f.st.ix
	var out []PendingReview
	for _, rv := range ix.Reviews() {
		pr := PendingReview{Review: rv}
		if fr, ok := f.st.frags.Get(&fragment{id: rv.A}); ok {
			pr.ClusterA = fr.cluster
		}
		if fr, ok := f.st.frags.Get(&fragment{id: rv.B}); ok {
			pr.ClusterB = fr.cluster
		}
		if e, err := ix.Explain(rv.A, rv.B); err == nil {
			pr.Explanation = e
		}
		out = append(out, pr)
	}
	return out
}

// Explain compares two fragments as the identity engine sees them now
// (not as they were when a past decision was made). The explanation's
// values are personal data: show them to stewards, never log them.
// Errors wrap ErrNotFound.
func (f *FSM) Explain(a, b string) (identity.Explanation, error) {
	f.mu.Lock() // see Reviews
	defer f.mu.Unlock()
	e, err := f.st.ix.Explain(a, b)
	if err != nil {
		return e, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return e, nil
}
