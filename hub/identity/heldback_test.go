package identity

import (
	"math"
	"testing"
)

// TestHeldOut: a model trained on records describes other records of
// the same kind better than the untrained prior does; the score is
// deterministic and independent of the records' order; SamplePairs
// honours its cap; Weight is the Index's weight and symmetric.
func TestHeldOut(t *testing.T) {
	recs, _ := synth(7, 1600)
	var train, held []Record
	for i, r := range recs {
		if i%5 == 0 {
			held = append(held, r)
		} else {
			train = append(train, r)
		}
	}
	cfg := DefaultConfig()
	cfg.RandomPairs = 20000
	m, err := Train(train, cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := Untrained(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := SamplePairs(held, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() == 0 {
		t.Fatal("no candidate pairs among the held-back records")
	}
	hm, hu := m.HeldOut(s), u.HeldOut(s)
	if hm.Pairs != s.Len() || hu.Pairs != s.Len() || hm.LogLikelihood <= hu.LogLikelihood ||
		math.IsNaN(hm.LogLikelihood) || hm.MatchFraction <= 0 || hm.MatchFraction >= 1 {
		t.Errorf("HeldOut trained %+v, untrained %+v; want the trained one higher", hm, hu)
	}
	rev := make([]Record, len(held))
	for i, r := range held {
		rev[len(held)-1-i] = r
	}
	s2, err := SamplePairs(rev, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again := m.HeldOut(s2); again != hm {
		t.Errorf("HeldOut on reversed records = %+v, want %+v", again, hm)
	}
	if capped, err := SamplePairs(held, cfg, 10); err != nil || capped.Len() > 10 || capped.Len() == 0 {
		t.Errorf("SamplePairs(cap 10) holds %d pairs (%v)", capped.Len(), err)
	}
	if empty := m.HeldOut(&PairSample{}); empty != (HeldOut{}) {
		t.Errorf("HeldOut of no pairs = %+v", empty)
	}
	ix := NewIndex(m)
	if err := ix.Load(held, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < 40; i += 2 {
		a, b := held[i], held[i+1]
		w1, err1 := m.Weight(a, b)
		w2, err2 := m.Weight(b, a)
		if err1 != nil || err2 != nil || w1 != w2 {
			t.Fatalf("Weight(%s, %s) = %v, %v; reversed %v, %v", a.ID, b.ID, w1, err1, w2, err2)
		}
		if e, err := ix.Explain(a.ID, b.ID); err != nil || e.Weight != w1 {
			t.Fatalf("Weight(%s, %s) = %v, the Index explains %v (%v)", a.ID, b.ID, w1, e.Weight, err)
		}
	}
	if _, err := m.Weight(Record{}, held[0]); err == nil {
		t.Error("Weight of a record without ID succeeded")
	}
}
