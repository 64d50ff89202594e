package codec

import (
	"encoding/binary"
	"fmt"
)

// maxValueDepth bounds the nesting of a dynamic value (UnmarshalValue).
const maxValueDepth = 64

// checkValue walks one msgpack value in b (and nothing after it) and
// checks every length — str, bin, ext, array, map — against the bytes
// that remain, and the nesting against maxValueDepth, without
// allocating. msgpack's DecodeInterface allocates whatever a bin32 or
// ext32 header claims, so a forged length in a trait value replicated
// from a peer would otherwise cost up to 4 GiB.
func checkValue(b []byte) error {
	n, err := scanValue(b, 0, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(b)-n)
	}
	return nil
}

// scanValue returns the offset just past the value starting at off.
func scanValue(b []byte, off, depth int) (int, error) {
	if depth > maxValueDepth {
		return 0, fmt.Errorf("%w: nesting deeper than %d", ErrCorrupt, maxValueDepth)
	}
	if off >= len(b) {
		return 0, fmt.Errorf("%w: truncated value", ErrCorrupt)
	}
	c := b[off]
	off++
	// size reads an n-byte big-endian length at off.
	size := func(n int) (int, error) {
		if off+n > len(b) {
			return 0, fmt.Errorf("%w: truncated length", ErrCorrupt)
		}
		var v uint64
		switch n {
		case 1:
			v = uint64(b[off])
		case 2:
			v = uint64(binary.BigEndian.Uint16(b[off:]))
		case 4:
			v = uint64(binary.BigEndian.Uint32(b[off:]))
		}
		off += n
		return int(v), nil
	}
	skip := func(n int) (int, error) {
		if n < 0 || n > len(b)-off {
			return 0, fmt.Errorf("%w: length %d exceeds input", ErrCorrupt, n)
		}
		return off + n, nil
	}
	elems := func(n, per int) (int, error) {
		if n < 0 || n*per > len(b)-off { // every element is at least one byte
			return 0, fmt.Errorf("%w: %d elements exceed input", ErrCorrupt, n)
		}
		var err error
		for range n * per {
			if off, err = scanValue(b, off, depth+1); err != nil {
				return 0, err
			}
		}
		return off, nil
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return off, nil
	case c >= 0x80 && c <= 0x8f:
		return elems(int(c&0x0f), 2)
	case c >= 0x90 && c <= 0x9f:
		return elems(int(c&0x0f), 1)
	case c >= 0xa0 && c <= 0xbf:
		return skip(int(c & 0x1f))
	}
	var n int
	var err error
	switch c {
	case 0xc4, 0xd9: // bin8, str8
		if n, err = size(1); err == nil {
			return skip(n)
		}
	case 0xc5, 0xda:
		if n, err = size(2); err == nil {
			return skip(n)
		}
	case 0xc6, 0xdb:
		if n, err = size(4); err == nil {
			return skip(n)
		}
	case 0xc7, 0xc8, 0xc9: // ext8/16/32: length, type byte, data
		if n, err = size(map[byte]int{0xc7: 1, 0xc8: 2, 0xc9: 4}[c]); err == nil {
			return skip(n + 1)
		}
	case 0xca, 0xce, 0xd2:
		return skip(4)
	case 0xcb, 0xcf, 0xd3:
		return skip(8)
	case 0xcc, 0xd0:
		return skip(1)
	case 0xcd, 0xd1:
		return skip(2)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 plus a type byte
		return skip(1 + 1<<(c-0xd4))
	case 0xdc:
		if n, err = size(2); err == nil {
			return elems(n, 1)
		}
	case 0xdd:
		if n, err = size(4); err == nil {
			return elems(n, 1)
		}
	case 0xde:
		if n, err = size(2); err == nil {
			return elems(n, 2)
		}
	case 0xdf:
		if n, err = size(4); err == nil {
			return elems(n, 2)
		}
	default: // 0xc1 is never used
		return 0, fmt.Errorf("%w: msgpack code %#x", ErrCorrupt, c)
	}
	return 0, err
}
