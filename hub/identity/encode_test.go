package identity

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"ucv/crdt/codec"
)

// TestModelRoundTrip: a decoded model re-encodes to the same bytes and
// scores every pair of records exactly (bit for bit) as the original.
func TestModelRoundTrip(t *testing.T) {
	untrained, err := Untrained(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := synth(7, 400)
	for _, tc := range []struct {
		name string
		m    *Model
	}{
		{"trained", testModel(t)},
		{"untrained", untrained},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal(Marshal(m)) = %v", err)
			}
			b2, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs: %d bytes, want %d", len(b2), len(b))
			}
			if got.Report().Records != tc.m.Report().Records || len(got.Report().Rules) != len(tc.m.Report().Rules) {
				t.Errorf("report = %+v, want %+v", got.Report(), tc.m.Report())
			}
			cfg := tc.m.Config()
			ps := make([]*prep, len(recs))
			for i, r := range recs {
				ps[i] = prepare(r, cfg.Rules, cfg.Region, cfg.DateOrder)
			}
			pairs := 0
			for i := range ps {
				for j := i + 1; j < len(ps); j++ {
					_, w1 := tc.m.score(ps[i], ps[j])
					_, w2 := got.score(ps[i], ps[j])
					if math.Float64bits(w1) != math.Float64bits(w2) {
						t.Fatalf("pair %s %s: weight %v after the round trip, want %v", ps[i].id, ps[j].id, w2, w1)
					}
					pairs++
				}
			}
			t.Logf("%d bytes, %d pairs scored identically", len(b), pairs)
		})
	}
}

// TestModelRoundTripClusters: an index built with the decoded model
// clusters the synthetic records exactly as one built with the original.
func TestModelRoundTripClusters(t *testing.T) {
	m := testModel(t)
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := synth(42, 3000)
	a, c := NewIndex(m), NewIndex(got)
	if err := a.Load(recs, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(recs, nil); err != nil {
		t.Fatal(err)
	}
	wa, wc := a.Assignments(), c.Assignments()
	if len(wa) != len(wc) {
		t.Fatalf("%d assignments, want %d", len(wc), len(wa))
	}
	for i := range wa {
		if wa[i] != wc[i] {
			t.Fatalf("assignment %d = %v, want %v", i, wc[i], wa[i])
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := testModel(t).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc := func(f func(e *codec.Encoder) error) []byte {
		e := codec.NewEncoder()
		if err := f(e); err != nil {
			t.Fatal(err)
		}
		return e.Bytes()
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"json", []byte(`{"model":1}`)},
		{"truncated", good[:len(good)/2]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"other magic", enc(func(e *codec.Encoder) error {
			return codec.FirstErr(e.EncodeArrayLen(7), e.EncodeString("ucvhub"))
		})},
		{"future version", enc(func(e *codec.Encoder) error {
			return codec.FirstErr(e.EncodeArrayLen(7), e.EncodeString(modelMagic), e.EncodeUint(modelVersion+1))
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Unmarshal(tc.b); !errors.Is(err, ErrBadModel) {
				t.Errorf("Unmarshal = %v, want ErrBadModel", err)
			}
		})
	}
}

// FuzzUnmarshalModel: the decoder never panics, and whatever it accepts
// re-encodes to bytes it accepts again, decoding to the same model.
func FuzzUnmarshalModel(f *testing.F) {
	untrained, err := Untrained(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	recs, _ := synth(3, 60)
	cfg := DefaultConfig()
	cfg.RandomPairs = 1000 // keeps each fuzz worker's start-up short
	small, err := Train(recs, cfg)
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []*Model{untrained, small} {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x97, 0xa1, 'x'})
	ps := []*prep{prepare(recs[0], untrained.cfg.Rules, "US", DateAuto), prepare(recs[1], untrained.cfg.Rules, "US", DateAuto)}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrBadModel) {
				t.Fatalf("Unmarshal error %v does not wrap ErrBadModel", err)
			}
			return
		}
		b2, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a decoded model: %v", err)
		}
		m2, err := Unmarshal(b2)
		if err != nil {
			t.Fatalf("Unmarshal of a re-encoded model: %v", err)
		}
		b3, err := m2.Marshal()
		if err != nil || !bytes.Equal(b2, b3) {
			t.Fatalf("re-encoding is not stable (%v)", err)
		}
		_, w1 := m.score(ps[0], ps[1])
		_, w2 := m2.score(ps[0], ps[1])
		if math.Float64bits(w1) != math.Float64bits(w2) {
			t.Fatalf("weight %v after re-encoding, want %v", w2, w1)
		}
	})
}
