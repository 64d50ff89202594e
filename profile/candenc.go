package profile

import (
	"bytes"
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"ucv/crdt"
	"ucv/crdt/codec"
)

// The compact encoding of survivorship candidates (decision 0045,
// "Encoding by origin"). Most candidates hold their trait's own register: a
// single source writing to a single record makes every candidate a
// copy of the trait it belongs to, and with several sources the winner
// of each trait is one. Encoding those in full stored every trait write
// twice. A profile now encodes them as origins — (source, record) with
// a bitmap over the traits, in the order the traits field lists them —
// and only the other candidates (values that lost to another source or
// record) in full, as before. Decoding rebuilds the same Candidates
// map: a candidate named by an origin gets its trait's register.
//
// Field 17 keeps its form (a map of candidate key → register) and holds
// the candidates written in full; field 18, present only when some
// candidate holds its trait's register, lists the origins:
// [[source, record, bitmap], …], sorted by source then record; bit i
// (byte i/8, bit i%8 from the least significant) names the i-th trait
// of field 3. A profile none of whose candidates holds its trait's
// register keeps the 17-field form, byte for byte as before; one
// without candidates keeps its 15 or 16 fields.

// traitList is the traits field in encoded order.
type traitList struct {
	keys []string
	regs []crdt.Register // regs[i] is the register of keys[i]
}

// listTraits returns m in the order codec.EncodeLWWMap writes it: by
// key.
func listTraits(m crdt.LWWMap) traitList {
	keys := make([]string, 0, len(m.M))
	for k := range m.M {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	regs := make([]crdt.Register, len(keys))
	for i, k := range keys {
		regs[i] = m.M[k]
	}
	return traitList{keys, regs}
}

// encodeTraits writes tl as codec.EncodeLWWMap writes the map it lists.
func encodeTraits(e *codec.Encoder, tl traitList) error {
	if err := e.EncodeMapLen(len(tl.keys)); err != nil {
		return err
	}
	for i, k := range tl.keys {
		if err := e.EncodeString(k); err != nil {
			return err
		}
		if err := codec.EncodeRegister(e, tl.regs[i]); err != nil {
			return err
		}
	}
	return nil
}

// decodeTraits reads what codec.EncodeLWWMap (or encodeTraits) wrote,
// as codec.DecodeLWWMap does, and when keep is set also returns the
// keys in the order read.
func decodeTraits(d *codec.Decoder, keep bool) (crdt.LWWMap, []string, error) {
	if !keep {
		m, err := codec.DecodeLWWMap(d)
		return m, nil, err
	}
	n, err := d.MapLen(6)
	if err != nil || n == 0 {
		return crdt.LWWMap{}, nil, err
	}
	m := crdt.LWWMap{M: make(map[string]crdt.Register, n)}
	keys := make([]string, 0, n)
	for range n {
		k, err := d.String()
		if err != nil {
			return crdt.LWWMap{}, nil, err
		}
		r, err := codec.DecodeRegister(d)
		if err != nil {
			return crdt.LWWMap{}, nil, err
		}
		if _, dup := m.M[k]; dup {
			return crdt.LWWMap{}, nil, fmt.Errorf("%w: duplicate trait", codec.ErrCorrupt)
		}
		m.M[k] = r
		keys = append(keys, k)
	}
	return m, keys, nil
}

// origin is a (source, record) and the traits (bit i: the i-th trait in
// encoded order) whose register it wrote as a candidate.
type origin struct {
	source, record string
	set            []byte
}

// candidateForm is how a profile's candidates are encoded.
type candidateForm struct {
	explicit []string // keys of the candidates written in full, sorted
	origins  []origin // the others, sorted by source and record
}

func sameRegister(a, b crdt.Register) bool {
	return a.TS == b.TS && bytes.Equal(a.Val, b.Val) && (a.Val == nil) == (b.Val == nil)
}

// manyOrigins is how many origins splitCandidates looks through one by
// one before it indexes them.
const manyOrigins = 8

// splitCandidates sorts the candidates into those that hold their
// trait's register (by origin) and the rest.
func splitCandidates(c crdt.LWWMap, tl traitList) candidateForm {
	keys := tl.keys
	if len(c.M) <= len(keys) {
		// The common case, one origin for all: probe each trait for
		// the origin of any one candidate.
		var any string
		for k := range c.M {
			any = k
			break
		}
		if _, s, rec, ok := splitCandidateKey(any); ok {
			if set, n := probeOrigin(c, tl, s, rec); n == len(c.M) {
				return candidateForm{origins: []origin{{source: s, record: rec, set: set}}}
			}
		}
	}
	var f candidateForm
	nb := (len(keys) + 7) / 8
	var at map[[2]string]int // origin → index in f.origins, once there are many
	for k, r := range c.M {
		i := -1
		if t, s, rec, ok := splitCandidateKey(k); ok {
			if j, found := slices.BinarySearch(keys, t); found && sameRegister(tl.regs[j], r) {
				i = j
				o := -1
				if at != nil {
					if x, ok := at[[2]string{s, rec}]; ok {
						o = x
					}
				} else {
					for x := range f.origins {
						if f.origins[x].source == s && f.origins[x].record == rec {
							o = x
							break
						}
					}
				}
				if o < 0 {
					o = len(f.origins)
					f.origins = append(f.origins, origin{source: s, record: rec, set: make([]byte, nb)})
					switch {
					case at != nil:
						at[[2]string{s, rec}] = o
					case len(f.origins) > manyOrigins:
						at = make(map[[2]string]int, 2*len(f.origins))
						for x, g := range f.origins {
							at[[2]string{g.source, g.record}] = x
						}
					}
				}
				f.origins[o].set[i/8] |= 1 << (i % 8)
			}
		}
		if i < 0 {
			f.explicit = append(f.explicit, k)
		}
	}
	slices.Sort(f.explicit)
	if len(f.origins) > 1 {
		slices.SortFunc(f.origins, func(a, b origin) int {
			return cmp.Or(strings.Compare(a.source, b.source), strings.Compare(a.record, b.record))
		})
	}
	return f
}

// probeOrigin returns the bitmap of the traits (keys) whose candidate
// from (source, record) holds the trait's register, and their count.
// It finds what the general path of splitCandidates finds for that
// origin, so the form stays canonical: a trait whose name holds a NUL
// is skipped (its candidates' keys split at that NUL).
func probeOrigin(c crdt.LWWMap, tl traitList, source, record string) ([]byte, int) {
	set := make([]byte, (len(tl.keys)+7)/8)
	var arr [128]byte
	buf, n := arr[:0], 0
	for i, t := range tl.keys {
		if strings.IndexByte(t, 0) >= 0 {
			continue // its candidates' keys split elsewhere: the general path's
		}
		buf = append(buf[:0], t...)
		buf = append(buf, candSep...)
		buf = append(buf, source...)
		buf = append(buf, candSep...)
		buf = append(buf, record...)
		if r, ok := c.M[string(buf)]; ok && sameRegister(r, tl.regs[i]) {
			set[i/8] |= 1 << (i % 8)
			n++
		}
	}
	return set, n
}

// encodeExplicit writes the candidates named by keys (sorted) as
// codec.EncodeLWWMap writes a map of them.
func encodeExplicit(e *codec.Encoder, c crdt.LWWMap, keys []string) error {
	if err := e.EncodeMapLen(len(keys)); err != nil {
		return err
	}
	for _, k := range keys {
		if err := e.EncodeString(k); err != nil {
			return err
		}
		if err := codec.EncodeRegister(e, c.M[k]); err != nil {
			return err
		}
	}
	return nil
}

// encodeOrigins writes [[source, record, bitmap], …].
func encodeOrigins(e *codec.Encoder, os []origin) error {
	if err := e.EncodeArrayLen(len(os)); err != nil {
		return err
	}
	for _, o := range os {
		if err := e.EncodeArrayLen(3); err != nil {
			return err
		}
		if err := e.EncodeString(o.source); err != nil {
			return err
		}
		if err := e.EncodeString(o.record); err != nil {
			return err
		}
		if err := e.EncodeBytes(o.set); err != nil {
			return err
		}
	}
	return nil
}

// eachBit calls f with the index of each set bit of set, in order.
func eachBit(set []byte, f func(i int)) {
	for b, x := range set {
		for x != 0 {
			f(b*8 + bits.TrailingZeros8(x))
			x &= x - 1
		}
	}
}

// maxKeyGrowth bounds the bytes of the candidate keys decoded from the
// origins per byte of the encoded profile: each bit names a key the
// length of its trait and origin, so a forged bitmap could otherwise
// make a small input allocate without bound. A real profile needs a few
// (one origin per trait's register; keys of some 40 bytes for some 20
// bytes of trait in full).
const maxKeyGrowth = 64

// decodeOrigins reads what encodeOrigins wrote and adds the candidates
// it names to into: each the register of its trait in m (traits: m's
// keys in encoded order). input is the length of the encoded profile.
func decodeOrigins(d *codec.Decoder, traits []string, m crdt.LWWMap, into *crdt.LWWMap, input int) error {
	n, err := d.ArrayLen(4)
	if err != nil {
		return err
	}
	// suffix is the end of the keys of an origin's candidates:
	// ‖ 0 ‖ source ‖ 0 ‖ record.
	type ref struct {
		suffix string
		set    []byte
	}
	nb := (len(traits) + 7) / 8
	os := make([]ref, 0, n)
	size, count := 0, 0
	for range n {
		if err := d.ExpectArray(3); err != nil {
			return err
		}
		s, err := d.String()
		if err != nil {
			return err
		}
		rec, err := d.String()
		if err != nil {
			return err
		}
		set, err := d.Bytes()
		if err != nil {
			return err
		}
		if len(set) != nb || nb > 0 && len(traits)%8 != 0 && set[nb-1]>>(len(traits)%8) != 0 {
			return fmt.Errorf("%w: candidate bitmap of %d bytes for %d traits", codec.ErrCorrupt, len(set), len(traits))
		}
		o := ref{suffix: candSep + s + candSep + rec, set: set}
		k := 0
		eachBit(set, func(i int) {
			size += len(traits[i])
			k++
		})
		size += k * len(o.suffix)
		count += k
		if size > maxKeyGrowth*input+1<<16 {
			return fmt.Errorf("%w: candidate keys of over %d bytes from %d", codec.ErrCorrupt, size, input)
		}
		os = append(os, o)
	}
	if count == 0 {
		return nil
	}
	// The keys in one string: one allocation for all of them.
	var b strings.Builder
	b.Grow(size)
	for _, o := range os {
		eachBit(o.set, func(i int) {
			b.WriteString(traits[i])
			b.WriteString(o.suffix)
		})
	}
	all := b.String()
	if into.M == nil {
		into.M = make(map[string]crdt.Register, count)
	}
	off, want := 0, len(into.M)+count
	for _, o := range os {
		eachBit(o.set, func(i int) {
			t := traits[i]
			l := len(t) + len(o.suffix)
			into.M[all[off:off+l]] = m.M[t]
			off += l
		})
	}
	if len(into.M) != want { // a key named twice, or also in full
		return fmt.Errorf("%w: duplicate candidate", codec.ErrCorrupt)
	}
	return nil
}
