package codec

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting when transcoding (values are validated on
// ingest to far less).
const maxJSONDepth = 64

// AppendJSON transcodes one msgpack value (as MarshalValue writes it) to
// JSON appended to dst, without building Go values in between. Strings
// are escaped as encoding/json escapes them (including <, >, &), floats
// are formatted as encoding/json formats them, and bin values become
// base64 strings. Map keys must be strings; they are written in the
// order stored (MarshalValue sorts them). It returns the extended slice
// and the unread rest of b.
func AppendJSON(dst, b []byte) ([]byte, []byte, error) {
	return appendJSON(dst, b, 0)
}

func appendJSON(dst, b []byte, depth int) ([]byte, []byte, error) {
	if len(b) == 0 {
		return dst, b, fmt.Errorf("%w: truncated value", ErrCorrupt)
	}
	if depth > maxJSONDepth {
		return dst, b, fmt.Errorf("%w: nested too deep", ErrCorrupt)
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return strconv.AppendInt(dst, int64(c), 10), b[1:], nil
	case c >= 0xe0:
		return strconv.AppendInt(dst, int64(int8(c)), 10), b[1:], nil
	case c >= 0xa0 && c <= 0xbf:
		return appendStr(dst, b[1:], int(c&0x1f))
	case c >= 0x90 && c <= 0x9f:
		return appendArray(dst, b[1:], int(c&0x0f), depth)
	case c >= 0x80 && c <= 0x8f:
		return appendMap(dst, b[1:], int(c&0x0f), depth)
	}
	need := func(n int) error {
		if len(b) < 1+n {
			return fmt.Errorf("%w: truncated value", ErrCorrupt)
		}
		return nil
	}
	switch c {
	case 0xc0:
		return append(dst, "null"...), b[1:], nil
	case 0xc2:
		return append(dst, "false"...), b[1:], nil
	case 0xc3:
		return append(dst, "true"...), b[1:], nil
	case 0xcc, 0xd0:
		if err := need(1); err != nil {
			return dst, b, err
		}
		if c == 0xcc {
			return strconv.AppendUint(dst, uint64(b[1]), 10), b[2:], nil
		}
		return strconv.AppendInt(dst, int64(int8(b[1])), 10), b[2:], nil
	case 0xcd, 0xd1:
		if err := need(2); err != nil {
			return dst, b, err
		}
		v := binary.BigEndian.Uint16(b[1:])
		if c == 0xcd {
			return strconv.AppendUint(dst, uint64(v), 10), b[3:], nil
		}
		return strconv.AppendInt(dst, int64(int16(v)), 10), b[3:], nil
	case 0xce, 0xd2:
		if err := need(4); err != nil {
			return dst, b, err
		}
		v := binary.BigEndian.Uint32(b[1:])
		if c == 0xce {
			return strconv.AppendUint(dst, uint64(v), 10), b[5:], nil
		}
		return strconv.AppendInt(dst, int64(int32(v)), 10), b[5:], nil
	case 0xcf, 0xd3:
		if err := need(8); err != nil {
			return dst, b, err
		}
		v := binary.BigEndian.Uint64(b[1:])
		if c == 0xcf {
			return strconv.AppendUint(dst, v, 10), b[9:], nil
		}
		return strconv.AppendInt(dst, int64(v), 10), b[9:], nil
	case 0xca:
		if err := need(4); err != nil {
			return dst, b, err
		}
		d, err := appendFloat(dst, float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))), 32)
		return d, b[5:], err
	case 0xcb:
		if err := need(8); err != nil {
			return dst, b, err
		}
		d, err := appendFloat(dst, math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 64)
		return d, b[9:], err
	case 0xd9, 0xc4:
		if err := need(1); err != nil {
			return dst, b, err
		}
		if c == 0xc4 {
			return appendBin(dst, b[2:], int(b[1]))
		}
		return appendStr(dst, b[2:], int(b[1]))
	case 0xda, 0xc5:
		if err := need(2); err != nil {
			return dst, b, err
		}
		n := int(binary.BigEndian.Uint16(b[1:]))
		if c == 0xc5 {
			return appendBin(dst, b[3:], n)
		}
		return appendStr(dst, b[3:], n)
	case 0xdb, 0xc6:
		if err := need(4); err != nil {
			return dst, b, err
		}
		n := int(binary.BigEndian.Uint32(b[1:]))
		if c == 0xc6 {
			return appendBin(dst, b[5:], n)
		}
		return appendStr(dst, b[5:], n)
	case 0xdc:
		if err := need(2); err != nil {
			return dst, b, err
		}
		return appendArray(dst, b[3:], int(binary.BigEndian.Uint16(b[1:])), depth)
	case 0xdd:
		if err := need(4); err != nil {
			return dst, b, err
		}
		return appendArray(dst, b[5:], int(binary.BigEndian.Uint32(b[1:])), depth)
	case 0xde:
		if err := need(2); err != nil {
			return dst, b, err
		}
		return appendMap(dst, b[3:], int(binary.BigEndian.Uint16(b[1:])), depth)
	case 0xdf:
		if err := need(4); err != nil {
			return dst, b, err
		}
		return appendMap(dst, b[5:], int(binary.BigEndian.Uint32(b[1:])), depth)
	}
	return dst, b, fmt.Errorf("%w: msgpack code %#x has no JSON form", ErrCorrupt, c)
}

func appendArray(dst, b []byte, n, depth int) ([]byte, []byte, error) {
	if n > len(b) {
		return dst, b, fmt.Errorf("%w: array longer than input", ErrCorrupt)
	}
	dst = append(dst, '[')
	var err error
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, b, err = appendJSON(dst, b, depth+1); err != nil {
			return dst, b, err
		}
	}
	return append(dst, ']'), b, nil
}

func appendMap(dst, b []byte, n, depth int) ([]byte, []byte, error) {
	if 2*n > len(b) {
		return dst, b, fmt.Errorf("%w: map longer than input", ErrCorrupt)
	}
	dst = append(dst, '{')
	var err error
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		if len(b) == 0 || !(b[0] >= 0xa0 && b[0] <= 0xbf || b[0] == 0xd9 || b[0] == 0xda || b[0] == 0xdb) {
			return dst, b, fmt.Errorf("%w: map key is not a string", ErrCorrupt)
		}
		if dst, b, err = appendJSON(dst, b, depth+1); err != nil {
			return dst, b, err
		}
		dst = append(dst, ':')
		if dst, b, err = appendJSON(dst, b, depth+1); err != nil {
			return dst, b, err
		}
	}
	return append(dst, '}'), b, nil
}

func appendBin(dst, b []byte, n int) ([]byte, []byte, error) {
	if n > len(b) {
		return dst, b, fmt.Errorf("%w: bin longer than input", ErrCorrupt)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b[:n])
	return append(dst, '"'), b[n:], nil
}

const hexDigits = "0123456789abcdef"

// appendStr writes a JSON string the way encoding/json does (HTML-safe,
// invalid UTF-8 replaced by U+FFFD, U+2028/2029 escaped).
func appendStr(dst, b []byte, n int) ([]byte, []byte, error) {
	if n > len(b) {
		return dst, b, fmt.Errorf("%w: string longer than input", ErrCorrupt)
	}
	s := b[:n]
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), b[n:], nil
}

// appendFloat formats like encoding/json's floatEncoder.
func appendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("%w: %v has no JSON form", ErrCorrupt, f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// AppendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it.
func AppendJSONString(dst []byte, s string) []byte {
	dst, _, _ = appendStr(dst, []byte(s), len(s))
	return dst
}
