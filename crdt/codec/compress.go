package codec

import (
	"fmt"

	"github.com/klauspost/compress/s2"
)

// MaxDecompressedBytes bounds what Decompress will allocate.
const MaxDecompressedBytes = 16 << 20

// Compress appends the S2 block compression of src to dst. S2 (a Snappy
// extension) is chosen for speed: it decodes at several GB/s, so a profile
// stored compressed costs microseconds to read.
func Compress(dst, src []byte) []byte {
	n := s2.MaxEncodedLen(len(src))
	out := s2.Encode(make([]byte, n), src)
	return append(dst, out...)
}

// Decompress decodes an S2 block, refusing output larger than
// MaxDecompressedBytes.
func Decompress(src []byte) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if n > MaxDecompressedBytes {
		return nil, fmt.Errorf("%w: decompressed size %d over the limit", ErrCorrupt, n)
	}
	out, err := s2.Decode(make([]byte, n), src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return out, nil
}
