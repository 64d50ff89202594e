package hub_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// scanHolders is the lookup the identifier index replaced: render every
// cluster and keep those whose view holds key, sorted by cluster ID.
func scanHolders(f *hub.FSM, key string) []hub.View {
	all, _ := f.Feed(0, math.MaxInt)
	var out []hub.View
	for _, v := range all {
		if v.Profile.Identities.Has(key) {
			v, _ = f.Profile(v.ID) // the state alone: the feed adds the hub's merge records
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b hub.View) int { return cmpString(a.ID, b.ID) })
	return out
}

// checkLookup: for every key, ProfileByIdentifier answers what a scan of
// every cluster answers (the holders, and the view of the first), and a
// miss is ErrNotFound without the identifier's value.
func checkLookup(t fataler, f *hub.FSM, keys []string) {
	t.Helper()
	for _, k := range keys {
		want := scanHolders(f, k)
		v, holders, err := f.ProfileByIdentifier(k)
		if len(want) == 0 {
			if !errors.Is(err, hub.ErrNotFound) || len(holders) != 0 {
				t.Fatalf("ProfileByIdentifier(%s) = %s %v, %v; want ErrNotFound", k, v.ID, holders, err)
			}
			if _, val, _ := strings.Cut(k, ":"); val != "" && strings.Contains(err.Error(), val) {
				t.Fatalf("ProfileByIdentifier(%s): error %q carries the value", k, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ProfileByIdentifier(%s) = %v; a scan finds %s", k, err, want[0].ID)
		}
		var ids []string
		for _, w := range want {
			ids = append(ids, w.ID)
		}
		if !slices.Equal(holders, ids) {
			t.Fatalf("ProfileByIdentifier(%s): holders %v, a scan finds %v", k, holders, ids)
		}
		got, err1 := v.Profile.Marshal()
		exp, err2 := want[0].Profile.Marshal()
		if v.ID != want[0].ID || !slices.Equal(v.Fragments, want[0].Fragments) || v.Changed != want[0].Changed ||
			err1 != nil || err2 != nil || !bytes.Equal(got, exp) {
			t.Fatalf("ProfileByIdentifier(%s) = %s %v @%d, the scan's view is %s %v @%d", k, v.ID, v.Fragments, v.Changed,
				want[0].ID, want[0].Fragments, want[0].Changed)
		}
	}
}

// restored returns a new FSM restored from f's snapshot.
func restored(t fataler, f *hub.FSM) *hub.FSM {
	t.Helper()
	var b bytes.Buffer
	if err := f.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	r, err := hub.NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(nopCloser{bytes.NewReader(b.Bytes())}); err != nil {
		t.Fatal(err)
	}
	return r
}

// removal returns the delta by which an edge removes identifier key from
// fragment id: an OR-set remove that observed every dot of the fragment,
// or with whole every dot of its cluster (an edge that merged the
// cluster's profiles into id's holds their dots under id).
func removal(t fataler, f *hub.FSM, id, key string, at int64, whole bool) []byte {
	t.Helper()
	fr, err := f.Fragment(id)
	if err != nil {
		t.Fatal(err)
	}
	if whole {
		v, err := f.Profile(id)
		if err != nil {
			t.Fatal(err)
		}
		fr = v.Profile
	}
	d := profile.New(id)
	d.Version = crdt.Timestamp{Wall: at, Node: 99}
	d.Identities = fr.Identities.Remove(key)
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// erasure returns the delta of erasing fragment id as a whole.
func erasure(t fataler, f *hub.FSM, id string, at int64) []byte {
	t.Helper()
	fr, err := f.Fragment(id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fr.Erase([]byte("salt"), crdt.Timestamp{Wall: at, Node: 99}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProfileByIdentifier follows one identifier through a merge, an
// unmerge (two holders), a steward merge, a bootstrap copy taken before
// later changes, a removal, an erasure and restores, checking the index
// against a scan of every cluster at each step.
func TestProfileByIdentifier(t *testing.T) {
	const (
		ann  = "email:ann@example.org"
		anon = "anonymous_id:anon-2"
		bob  = "email:bob@example.org"
	)
	keys := []string{ann, anon, bob, "anonymous_id:anon-1", "email:nobody@example.org", "not-a-key"}
	check := func(l *log, key, wantID string, wantHolders ...string) {
		t.Helper()
		checkLookup(t, l.f, keys)
		checkLookup(t, restored(t, l.f), keys)
		v, holders, err := l.f.ProfileByIdentifier(key)
		if wantID == "" {
			if !errors.Is(err, hub.ErrNotFound) {
				t.Fatalf("ProfileByIdentifier(%s) = %s, %v; want ErrNotFound", key, v.ID, err)
			}
			return
		}
		if err != nil || v.ID != wantID || !slices.Equal(holders, wantHolders) {
			t.Fatalf("ProfileByIdentifier(%s) = %s %v, %v; want %s %v", key, v.ID, holders, err, wantID, wantHolders)
		}
	}
	l := newLog(t)
	check(l, ann, "")
	twoStores(l) // p1 and p2 share ann: merged into p1
	check(l, ann, p1, p1)
	check(l, anon, p1, p1)

	if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p1, B: p2, Actor: "steward"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	check(l, ann, p1, p1, p2) // two people, one e-mail: the smallest ID first
	check(l, anon, p2, p2)

	// A bootstrap copy, then changes: the copy keeps the old clusters,
	// the index follows the new ones.
	bs := l.f.Bootstrap()
	before := bootstrapViews(t, bs)
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p2, B: p1, Actor: "steward"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	check(l, ann, p1, p1)
	check(l, anon, p1, p1)
	l.sync("edge-c", hubtest.Delta(3, 1, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Email("bob@example.org")}}))
	check(l, bob, p3, p3)
	if after := bootstrapViews(t, bs); len(after) != 2 || len(before) != 2 || after[0].ID != p1 || after[1].ID != p2 ||
		len(after[0].Fragments) != 1 || !after[1].Profile.Identities.Has(anon) {
		t.Fatalf("bootstrap copy changed after later commands: %d clusters", len(after))
	}

	// An edge removes ann from p1, then erases p2: p2's identities go,
	// and so do those of p1's cluster (an erased fragment clears it).
	del := replication.Entry{Seq: 1, Kind: replication.KindDelta, ProfileID: p1, Delta: removal(t, l.f, p1, ann, 1_800_000_000_000, false)}
	if r := l.sync("edge-x", del); r.Err != nil {
		t.Fatal(r.Err)
	}
	check(l, ann, p1, p1) // p2 still holds it
	if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p1, B: p2, Actor: "steward"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	check(l, ann, p2, p2)
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p1, B: p2, Actor: "steward"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	er := replication.Entry{Seq: 2, Kind: replication.KindDelta, ProfileID: p2, Delta: erasure(t, l.f, p2, 1_800_000_000_001)}
	if r := l.sync("edge-x", er); r.Err != nil {
		t.Fatal(r.Err)
	}
	check(l, ann, "")
	check(l, anon, "")
	check(l, "anonymous_id:anon-1", "")
	check(l, bob, p3, p3)
}

// TestPropertyProfileByIdentifierIsScan: after any sequence of sync
// batches (identities added and removed, edge merges, erasures) and
// steward merges and unmerges, the identifier index answers what a scan
// of every cluster answers, on the FSM, on a restored copy, and after
// later commands on an FSM a bootstrap copy was taken of.
func TestPropertyProfileByIdentifierIsScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		emails := []string{"a@example.org", "b@example.org", "c@example.org"}
		var keys []string
		for _, e := range emails {
			keys = append(keys, hubtest.Email(e).Key())
		}
		for i := range 6 {
			keys = append(keys, hubtest.Anon(fmt.Sprint("anon-", i)).Key())
		}
		l := newLog(t)
		edge := hubtest.NewEdge("edge-a", 1)
		var known []string
		var xseq uint64 // edge-x: removals and erasures
		at := int64(1_800_000_000_000)
		var bs *hub.Bootstrap
		steps := rapid.IntRange(1, 25).Draw(t, "steps")
		for s := range steps {
			if bs == nil && rapid.IntRange(0, 5).Draw(t, "bootstrap") == 0 {
				bs = l.f.Bootstrap()
			}
			at++
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op <= 4 || len(known) < 2:
				i := rapid.IntRange(0, 5).Draw(t, "profile")
				p := fmt.Sprint("P", i)
				ev := hubtest.Event{Profile: p, IDs: []profile.Identifier{hubtest.Anon(fmt.Sprint("anon-", i))}}
				if rapid.Bool().Draw(t, "email") {
					ev.IDs = append(ev.IDs, hubtest.Email(rapid.SampledFrom(emails).Draw(t, "which")))
				}
				if r := l.sync(edge.Name, edge.Delta(ev)); r.Err != nil {
					t.Fatal(r.Err)
				}
				if !slices.Contains(known, p) {
					known = append(known, p)
				}
			case op == 5:
				a, b := rapid.SampledFrom(known).Draw(t, "a"), rapid.SampledFrom(known).Draw(t, "b")
				if a != b {
					if r := l.sync(edge.Name, edge.Merge(a, b)); r.Err != nil {
						t.Fatal(r.Err)
					}
				}
			case op == 6:
				a, b := rapid.SampledFrom(known).Draw(t, "a"), rapid.SampledFrom(known).Draw(t, "b")
				l.apply(hub.MarshalMerge(&hub.Merge{A: a, B: b, Actor: "steward"})) // may be refused
			case op == 7:
				a, b := rapid.SampledFrom(known).Draw(t, "a"), rapid.SampledFrom(known).Draw(t, "b")
				l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: a, B: b, Actor: "steward"})) // may be refused
			case op == 8:
				p, k := rapid.SampledFrom(known).Draw(t, "p"), rapid.SampledFrom(keys).Draw(t, "key")
				xseq++
				e := replication.Entry{Seq: xseq, Kind: replication.KindDelta, ProfileID: p, Delta: removal(t, l.f, p, k, at, rapid.Bool().Draw(t, "whole"))}
				if r := l.sync("edge-x", e); r.Err != nil {
					t.Fatal(r.Err)
				}
			default:
				if rapid.IntRange(0, 3).Draw(t, "erase") > 0 {
					continue
				}
				p := rapid.SampledFrom(known).Draw(t, "p")
				xseq++
				e := replication.Entry{Seq: xseq, Kind: replication.KindDelta, ProfileID: p, Delta: erasure(t, l.f, p, at)}
				if r := l.sync("edge-x", e); r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			if s%5 == 4 {
				checkLookup(t, l.f, keys)
			}
		}
		checkLookup(t, l.f, keys)
		checkLookup(t, restored(t, l.f), keys)
		if bs != nil {
			bootstrapViews(t, bs) // still readable; the live index above is right
		}
	})
}
