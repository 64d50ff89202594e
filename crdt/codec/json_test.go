package codec

import (
	"encoding/json"
	"math"
	"testing"

	"pgregory.net/rapid"
)

// genJSONValue draws a value as encoding/json would decode it, with
// integers as int64 (as profile stores them).
func genJSONValue(t *rapid.T, depth int) any {
	k := rapid.IntRange(0, 7).Draw(t, "kind")
	if depth > 3 {
		k %= 5
	}
	switch k {
	case 0:
		return nil
	case 1:
		return rapid.Bool().Draw(t, "b")
	case 2:
		return rapid.Int64().Draw(t, "i")
	case 3:
		f := rapid.Float64().Draw(t, "f")
		if math.IsInf(f, 0) || math.IsNaN(f) {
			f = 0.5
		}
		return f
	case 4:
		return rapid.String().Draw(t, "s")
	case 5:
		n := rapid.IntRange(0, 4).Draw(t, "n")
		a := make([]any, n)
		for i := range a {
			a[i] = genJSONValue(t, depth+1)
		}
		return a
	default:
		n := rapid.IntRange(0, 4).Draw(t, "n")
		m := map[string]any{}
		for range n {
			m[rapid.String().Draw(t, "k")] = genJSONValue(t, depth+1)
		}
		return m
	}
}

// AppendJSON(MarshalValue(v)) must equal encoding/json's rendering of v.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genJSONValue(t, 0)
		mp, err := MarshalValue(v)
		if err != nil {
			t.Fatal(err)
		}
		got, rest, err := AppendJSON(nil, mp)
		if err != nil || len(rest) != 0 {
			t.Fatalf("AppendJSON: %v, %d bytes left", err, len(rest))
		}
		want, _ := json.Marshal(v)
		if string(got) != string(want) {
			t.Fatalf("AppendJSON = %s\nencoding/json = %s", got, want)
		}
	})
}

func FuzzAppendJSON(f *testing.F) {
	b, _ := MarshalValue(map[string]any{"a": []any{1, "x", 2.5, nil, true}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := AppendJSON(nil, b)
		if err == nil && !json.Valid(out) {
			t.Fatalf("AppendJSON produced invalid JSON %q", out)
		}
	})
}
