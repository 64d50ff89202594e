package hub

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/hub/identity"
	"ucv/profile"
)

// TestPackFieldsRoundTrip checks that unpackFields gives back exactly
// the fields packFields was given — kinds and names from the table or
// not, empty and long values — that packing is deterministic and
// injective (equal packs ⇔ equal fields: reindex compares packs), and
// that the packed string is no longer than it must be.
func TestPackFieldsRoundTrip(t *testing.T) {
	word := rapid.OneOf(rapid.SampledFrom(packWords), rapid.String(), rapid.StringN(120, 300, -1))
	field := rapid.Custom(func(t *rapid.T) identity.Field {
		return identity.Field{Kind: identity.Kind(word.Draw(t, "kind")), Name: word.Draw(t, "name"),
			Value: rapid.OneOf(rapid.String(), rapid.StringN(0, 400, -1)).Draw(t, "value")}
	})
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.SliceOfN(field, 0, 12).Draw(t, "a")
		b := rapid.SliceOfN(field, 0, 12).Draw(t, "b")
		pa := packFields(a)
		if got := unpackFields(pa); len(a) == 0 && got != nil || len(a) > 0 && !cmp.Equal(got, a) {
			t.Fatalf("round trip:\n%s", cmp.Diff(a, got))
		}
		if packFields(a) != pa {
			t.Fatal("packing is not deterministic")
		}
		if same := cmp.Equal(a, b) || len(a) == 0 && len(b) == 0; same != (pa == packFields(b)) {
			t.Fatalf("fields equal %v, packs equal %v", same, !same)
		}
		n := 0
		for _, f := range a {
			n += len(f.Value) + 3
			if _, ok := packCode[string(f.Kind)]; !ok {
				n += len(f.Kind) + 2
			}
			if _, ok := packCode[f.Name]; !ok {
				n += len(f.Name) + 2
			}
		}
		if len(pa) > n {
			t.Fatalf("packed %d bytes, at most %d expected", len(pa), n)
		}
	})
}

// TestRecordOfPinsNothing checks that a record's values share its packed
// string, not the decoded state's buffer, and that its ID is the one
// given.
func TestRecordOfPinsNothing(t *testing.T) {
	p := scaleProfile(t, 7)
	id := "frag-7"
	r, packed := recordOf(id, p)
	if r.ID != id || len(r.Fields) < 5 {
		t.Fatalf("record %q with %d fields", r.ID, len(r.Fields))
	}
	for _, f := range r.Fields {
		if f.Value == "" {
			continue
		}
		if !within(f.Value, packed) {
			t.Errorf("field %s: value does not point into the packed record", f.Kind)
		}
	}
}

// scaleProfile returns a decoded state (profile.Unmarshal of its
// encoding, as the hub holds) of a person with identifiers, a name, a
// birth date and a postal address.
func scaleProfile(t *testing.T, i int) *profile.Profile {
	t.Helper()
	p := profile.New(fmt.Sprintf("frag-%d", i))
	ids := []profile.Identifier{{Type: profile.Email, Value: fmt.Sprintf("person%d@example.com", i)},
		{Type: profile.Phone, Value: "+14155550100"}}
	m := &profile.Message{Kind: profile.Identify, MessageID: "m1", Identifiers: ids, Timestamp: time.UnixMilli(1_700_000_000_000).UTC(),
		Traits: map[string]any{"firstName": "Ann", "lastName": "Lee", "birthday": "1985-12-03",
			"address": map[string]any{"street": "1 Main St", "city": "Springfield", "postalCode": "12345"}}}
	p.Apply(m, ids, profile.Source{Node: 1, Name: "edge-1"}, crdt.Timestamp{Wall: 1_700_000_000_000, Node: 1})
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := profile.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// within reports whether s's bytes lie inside outer's.
func within(s, outer string) bool {
	if len(s) == 0 || len(outer) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(outer)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(outer))
}
