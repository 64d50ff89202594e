package hub

import (
	"runtime"

	"github.com/google/btree"

	"ucv/profile"
)

// Bootstrap is a point-in-time copy of every cluster, for edges that
// start from nothing or are far behind: it is taken in O(1) (the
// fragments tree is cloned copy-on-write, fragments are immutable) and
// read without holding the FSM's lock, so streaming it to a slow edge
// never stalls Apply.
type Bootstrap struct {
	frags  *btree.BTreeG[*fragment]
	apart  *btree.BTreeG[apartPair]   // cannot-link pairs (fsm_apart.go)
	linked *btree.BTreeG[linkedEntry] // merge records (fsm_merges.go)
	index  uint64
	defs   *defs // immutable
}

// Bootstrap captures the current state.
func (f *FSM) Bootstrap() *Bootstrap {
	f.mu.Lock() // Clone writes the tree's copy-on-write marks
	defer f.mu.Unlock()
	b := &Bootstrap{frags: f.st.frags.Clone(), apart: f.st.apart.Clone(), linked: f.st.linked.Clone(), index: f.st.applied,
		defs: f.st.defs}
	// The copy reads fragments' encodings without the lock: the arena
	// keeps what it may read mapped until the copy is collected.
	if f.arena != nil {
		runtime.AddCleanup(b, func(unpin func()) { unpin() }, f.arena.Pin())
	}
	return b
}

// Catalog returns the encoded catalog of definitions the copy holds
// (catalog.Marshal), nil when none was ever defined. It is shared: do not
// modify it.
func (b *Bootstrap) Catalog() []byte { return b.defs.encoded }

// Index returns the Raft index of the last command the copy reflects: a
// reader continues with the change feed after it.
func (b *Bootstrap) Index() uint64 { return b.index }

// Clusters calls fn with every cluster, ordered by cluster ID, and
// returns fn's first error. It makes two passes over the fragments: the
// first collects the members of clusters that have more than one (IDs
// only; a cluster's ID is its smallest fragment ID, so in ID order the
// canonical fragment comes first), the second builds each cluster's
// View when it reaches the canonical fragment. Memory is the member
// lists of merged clusters, never the profiles. n is the number of
// clusters (known after the first pass) and is passed to start before
// the first fn call.
//
// The View's Profile is shared with the copy when the cluster has a
// single fragment: fn must not modify it.
func (b *Bootstrap) Clusters(start func(n int) error, fn func(View) error) error {
	members := map[string][]string{}
	n := 0
	b.frags.Ascend(func(fr *fragment) bool {
		if fr.id == fr.cluster {
			n++
		} else {
			members[fr.cluster] = append(members[fr.cluster], fr.id)
		}
		return true
	})
	if err := start(n); err != nil {
		return err
	}
	var err error
	b.frags.Ascend(func(fr *fragment) bool {
		if fr.id != fr.cluster {
			return true
		}
		others := members[fr.id]
		v := View{ID: fr.id, Fragments: append([]string{fr.id}, others...), Profile: fr.profile(), Changed: fr.changed}
		v.Apart = apartOf(b.apart, v.Fragments)
		if len(others) > 0 {
			v.Profile = profile.New(fr.id)
			v.Profile.Merge(fr.profile())
			for _, m := range others {
				o, ok := b.frags.Get(&fragment{id: m})
				if !ok {
					continue
				}
				p := o.ownProfile()
				p.ID = fr.id
				v.Profile.Merge(p)
				v.Changed = max(v.Changed, o.changed)
			}
			recordMerges(b.linked, v.Profile, v.Fragments)
		}
		err = fn(v)
		return err == nil
	})
	return err
}
