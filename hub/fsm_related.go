package hub

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/google/btree"

	"ucv/crdt"
	"ucv/hub/identity"
	"ucv/profile"
)

// The relationship graph (docs/decisions/0046-relationships.md): people
// who share a contact point or a device are related, not merged. Related
// answers, for one cluster, which other clusters share an identifier
// (st.idents) or a postal address (st.places) with it, read from those
// two indexes at request time: nothing about relationships is stored or
// replicated, so the answer is a function of the FSM state alone.
//
// st.places holds an entry (address key, fragment) per fragment whose
// identity record has a usable postal address (addressKey). It is
// derived exactly as st.idents is — updated where st.idents is
// (noteIdents), rebuilt by Restore, never snapshotted, never read by
// Apply — and shares its entry type, with Type "address".

// RelationKind says how two clusters that share something are related.
type RelationKind string

// Relation kinds, strongest first.
const (
	// Household: the two share a postal address, or share an e-mail or
	// a phone and have a surname in common.
	Household RelationKind = "household"
	// SharedDevice: the two share a device_id or an anonymous_id (one
	// browser, one tablet, one app install).
	SharedDevice RelationKind = "shared_device"
	// SharedContact: the two share an e-mail or a phone and no surname.
	SharedContact RelationKind = "shared_contact"
	// SharedIdentifier: the two share another identifier (a user_id, a
	// loyalty number…) — clusters a steward ruled apart.
	SharedIdentifier RelationKind = "shared_identifier"
)

// maxBusyCount is MaxBusyCount; tests lower it.
var maxBusyCount = MaxBusyCount

// relationRank orders kinds strongest first.
func relationRank(k RelationKind) int {
	return slices.Index([]RelationKind{Household, SharedDevice, SharedContact, SharedIdentifier}, k)
}

// AddressType is the Type of a Shared postal address.
const AddressType = "address"

// Bounds of Related.
const (
	// BusyHolders: a value held by more than this many other clusters is
	// busy (a store's default e-mail, a call centre's phone, a shop's
	// address): Related reports how many hold it, not who, and it
	// relates no one.
	BusyHolders = 20
	// MaxRelated caps Related.Related; Related.Total counts them all.
	MaxRelated = 100
	// MaxBusyCount caps the count of a busy value's holders, and so the
	// time Related holds the read lock (about 0.1 µs per holder).
	MaxBusyCount = 100_000
)

// Related is the graph view of one cluster: the other clusters that
// share something with it.
type Related struct {
	// ID and Fragments are the cluster's, as in View.
	ID        string
	Fragments []string
	// Shared has one group per value of the cluster that some other
	// cluster holds too, sorted by (Type, Value).
	Shared []Shared
	// Related has one entry per other cluster that shares a value that
	// is not busy, sorted by ID, at most MaxRelated of them; Total
	// counts them all.
	Related []Relation
	Total   int
	// Counts is, per kind, how many related clusters (all Total of
	// them) have that kind among their Kinds.
	Counts map[RelationKind]int
}

// Shared is one value held by the cluster and by others.
type Shared struct {
	// Type is the identifier type ("email", "phone", "device_id"…) or
	// AddressType. Value is the normalized value: personal data, never
	// to be logged. An address is "<street>, <postcode or city>" as
	// addressKey normalizes it.
	Type  string
	Value string
	// Busy: more than BusyHolders other clusters hold the value; Holders
	// is then nil and Count counts the other fragments (source profiles)
	// holding it, read from the index without resolving their clusters —
	// up to MaxBusyCount: Capped says the count stopped there.
	// Otherwise Count is len(Holders).
	Busy    bool
	Capped  bool
	Count   int
	Holders []Holder
}

// Holder is another cluster holding a shared value, and how the value
// relates it to the cluster asked about.
type Holder struct {
	ID   string
	Kind RelationKind
}

// Relation is one related cluster.
type Relation struct {
	ID string
	// Kinds are the kinds of every value the two share, strongest first,
	// each once; Kinds[0] is the relationship.
	Kinds []RelationKind
	// Types are the types of the values they share, sorted, each once.
	Types []string
}

// Related returns the graph view of the cluster fragment id belongs to.
// Errors wrap ErrNotFound (unknown fragment, or an erased person). The
// cost is, per value of the cluster (its identifiers and addresses), one
// B-tree range read over the fragments holding the value — O(log n + h)
// — and for each of at most BusyHolders+1 other clusters a fragment
// lookup and a check that its view still holds the identifier; a busy
// value's remaining holders are only counted. Safe for concurrent use.
func (f *FSM) Related(id string) (Related, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	st := f.st
	fr, ok := st.frags.Get(&fragment{id: id})
	if !ok {
		return Related{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	cid := fr.cluster
	members := st.clusters[cid]
	mine := make(map[string]bool, len(members))
	var ids, places []identEntry // (value, member holding it)
	for _, m := range members {
		mf, ok := st.frags.Get(&fragment{id: m})
		if ok && mf.isErased() {
			return Related{}, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		mine[m] = true
		fields := unpackFields(st.recs[m])
		for _, x := range identifiersOf(fields) {
			ids = append(ids, identEntry{x, m})
		}
		if k, ok := addressKey(fields); ok {
			places = append(places, identEntry{profile.Identifier{Type: AddressType, Value: k}, m})
		}
	}
	out := Related{ID: cid, Fragments: slices.Clone(members), Counts: map[RelationKind]int{}}
	names := map[string][]string{} // cluster → its surnames, on demand
	surnames := func(c string) []string {
		s, ok := names[c]
		if !ok {
			s = st.surnames(c)
			names[c] = s
		}
		return s
	}
	rels := map[string]*Relation{}
	has := st.identities(cid)
	scan := func(tree *btree.BTreeG[identEntry], own []identEntry, identifier bool) {
		slices.SortFunc(own, func(a, b identEntry) int {
			return cmp.Or(cmp.Compare(a.id.Type, b.id.Type), cmp.Compare(a.id.Value, b.id.Value))
		})
		own = slices.CompactFunc(own, func(a, b identEntry) bool { return a.id == b.id })
		for _, e := range own {
			if identifier && !has(e.id.Key()) {
				continue // removed from the cluster's view
			}
			sh := st.shared(tree, e.id, mine, identifier)
			if sh.Count == 0 {
				continue
			}
			for i, h := range sh.Holders {
				k := relationOf(e.id.Type, surnames(cid), surnames(h.ID))
				sh.Holders[i].Kind = k
				r := rels[h.ID]
				if r == nil {
					r = &Relation{ID: h.ID}
					rels[h.ID] = r
				}
				if !slices.Contains(r.Kinds, k) {
					r.Kinds = append(r.Kinds, k)
				}
				if !slices.Contains(r.Types, sh.Type) {
					r.Types = append(r.Types, sh.Type)
				}
			}
			out.Shared = append(out.Shared, sh)
		}
	}
	scan(st.idents, ids, true)
	scan(st.places, places, false)
	slices.SortFunc(out.Shared, func(a, b Shared) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value))
	})
	for _, r := range rels {
		slices.SortFunc(r.Kinds, func(a, b RelationKind) int { return relationRank(a) - relationRank(b) })
		slices.Sort(r.Types)
		for _, k := range r.Kinds {
			out.Counts[k]++
		}
		out.Related = append(out.Related, *r)
	}
	slices.SortFunc(out.Related, func(a, b Relation) int { return cmp.Compare(a.ID, b.ID) })
	out.Total = len(out.Related)
	out.Related = out.Related[:min(len(out.Related), MaxRelated)]
	return out, nil
}

// identities returns the membership test of cluster cid's view's
// identities, as holds computes them, for testing many keys. Caller
// holds f.mu.
func (st *state) identities(cid string) func(key string) bool {
	members := st.clusters[cid]
	var ids crdt.ORSet
	for _, m := range members {
		fr, ok := st.frags.Get(&fragment{id: m})
		if !ok {
			continue
		}
		if fr.isErased() {
			return func(string) bool { return false }
		}
		p := fr.profile()
		if len(members) == 1 {
			return p.Identities.Has
		}
		ids.Merge(p.Identities)
	}
	return ids.Has
}

// shared reads the other holders of value v in tree: the clusters other
// than the one of the fragments in mine, up to BusyHolders+1 of them,
// and then only a count of fragments. For an identifier, a cluster holds
// v only when its view does (holds). Caller holds f.mu.
func (st *state) shared(tree *btree.BTreeG[identEntry], v profile.Identifier, mine map[string]bool, identifier bool) Shared {
	sh := Shared{Type: string(v.Type), Value: v.Value}
	seen := map[string]bool{}
	frags := 0 // other fragments seen
	tree.AscendGreaterOrEqual(identEntry{id: v}, func(e identEntry) bool {
		if e.id != v {
			return false
		}
		if mine[e.frag] {
			return true
		}
		frags++
		if sh.Busy {
			if frags >= maxBusyCount {
				sh.Capped = true
				return false
			}
			return true
		}
		fr, ok := st.frags.Get(&fragment{id: e.frag})
		if !ok || seen[fr.cluster] {
			return true
		}
		seen[fr.cluster] = true
		if identifier && !st.holds(fr.cluster, v) {
			return true
		}
		sh.Holders = append(sh.Holders, Holder{ID: fr.cluster})
		if len(sh.Holders) > BusyHolders {
			sh.Busy = true
		}
		return true
	})
	if sh.Busy {
		sh.Holders, sh.Count = nil, frags
		return sh
	}
	slices.SortFunc(sh.Holders, func(a, b Holder) int { return cmp.Compare(a.ID, b.ID) })
	sh.Count = len(sh.Holders)
	return sh
}

// relationOf is the kind of relationship a shared value of type t makes
// between clusters with surnames a and b.
func relationOf(t profile.IDType, a, b []string) RelationKind {
	switch t {
	case AddressType:
		return Household
	case profile.Email, profile.Phone:
		for _, s := range a {
			if slices.Contains(b, s) {
				return Household
			}
		}
		return SharedContact
	case profile.DeviceID, profile.AnonymousID:
		return SharedDevice
	}
	return SharedIdentifier
}

// surnames returns the normalized surnames (identity.NormalizeName) of
// cluster c's fragments, from their last-name fields or, failing those,
// the last word of their full names; sorted, each once. Caller holds
// f.mu.
func (st *state) surnames(c string) []string {
	var out []string
	for _, m := range st.clusters[c] {
		var last, full []string
		for _, fl := range unpackFields(st.recs[m]) {
			switch fl.Kind {
			case identity.LastName:
				if n := identity.NormalizeName(fl.Value); n != "" {
					last = append(last, n)
				}
			case identity.FullName:
				if _, _, l := identity.SplitFullName(fl.Value); l != "" {
					full = append(full, l)
				}
			}
		}
		if len(last) == 0 {
			last = full
		}
		out = append(out, last...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// addressKey returns the postal address of an identity record's fields
// as one key, "<street>, <area>": the street lines (with a separate
// street number put first) normalized by identity.NormalizeAddress, and
// the area the postcode (identity.NormalizeCode) or, without one, the
// city (NormalizeAddress). A record without a street or without an area
// has no address key: a street name alone, or a city alone, is shared
// by too many people to relate anyone.
func addressKey(fields []identity.Field) (string, bool) {
	var street []string
	var number, postcode, city string
	for _, f := range fields {
		v := strings.TrimSpace(f.Value)
		if v == "" {
			continue
		}
		switch f.Kind {
		case identity.Address, identity.AddressLine:
			street = append(street, v)
		case identity.StreetNumber:
			number = cmp.Or(number, identity.NormalizeCode(v))
		case identity.Postcode:
			postcode = cmp.Or(postcode, identity.NormalizeCode(v))
		case identity.City:
			city = cmp.Or(city, identity.NormalizeAddress(v))
		}
	}
	s := identity.NormalizeAddress(strings.Join(street, " "))
	if number != "" && !strings.HasPrefix(s, number+" ") {
		s = strings.TrimSpace(number + " " + s)
	}
	area := cmp.Or(postcode, city)
	if s == "" || area == "" {
		return "", false
	}
	return s + ", " + area, true
}
