package codec

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// drawString draws strings of every msgpack length class (fixstr,
// str8, str16; str32 is drawn rarely: 64 KiB each).
func drawString(t *rapid.T, label string) string {
	switch rapid.IntRange(0, 9).Draw(t, label+"-class") {
	case 0:
		return strings.Repeat("x", rapid.IntRange(0, 300).Draw(t, label+"-n"))
	case 1:
		return strings.Repeat("é", rapid.IntRange(32000, 33000).Draw(t, label+"-n"))
	default:
		return rapid.StringN(0, 40, -1).Draw(t, label)
	}
}

// TestStringCodecMatchesGeneric: the encoding of strings and string maps
// in strings.go is byte for byte MarshalValue's, and its decoding reads
// what UnmarshalValue reads — from those bytes and from arbitrary ones,
// where it may only decline (ok false), never differ.
func TestStringCodecMatchesGeneric(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawString(t, "s")
		want, err := MarshalValue(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := MarshalString(s); !bytes.Equal(got, want) {
			t.Fatalf("MarshalString(%d bytes) = % x…, MarshalValue % x…", len(s), got[:min(8, len(got))], want[:min(8, len(want))])
		}
		if back, ok := UnmarshalString(want); !ok || back != s {
			t.Fatalf("UnmarshalString(MarshalValue(s)) = %q, %v", back, ok)
		}
		n := rapid.IntRange(0, 20).Draw(t, "entries")
		m := map[string]any{}
		var kvs []KV
		for range n {
			k := rapid.SampledFrom([]string{"street", "city", "state", "postalCode", "country", "x", drawString(t, "key")}).Draw(t, "k")
			v := drawString(t, "v")
			m[k] = v
			kvs = append(kvs, KV{k, v})
		}
		want, err = MarshalValue(m)
		if err != nil {
			t.Fatal(err)
		}
		// The form MarshalStringMap takes: sorted, the last of equal keys.
		slices.SortStableFunc(kvs, func(a, b KV) int { return strings.Compare(a.K, b.K) })
		var uniq []KV
		for i, e := range kvs {
			if i+1 < len(kvs) && kvs[i+1].K == e.K {
				continue
			}
			uniq = append(uniq, e)
		}
		if got := MarshalStringMap(uniq); !bytes.Equal(got, want) {
			t.Fatalf("marshalStringMap differs from MarshalValue: % x / % x", got[:min(16, len(got))], want[:min(16, len(want))])
		}
		back, ok := UnmarshalStringMap(want, nil)
		if !ok {
			t.Fatal("unmarshalStringMap declined MarshalValue's map")
		}
		for k, v := range m {
			if got, ok := LookupKV(back, k); !ok || got != v {
				t.Fatalf("key %q: %q, %v; want %q", k, got, ok, v)
			}
		}
		if len(back) != len(m) {
			t.Fatalf("%d entries back, want %d", len(back), len(m))
		}
		// Arbitrary bytes: decline or agree with the generic decoder.
		raw := rapid.SliceOfN(rapid.Byte(), 0, 24).Draw(t, "raw")
		if rapid.Bool().Draw(t, "prefix") {
			head := rapid.SampledFrom([]byte{0x80, 0x81, 0x82, 0xa3, 0xd9, 0xda, 0xde, 0xa0}).Draw(t, "head")
			raw = append([]byte{head}, raw...)
		}
		gv, gerr := UnmarshalValue(raw)
		if s, ok := UnmarshalString(raw); ok {
			if gerr != nil || gv != s {
				t.Fatalf("UnmarshalString(% x) = %q; generic %v, %v", raw, s, gv, gerr)
			}
		}
		if es, ok := UnmarshalStringMap(raw, nil); ok {
			gm, isMap := gv.(map[string]any)
			if gerr != nil || !isMap {
				t.Fatalf("UnmarshalStringMap(% x) ok; generic %v, %v", raw, gv, gerr)
			}
			for k, v := range gm {
				if got, ok := LookupKV(es, k); !ok || got != v {
					t.Fatalf("UnmarshalStringMap(% x)[%q] = %q; generic %v", raw, k, got, v)
				}
			}
			for _, e := range es {
				if _, ok := gm[e.K]; !ok {
					t.Fatalf("UnmarshalStringMap(% x) has %q; generic does not", raw, e.K)
				}
			}
		}
	})
}
