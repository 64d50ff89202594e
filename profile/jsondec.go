package profile

import (
	"encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// The message decoder (docs/decisions/0094-message-decoder.md).
//
// decodeValue decodes one JSON value into exactly what encoding/json's
// Decoder with UseNumber decodes into an `any` — objects as
// map[string]any (a repeated key: the last one wins), arrays as []any
// (empty: non-nil), strings, json.Number holding the literal, bool and
// nil — in one pass over the bytes instead of encoding/json's two (a
// scan for validity, then the decode), without its reader and buffer.
// Differential tests and FuzzDecodeValue hold it to encoding/json's
// values; the one difference is at the end of the body: anything but
// whitespace after the value is an error here, where a Decoder followed
// by More() let a stray "}" or "]" through.
//
// The caller has checked that the bytes are valid UTF-8 (decodeObject).
// A value nesting objects and arrays deeper than MaxDepth is refused
// (errTooDeep) as soon as the decoder enters the level past it. Errors
// name an offset, never a value.

// jsonSyntaxError is malformed JSON at byte Offset.
type jsonSyntaxError struct {
	Offset int
	What   string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.What)
}

// jsonDecoder walks one body.
type jsonDecoder struct {
	b     []byte
	i     int
	depth int // objects and arrays open at d.i
}

func (d *jsonDecoder) fail(what string) error {
	return &jsonSyntaxError{Offset: d.i, What: what}
}

// skip advances past whitespace.
func (d *jsonDecoder) skip() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// decodeValue decodes b, which must hold one JSON value and nothing but
// whitespace around it.
func decodeValue(b []byte) (any, error) {
	v, _, err := decode(b, "")
	return v, err
}

// decode is decodeValue; when spansOf is set and the value is an object,
// it also returns the element lengths of its member spansOf
// (objectSpans).
func decode(b []byte, spansOf string) (v any, spans []int, err error) {
	d := jsonDecoder{b: b}
	d.skip()
	if spansOf != "" && d.i < len(d.b) && d.b[d.i] == '{' {
		v, spans, err = d.objectSpans(spansOf)
	} else {
		v, err = d.value()
	}
	if err != nil {
		return nil, nil, err
	}
	d.skip()
	if d.i != len(d.b) {
		return nil, nil, errTrailing
	}
	return v, spans, nil
}

// errTrailing is data after the body's JSON value; errTooDeep is a
// value nesting objects and arrays more than MaxDepth levels.
var (
	errTrailing = &jsonSyntaxError{What: "data after the value"}
	errTooDeep  = &jsonSyntaxError{What: "nested too deep"}
)

// open enters an object or array at d.i.
func (d *jsonDecoder) open() error {
	d.depth++
	if d.depth > MaxDepth {
		return errTooDeep
	}
	d.i++
	return nil
}

// value decodes the value at d.i (whitespace skipped).
func (d *jsonDecoder) value() (any, error) {
	if d.i >= len(d.b) {
		return nil, d.fail("unexpected end")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, d.fail("unexpected character")
}

func (d *jsonDecoder) literal(lit string) error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return d.fail("bad literal")
	}
	d.i += len(lit)
	return nil
}

func (d *jsonDecoder) object() (map[string]any, error) {
	o, _, err := d.objectSpans("")
	return o, err
}

// objectSpans decodes the object at d.i; when its member named spansOf
// (the last, if repeated) is an array, it also returns that array's
// element lengths in bytes as written (arraySpans).
func (d *jsonDecoder) objectSpans(spansOf string) (map[string]any, []int, error) {
	if err := d.open(); err != nil {
		return nil, nil, err
	}
	o := make(map[string]any)
	var spans []int
	if d.empty('}') {
		return o, spans, nil
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, nil, d.fail("want a key")
		}
		k, err := d.str()
		if err != nil {
			return nil, nil, err
		}
		d.skip()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, nil, d.fail("want ':'")
		}
		d.i++
		d.skip()
		var v any
		switch {
		case spansOf == "" || k != spansOf:
			v, err = d.value()
		case d.i < len(d.b) && d.b[d.i] == '[':
			var a []any
			a, spans, err = d.arraySpans(true)
			v = a
		default:
			spans = nil
			v, err = d.value()
		}
		if err != nil {
			return nil, nil, err
		}
		o[k] = v
		if more, err := d.next('}'); err != nil || !more {
			return o, spans, err
		}
	}
}

func (d *jsonDecoder) array() ([]any, error) {
	a, _, err := d.arraySpans(false)
	return a, err
}

// arraySpans decodes the array at d.i; with spans set it also returns
// each element's length in bytes as written.
func (d *jsonDecoder) arraySpans(spans bool) ([]any, []int, error) {
	if err := d.open(); err != nil {
		return nil, nil, err
	}
	a := make([]any, 0)
	var n []int
	if d.empty(']') {
		return a, n, nil
	}
	for {
		start := d.i
		v, err := d.value()
		if err != nil {
			return nil, nil, err
		}
		a = append(a, v)
		if spans {
			n = append(n, d.i-start)
		}
		if more, err := d.next(']'); err != nil || !more {
			return a, n, err
		}
	}
}

// empty closes the object or array just opened if the next byte past
// whitespace is its closing byte.
func (d *jsonDecoder) empty(closing byte) bool {
	d.skip()
	if d.i < len(d.b) && d.b[d.i] == closing {
		d.i++
		d.depth--
		return true
	}
	return false
}

// next reads what follows a member or element: a ',' (more is true,
// whitespace after it skipped) or the container's closing byte (more
// is false, err nil); anything else is an error.
func (d *jsonDecoder) next(closing byte) (more bool, err error) {
	d.skip()
	switch {
	case d.i >= len(d.b):
		return false, d.fail("unexpected end")
	case d.b[d.i] == ',':
		d.i++
		d.skip()
		return true, nil
	case d.b[d.i] == closing:
		d.i++
		d.depth--
		return false, nil
	}
	return false, d.fail("want ',' or the container's end")
}

// number decodes a number literal into a json.Number of its bytes.
func (d *jsonDecoder) number() (json.Number, error) {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case digits() == 0:
		return "", d.fail("bad number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return "", d.fail("bad number")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return "", d.fail("bad number")
		}
	}
	return json.Number(d.b[start:d.i]), nil
}

// str decodes the string at d.i (its opening quote).
func (d *jsonDecoder) str() (string, error) {
	d.i++ // "
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			s := string(d.b[start:d.i])
			d.i++
			return s, nil
		case c == '\\':
			return d.strEscaped(start)
		case c < 0x20:
			return "", d.fail("control character in string")
		default:
			d.i++
		}
	}
	return "", d.fail("unterminated string")
}

// strEscaped finishes a string that holds an escape, from start (after
// its opening quote), as encoding/json unquotes: a \u escape of a lone
// or mismatched UTF-16 surrogate becomes U+FFFD.
func (d *jsonDecoder) strEscaped(start int) (string, error) {
	out := make([]byte, 0, d.i-start+16)
	out = append(out, d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), nil
		case c < 0x20:
			return "", d.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", d.fail("unterminated string")
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(d.b[d.i:])
			if !ok {
				return "", d.fail("bad \\u escape")
			}
			d.i += 4
			if utf16.IsSurrogate(r) {
				// A pair only when a \u escape of its other half follows;
				// else the replacement rune, and what follows is read on
				// its own (encoding/json's unquote).
				if len(d.b)-d.i >= 6 && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					if r2, ok := hex4(d.b[d.i+2:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							d.i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			d.i -= 2
			return "", d.fail("bad escape")
		}
	}
	return "", d.fail("unterminated string")
}

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// decodeBatchBody decodes a /v1/batch body (valid UTF-8) as decodeValue
// does and, when it is an object whose "batch" member (the last, if
// repeated) is an array, also returns each item's length in bytes as
// written — the size MaxEventBytes bounds.
func decodeBatchBody(b []byte) (any, []int, error) {
	return decode(b, "batch")
}
