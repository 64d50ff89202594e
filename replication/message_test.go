package replication

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var sampleEntries = &Entries{Origin: 0xdeadbeef12345678, Entries: []Entry{
	{Seq: 1, Kind: KindDelta, ProfileID: "01HZY", Delta: []byte{1, 2, 3}},
	{Seq: 2, Kind: KindMerge, ProfileID: "01HZA", From: "01HZY"},
	{Seq: 1 << 40, Kind: KindDelta, ProfileID: "p", Delta: bytes.Repeat([]byte{9}, 3000)},
}}

func TestRoundTrip(t *testing.T) {
	for _, typ := range []MsgType{MsgEntries, MsgBucketEntries} {
		b, err := MarshalEntries(typ, sampleEntries)
		if err != nil {
			t.Fatal(err)
		}
		if Type(b) != typ {
			t.Fatalf("Type = %d, want %d", Type(b), typ)
		}
		got, err := UnmarshalEntries(typ, b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(sampleEntries, got, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("entries round trip (-want +got):\n%s", d)
		}
		if _, err := UnmarshalEntries(MsgEntries+MsgBucketEntries-typ, b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("decoding type %d as the other: err = %v, want ErrMalformed", typ, err)
		}
	}
	// A digest naming its hash, and one from a sender that did not
	// (two elements: decoded as hash 0).
	for _, g := range []*Digest{{Node: "till-3", Buckets: []uint64{0, 1, 1 << 63, 42}, Hash: 2}, {Node: "till-3", Buckets: []uint64{7}}} {
		b, err := MarshalDigest(g)
		if err != nil {
			t.Fatal(err)
		}
		gg, err := UnmarshalDigest(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(g, gg); d != "" {
			t.Fatalf("digest round trip (-want +got):\n%s", d)
		}
	}
	p := &Pull{Node: "kiosk", Buckets: []int{0, 7, 255}}
	b, err := MarshalPull(p)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := UnmarshalPull(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(p, pp); d != "" {
		t.Fatalf("pull round trip (-want +got):\n%s", d)
	}
}

func encodedSamples(t testing.TB) map[string][]byte {
	t.Helper()
	e, err1 := MarshalEntries(MsgEntries, sampleEntries)
	be, err2 := MarshalEntries(MsgBucketEntries, sampleEntries)
	g, err3 := MarshalDigest(&Digest{Node: "n", Buckets: make([]uint64, 256), Hash: 2})
	p, err4 := MarshalPull(&Pull{Node: "n", Buckets: []int{1, 2, 3}})
	if err := first(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"entries": e, "bucket entries": be, "digest": g, "pull": p}
}

func decode(b []byte) error {
	switch Type(b) {
	case MsgEntries, MsgBucketEntries:
		_, err := UnmarshalEntries(Type(b), b)
		return err
	case MsgDigest:
		_, err := UnmarshalDigest(b)
		return err
	case MsgPull:
		_, err := UnmarshalPull(b)
		return err
	}
	return ErrMalformed
}

// Every proper prefix, any trailing byte and an unknown type are refused.
func TestStrict(t *testing.T) {
	for name, b := range encodedSamples(t) {
		t.Run(name, func(t *testing.T) {
			if err := decode(b); err != nil {
				t.Fatalf("valid message: %v", err)
			}
			for i := range len(b) {
				if err := decode(b[:i]); !errors.Is(err, ErrMalformed) {
					t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrMalformed", i, len(b), err)
				}
			}
			if err := decode(append(append([]byte(nil), b...), 0)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("trailing byte: err = %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := UnmarshalDigest([]byte{99, 0x92, 0xa0, 0x90}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown type: err = %v", err)
	}
	// A forged length cannot make the decoder allocate.
	if _, err := UnmarshalEntries(MsgEntries, []byte{byte(MsgEntries), 0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("forged length: err = %v", err)
	}
	// An unknown entry kind.
	bad, _ := MarshalEntries(MsgEntries, &Entries{Entries: []Entry{{Kind: 7}}})
	if _, err := UnmarshalEntries(MsgEntries, bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown kind: err = %v", err)
	}
}

func TestBatcher(t *testing.T) {
	b := &Batcher{Type: MsgBucketEntries, Origin: 7, MaxBytes: 1000}
	var msgs [][]byte
	var total int
	for i := range 50 {
		m, err := b.Add(Entry{Kind: KindDelta, ProfileID: "p", Delta: make([]byte, 100+i*10)})
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			msgs = append(msgs, m)
		}
	}
	m, err := b.Flush()
	if err != nil || m == nil {
		t.Fatalf("Flush = %v, %v", m, err)
	}
	msgs = append(msgs, m)
	for _, m := range msgs {
		es, err := UnmarshalEntries(MsgBucketEntries, m)
		if err != nil {
			t.Fatal(err)
		}
		total += len(es.Entries)
		if len(m) > 1000 && len(es.Entries) > 1 {
			t.Fatalf("batch of %d entries is %d bytes, over the 1000 budget", len(es.Entries), len(m))
		}
	}
	if total != 50 {
		t.Fatalf("batches hold %d entries, want 50", total)
	}
	if m, _ := b.Flush(); m != nil {
		t.Fatal("second Flush returned a message")
	}
}
