package codec

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// MarshalValue encodes a dynamic value (nil, bool, numbers, string,
// []any, map[string]any) as msgpack with map keys sorted, so equal values
// give equal bytes.
func MarshalValue(v any) ([]byte, error) {
	e := GetEncoder()
	defer PutEncoder(e)
	e.SetSortMapKeys(true)
	if err := e.Encode(v); err != nil {
		return nil, fmt.Errorf("codec: encode value: %w", err)
	}
	return bytes.Clone(e.Bytes()), nil
}

// UnmarshalValue decodes what MarshalValue wrote; maps decode as
// map[string]any.
func UnmarshalValue(b []byte) (any, error) {
	if err := checkValue(b); err != nil {
		return nil, err
	}
	d := msgpack.NewDecoder(bytes.NewReader(b))
	v, err := d.DecodeInterface()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return v, nil
}
