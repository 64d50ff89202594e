package hub

import (
	"fmt"
	"testing"

	"ucv/hub/identity"
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
		st.notePlace(fmt.Sprint("f", i), nil, rec(i))
	}
	recs := make([][]identity.Field, 1000)
	for i := range recs {
		recs[i] = rec(200_000 + i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		st.notePlace(fmt.Sprint("g", i%1000), recs[(i+999)%1000], recs[i%1000])
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
