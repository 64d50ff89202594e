package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/crdt/codec"
	"ucv/profile"
)

// importDeltaReference is importDelta as it was before the third
// throughput pass (0049): maps, codec.MarshalValue and one ORSet.Add
// per identifier. The fast one must give equal deltas.
func importDeltaReference(cur *profile.Profile, im *Import, r *ImportRecord, now int64) *profile.Profile {
	ts := crdt.Timestamp{Wall: now, Node: hubReplica}
	if v := cur.Version; v.Wall > now || v.Wall == now && v.Node == hubReplica {
		ts = crdt.Timestamp{Wall: v.Wall, Logical: v.Logical + 1, Node: hubReplica}
	}
	d := &profile.Profile{ID: cur.ID, Version: ts}
	want := map[string][]byte{}
	addr := map[string]any{}
	for _, t := range r.Traits {
		if k, ok := strings.CutPrefix(t.Name, "address."); ok {
			addr[k] = t.Value
			continue
		}
		b, err := codec.MarshalValue(t.Value)
		if err != nil {
			continue
		}
		want[t.Name] = b
	}
	if len(addr) > 0 {
		if b, err := codec.MarshalValue(addr); err == nil {
			want["address"] = b
		}
	}
	for _, name := range im.Traits {
		w := want[name]
		have, _ := cur.Traits.Get(name)
		if bytes.Equal(have, w) {
			continue
		}
		if d.Traits.M == nil {
			d.Traits.M = map[string]crdt.Register{}
		}
		d.Traits.M[name] = crdt.Register{TS: ts, Val: w}
	}
	keep := map[string]bool{RecordIdentifier(im.Source, r.ID).Key(): true}
	for _, id := range r.Identifiers {
		keep[id.Key()] = true
	}
	var ids *crdt.ORSet
	rep := profile.Replica(hubReplica, cur.ID)
	for _, k := range slices.Sorted(maps.Keys(keep)) {
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
		if keep[k] || !slices.Contains(im.Types, t) {
			continue
		}
		if ids == nil {
			c := cur.Identities.Clone()
			ids = &c
		}
		d.Identities.Merge(ids.Remove(k))
	}
	if len(d.Traits.M) == 0 && ids == nil {
		return nil
	}
	if len(d.Traits.M) > 0 {
		d.Candidates = profile.AddCandidates(d.Traits.M, im.Source, cur.ID)
	}
	return d
}

// TestImportDeltaEqualsReference: importDelta gives the reference's
// delta (same encoding) for records drawn over a small pool of values —
// new fragments, fragments holding an earlier version of the record,
// fragments with identities of other types, repeated trait names and
// identifiers, address keys out of order — and the fragment a new
// record's delta is adopted into equals the reference's join.
func TestImportDeltaEqualsReference(t *testing.T) {
	im := &Import{Source: "crm", Traits: []string{"address", "birthday", "firstName", "lastName"}, Types: []string{"email", "phone"}}
	rapid.Check(t, func(t *rapid.T) {
		drawRec := func(label string) ImportRecord {
			r := ImportRecord{ID: rapid.SampledFrom([]string{"1", "2"}).Draw(t, label+"-id")}
			names := []string{"firstName", "lastName", "birthday", "address.street", "address.city", "address.postalCode", "address", "other"}
			for range rapid.IntRange(0, 6).Draw(t, label+"-traits") {
				r.Traits = append(r.Traits, ImportTrait{rapid.SampledFrom(names).Draw(t, label+"-name"),
					rapid.SampledFrom([]string{"", "ann", "lee", "1 main st", strings.Repeat("z", 40)}).Draw(t, label+"-v")})
			}
			for range rapid.IntRange(0, 3).Draw(t, label+"-ids") {
				r.Identifiers = append(r.Identifiers, profile.Identifier{
					Type:  rapid.SampledFrom([]profile.IDType{profile.Email, profile.Phone}).Draw(t, label+"-type"),
					Value: rapid.SampledFrom([]string{"a@x.org", "b@x.org", "+15551234567"}).Draw(t, label+"-value")})
			}
			return r
		}
		now := int64(rapid.IntRange(0, 3).Draw(t, "now"))
		id := ImportFragmentID(im.Source, "1")
		cur := profile.New(id)
		for range rapid.IntRange(0, 3).Draw(t, "history") {
			r := drawRec("old")
			r.ID = "1"
			if d := importDeltaReference(cur, im, &r, now); d != nil {
				cur = cur.Join(d)
			}
			if rapid.Bool().Draw(t, "foreign") {
				// An identity of a type the import does not own (an edge's).
				var s crdt.ORSet = cur.Identities.Clone()
				c := cur.Clone()
				c.Identities.Merge(s.Add(crdt.ReplicaID(9), "user_id:u"+rapid.SampledFrom([]string{"1", "2"}).Draw(t, "u")))
				cur = c
			}
		}
		r := drawRec("new")
		r.ID = "1"
		want := importDeltaReference(cur, im, &r, now)
		in := cur
		if len(cur.Identities.Entries) == 0 && cur.Version == (crdt.Timestamp{}) && len(cur.Traits.M) == 0 {
			in = emptyProfile
		}
		got := importDelta(in, im, &r, now, id)
		if (got == nil) != (want == nil) {
			t.Fatalf("importDelta nil = %v, reference nil = %v", got == nil, want == nil)
		}
		if got == nil {
			return
		}
		gb, err := got.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		wb, err := want.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb, wb) || !reflect.DeepEqual(got.Identities, want.Identities) {
			t.Fatalf("delta differs from the reference:\n got %+v\nwant %+v", got, want)
		}
		if in == emptyProfile {
			a, j := profile.Adopt(got), profile.New(id).Join(want)
			ab, _ := a.Marshal()
			jb, _ := j.Marshal()
			if !bytes.Equal(ab, jb) {
				t.Fatal("Adopt(delta) differs from New(id).Join(reference delta)")
			}
		}
	})
}

// TestImportFragmentIDIsSHA256: "r" and the first 25 hex digits of
// SHA-256(source NUL id), for keys shorter and longer than the stack
// buffer.
func TestImportFragmentIDIsSHA256(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := rapid.StringN(0, 70, -1).Draw(t, "source")
		id := rapid.StringN(0, 200, -1).Draw(t, "id")
		sum := sha256.Sum256([]byte(src + "\x00" + id))
		if got, want := ImportFragmentID(src, id), "r"+hex.EncodeToString(sum[:])[:25]; got != want {
			t.Fatalf("ImportFragmentID(%q, %q) = %s, want %s", src, id, got, want)
		}
	})
}

// TestCompareKeysIsKeyOrder: identifiers sort as their keys do,
// including types that are prefixes of one another or hold a colon.
func TestCompareKeysIsKeyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		gen := rapid.StringOfN(rapid.RuneFrom([]rune("e:m2a")), 0, 6, -1)
		a := profile.Identifier{Type: profile.IDType(gen.Draw(t, "at")), Value: gen.Draw(t, "av")}
		b := profile.Identifier{Type: profile.IDType(gen.Draw(t, "bt")), Value: gen.Draw(t, "bv")}
		if got, want := compareKeys(a, b), strings.Compare(a.Key(), b.Key()); got != want {
			t.Fatalf("compareKeys(%q, %q) = %d, want %d", a.Key(), b.Key(), got, want)
		}
	})
}
