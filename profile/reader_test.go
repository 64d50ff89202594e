package profile

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// refReader is the contribution reader as it was before its one-byte
// fast paths: binary.Uvarint for every length, one path for every
// string.
type refReader struct {
	b   []byte
	bad bool
}

func (r *refReader) uvarint() uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *refReader) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// FuzzReaderFastPaths: reader's one-byte fast paths read what the plain
// reader reads, and fail where it fails — lengths of one byte and more,
// strings that fit and strings that do not, reads after a failure.
func FuzzReaderFastPaths(f *testing.F) {
	f.Add([]byte{0x03, 'a', 'b', 'c', 0x80, 0x01, 0x05}, []byte{1, 0, 1, 1, 0})
	f.Add([]byte{0x7f, 'x'}, []byte{1, 1, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte{0, 1})
	f.Fuzz(func(t *testing.T, b, ops []byte) {
		got, want := reader{b: b}, refReader{b: b}
		for i, op := range ops {
			if op&1 == 0 {
				if g, w := got.uvarint(), want.uvarint(); g != w {
					t.Fatalf("op %d uvarint: %d, want %d", i, g, w)
				}
			} else if g, w := got.bytes(), want.bytes(); !bytes.Equal(g, w) || (g == nil) != (w == nil) {
				t.Fatalf("op %d bytes: %q, want %q", i, g, w)
			}
			if got.bad != want.bad || !bytes.Equal(got.b, want.b) {
				t.Fatalf("op %d: bad %v rest %x, want bad %v rest %x", i, got.bad, got.b, want.bad, want.b)
			}
		}
	})
}
