package codec

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"ucv/crdt"
)

// genTS draws a timestamp.
func genTS(t *rapid.T) crdt.Timestamp {
	return crdt.Timestamp{
		Wall:    rapid.Int64().Draw(t, "wall"),
		Logical: rapid.Uint32().Draw(t, "logical"),
		Node:    crdt.ReplicaID(rapid.Uint64().Draw(t, "node")),
	}
}

func genBytes(t *rapid.T) []byte {
	if rapid.Bool().Draw(t, "nil") {
		return nil
	}
	return rapid.SliceOf(rapid.Byte()).Draw(t, "bytes")
}

// genState builds a reachable value of every type by random operations.
type states struct {
	lww  crdt.LWWMap
	pn   crdt.PNCounter
	cm   crdt.CounterMap
	mx   crdt.Max
	mn   crdt.Min
	gs   crdt.GSet
	or   crdt.ORSet
	rec  crdt.Recent
	tomb crdt.Tombstones
	led  crdt.Ledger
}

func genStates(t *rapid.T) states {
	var s states
	for range rapid.IntRange(0, 30).Draw(t, "ops") {
		key := rapid.StringN(0, 8, -1).Draw(t, "key")
		r := crdt.ReplicaID(rapid.Uint64Range(0, 5).Draw(t, "replica"))
		switch rapid.IntRange(0, 9).Draw(t, "type") {
		case 0:
			s.lww.Set(key, genBytes(t), genTS(t))
		case 1:
			s.pn.Add(r, rapid.Int64().Draw(t, "d"))
		case 2:
			s.cm.Add(key, r, rapid.Int64().Draw(t, "d"))
		case 3:
			s.mx.Observe(rapid.Int64().Draw(t, "v"))
		case 4:
			s.mn.Observe(rapid.Int64().Draw(t, "v"))
		case 5:
			s.gs.Add(key)
		case 6:
			if rapid.Bool().Draw(t, "rm") {
				s.or.Remove(key)
			} else {
				s.or.Add(r, key)
			}
		case 7:
			s.rec.Add(crdt.Item{ID: key, Time: rapid.Int64().Draw(t, "time"), Data: genBytes(t)}, 5)
		case 8:
			s.tomb.Erase(key)
		case 9:
			s.led.Add(crdt.LedgerEntry{Key: rapid.Uint64().Draw(t, "lkey"), Time: rapid.Int64().Draw(t, "time"), Data: genBytes(t)})
		}
	}
	return s
}

func roundTrip[T any](t *rapid.T, c Type[T], v T, equal func(a, b T) bool) {
	b, err := c.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got, err := c.Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal(Marshal(v)): %v", err)
	}
	if !equal(got, v) {
		t.Fatalf("round trip = %+v, want %+v", got, v)
	}
	b2, _ := c.Marshal(got)
	if !bytes.Equal(b, b2) {
		t.Fatalf("encoding not canonical: %x then %x", b, b2)
	}
}

func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genStates(t)
		ts := genTS(t)
		roundTrip(t, Timestamp, ts, func(a, b crdt.Timestamp) bool { return a == b })
		roundTrip(t, Register, crdt.Register{TS: ts, Val: genBytes(t)}, func(a, b crdt.Register) bool {
			return a.TS == b.TS && bytes.Equal(a.Val, b.Val)
		})
		roundTrip(t, LWWMap, s.lww, crdt.LWWMap.Equal)
		roundTrip(t, PNCounter, s.pn, crdt.PNCounter.Equal)
		roundTrip(t, CounterMap, s.cm, crdt.CounterMap.Equal)
		roundTrip(t, Max, s.mx, func(a, b crdt.Max) bool { return a == b })
		roundTrip(t, Min, s.mn, func(a, b crdt.Min) bool { return a == b })
		roundTrip(t, GSet, s.gs, crdt.GSet.Equal)
		roundTrip(t, ORSet, s.or, crdt.ORSet.Equal)
		roundTrip(t, Recent, s.rec, crdt.Recent.Equal)
		roundTrip(t, Tombstones, s.tomb, crdt.Tombstones.Equal)
		roundTrip(t, Ledger, s.led, crdt.Ledger.Equal)
	})
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := LWWMap.Marshal(crdt.LWWMap{M: map[string]crdt.Register{"k": {Val: []byte("v")}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"header only", good[:2], ErrCorrupt},
		{"future version", append([]byte{Version + 1}, good[1:]...), ErrVersion},
		{"other tag", append([]byte{Version, byte(TagORSet)}, good[2:]...), ErrVersion},
		{"truncated", good[:len(good)-1], ErrCorrupt},
		{"trailing", append(bytes.Clone(good), 0), ErrCorrupt},
		{"huge map length", []byte{Version, byte(TagLWWMap), 0xdf, 0xff, 0xff, 0xff, 0xff}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LWWMap.Unmarshal(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal = %v, want %v", err, tt.want)
			}
		})
	}
}

// The encoding of a fixed value must not change silently: this pins the
// bytes of a small LWW map and OR-set.
func TestGoldenBytes(t *testing.T) {
	m := crdt.LWWMap{}
	m.Set("plan", []byte{0xa3, 'p', 'r', 'o'}, crdt.Timestamp{Wall: 1700000000000, Logical: 1, Node: 7})
	b, err := LWWMap.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 2, 0x81, 0xa4, 'p', 'l', 'a', 'n', 0x92, 0x93, 0xcf, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0, 1, 7, 0xc4, 4, 0xa3, 'p', 'r', 'o'}
	if diff := cmp.Diff(want, b); diff != "" {
		t.Fatalf("LWWMap encoding changed (-want +got):\n%s", diff)
	}
}

// fuzzType checks that whatever decodes re-encodes canonically and decodes
// to the same value again, and that nothing panics.
func fuzzType[T any](f *testing.F, c Type[T], seeds ...T) {
	for _, s := range seeds {
		b, err := c.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := c.Unmarshal(b)
		if err != nil {
			return
		}
		b1, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal of decoded value: %v", err)
		}
		v2, err := c.Unmarshal(b1)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		b2, _ := c.Marshal(v2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("unstable encoding: %x then %x", b1, b2)
		}
	})
}

func seedLWW() crdt.LWWMap {
	var m crdt.LWWMap
	m.Set("a", []byte{1}, crdt.Timestamp{Wall: 1, Node: 1})
	m.Delete("b", crdt.Timestamp{Wall: 2, Node: 2})
	return m
}

func seedOR() crdt.ORSet {
	var s crdt.ORSet
	s.Add(1, "x")
	s.Add(2, "y")
	s.Remove("x")
	return s
}

func FuzzTimestamp(f *testing.F) {
	fuzzType(f, Timestamp, crdt.Timestamp{Wall: 5, Logical: 2, Node: 9})
}
func FuzzRegister(f *testing.F) {
	fuzzType(f, Register, crdt.Register{TS: crdt.Timestamp{Wall: 1}, Val: []byte("v")})
}
func FuzzLWWMap(f *testing.F) { fuzzType(f, LWWMap, seedLWW(), crdt.LWWMap{}) }
func FuzzPNCounter(f *testing.F) {
	fuzzType(f, PNCounter, crdt.PNCounter{Entries: []crdt.PN{{Replica: 1, P: 5, N: 2}}})
}
func FuzzCounterMap(f *testing.F) {
	var m crdt.CounterMap
	m.Add("revenue:USD", 1, 1999)
	fuzzType(f, CounterMap, m)
}
func FuzzMax(f *testing.F) { fuzzType(f, Max, crdt.Max{V: 3, Set: true}, crdt.Max{}) }
func FuzzMin(f *testing.F) { fuzzType(f, Min, crdt.Min{V: -3, Set: true}, crdt.Min{}) }
func FuzzGSet(f *testing.F) {
	fuzzType(f, GSet, crdt.GSet{M: map[string]struct{}{"a": {}, "b": {}}})
}
func FuzzORSet(f *testing.F) { fuzzType(f, ORSet, seedOR(), crdt.ORSet{}) }
func FuzzRecent(f *testing.F) {
	var r crdt.Recent
	r.Add(crdt.Item{ID: "m1", Time: 2, Data: []byte{1}}, 3)
	r.Add(crdt.Item{ID: "m2", Time: 1}, 3)
	fuzzType(f, Recent, r)
}
func FuzzTombstones(f *testing.F) {
	var t crdt.Tombstones
	t.Erase("k")
	fuzzType(f, Tombstones, t)
}

// The ledger's first form, a flat array [key, time, data, …], still
// decodes (files written between 4491d4d and f4c7c81 hold it) and
// re-encodes in the packed form.
func TestDecodeLedgerArrayForm(t *testing.T) {
	e := NewEncoder()
	e.EncodeArrayLen(6)
	e.EncodeUint(3)
	e.EncodeInt(-1)
	e.EncodeBytes(nil)
	e.EncodeUint(9)
	e.EncodeInt(1_790_000_000_000)
	e.EncodeBytes([]byte{1, 2})
	got, err := DecodeLedger(NewDecoder(e.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want := crdt.Ledger{Entries: []crdt.LedgerEntry{{Key: 3, Time: -1}, {Key: 9, Time: 1_790_000_000_000, Data: []byte{1, 2}}}}
	if !got.Equal(want) {
		t.Fatalf("DecodeLedger(array form) = %+v, want %+v", got, want)
	}
	b, err := Ledger.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Ledger.Unmarshal(b)
	if err != nil || !back.Equal(want) {
		t.Fatalf("packed round trip = %+v, %v", back, err)
	}
}

func FuzzLedger(f *testing.F) {
	var l crdt.Ledger
	l.Add(crdt.LedgerEntry{Key: 9, Time: 2, Data: []byte{1}})
	l.Add(crdt.LedgerEntry{Key: 3, Time: -1})
	fuzzType(f, Ledger, l)
}

// A counter's replicas out of order decode sorted (so the decoded value
// re-encodes canonically); a replica named twice is corrupt.
func TestDecodePNCounterOrder(t *testing.T) {
	enc := func(rs ...uint64) []byte {
		e := NewEncoder()
		_ = e.EncodeArrayLen(3 * len(rs))
		for _, r := range rs {
			_ = e.EncodeUint(r)
			_ = e.EncodeUint(r * 10)
			_ = e.EncodeUint(0)
		}
		return append([]byte(nil), e.Bytes()...)
	}
	c, err := DecodePNCounter(NewDecoder(enc(3, 1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	want := crdt.PNCounter{Entries: []crdt.PN{{Replica: 1, P: 10}, {Replica: 2, P: 20}, {Replica: 3, P: 30}}}
	if !c.Equal(want) {
		t.Fatalf("DecodePNCounter(3, 1, 2) = %+v, want %+v", c, want)
	}
	if _, err := DecodePNCounter(NewDecoder(enc(2, 1, 2))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DecodePNCounter(2, 1, 2) = %v, want ErrCorrupt", err)
	}
}

// Counter keys out of order decode sorted; a key named twice is corrupt.
func TestDecodeCounterMapOrder(t *testing.T) {
	enc := func(keys ...string) []byte {
		e := NewEncoder()
		_ = e.EncodeMapLen(len(keys))
		for _, k := range keys {
			_ = e.EncodeString(k)
			_ = EncodePNCounter(e, crdt.PNCounter{Entries: []crdt.PN{{Replica: 1, P: uint64(len(k))}}})
		}
		return append([]byte(nil), e.Bytes()...)
	}
	m, err := DecodeCounterMap(NewDecoder(enc("orders", "event:a", "kind:track")))
	if err != nil {
		t.Fatal(err)
	}
	var want crdt.CounterMap
	for _, k := range []string{"orders", "event:a", "kind:track"} {
		want.Add(k, 1, int64(len(k)))
	}
	if !m.Equal(want) {
		t.Fatalf("DecodeCounterMap(unsorted) = %+v, want %+v", m, want)
	}
	if _, err := DecodeCounterMap(NewDecoder(enc("b", "a", "b"))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DecodeCounterMap(b, a, b) = %v, want ErrCorrupt", err)
	}
}

// A forged 32-bit str/bin length is refused before anything is
// allocated: five bytes claiming 3.3 GB must not cost 3.3 GB (msgpack's
// own DecodeBytes would allocate it). Sharing or not.
func TestForgedLengthAllocatesNothing(t *testing.T) {
	for _, code := range []byte{0xc6, 0xdb} { // bin32, str32
		in := []byte{code, 0xc6, 0xc6, 0xc6, 0xc6, 'x'}
		for _, share := range []bool{false, true} {
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			d := NewDecoder(in)
			if share {
				d = NewSharingDecoder(in)
			}
			var err error
			if code == 0xc6 {
				_, err = d.Bytes()
			} else {
				_, err = d.String()
			}
			runtime.ReadMemStats(&ms1)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("code %#x share %v: err %v, want ErrCorrupt", code, share, err)
			}
			if grew := ms1.TotalAlloc - ms0.TotalAlloc; grew > 1<<20 {
				t.Errorf("code %#x share %v: allocated %d bytes for a forged length", code, share, grew)
			}
		}
	}
}
