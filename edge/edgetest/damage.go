package edgetest

import (
	"bytes"
	"os"
	"testing"

	"ucv/crdt/codec"
	"ucv/profile"
)

// FlipState flips one bit inside every stored state of profile id in the
// edge data file at path, behind bbolt's back (its memory map sees the
// write), and returns how many it flipped. A profiles-bucket entry is the
// ID, the record's 4-byte checksum, then the state (codec version,
// profile tag, …); the bit flipped is in the state's body, so the
// checksum no longer matches.
func FlipState(tb testing.TB, path, id string) int {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	head := []byte{codec.Version, byte(profile.TagProfile)}
	flipped := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(id))
		if i < 0 {
			break
		}
		at := off + i + len(id)
		if at+8 < len(b) && bytes.Equal(b[at+4:at+6], head) {
			if _, err := f.WriteAt([]byte{b[at+7] ^ 0x01}, int64(at+7)); err != nil {
				tb.Fatal(err)
			}
			flipped++
		}
		off = at
	}
	return flipped
}
