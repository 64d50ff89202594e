package hub

import (
	"encoding/binary"
	"strings"

	"ucv/hub/identity"
	"ucv/profile"
)

// A fragment's identity record is kept in state.recs as one string
// (packFields) rather than a []identity.Field: a person's ~9 fields cost
// 48 bytes of headers each plus a copy of their strings, ~730 bytes at
// the scale benchmark's person, where the packed form is ~190
// (docs/decisions/0057-hub-memory-per-person.md).
// unpackFields gives the fields back with their values (and any name
// outside the table below) pointing into the packed string, so the
// identity engine and the identifier index, which keep them, pin nothing
// else.
//
// Each field is: its kind (a byte: an index into packWords, or
// packLiteral followed by the kind as a literal), its name (the same),
// then the value as a literal. A literal is a uvarint length and the
// bytes. The table is a pure function of the binary and the packed form
// is never written anywhere, so it may change between versions.

// packLiteral marks a kind or name outside packWords.
const packLiteral = 0xff

// packWords are the kinds and field names a record usually holds: every
// identity kind, the trait and address field names recordOf gives, and
// the common identifier types.
var packWords = func() []string {
	var w []string
	add := func(s string) {
		for _, x := range w {
			if x == s {
				return
			}
		}
		w = append(w, s)
	}
	for _, k := range identity.Kinds() {
		add(string(k))
	}
	for _, t := range traitKinds {
		add(t.name)
	}
	for _, t := range addressKinds {
		add(addressFieldNames[t.name])
	}
	for _, t := range []profile.IDType{profile.UserID, profile.AnonymousID, profile.Email, profile.Phone, profile.DeviceID} {
		add(string(t))
	}
	if len(w) >= packLiteral {
		panic("hub: too many pack words")
	}
	return w
}()

// packCode maps each of packWords to its index.
var packCode = func() map[string]byte {
	m := make(map[string]byte, len(packWords))
	for i, s := range packWords {
		m[s] = byte(i)
	}
	return m
}()

// packFields encodes fields; nil and empty give "". The string is one
// allocation of exactly its length.
func packFields(fields []identity.Field) string {
	literal := func(s string) int { return varintLen(len(s)) + len(s) }
	word := func(s string) int {
		if _, ok := packCode[s]; ok {
			return 1
		}
		return 1 + literal(s)
	}
	n := 0
	for _, f := range fields {
		n += word(string(f.Kind)) + word(f.Name) + literal(f.Value)
	}
	var b strings.Builder
	b.Grow(n)
	var tmp [binary.MaxVarintLen64]byte
	putLiteral := func(s string) {
		b.Write(binary.AppendUvarint(tmp[:0], uint64(len(s))))
		b.WriteString(s)
	}
	putWord := func(s string) {
		if c, ok := packCode[s]; ok {
			b.WriteByte(c)
			return
		}
		b.WriteByte(packLiteral)
		putLiteral(s)
	}
	for _, f := range fields {
		putWord(string(f.Kind))
		putWord(f.Name)
		putLiteral(f.Value)
	}
	return b.String()
}

// varintLen is the length of n as a uvarint.
func varintLen(n int) int {
	w := 1
	for ; n >= 0x80; n >>= 7 {
		w++
	}
	return w
}

// unpackFields decodes what packFields made; "" gives nil. Values and
// literal names share s's bytes.
func unpackFields(s string) []identity.Field {
	if s == "" {
		return nil
	}
	count := 0
	for off := 0; off < len(s); count++ {
		off = skipWord(s, skipWord(s, off))
		off = skipLiteral(s, off)
	}
	return unpackFieldsTo(make([]identity.Field, 0, count), s)
}

// unpackFieldsTo is unpackFields appending to out (which must not share
// memory with s), for a caller that has room for the fields already.
func unpackFieldsTo(out []identity.Field, s string) []identity.Field {
	for off := 0; off < len(s); {
		var kind, name, value string
		kind, off = readWord(s, off)
		name, off = readWord(s, off)
		value, off = readLiteral(s, off)
		out = append(out, identity.Field{Kind: identity.Kind(kind), Name: name, Value: value})
	}
	return out
}

func readWord(s string, off int) (string, int) {
	if c := s[off]; c != packLiteral {
		return packWords[c], off + 1
	}
	return readLiteral(s, off+1)
}

func readLiteral(s string, off int) (string, int) {
	n, w := uvarint(s[off:])
	off += w
	return s[off : off+n], off + n
}

func skipWord(s string, off int) int {
	if s[off] != packLiteral {
		return off + 1
	}
	return skipLiteral(s, off+1)
}

func skipLiteral(s string, off int) int {
	n, w := uvarint(s[off:])
	return off + w + n
}

// uvarint is binary.Uvarint of a string (packFields wrote it, so it is
// well-formed).
func uvarint(s string) (int, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 {
			return int(x | uint64(c)<<shift), i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	panic("hub: truncated packed record")
}
