package hub

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/btree"

	"ucv/crdt"
	"ucv/hub/identity"
	"ucv/profile"
)

// The identifier index answers "who is email:ann@example.com?" with one
// range read instead of rendering every cluster.
//
// state.idents holds an entry (identifier, fragment) for every identity
// of every fragment, as the fragment's identity record says
// (state.recs: identifiersOf of the fields last given to the engine). It
// is updated exactly where recs is (applier.reindex), rebuilt from the
// fragments by Restore, and never snapshotted: the snapshot bytes do not
// depend on it, and Apply never reads it. It maps identifiers to
// fragments, not clusters: a merge or split moves fragments between
// clusters without changing their identities, so it leaves the index
// alone, and a lookup reads each holder's current cluster from its
// fragment. Bootstrap copies do not carry it (they need no lookups).
//
// The identity engine indexes identifiers too (its identifier blocking
// rule), but cannot answer this: its blocks are keyed by a 56-bit hash of
// the key, leave out values the identity rules block for linking (which a
// steward may still look up), and the engine is not safe for concurrent
// reads, so a lookup there would take the FSM's write lock and stall
// Apply.

// identEntry is one entry of state.idents: fragment frag holds id.
type identEntry struct {
	id   profile.Identifier
	frag string
}

func newIdents() *btree.BTreeG[identEntry] {
	return btree.NewG(degree, func(x, y identEntry) bool { return compareIdentEntries(x, y) < 0 })
}

// noteIdents moves fragment id's entries in st.idents from the
// identifiers of its old record fields (nil for a new fragment) to those
// of its current ones, and its entry in st.places (fsm_related.go) from
// its old address to its current one.
func (st *state) noteIdents(id string, old, cur []identity.Field) {
	st.noteIdentsBatch([]identNote{{id, old, cur}})
}

// identNote is one fragment's noteIdents: its ID, its old record fields
// (nil for a fragment new to the index) and its current ones.
type identNote struct {
	id       string
	old, cur []identity.Field
}

// noteIdentsBatch is noteIdents for each note, whose fragments must be
// pairwise distinct. A fragment's entries name it, so distinct fragments'
// deletes and inserts are distinct keys and the order they are applied in
// changes nothing: both trees end holding the same entries as after
// noteIdents note by note. They are applied with each tree's inserts in
// key order, so that consecutive inserts walk a path already in cache —
// one at a time in note order, an import's were a B-tree descent of
// cache misses each (decision 0049, "Fourth pass").
//
// It reads the notes and writes st.idents and st.places only, so it may
// run beside anything that touches neither; Apply reads neither.
func (st *state) noteIdentsBatch(notes []identNote) {
	var del, pdel []identEntry
	most := 0 // the inserts, at most: one per identifier field
	for _, n := range notes {
		for _, f := range n.cur {
			if isIdentifierKind(f.Kind) {
				most++
			}
		}
	}
	ins, pins := make([]identEntry, 0, most), make([]identEntry, 0, len(notes))
	for _, n := range notes {
		was, now := identifiersOf(n.old), identifiersOf(n.cur)
		for _, x := range was {
			if !slices.Contains(now, x) {
				del = append(del, identEntry{x, n.id})
			}
		}
		for _, x := range now {
			if !slices.Contains(was, x) {
				ins = append(ins, identEntry{x, n.id})
			}
		}
		was1, hadWas := addressKey(n.old)
		now1, hasNow := addressKey(n.cur)
		if hadWas == hasNow && was1 == now1 {
			continue
		}
		if hadWas {
			pdel = append(pdel, identEntry{profile.Identifier{Type: AddressType, Value: was1}, n.id})
		}
		if hasNow {
			pins = append(pins, identEntry{profile.Identifier{Type: AddressType, Value: now1}, n.id})
		}
	}
	apply := func(t *btree.BTreeG[identEntry], del, ins []identEntry) {
		for _, e := range del {
			t.Delete(e)
		}
		slices.SortFunc(ins, compareIdentEntries)
		for _, e := range ins {
			t.ReplaceOrInsert(e)
		}
	}
	apply(st.idents, del, ins)
	apply(st.places, pdel, pins)
}

// compareIdentEntries is the order of newIdents' trees: by identifier
// type, value, then fragment.
func compareIdentEntries(x, y identEntry) int {
	if c := strings.Compare(string(x.id.Type), string(y.id.Type)); c != 0 {
		return c
	}
	if c := strings.Compare(x.id.Value, y.id.Value); c != 0 {
		return c
	}
	return strings.Compare(x.frag, y.frag)
}

// holders returns the clusters whose view holds identifier id, sorted.
// Caller holds f.mu.
func (st *state) holders(id profile.Identifier) []string {
	var cs []string
	st.idents.AscendGreaterOrEqual(identEntry{id: id}, func(e identEntry) bool {
		if e.id != id {
			return false
		}
		if fr, ok := st.frags.Get(&fragment{id: e.frag}); ok {
			cs = append(cs, fr.cluster)
		}
		return true
	})
	slices.Sort(cs)
	cs = slices.Compact(cs)
	return slices.DeleteFunc(cs, func(c string) bool { return !st.holds(c, id) })
}

// holds reports whether the view of cluster cid (state.view) has
// identity key, computing only the view's Identities: the join of its
// members' sets, or nothing when a member is erased (merging an erased
// fragment clears the view). A member holding key is not enough: another
// member's removal of the identifier may have observed its addition. A
// cluster of one holds exactly its fragment's identities, which the
// identifier index lists (state.recs: identifiersOf(recordOf(state)) is
// the state's IdentityList), so it is answered there without decoding
// the fragment (docs/decisions/0056-hub-encoded-fragments.md).
// Caller holds f.mu.
func (st *state) holds(cid string, id profile.Identifier) bool {
	members := st.clusters[cid]
	if len(members) == 1 {
		fr, ok := st.frags.Get(&fragment{id: members[0]})
		if !ok || fr.isErased() {
			return false
		}
		_, ok = st.idents.Get(identEntry{id, members[0]})
		return ok
	}
	key := id.Key()
	var ids crdt.ORSet
	for _, m := range members {
		fr, ok := st.frags.Get(&fragment{id: m})
		if !ok {
			continue
		}
		if fr.isErased() {
			return false
		}
		ids.Merge(fr.profile().Identities)
	}
	return ids.Has(key)
}

// ProfileByIdentifier returns the person the identifier key names (a
// normalized profile.Identifier's Key, "email:ann@example.com") and
// every cluster whose View holds it (Profile.Identities.Has(key)),
// sorted by cluster ID.
//
// Several clusters can hold one identifier: people a steward unmerged
// who share an e-mail, or a generic value (a shop's phone number) the
// identity engine refuses to link on. The View returned is that of the
// first holder, the cluster with the smallest ID: a deterministic choice
// (the same on every node at the same index), not a judgement of whose
// identifier it is. Callers that must not guess check len(holders).
//
// A cluster holds key exactly when a scan of every cluster's View would
// find it there; in particular an erased fragment's identifiers, and
// those of a cluster it belongs to, are not found. The cost is one
// B-tree range read, O(log n + h) for h fragments holding key, and one
// View. Errors wrap ErrNotFound when no cluster holds key; they name the
// identifier's type, never its value. Safe for concurrent use.
func (f *FSM) ProfileByIdentifier(key string) (v View, holders []string, err error) {
	id, ok := profile.ParseKey(key)
	if !ok {
		return View{}, nil, fmt.Errorf("%w: not an identifier key (type:value)", ErrNotFound)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	holders = f.st.holders(id)
	if len(holders) == 0 {
		return View{}, nil, fmt.Errorf("%w: no profile holds that %s", ErrNotFound, id.Type)
	}
	v, ok = f.st.view(holders[0])
	if !ok { // holders come from st.clusters
		return View{}, nil, fmt.Errorf("%w: cluster %s", ErrNotFound, holders[0])
	}
	return v, holders, nil
}
