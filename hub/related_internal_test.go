package hub

import (
	"fmt"
	"maps"
	"testing"

	"github.com/google/btree"
	"pgregory.net/rapid"

	"ucv/hub/identity"
	"ucv/profile"
)

// BenchmarkNotePlace measures what the address index adds to Apply per
// fragment whose identity record changes: the address key of its old
// and new fields and one B-tree insert, into an index of 100,000
// addresses.
//
//	go test -run '^$' -bench NotePlace -benchmem ./hub
func BenchmarkNotePlace(b *testing.B) {
	st, err := newState()
	if err != nil {
		b.Fatal(err)
	}
	rec := func(i int) []identity.Field {
		return []identity.Field{
			{Kind: identity.FirstName, Name: "firstName", Value: "Ann"},
			{Kind: identity.Address, Name: "address.street", Value: fmt.Sprintf("%d Elm St.", i%997)},
			{Kind: identity.City, Name: "address.city", Value: "Springfield"},
			{Kind: identity.Postcode, Name: "address.postalCode", Value: fmt.Sprint(10000 + i/997)},
		}
	}
	for i := range 100_000 {
		st.noteIdents(fmt.Sprint("f", i), nil, rec(i))
	}
	recs := make([][]identity.Field, 1000)
	for i := range recs {
		recs[i] = rec(200_000 + i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		st.noteIdents(fmt.Sprint("g", i%1000), recs[(i+999)%1000], recs[i%1000])
	}
}

// TestAddressKey: one address written several ways is one key; a street
// without a postcode or city, or a city alone, is none.
func TestAddressKey(t *testing.T) {
	f := func(kv ...string) []identity.Field {
		var out []identity.Field
		for i := 0; i < len(kv); i += 2 {
			out = append(out, identity.Field{Kind: identity.Kind(kv[i]), Value: kv[i+1]})
		}
		return out
	}
	for _, c := range []struct {
		fields []identity.Field
		want   string
	}{
		{f("address", "12 Elm St.", "postcode", "62704"), "12 elm street, 62704"},
		{f("address", "12 ELM STREET", "city", "Springfield", "postcode", "627 04"), "12 elm street, 62704"},
		{f("street_number", "12", "address_line", "Elm Street", "postcode", "62704"), "12 elm street, 62704"},
		{f("address", "Flat 2, 5 Rose Rd", "city", "St Albans"), "flat 2 5 rose road, street albans"},
		{f("address", "12 Elm St."), ""},
		{f("city", "Springfield", "postcode", "62704"), ""},
		{nil, ""},
	} {
		got, ok := addressKey(c.fields)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("addressKey(%v) = %q %v, want %q", c.fields, got, ok, c.want)
		}
	}
}

// TestNoteIdentsBatch: after any sequence of batches of identity-record
// changes (new fragments, changed and dropped identifiers, moves, a
// fragment's record emptied), st.idents and st.places hold exactly the
// entries the fragments' current fields give — the oracle computed from
// scratch — whatever the order of the notes in a batch.
func TestNoteIdentsBatch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		st, err := newState()
		if err != nil {
			t.Fatal(err)
		}
		genFields := rapid.Custom(func(t *rapid.T) []identity.Field {
			var fs []identity.Field
			if rapid.Bool().Draw(t, "email") {
				fs = append(fs, identity.Field{Kind: identity.Email, Name: "email", Value: fmt.Sprintf("p%d@example.com", rapid.IntRange(0, 5).Draw(t, "e"))})
			}
			if rapid.Bool().Draw(t, "phone") {
				fs = append(fs, identity.Field{Kind: identity.Phone, Name: "phone", Value: fmt.Sprintf("+1217555%04d", rapid.IntRange(0, 5).Draw(t, "p"))})
			}
			if rapid.Bool().Draw(t, "address") {
				fs = append(fs, identity.Field{Kind: identity.Address, Name: "address.street", Value: fmt.Sprintf("%d Elm St.", rapid.IntRange(1, 4).Draw(t, "a"))},
					identity.Field{Kind: identity.Postcode, Name: "address.postalCode", Value: "62704"})
			}
			return fs
		})
		cur := map[string][]identity.Field{}
		for range rapid.IntRange(1, 6).Draw(t, "batches") {
			ids := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"}), 1, 8, rapid.ID).Draw(t, "ids")
			notes := make([]identNote, len(ids))
			for i, id := range ids {
				notes[i] = identNote{id: id, old: cur[id], cur: genFields.Draw(t, "fields")}
			}
			st.noteIdentsBatch(notes)
			for _, n := range notes {
				cur[n.id] = n.cur
			}
			checkIdentIndexes(t, st, cur)
		}
	})
}

// checkIdentIndexes fails unless st.idents and st.places hold exactly the
// entries the identity records fields (fragment ID → fields) give.
func checkIdentIndexes(t interface{ Fatalf(string, ...any) }, st *state, fields map[string][]identity.Field) {
	wantIdents, wantPlaces := map[identEntry]bool{}, map[identEntry]bool{}
	for id, fs := range fields {
		for _, x := range identifiersOf(fs) {
			wantIdents[identEntry{x, id}] = true
		}
		if k, ok := addressKey(fs); ok {
			wantPlaces[identEntry{profile.Identifier{Type: AddressType, Value: k}, id}] = true
		}
	}
	for name, c := range map[string]struct {
		tree *btree.BTreeG[identEntry]
		want map[identEntry]bool
	}{"idents": {st.idents, wantIdents}, "places": {st.places, wantPlaces}} {
		got := map[identEntry]bool{}
		c.tree.Ascend(func(e identEntry) bool { got[e] = true; return true })
		if !maps.Equal(got, c.want) {
			t.Fatalf("%s holds %v, the identity records say %v", name, got, c.want)
		}
	}
}
