package codec

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// MaxDecompressedBytes bounds what Decompress will allocate.
const MaxDecompressedBytes = 16 << 20

// Compress appends the S2 block compression of src to dst. S2 (a Snappy
// extension) is chosen for speed: it decodes at several GB/s, so a profile
// stored compressed costs microseconds to read.
func Compress(dst, src []byte) []byte {
	n := s2.MaxEncodedLen(len(src))
	if n < 0 {
		panic("codec: block too large to compress")
	}
	// The worst case is a little over len(src): encode into a pooled
	// scratch buffer and copy the (usually far smaller) result out, so
	// the caller's slice holds no more than it needs.
	sp := scratch.Get().(*[]byte)
	if cap(*sp) < n {
		*sp = make([]byte, n)
	}
	dst = append(dst, s2.Encode((*sp)[:n], src)...)
	if cap(*sp) <= maxPooledScratch {
		scratch.Put(sp)
	}
	return dst
}

// scratch holds Compress's encoding buffers; one larger than
// maxPooledScratch is left to the garbage collector.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledScratch = 1 << 20

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
