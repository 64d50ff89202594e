package replication

import (
	"bytes"
	"testing"
)

func seed(f *testing.F) {
	for _, b := range encodedSamples(f) {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{byte(MsgEntries)})
}

// reencode checks that what decodes re-encodes to the same bytes (the
// encoding is canonical) — except for non-minimal encodings fuzzing finds,
// which must at least decode again to the same value.
func reencode(t *testing.T, b, again []byte, redecode func([]byte) error) {
	if bytes.Equal(b, again) {
		return
	}
	if err := redecode(again); err != nil {
		t.Fatalf("re-encoded message does not decode: %v", err)
	}
}

func FuzzUnmarshalEntries(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range []MsgType{MsgEntries, MsgBucketEntries} {
			es, err := UnmarshalEntries(typ, b)
			if err != nil {
				continue
			}
			again, err := MarshalEntries(typ, es)
			if err != nil {
				t.Fatal(err)
			}
			reencode(t, b, again, func(b []byte) error { _, err := UnmarshalEntries(typ, b); return err })
		}
	})
}

func FuzzUnmarshalDigest(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := UnmarshalDigest(b)
		if err != nil {
			return
		}
		again, err := MarshalDigest(g)
		if err != nil {
			t.Fatal(err)
		}
		reencode(t, b, again, func(b []byte) error { _, err := UnmarshalDigest(b); return err })
	})
}

func FuzzUnmarshalPull(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalPull(b)
		if err != nil {
			return
		}
		again, err := MarshalPull(p)
		if err != nil {
			t.Fatal(err)
		}
		reencode(t, b, again, func(b []byte) error { _, err := UnmarshalPull(b); return err })
	})
}
