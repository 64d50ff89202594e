package codec

import "encoding/binary"

// Strings and maps of strings in the bytes MarshalValue writes, without
// its generic (reflective) encoder: callers on hot paths that hold only
// strings (the hub's import, the identity records it reads back) encode
// and read them here. The encodings are byte for byte MarshalValue's
// (a map's keys sorted), and the readers accept only what UnmarshalValue
// reads the same way, declining (ok false) anything else — another type,
// a non-canonical header, trailing bytes — for the generic codec
// (TestStringCodecMatchesGeneric).

// AppendString appends s as msgpack encodes a string: fixstr, str8,
// str16 or str32, the shortest that fits.
func AppendString(b []byte, s string) []byte {
	switch l := len(s); {
	case l < 32:
		b = append(b, 0xa0|byte(l))
	case l < 256:
		b = append(b, 0xd9, byte(l))
	case l <= 0xffff:
		b = append(b, 0xda, byte(l>>8), byte(l))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(l))
	}
	return append(b, s...)
}

// StringSize is the encoded size of s (AppendString).
func StringSize(s string) int {
	switch l := len(s); {
	case l < 32:
		return 1 + l
	case l < 256:
		return 2 + l
	case l <= 0xffff:
		return 3 + l
	}
	return 5 + len(s)
}

// KV is one key and value of a string map.
type KV struct{ K, V string }

// MarshalStringMap encodes m (sorted by key, keys unique) as
// MarshalValue encodes a map[string]any holding those strings.
func MarshalStringMap(m []KV) []byte {
	n := 5
	for _, e := range m {
		n += StringSize(e.K) + StringSize(e.V)
	}
	b := make([]byte, 0, n)
	switch l := len(m); {
	case l < 16:
		b = append(b, 0x80|byte(l))
	case l <= 0xffff:
		b = append(b, 0xde, byte(l>>8), byte(l))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(l))
	}
	for _, e := range m {
		b = AppendString(b, e.K)
		b = AppendString(b, e.V)
	}
	return b
}

// MarshalString is MarshalValue(s).
func MarshalString(s string) []byte {
	return AppendString(make([]byte, 0, StringSize(s)), s)
}

// stringAt reads a msgpack string header at b[off:] and returns the
// string's bounds; ok is false for anything else or a truncated string.
func stringAt(b []byte, off int) (start, end int, ok bool) {
	if off >= len(b) {
		return 0, 0, false
	}
	c := b[off]
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n, start = int(c&0x1f), off+1
	case c == 0xd9 && off+2 <= len(b):
		n, start = int(b[off+1]), off+2
	case c == 0xda && off+3 <= len(b):
		n, start = int(binary.BigEndian.Uint16(b[off+1:])), off+3
	case c == 0xdb && off+5 <= len(b):
		n, start = int(binary.BigEndian.Uint32(b[off+1:])), off+5
	default:
		return 0, 0, false
	}
	if n > len(b)-start {
		return 0, 0, false
	}
	return start, start + n, true
}

// UnmarshalString returns the string b encodes when b is exactly one
// msgpack string (ok false otherwise: the caller falls back to the
// generic codec).
func UnmarshalString(b []byte) (string, bool) {
	start, end, ok := stringAt(b, 0)
	if !ok || end != len(b) {
		return "", false
	}
	return string(b[start:end]), true
}

// UnmarshalStringMap returns the entries of b when b is exactly one
// msgpack map whose keys and values are all strings, in encoded order
// (ok false otherwise).
func UnmarshalStringMap(b []byte, into []KV) ([]KV, bool) {
	if len(b) == 0 {
		return nil, false
	}
	var n, off int
	switch c := b[0]; {
	case c >= 0x80 && c <= 0x8f:
		n, off = int(c&0x0f), 1
	case c == 0xde && len(b) >= 3:
		n, off = int(binary.BigEndian.Uint16(b[1:])), 3
	case c == 0xdf && len(b) >= 5:
		n, off = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, false
	}
	if n > (len(b)-off)/2 { // each entry takes two bytes at least
		return nil, false
	}
	out := into[:0]
	for range n {
		ks, ke, ok := stringAt(b, off)
		if !ok {
			return nil, false
		}
		vs, ve, ok := stringAt(b, ke)
		if !ok {
			return nil, false
		}
		out = append(out, KV{string(b[ks:ke]), string(b[vs:ve])})
		off = ve
	}
	if off != len(b) {
		return nil, false
	}
	return out, true
}

// LookupKV returns the value of the last entry with key k (as a Go map
// built from the entries in order would hold).
func LookupKV(m []KV, k string) (string, bool) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i].K == k {
			return m[i].V, true
		}
	}
	return "", false
}
