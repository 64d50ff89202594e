package replication

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func privacySamples() (*PrivacySync, *PrivacyDirectives) {
	salt := make([]byte, SaltBytes)
	for i := range salt {
		salt[i] = byte(i)
	}
	return &PrivacySync{Edge: "00ab", Done: []string{"r1", "r2"}},
		&PrivacyDirectives{Salt: salt, Directives: []Directive{
			{ID: "r3", Type: DirectiveErase, Index: 7, At: 1_790_000_000_000, ProfileIDs: []string{"p1", "p2"}, Keys: []string{"k1"}},
			{ID: "r4", Type: DirectiveSuppress, Index: 9, At: 1_790_000_000_001, Keys: []string{"k2"}},
		}}
}

func TestPrivacyRoundTrip(t *testing.T) {
	ps, pd := privacySamples()
	b, err := MarshalPrivacySync(ps)
	if err != nil {
		t.Fatal(err)
	}
	ps2, err := UnmarshalPrivacySync(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ps, ps2); d != "" {
		t.Fatalf("sync round trip (-want +got):\n%s", d)
	}
	b, err = MarshalPrivacyDirectives(pd)
	if err != nil {
		t.Fatal(err)
	}
	pd2, err := UnmarshalPrivacyDirectives(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(pd, pd2, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("directives round trip (-want +got):\n%s", d)
	}
	// Truncations are malformed, never a panic or a partial value.
	for i := range len(b) {
		if _, err := UnmarshalPrivacyDirectives(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
}

func TestPrivacyRefusesBadValues(t *testing.T) {
	if _, err := MarshalPrivacySync(&PrivacySync{}); err == nil {
		t.Fatal("empty edge ID encoded")
	}
	for i, pd := range []*PrivacyDirectives{
		{Salt: []byte{1, 2}},
		{Directives: []Directive{{ID: "r", Type: 9}}},
		{Directives: []Directive{{ID: "", Type: DirectiveErase}}},
		{Directives: []Directive{{ID: "r", Type: DirectiveSuppress, ProfileIDs: []string{"p"}}}},
	} {
		if _, err := MarshalPrivacyDirectives(pd); err == nil {
			t.Fatalf("case %d encoded", i)
		}
	}
}

func FuzzUnmarshalPrivacy(f *testing.F) {
	ps, pd := privacySamples()
	b1, _ := MarshalPrivacySync(ps)
	b2, _ := MarshalPrivacyDirectives(pd)
	f.Add(b1)
	f.Add(b2)
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := UnmarshalPrivacySync(b); err == nil {
			again, err := MarshalPrivacySync(p)
			if err != nil {
				t.Fatal(err)
			}
			reencode(t, b, again, func(b []byte) error { _, err := UnmarshalPrivacySync(b); return err })
		}
		if p, err := UnmarshalPrivacyDirectives(b); err == nil {
			again, err := MarshalPrivacyDirectives(p)
			if err != nil {
				t.Fatal(err)
			}
			reencode(t, b, again, func(b []byte) error { _, err := UnmarshalPrivacyDirectives(b); return err })
		}
	})
}
