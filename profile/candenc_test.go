package profile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/crdt/codec"
)

// marshalWith is Marshal with the candidates' form chosen by split.
func marshalWith(p *Profile, split func(crdt.LWWMap, traitList) candidateForm) []byte {
	e := codec.GetEncoder()
	defer codec.PutEncoder(e)
	if err := encodeProfileWith(e, p, split); err != nil {
		panic(err) // encoding into a buffer does not fail
	}
	return codec.Compress([]byte{codec.Version, byte(TagProfile)}, e.Bytes())
}

// allInFull is the first form of 0045: every candidate in full, in the
// 17th field.
func allInFull(c crdt.LWWMap, _ traitList) candidateForm {
	return candidateForm{explicit: slices.Sorted(maps.Keys(c.M))}
}

// fields returns the number of fields of an encoded profile.
func fields(t testing.TB, b []byte) int {
	t.Helper()
	body, err := codec.Decompress(b[2:])
	if err != nil {
		t.Fatal(err)
	}
	n, err := codec.NewDecoder(body).ArrayLen(1)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCandidateEncodingRoundTrip: profiles joined from records written
// by several sources — with capped candidates, erased ones, stale
// traits, odd keys and deletions — decode to the profile encoded, whose
// re-encoding is the same bytes; and the first form of 0045 (every
// candidate in full) decodes to the same profile.
func TestCandidateEncodingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var ws []write
		for range rapid.IntRange(0, 40).Draw(t, "writes") {
			ws = append(ws, write{
				record: rapid.SampledFrom([]string{"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10"}).Draw(t, "record"),
				source: rapid.SampledFrom([]string{"", "crm", "web", "pos", "a\x00b"}).Draw(t, "source"),
				trait:  rapid.SampledFrom([]string{"email", "name", "plan", "x\x00y", "", "age"}).Draw(t, "trait"),
				val:    rapid.SampledFrom([]any{"a", "b", 3, true, nil, "ann@example.com"}).Draw(t, "val"),
				at:     rapid.IntRange(0, 5).Draw(t, "at"),
			})
		}
		_, ds := fragments(ws)
		p := cluster("C", ds)
		// Candidates that hold no trait's register: a trait written
		// before candidates were kept and since overwritten, a key
		// without separators, a deletion.
		ts := crdt.Timestamp{Wall: t0.UnixMilli() + 99_000, Node: 77}
		switch rapid.IntRange(0, 4).Draw(t, "odd") {
		case 1:
			p.Traits.Set("plan", []byte{0xa1, 'z'}, ts)
		case 2:
			p.Candidates.Set("no-separator", []byte{0xc3}, ts)
		case 3:
			p.Traits.Delete("name", ts)
			p.Candidates.Delete(candidateKey("name", "crm", "R1"), ts)
		case 4:
			p.Scrub([]byte("salt"))
			p.Tombstones.Erase(crdt.TombstoneKey([]byte("salt"), "email:ann@example.com"))
			p.Scrub([]byte("salt"))
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		q, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal: %v", err)
		}
		if !q.Equal(p) {
			t.Fatalf("decoded profile differs:\n%+v\n%+v", q.Candidates, p.Candidates)
		}
		if again, _ := q.Marshal(); !bytes.Equal(again, b) {
			t.Fatal("re-encoding differs")
		}
		old := marshalWith(p, allInFull)
		o, err := Unmarshal(old)
		if err != nil {
			t.Fatalf("Unmarshal(first form): %v", err)
		}
		if !o.Equal(p) {
			t.Fatal("the first form decodes to a different profile")
		}
		if again, _ := o.Marshal(); !bytes.Equal(again, b) {
			t.Fatal("the first form re-encodes differently")
		}
	})
}

// TestCandidateEncodingForms: one source writing to one record needs
// no candidate in full; a profile whose candidates all lost keeps the
// 17-field form; one without candidates keeps its 15 fields.
func TestCandidateEncodingForms(t *testing.T) {
	single := benchProfile(t, 1)
	b, _ := single.Marshal()
	if n := fields(t, b); n != profileFields+3 {
		t.Fatalf("single-source profile: %d fields", n)
	}
	f := splitCandidates(single.Candidates, listTraits(single.Traits))
	if len(f.explicit) != 0 || len(f.origins) != 1 {
		t.Fatalf("single-source profile: %d candidates in full, %d origins", len(f.explicit), len(f.origins))
	}
	// Every candidate stale: the traits were overwritten by a writer
	// that kept none (written before 0045).
	stale := single.Clone()
	ts := crdt.Timestamp{Wall: t0.UnixMilli() + 1e6, Node: 5}
	for _, k := range stale.Traits.Keys() {
		stale.Traits.Set(k, []byte{0xa1, 'n'}, ts)
	}
	b, _ = stale.Marshal()
	if n := fields(t, b); n != profileFields+2 {
		t.Fatalf("stale candidates: %d fields", n)
	}
	if old := marshalWith(stale, allInFull); !bytes.Equal(b, old) {
		t.Fatal("stale candidates: not the first form's bytes")
	}
	none := single.Clone()
	none.Candidates = crdt.LWWMap{}
	b, _ = none.Marshal()
	if n := fields(t, b); n != profileFields {
		t.Fatalf("no candidates: %d fields", n)
	}
}

// TestCandidateOriginsCorrupt: origins that do not fit the traits, or
// name a candidate twice, are refused.
func TestCandidateOriginsCorrupt(t *testing.T) {
	p := benchProfile(t, 1)
	n := p.Traits.Len()
	for name, mangle := range map[string]func(f *candidateForm){
		"short bitmap":    func(f *candidateForm) { f.origins[0].set = f.origins[0].set[:len(f.origins[0].set)-1] },
		"bit past traits": func(f *candidateForm) { f.origins[0].set[len(f.origins[0].set)-1] |= 0x80 },
		"origin twice":    func(f *candidateForm) { f.origins = append(f.origins, f.origins[0]) },
		"in full and by origin": func(f *candidateForm) {
			f.explicit = []string{candidateKey("email", "till-1", p.ID)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			if n%8 == 0 && name == "bit past traits" {
				t.Skip("no spare bits")
			}
			b := marshalWith(p, func(c crdt.LWWMap, tl traitList) candidateForm {
				f := splitCandidates(c, tl)
				f.origins[0].set = slices.Clone(f.origins[0].set)
				mangle(&f)
				return f
			})
			if _, err := Unmarshal(b); !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("Unmarshal = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestCandidateOriginsBounded: a forged origin whose bitmap names every
// trait under a huge record ID would decode to keys far larger than the
// input; it is refused.
func TestCandidateOriginsBounded(t *testing.T) {
	p := New("P")
	m := &Message{Kind: Identify, MessageID: "m", Timestamp: t0, Traits: map[string]any{}}
	for i := range 200 {
		m.Traits[fmt.Sprintf("t%03d", i)] = i
	}
	p.Apply(m, nil, Source{Node: 1, Name: "crm"}, crdt.Timestamp{Wall: t0.UnixMilli(), Node: 1})
	if _, err := Unmarshal(marshalWith(p, splitCandidates)); err != nil {
		t.Fatalf("the real profile: %v", err)
	}
	b := marshalWith(p, func(c crdt.LWWMap, tl traitList) candidateForm {
		f := splitCandidates(c, tl)
		f.origins[0].record = strings.Repeat("r", 10_000)
		return f
	})
	if _, err := Unmarshal(b); !errors.Is(err, codec.ErrCorrupt) || !strings.Contains(err.Error(), "candidate keys") {
		t.Fatalf("Unmarshal(%d bytes) = %v, want ErrCorrupt for the keys' size", len(b), err)
	}
}
