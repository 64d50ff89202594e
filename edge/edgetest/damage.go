package edgetest

import (
	"bytes"
	"encoding/binary"
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

// TruncateUsed cuts the bbolt file at path to half of the pages its
// newest meta page says are in use (never into the two meta pages), so
// the cut always lands in live data. Half the file's size does not: a
// small file is grown to its memory map's size, often twice what it
// uses, and a cut there leaves a sound file (a test expecting a refusal
// then waits on an edge that started normally).
func TruncateUsed(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	// bbolt's meta page: a 16-byte page header, then magic, version and
	// page size (uint32 each), flags, the root bucket (pgid, sequence),
	// the freelist's pgid, the high-water pgid and the txid (uint64 each),
	// in the machine's byte order (little-endian on every platform here).
	meta := func(off int64) (pageSize, pgid, txid uint64) {
		b := make([]byte, 72)
		if _, err := f.ReadAt(b, off); err != nil {
			tb.Fatalf("read meta page of %s: %v", path, err)
		}
		if binary.LittleEndian.Uint32(b[16:]) != 0xED0CDAED {
			return 0, 0, 0
		}
		return uint64(binary.LittleEndian.Uint32(b[24:])), binary.LittleEndian.Uint64(b[56:]), binary.LittleEndian.Uint64(b[64:])
	}
	ps, pgid, txid := meta(0)
	if ps == 0 {
		tb.Fatalf("%s: meta page 0 is not a bbolt meta page", path)
	}
	if ps1, pgid1, txid1 := meta(int64(ps)); ps1 != 0 && txid1 > txid {
		pgid = pgid1
	}
	f.Close()
	size := max(int64(pgid)*int64(ps)/2/int64(ps)*int64(ps), 2*int64(ps))
	if size >= int64(pgid)*int64(ps) {
		tb.Fatalf("%s uses %d pages: too few to cut into", path, pgid)
	}
	if err := os.Truncate(path, size); err != nil {
		tb.Fatal(err)
	}
}
