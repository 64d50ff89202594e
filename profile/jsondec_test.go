package profile

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// referenceDecode is what decodeValue must match: encoding/json's
// Decoder with UseNumber into an any, and json.Valid for the whole body
// (one value, nothing after it but whitespace).
func referenceDecode(b []byte) (any, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// decoderCases are bodies whose decoding differs easily: escapes,
// surrogates, numbers, repeated keys, empty containers, whitespace.
var decoderCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `-0.5e+10`, `1E-2`, `12.30`, `true`, `false`, `null`,
	` { "a" : [ 1 , 2 , { } , [ ] ] } `,
	"\t\r\n{\"a\":1}\n",
	`{"a":1,"a":2}`, `{"a":{"b":1},"a":[]}`,
	`{"s":"plain"}`, `{"s":"tab\there"}`, `{"s":"\"\\\/\b\f\n\r\t"}`,
	`{"s":"\u00e9\u4e2d\uD83D\uDE00"}`, `{"s":"\ud800"}`, `{"s":"\ud800x"}`, `{"s":"\ud800\u0041"}`,
	`{"s":"\udc00\ud800"}`, `{"s":"\uD800\uDBFF"}`, `{"s":"\u0000"}`, `{"s":"é中😀"}`,
	`{"\u0061":"key escaped"}`, `{"":""}`,
	`{"n":123456789012345678901234567890}`, `{"n":1.0e400}`,
	// invalid
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `{"a":1 "b":2}`, `{a:1}`, `{'a':1}`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `NaN`, `tru`, `nul`, `"abc`, `"\x"`, `"\u12"`,
	`"\u12G4"`, "\"a\x01b\"", "\"a\x1fb\"", `{} {}`, `{}x`, `[] []`, `"a" "b"`,
}

func TestDecodeValueMatchesEncodingJSON(t *testing.T) {
	for _, c := range decoderCases {
		checkAgainstReference(t, []byte(c))
	}
}

// A stray closing bracket after the value passed encoding/json's Decoder
// followed by More(); decodeValue refuses it, as json.Valid does.
func TestDecodeValueRefusesTrailingBrackets(t *testing.T) {
	for _, c := range []string{`{}}`, `{}]`, `{"a":1}]`} {
		if _, err := decodeValue([]byte(c)); err != errTrailing {
			t.Errorf("decodeValue(%s) = %v, want errTrailing", c, err)
		}
		if _, err := ParseMessage([]byte(c), "", t0, parseOpts()); err == nil || !strings.Contains(err.Error(), "data after") {
			t.Errorf("ParseMessage(%s) = %v, want data after the JSON value", c, err)
		}
	}
}

// MaxDepth levels decode; one more is refused as too deep, also inside a
// batch, and ParseMessage says so.
func TestDecodeValueDepth(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(`{"a":` + strings.Repeat(`[`, n-1) + strings.Repeat(`]`, n-1) + `}`)
	}
	checkAgainstReference(t, nest(MaxDepth))
	if _, err := decodeValue(nest(MaxDepth + 1)); err != errTooDeep {
		t.Errorf("%d levels: %v, want errTooDeep", MaxDepth+1, err)
	}
	if _, _, err := decodeBatchBody([]byte(`{"batch":[` + string(nest(MaxDepth-1)) + `]}`)); err != errTooDeep {
		t.Errorf("batch of %d levels: %v, want errTooDeep", MaxDepth+1, err)
	}
	_, err := ParseMessage(nest(MaxDepth+1), "", t0, parseOpts())
	if err == nil || !strings.Contains(err.Error(), "nests deeper") {
		t.Errorf("ParseMessage of %d levels: %v", MaxDepth+1, err)
	}
}

func checkAgainstReference(t *testing.T, b []byte) {
	t.Helper()
	got, err := decodeValue(b)
	sameAsReference(t, "decodeValue", b, got, err)
}

// sameAsReference fails t unless decoder what made got and err of b as
// encoding/json decodes it (cmp tells a nil slice from an empty one); it
// reports whether b is valid.
func sameAsReference(t *testing.T, what string, b []byte, got any, err error) bool {
	t.Helper()
	want, ok := referenceDecode(b)
	if (err == nil) != ok {
		t.Fatalf("%s(%q): err %v, encoding/json valid %v", what, b, err, ok)
	}
	if ok {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s(%q) (-encoding/json +ours):\n%s", what, b, diff)
		}
	}
	return ok
}

// Each batch item's size is its bytes as written: what a
// json.RawMessage of it holds.
func TestDecodeBatchBodySizes(t *testing.T) {
	for _, c := range []string{
		`{"batch":[{"a":1}, {"b" : "x y"} ,"s",1.5,[],null]}`,
		`{"batch":[{"a":1}],"batch":[ {"b":2} , {"c":"\u00e9"}]}`,
		`{"batch":[{"a":1}],"batch":null}`,
		`{"batch":[]}`, `{"context":{"batch":[1,2]},"batch":[3]}`,
	} {
		checkBatchSizes(t, []byte(c))
	}
}

func checkBatchSizes(t *testing.T, b []byte) {
	t.Helper()
	v, sizes, err := decodeBatchBody(b)
	if !sameAsReference(t, "decodeBatchBody", b, v, err) {
		return
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		if sizes != nil {
			t.Fatalf("decodeBatchBody(%q): sizes %v of a body that is no object", b, sizes)
		}
		return
	}
	var items []json.RawMessage
	if json.Unmarshal(top["batch"], &items) != nil || items == nil {
		if sizes != nil {
			t.Fatalf("decodeBatchBody(%q): sizes %v without a batch array", b, sizes)
		}
		return
	}
	want2 := make([]int, len(items))
	for i, it := range items {
		want2[i] = len(it)
	}
	if len(items) == 0 {
		want2 = nil
	}
	if diff := cmp.Diff(want2, sizes); diff != "" {
		t.Fatalf("decodeBatchBody(%q) sizes (-raw +ours):\n%s", b, diff)
	}
}

func FuzzDecodeValue(f *testing.F) {
	for _, c := range decoderCases {
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"batch":[{"type":"track","userId":"u","event":"E"}, {"x":[1,{"y":"\ud83d\ude00"}]}],"sentAt":"2020-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // decodeObject refuses these before decoding
		}
		if jsonDepth(b) > MaxDepth {
			if _, err := decodeValue(b); err == nil {
				t.Fatalf("decodeValue(%q) accepted %d levels", b, jsonDepth(b))
			}
			return
		}
		checkAgainstReference(t, b)
		checkBatchSizes(t, b)
	})
}

// jsonDepth returns the maximum nesting depth of brackets outside
// strings: the depth decodeValue refuses past MaxDepth.
func jsonDepth(b []byte) int {
	depth, maxDepth, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return maxDepth
}
