// Package codec is the msgpack encoding of the crdt types, and the only
// place ucv imports vmihailenco/msgpack. Encodings are hand-written rather
// than reflected so that they are fast, canonical (map keys sorted, so
// equal states encode to equal bytes — digests and golden files depend on
// it) and strict: a decoder never allocates more than its input can hold
// and rejects trailing bytes.
//
// A top-level value is framed as [Version][Tag] followed by the body; a
// decoder refuses versions it does not know. Tags are an append-only enum:
// never renumber one.
package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// Version is the current encoding version written by Marshal.
const Version byte = 1

// Tag identifies the type of a framed value. Append only.
type Tag byte

// Tags of the crdt types. Other packages allocate theirs from 64 upwards.
const (
	TagRegister   Tag = 1
	TagLWWMap     Tag = 2
	TagPNCounter  Tag = 3
	TagCounterMap Tag = 4
	TagMax        Tag = 5
	TagMin        Tag = 6
	TagGSet       Tag = 7
	TagORSet      Tag = 8
	TagRecent     Tag = 9
	TagTombstones Tag = 10
	TagTimestamp  Tag = 11
	TagLedger     Tag = 12
)

// ErrCorrupt is returned (wrapped) when bytes do not decode to a valid
// value: truncated, wrong type, trailing data, lengths beyond the input.
var ErrCorrupt = errors.New("codec: corrupt encoding")

// ErrVersion is returned (wrapped) for an unknown version or tag.
var ErrVersion = errors.New("codec: unsupported version or tag")

// Encoder writes msgpack into a buffer. It is not safe for concurrent use.
type Encoder struct {
	*msgpack.Encoder
	buf *bytes.Buffer
}

// NewEncoder returns an Encoder writing to a fresh buffer.
func NewEncoder() *Encoder {
	b := new(bytes.Buffer)
	e := msgpack.NewEncoder(b)
	e.UseCompactInts(true)
	return &Encoder{Encoder: e, buf: b}
}

// Bytes returns the bytes written so far; valid until the next write.
func (e *Encoder) Bytes() []byte { return e.buf.Bytes() }

// Reset discards the written bytes.
func (e *Encoder) Reset() { e.buf.Reset() }

// Decoder reads msgpack from a byte slice with bounds checks.
type Decoder struct {
	*msgpack.Decoder
	r   *bytes.Reader
	buf []byte
	// share: strings and bytes may point into buf (see NewSharingDecoder).
	share bool
}

// NewDecoder returns a Decoder reading b. b must not change while
// decoding; decoded values never alias it.
func NewDecoder(b []byte) *Decoder {
	r := bytes.NewReader(b)
	return &Decoder{Decoder: msgpack.NewDecoder(r), r: r, buf: b}
}

// NewSharingDecoder is NewDecoder for a buffer the caller hands over for
// good: decoded strings and byte values point into b instead of being
// copied, which saves most of a decode's allocations. b must never be
// modified afterwards, and stays alive as long as any decoded value does.
func NewSharingDecoder(b []byte) *Decoder {
	d := NewDecoder(b)
	d.share = true
	return d
}

var sharingDecoders = sync.Pool{New: func() any {
	r := bytes.NewReader(nil)
	return &Decoder{Decoder: msgpack.NewDecoder(r), r: r, share: true}
}}

// GetSharingDecoder is NewSharingDecoder(b) from a pool, for a caller
// decoding many small values (a sync batch's deltas): PutDecoder returns
// it. The values it decoded stay valid after that, as they point into b
// or into copies, never into the decoder.
func GetSharingDecoder(b []byte) *Decoder {
	d := sharingDecoders.Get().(*Decoder)
	d.r.Reset(b)
	d.Decoder.Reset(d.r)
	d.buf = b
	return d
}

// PutDecoder returns a decoder from GetSharingDecoder to the pool; it
// must not be used afterwards.
func PutDecoder(d *Decoder) {
	d.r.Reset(nil)
	d.Decoder.Reset(d.r)
	d.buf = nil
	sharingDecoders.Put(d)
}

// raw reads a str or bin header at the current position and returns the
// payload as a sub-slice of the buffer, advancing past it. ok is false
// when the next value is not a str/bin (the caller falls back). The length
// is checked against the buffer before anything is allocated: msgpack's
// own DecodeBytes allocates whatever a 32-bit header claims (4 GiB from
// five forged bytes), which a fuzz worker found the hard way.
func (d *Decoder) raw() (b []byte, isNil, ok bool, err error) {
	off := len(d.buf) - d.r.Len()
	if off >= len(d.buf) {
		return nil, false, false, nil
	}
	c := d.buf[off]
	var n, h int
	switch {
	case c == 0xc0:
		n, h, isNil = 0, 1, true
	case c >= 0xa0 && c <= 0xbf:
		n, h = int(c&0x1f), 1
	case c == 0xd9 || c == 0xc4:
		if off+2 > len(d.buf) {
			return nil, false, false, fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		n, h = int(d.buf[off+1]), 2
	case c == 0xda || c == 0xc5:
		if off+3 > len(d.buf) {
			return nil, false, false, fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		n, h = int(d.buf[off+1])<<8|int(d.buf[off+2]), 3
	case c == 0xdb || c == 0xc6:
		if off+5 > len(d.buf) {
			return nil, false, false, fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		n, h = int(binary.BigEndian.Uint32(d.buf[off+1:off+5])), 5
	default:
		return nil, false, false, nil
	}
	if off+h+n > len(d.buf) {
		return nil, false, false, fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	if _, err := d.r.Seek(int64(off+h+n), io.SeekStart); err != nil {
		return nil, false, false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return d.buf[off+h : off+h+n : off+h+n], isNil, true, nil
}

// NextIsArray reports whether the next value is a msgpack array (without
// reading it), for decoders that accept an older array form of a value.
func (d *Decoder) NextIsArray() bool {
	off := len(d.buf) - d.r.Len()
	if off >= len(d.buf) {
		return false
	}
	c := d.buf[off]
	return c >= 0x90 && c <= 0x9f || c == 0xdc || c == 0xdd
}

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return d.r.Len() }

// Len reads an array or map length (via read) and checks that at least
// min bytes per element remain, so a forged length cannot force a huge
// allocation. A nil array/map reads as length 0.
func (d *Decoder) Len(read func() (int, error), minBytesPerElem int) (int, error) {
	n, err := read()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if n < 0 {
		return 0, nil
	}
	if n*max(minBytesPerElem, 1) > d.Remaining() {
		return 0, fmt.Errorf("%w: length %d exceeds input", ErrCorrupt, n)
	}
	return n, nil
}

// ArrayLen reads an array header; see Len.
func (d *Decoder) ArrayLen(minBytesPerElem int) (int, error) {
	return d.Len(d.DecodeArrayLen, minBytesPerElem)
}

// MapLen reads a map header; see Len.
func (d *Decoder) MapLen(minBytesPerElem int) (int, error) {
	return d.Len(d.DecodeMapLen, minBytesPerElem)
}

// ExpectArray reads an array header and checks it has exactly n elements.
func (d *Decoder) ExpectArray(n int) error {
	got, err := d.DecodeArrayLen()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if got != n {
		return fmt.Errorf("%w: array of %d, want %d", ErrCorrupt, got, n)
	}
	return nil
}

// String reads a string.
func (d *Decoder) String() (string, error) {
	if b, isNil, ok, err := d.raw(); err != nil {
		return "", err
	} else if ok {
		if isNil || len(b) == 0 {
			return "", nil
		}
		if !d.share {
			return string(b), nil
		}
		return unsafe.String(&b[0], len(b)), nil
	}
	s, err := d.DecodeString()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return s, nil
}

// Bytes reads a bin value (nil stays nil).
func (d *Decoder) Bytes() ([]byte, error) {
	if b, isNil, ok, err := d.raw(); err != nil {
		return nil, err
	} else if ok {
		if isNil {
			return nil, nil
		}
		if !d.share {
			return append(make([]byte, 0, len(b)), b...), nil
		}
		return b, nil
	}
	b, err := d.DecodeBytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return b, nil
}

// fastInt decodes an integer straight from the buffer. ok is false when
// the next value is not an integer (the caller falls back to msgpack's
// decoder for its error).
func (d *Decoder) fastInt() (v int64, u uint64, signed, ok bool) {
	off := len(d.buf) - d.r.Len()
	if off >= len(d.buf) {
		return 0, 0, false, false
	}
	b := d.buf[off:]
	c := b[0]
	n := 0
	switch {
	case c <= 0x7f:
		u, n = uint64(c), 1
	case c >= 0xe0:
		v, signed, n = int64(int8(c)), true, 1
	case c == 0xcc && len(b) >= 2:
		u, n = uint64(b[1]), 2
	case c == 0xcd && len(b) >= 3:
		u, n = uint64(b[1])<<8|uint64(b[2]), 3
	case c == 0xce && len(b) >= 5:
		u, n = uint64(b[1])<<24|uint64(b[2])<<16|uint64(b[3])<<8|uint64(b[4]), 5
	case c == 0xcf && len(b) >= 9:
		for _, x := range b[1:9] {
			u = u<<8 | uint64(x)
		}
		n = 9
	case c == 0xd0 && len(b) >= 2:
		v, signed, n = int64(int8(b[1])), true, 2
	case c == 0xd1 && len(b) >= 3:
		v, signed, n = int64(int16(uint16(b[1])<<8|uint16(b[2]))), true, 3
	case c == 0xd2 && len(b) >= 5:
		v, signed, n = int64(int32(uint32(b[1])<<24|uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4]))), true, 5
	case c == 0xd3 && len(b) >= 9:
		var x uint64
		for _, y := range b[1:9] {
			x = x<<8 | uint64(y)
		}
		v, signed, n = int64(x), true, 9
	default:
		return 0, 0, false, false
	}
	if _, err := d.r.Seek(int64(off+n), io.SeekStart); err != nil {
		return 0, 0, false, false
	}
	return v, u, signed, true
}

// Int reads a signed integer.
func (d *Decoder) Int() (int64, error) {
	if v, u, signed, ok := d.fastInt(); ok {
		if signed {
			return v, nil
		}
		return int64(u), nil // msgpack's DecodeInt64 wraps the same way
	}
	v, err := d.DecodeInt64()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return v, nil
}

// Uint reads an unsigned integer.
func (d *Decoder) Uint() (uint64, error) {
	if v, u, signed, ok := d.fastInt(); ok {
		if signed {
			return uint64(v), nil // as msgpack's DecodeUint64 does
		}
		return u, nil
	}
	v, err := d.DecodeUint64()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return v, nil
}

// Bool reads a bool.
func (d *Decoder) Bool() (bool, error) {
	v, err := d.DecodeBool()
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return v, nil
}

// Type is the encoding of one type: its tag and body encoder/decoder.
type Type[T any] struct {
	Tag Tag
	Enc func(*Encoder, T) error
	Dec func(*Decoder) (T, error)
}

var encoders = sync.Pool{New: func() any {
	e := NewEncoder()
	e.buf.Grow(16 << 10)
	return e
}}

// GetEncoder returns an empty Encoder from a pool; PutEncoder returns it.
// Bytes of a pooled encoder are valid only until PutEncoder.
func GetEncoder() *Encoder { return encoders.Get().(*Encoder) }

// PutEncoder resets e and returns it to the pool. Oversized buffers are
// dropped so one huge value does not pin memory.
func PutEncoder(e *Encoder) {
	if e.buf.Cap() > 1<<20 {
		return
	}
	e.Reset()
	encoders.Put(e)
}

// Marshal encodes v framed with Version and the type's tag.
func (c Type[T]) Marshal(v T) ([]byte, error) {
	e := GetEncoder()
	defer PutEncoder(e)
	if err := c.Append(e, v); err != nil {
		return nil, err
	}
	return bytes.Clone(e.Bytes()), nil
}

// Append writes v framed into e.
func (c Type[T]) Append(e *Encoder, v T) error {
	e.buf.WriteByte(Version)
	e.buf.WriteByte(byte(c.Tag))
	if err := c.Enc(e, v); err != nil {
		return fmt.Errorf("codec: encode tag %d: %w", c.Tag, err)
	}
	return nil
}

// Unmarshal decodes a framed value, rejecting other tags, unknown
// versions and trailing bytes.
func (c Type[T]) Unmarshal(b []byte) (T, error) {
	var zero T
	if len(b) < 2 {
		return zero, fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(b))
	}
	if b[0] != Version || Tag(b[1]) != c.Tag {
		return zero, fmt.Errorf("%w: version %d tag %d, want version %d tag %d", ErrVersion, b[0], b[1], Version, c.Tag)
	}
	d := NewDecoder(b[2:])
	v, err := c.Dec(d)
	if err != nil {
		return zero, err
	}
	if d.Remaining() != 0 {
		return zero, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, d.Remaining())
	}
	return v, nil
}
