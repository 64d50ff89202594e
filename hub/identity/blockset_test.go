package identity

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestBlockSetMatchesMapOfSlices checks blockSet against the map of
// slices it replaced: after any sequence of adds and removes, every
// key's members are the same, in the same order, and what add and
// remove return is the key's members right then.
func TestBlockSetMatchesMapOfSlices(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newBlockSet()
		ref := map[blockKey][]int32{}
		keys := rapid.SliceOfNDistinct(rapid.Uint64(), 1, 6, rapid.ID[uint64]).Draw(t, "keys")
		for step := range rapid.IntRange(1, 200).Draw(t, "steps") {
			k := blockKey(keys[rapid.IntRange(0, len(keys)-1).Draw(t, "key")])
			n := rapid.Int32Range(0, 9).Draw(t, "n")
			var buf [1]int32
			if rapid.Bool().Draw(t, "add") {
				got := s.add(k, n, &buf)
				ref[k] = append(ref[k], n)
				if !slices.Equal(got, ref[k]) {
					t.Fatalf("step %d: add(%d) returned %v, want %v", step, n, got, ref[k])
				}
			} else {
				got := s.remove(k, n, &buf)
				mem := ref[k]
				for i, m := range mem {
					if m == n {
						mem = append(mem[:i:i], mem[i+1:]...)
						break
					}
				}
				if len(mem) == 0 {
					delete(ref, k)
				} else {
					ref[k] = mem
				}
				if !slices.Equal(got, ref[k]) {
					t.Fatalf("step %d: remove(%d) returned %v, want %v", step, n, got, ref[k])
				}
			}
			for _, k := range keys {
				var b [1]int32
				if got, want := s.get(blockKey(k), &b), ref[blockKey(k)]; !slices.Equal(got, want) || s.size(blockKey(k)) != len(want) {
					t.Fatalf("step %d: key %x holds %v (size %d), want %v", step, k, got, s.size(blockKey(k)), want)
				}
				l, one, n := s.lookup(blockKey(k))
				if n == 1 && l == nil {
					l = []int32{one}
				}
				if want := ref[blockKey(k)]; n != len(want) || !slices.Equal(l, want) {
					t.Fatalf("step %d: lookup of key %x gives %v, %d, %d; want %v", step, k, l, one, n, want)
				}
			}
			if s.m.len() != len(ref) {
				t.Fatalf("step %d: %d keys, want %d", step, s.m.len(), len(ref))
			}
			lists := 0
			for _, l := range s.lists {
				if l != nil {
					lists++
				}
			}
			if want := len(s.lists) - len(s.free); lists != want {
				t.Fatalf("step %d: %d lists in use, %d slots less %d free", step, lists, len(s.lists), len(s.free))
			}
		}
	})
}

// TestNoRareStaysEmpty checks that records without rare fields share
// noRare and that preparing records with and without them — documents,
// a generation, an organisation, a middle name, a display-name e-mail —
// never writes to it.
func TestNoRareStaysEmpty(t *testing.T) {
	m, err := Untrained(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.cfg
	plain := prepare(Record{ID: "a", Fields: []Field{{Kind: FirstName, Value: "Ann"}, {Kind: LastName, Value: "Lee"},
		{Kind: Email, Value: "ann@example.com"}}}, cfg.Rules, cfg.Region, cfg.DateOrder)
	if plain.rare != &noRare {
		t.Fatal("a record without rare fields has rare fields of its own")
	}
	for _, fs := range [][]Field{
		{{Kind: FullName, Value: "Ann B. Lee Jr"}},
		{{Kind: NationalID, Value: "US:123-45-6789"}, {Kind: Passport, Value: "GB:123456789"}, {Kind: DriversLicense, Value: "US-CA:D1234567"}},
		{{Kind: OrgName, Value: "ACME, Inc."}},
		{{Kind: MiddleName, Value: "Beth"}},
		{{Kind: Email, Value: `"Ann Beth Lee Sr" <ann@example.com>`}},
		{{Kind: Generation, Value: "III"}},
	} {
		p := prepare(Record{ID: "b", Fields: fs}, cfg.Rules, cfg.Region, cfg.DateOrder)
		if p.rare == &noRare || p.rare.empty() {
			t.Errorf("%v: rare fields not kept", fs[0].Kind)
		}
		if !noRare.empty() {
			t.Fatalf("%v: noRare written: %+v", fs[0].Kind, noRare)
		}
	}
}

// TestCompactPrepFields checks the one-byte gender and the postcode's
// outward part kept as a length against the strings they replaced:
// NormalizeGender's value and normalizePostcode's outward code, for
// drawn values (UK-style codes with a space, Unicode, odd spacing).
func TestCompactPrepFields(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := rapid.OneOf(rapid.SampledFrom([]string{"m", "Male", " female ", "W", "x", "diverse", "other", "?", ""}), rapid.String()).Draw(t, "gender")
		if got, want := sexOf(NormalizeGender(g)).String(), NormalizeGender(g); got != want {
			t.Fatalf("gender %q: %q, want %q", g, got, want)
		}
		pc := rapid.OneOf(rapid.SampledFrom([]string{"SW1A 1AA", " ec1a  1bb", "12345", "12345-6789", "Ö1 2ÄB", " ", "a b c"}),
			rapid.StringOf(rapid.RuneFrom([]rune("aZ09 -ÖÄé\u00a0")))).Draw(t, "postcode")
		var p prep
		p.setPostcode(pc)
		code, out := normalizePostcode(pc)
		if p.postcode != code || p.outward() != out {
			t.Fatalf("postcode %q: %q / %q, want %q / %q", pc, p.postcode, p.outward(), code, out)
		}
	})
}
