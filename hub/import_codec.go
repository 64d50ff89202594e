package hub

import (
	"slices"
	"strings"

	"ucv/crdt/codec"
)

// Trait values of imported records without the generic msgpack codec
// (docs/decisions/0049-resolution-throughput.md, "Third pass"): an
// import writes only strings and one map of strings (the address), with
// codec's string encoders (crdt/codec/strings.go), and recordOf reads
// them back with its string readers.

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
	var addrBuf [8]codec.KV
	addr := addrBuf[:0]
	// The top-level values share one buffer, each its own full slice
	// (capped: appending to one cannot reach the next).
	n := 0
	for _, t := range r.Traits {
		if !strings.HasPrefix(t.Name, "address.") {
			n += codec.StringSize(t.Value)
		}
	}
	buf := make([]byte, 0, n)
	for _, t := range r.Traits {
		if k, ok := strings.CutPrefix(t.Name, "address."); ok {
			addr = append(addr, codec.KV{K: k, V: t.Value})
			continue
		}
		start := len(buf)
		buf = codec.AppendString(buf, t.Value)
		out = append(out, namedValue{t.Name, buf[start:len(buf):len(buf)]})
	}
	if len(addr) > 0 {
		// Sorted by key, the last of equal keys kept: the entry a map
		// would hold, in the order MarshalValue writes.
		slices.SortStableFunc(addr, func(a, b codec.KV) int { return strings.Compare(a.K, b.K) })
		w := 0
		for i, e := range addr {
			if i+1 < len(addr) && addr[i+1].K == e.K {
				continue
			}
			addr[w] = e
			w++
		}
		out = append(out, namedValue{"address", codec.MarshalStringMap(addr[:w])})
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
