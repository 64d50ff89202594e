package hub

import (
	"encoding/binary"
	"slices"
	"strings"
)

// Trait values of imported records without the generic msgpack codec
// (docs/decisions/0049-resolution-throughput.md, "Third pass"): an
// import writes only strings and one map of strings (the address), and
// recordOf reads those back for every changed fragment. These encode
// exactly the bytes codec.MarshalValue writes for a string and for a
// map[string]any of strings (keys sorted), and decode exactly what
// codec.UnmarshalValue reads from them; anything else — another type, a
// non-canonical header, trailing bytes — is left to the generic codec
// (TestTraitCodecMatchesGeneric).

// appendMsgString appends s as msgpack encodes a string: fixstr, str8,
// str16 or str32, the shortest that fits.
func appendMsgString(b []byte, s string) []byte {
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

// msgStringSize is the encoded size of s (appendMsgString).
func msgStringSize(s string) int {
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

// kv is one key and value of a string map.
type kv struct{ k, v string }

// marshalStringMap encodes m (sorted by key, keys unique) as
// codec.MarshalValue encodes a map[string]any holding those strings.
func marshalStringMap(m []kv) []byte {
	n := 5
	for _, e := range m {
		n += msgStringSize(e.k) + msgStringSize(e.v)
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
		b = appendMsgString(b, e.k)
		b = appendMsgString(b, e.v)
	}
	return b
}

// marshalString is codec.MarshalValue(s).
func marshalString(s string) []byte {
	return appendMsgString(make([]byte, 0, msgStringSize(s)), s)
}

// msgString reads a msgpack string header at b[off:] and returns the
// string's bounds; ok is false for anything else or a truncated string.
func msgString(b []byte, off int) (start, end int, ok bool) {
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

// unmarshalString returns the string b encodes when b is exactly one
// msgpack string (ok false otherwise: the caller falls back to the
// generic codec).
func unmarshalString(b []byte) (string, bool) {
	start, end, ok := msgString(b, 0)
	if !ok || end != len(b) {
		return "", false
	}
	return string(b[start:end]), true
}

// unmarshalStringMap returns the entries of b when b is exactly one
// msgpack map whose keys and values are all strings, in encoded order
// (ok false otherwise).
func unmarshalStringMap(b []byte, into []kv) ([]kv, bool) {
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
		ks, ke, ok := msgString(b, off)
		if !ok {
			return nil, false
		}
		vs, ve, ok := msgString(b, ke)
		if !ok {
			return nil, false
		}
		out = append(out, kv{string(b[ks:ke]), string(b[vs:ve])})
		off = ve
	}
	if off != len(b) {
		return nil, false
	}
	return out, true
}

// lookupKV returns the value of the last entry with key k (as a Go map
// built from the entries in order would hold).
func lookupKV(m []kv, k string) (string, bool) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i].k == k {
			return m[i].v, true
		}
	}
	return "", false
}

// namedValue is one trait value of a record, encoded.
type namedValue struct {
	name string
	val  []byte
}

// importValues returns the encoded trait values of r by trait name:
// top-level traits as strings, the "address.*" ones as one "address"
// map. A name given twice keeps its last value (as a map would).
func importValues(r *ImportRecord) []namedValue {
	out := make([]namedValue, 0, len(r.Traits)+1)
	var addrBuf [8]kv
	addr := addrBuf[:0]
	// The top-level values share one buffer, each its own full slice
	// (capped: appending to one cannot reach the next).
	n := 0
	for _, t := range r.Traits {
		if !strings.HasPrefix(t.Name, "address.") {
			n += msgStringSize(t.Value)
		}
	}
	buf := make([]byte, 0, n)
	for _, t := range r.Traits {
		if k, ok := strings.CutPrefix(t.Name, "address."); ok {
			addr = append(addr, kv{k, t.Value})
			continue
		}
		start := len(buf)
		buf = appendMsgString(buf, t.Value)
		out = append(out, namedValue{t.Name, buf[start:len(buf):len(buf)]})
	}
	if len(addr) > 0 {
		// Sorted by key, the last of equal keys kept: the entry a map
		// would hold, in the order MarshalValue writes.
		slices.SortStableFunc(addr, func(a, b kv) int { return strings.Compare(a.k, b.k) })
		w := 0
		for i, e := range addr {
			if i+1 < len(addr) && addr[i+1].k == e.k {
				continue
			}
			addr[w] = e
			w++
		}
		out = append(out, namedValue{"address", marshalStringMap(addr[:w])})
	}
	return out
}

// valueOf returns the last value named name.
func valueOf(vs []namedValue, name string) []byte {
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].name == name {
			return vs[i].val
		}
	}
	return nil
}
