package hub

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"ucv/crdt"
	"ucv/profile"
)

// importBatch applies a CmdImport (docs/decisions/0044-import.md): each
// record's fragment is brought to the record's values — the traits and
// identifier types the source's mapping owns are set, changed or
// removed; the rest of the fragment is left alone — and the changed
// fragments are resolved. A record whose fragment already holds its
// values changes nothing (no feed position, no event): re-importing a
// file is free of effects but for its changed rows. Result.Applied
// counts the records created or changed, Result.Skipped the unchanged
// (and those of erased fragments, which take no new data).
func (a *applier) importBatch(im *Import) error {
	if err := ValidSource(im.Source); err != nil {
		return err
	}
	seen := make(map[string]bool, len(im.Records))
	for i, r := range im.Records {
		if err := validRecordID(im.Source, r.ID); err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrInvalid, i, err)
		}
		if seen[r.ID] {
			return fmt.Errorf("%w: record %d: ID repeated in the batch", ErrInvalid, i)
		}
		seen[r.ID] = true
		for _, id := range r.Identifiers {
			if id.Type == RecordIDType || !slices.Contains(im.Types, string(id.Type)) {
				return fmt.Errorf("%w: record %d: identifier type %s not in the batch's types", ErrInvalid, i, id.Type)
			}
		}
	}
	// Each record's delta depends only on its own fragment (IDs are
	// unique in the batch, so no record's fragment is another's), so the
	// deltas are built on all cores first, from the state before the
	// batch, which is what the serial loop below would read.
	deltas := make([]*profile.Profile, len(im.Records))
	erased := make([]bool, len(im.Records))
	fids := make([]string, len(im.Records))
	curs := make([]*profile.Profile, len(im.Records)) // existing fragments' states, read once
	absent := make([]bool, len(im.Records))           // no fragment before the batch
	parallelDo(len(im.Records), func(i int) {
		r := &im.Records[i]
		id := ImportFragmentID(im.Source, r.ID)
		fids[i] = id
		probe := fragment{id: id}
		cur := emptyProfile
		if fr, ok := a.st.frags.Get(&probe); ok {
			cur = fr.profile()
			curs[i] = cur
		} else {
			absent[i] = true
		}
		if erased[i] = cur.Erased.Set; !erased[i] {
			deltas[i] = importDelta(cur, im, r, a.now, id)
		}
	})
	changed := make([]string, 0, len(im.Records))
	var arrivals []string
	for i := range im.Records {
		id := fids[i]
		if erased[i] {
			a.res.Skipped++
			continue
		}
		d := deltas[i]
		if d == nil {
			a.res.Skipped++
			continue
		}
		if a.st.suppressedDelta(d) {
			a.res.Skipped++
			continue // a suppressed identifier's data is dropped (0040)
		}
		// A new fragment takes the delta's maps as its state's
		// (profile.Adopt, equal to joining it into an empty state):
		// deltas[i] is this Apply's own and nothing changes it.
		// Since the tree was read above, only this loop's other IDs
		// were put in it.
		fr, created := a.owning(id, curs[i], d, nil, absent[i])
		if !created {
			fr.state = fr.state.Join(d)
		}
		if at, old := a.st.erasedAt(d, fr.state); old && !fr.state.Erased.Set {
			// The record of an erased person: erased on arrival (0040).
			p := fr.state.Clone()
			p.Erase(a.st.priv.salt, crdt.Timestamp{Wall: at, Node: hubReplica})
			fr.state = p
			arrivals = append(arrivals, id)
		}
		a.retain(fr)
		a.touched[fr.cluster] = true
		changed = append(changed, id)
		a.res.Applied++
	}
	a.reindex(changed)
	if len(arrivals) > 0 {
		arrivals = sortedSet(arrivals)
		a.detach(arrivals)
		a.scrub(arrivals)
	}
	return nil
}

// importDelta returns the delta that brings fragment state cur to
// record r's values, nil when it holds them already. Its timestamp
// follows both the entry's time and everything cur holds, so the
// record's values win over the ones it replaces. id is the fragment's
// ID (cur is emptyProfile for a fragment not yet stored).
func importDelta(cur *profile.Profile, im *Import, r *ImportRecord, now int64, id string) *profile.Profile {
	ts := crdt.Timestamp{Wall: now, Node: hubReplica}
	if v := cur.Version; v.Wall > now || v.Wall == now && v.Node == hubReplica {
		ts = crdt.Timestamp{Wall: v.Wall, Logical: v.Logical + 1, Node: hubReplica}
	}
	d := &profile.Profile{ID: id, Version: ts}
	// Traits: top-level values and the address object.
	want := importValues(r)
	for _, name := range im.Traits {
		w := valueOf(want, name)
		have, _ := cur.Traits.Get(name)
		if bytes.Equal(have, w) {
			continue
		}
		if d.Traits.M == nil {
			d.Traits.M = make(map[string]crdt.Register, len(im.Traits))
		}
		d.Traits.M[name] = crdt.Register{TS: ts, Val: w}
	}
	// Identifiers: the record's own, and those of the mapping's types,
	// sorted and unique.
	keep := make([]string, 0, 1+len(r.Identifiers))
	keep = append(keep, string(RecordIDType)+":"+im.Source+"/"+r.ID) // RecordIdentifier(…).Key()
	for _, id := range r.Identifiers {
		keep = append(keep, id.Key())
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	rep := profile.Replica(hubReplica, id)
	changed := false
	if ids := cur.Identities; len(ids.Entries) == 0 && len(ids.Ctx.VV) == 0 && len(ids.Ctx.Cloud) == 0 {
		// A fragment without identities (a new record): adding the keys
		// one by one in order, as below, gives key i the dot (rep, i+1)
		// and the context {rep: n} — built directly.
		entries := make(map[string][]crdt.Dot, len(keep))
		dots := make([]crdt.Dot, len(keep))
		for i, k := range keep {
			dots[i] = crdt.Dot{Replica: rep, Seq: uint64(i + 1)}
			entries[k] = dots[i : i+1 : i+1]
		}
		d.Identities = crdt.ORSet{Entries: entries, Ctx: crdt.CausalContext{VV: map[crdt.ReplicaID]uint64{rep: uint64(len(keep))}}}
		changed = true
	} else {
		var ids *crdt.ORSet
		for _, k := range keep {
			if cur.Identities.Has(k) {
				continue
			}
			if ids == nil {
				c := cur.Identities.Clone()
				ids = &c
			}
			d.Identities.Merge(ids.Add(rep, k))
		}
		for _, k := range cur.Identities.Elems() {
			t, _, _ := strings.Cut(k, ":")
			if _, kept := slices.BinarySearch(keep, k); kept || !slices.Contains(im.Types, t) {
				continue
			}
			if ids == nil {
				c := cur.Identities.Clone()
				ids = &c
			}
			d.Identities.Merge(ids.Remove(k))
		}
		changed = ids != nil
	}
	if len(d.Traits.M) == 0 && !changed {
		return nil
	}
	if len(d.Traits.M) > 0 {
		// Survivorship reads who wrote each value (decision 0045): the
		// import's source and record, as an edge's write names them.
		d.Candidates = profile.AddCandidates(d.Traits.M, im.Source, id)
	}
	return d
}

// emptyProfile stands for the state of a fragment not stored yet: a
// new profile's, but for the ID, which importDelta takes apart. Never
// changed.
var emptyProfile = profile.New("")

// ImportStats counts what the hub holds of one source's records.
type ImportStats struct {
	Source string `json:"source"`
	// Records counts the distinct record:{source}/… identifiers held.
	Records int `json:"records"`
	// Holders counts the fragments holding them: equal to Records
	// unless a record is held twice (which import keying rules out).
	Holders int `json:"holders"`
	// Fragments counts every fragment of the hub, of any origin.
	Fragments int `json:"fragments"`
}

// ImportStats returns the counts of source's records. Safe for
// concurrent use; one range read of the identifier index.
func (f *FSM) ImportStats(source string) ImportStats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := ImportStats{Source: source, Fragments: f.st.frags.Len()}
	prefix := source + "/"
	var last string
	f.st.idents.AscendGreaterOrEqual(identEntry{id: profile.Identifier{Type: RecordIDType, Value: prefix}}, func(e identEntry) bool {
		if e.id.Type != RecordIDType || !strings.HasPrefix(e.id.Value, prefix) {
			return false
		}
		if e.id.Value != last {
			out.Records++
			last = e.id.Value
		}
		out.Holders++
		return true
	})
	return out
}

// ImportRecord returns the record:{source}/{id} identifier that fragment
// id holds when it is an imported record (false for an edge profile or
// an unknown fragment), without copying the fragment's state. Safe for
// concurrent use.
func (f *FSM) ImportRecord(id string) (profile.Identifier, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fr, ok := f.st.frags.Get(&fragment{id: id})
	if !ok {
		return profile.Identifier{}, false
	}
	for _, ident := range fr.profile().IdentityList() {
		if ident.Type == RecordIDType {
			return ident, true
		}
	}
	return profile.Identifier{}, false
}
