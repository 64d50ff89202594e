package codec

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"pgregory.net/rapid"
)

// Every value MarshalValue writes passes the length check and decodes.
func TestValueRoundTripPassesCheck(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genJSONValue(t, 0)
		b, err := MarshalValue(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkValue(b); err != nil {
			t.Fatalf("checkValue refused MarshalValue's output: %v", err)
		}
		if _, err := UnmarshalValue(b); err != nil {
			t.Fatalf("UnmarshalValue: %v", err)
		}
	})
}

// A forged bin32/ext32/array32 length nested in a trait value is refused
// before msgpack allocates what it claims.
func TestUnmarshalValueForgedLengths(t *testing.T) {
	for name, b := range map[string][]byte{
		"bin32 in an array": {0x91, 0xc6, 0xc6, 0xc6, 0xc6, 0xc6, 'x'},
		"ext32":             {0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01, 'x'},
		"array32":           {0xdd, 0x7f, 0xff, 0xff, 0xff, 0xc0},
		"map32 in a map":    {0x81, 0xa1, 'k', 0xdf, 0x7f, 0xff, 0xff, 0xff},
		"truncated str8":    {0xd9, 0x05, 'a'},
		"unused code":       {0xc1},
		"trailing bytes":    {0xc0, 0xc0},
	} {
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		_, err := UnmarshalValue(b)
		runtime.ReadMemStats(&ms1)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
		if grew := ms1.TotalAlloc - ms0.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: allocated %d bytes", name, grew)
		}
	}
	deep := make([]byte, 0, 100)
	for range maxValueDepth + 2 {
		deep = append(deep, 0x91)
	}
	deep = append(deep, 0xc0)
	if _, err := UnmarshalValue(deep); !errors.Is(err, ErrCorrupt) {
		t.Errorf("nesting beyond %d: err %v", maxValueDepth, err)
	}
}

func FuzzUnmarshalValue(f *testing.F) {
	b, _ := MarshalValue(map[string]any{"a": []any{1, "x", 2.5, nil, true, map[string]any{"b": -3}}})
	f.Add(b)
	f.Add([]byte{0x91, 0xc6, 0xc6, 0xc6, 0xc6, 0xc6})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := UnmarshalValue(b)
		if err != nil {
			return
		}
		again, err := MarshalValue(v)
		if err != nil {
			return // bin and ext values decode but are not MarshalValue's types
		}
		w, err := UnmarshalValue(again)
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if fmt.Sprint(v) != fmt.Sprint(w) { // integer widths may change, values not
			t.Fatalf("value changed through a round trip:\n%v\n%v", v, w)
		}
	})
}
