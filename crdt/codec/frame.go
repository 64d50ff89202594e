package codec

import (
	"errors"
	"fmt"
)

// Framed messages — a one-byte type tag followed by one msgpack body —
// are how hub log entries and replication messages travel. These helpers
// are their shared framing; each caller passes its own sentinel error for
// malformed input, so its errors keep wrapping that.

// Frame encodes body after the type tag. The result is the caller's.
func Frame(tag byte, body func(*Encoder) error) ([]byte, error) {
	enc := GetEncoder()
	defer PutEncoder(enc)
	if err := body(enc); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+len(enc.Bytes()))
	out = append(out, tag)
	return append(out, enc.Bytes()...), nil
}

// Unframe checks that b is a frame of type tag and at most maxBytes long,
// and returns a decoder over its body. Errors wrap malformed.
func Unframe(b []byte, tag byte, maxBytes int, malformed error) (*Decoder, error) {
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("%w: empty", malformed)
	case b[0] != tag:
		return nil, fmt.Errorf("%w: type %d, want %d", malformed, b[0], tag)
	case len(b) > maxBytes:
		return nil, fmt.Errorf("%w: %d bytes", malformed, len(b))
	}
	return NewDecoder(b[1:]), nil
}

// Finish ends a frame's decoding: a decode error becomes one wrapping
// malformed, and bytes left after the body are refused.
func Finish(d *Decoder, err, malformed error) error {
	if err != nil {
		if errors.Is(err, malformed) {
			return err
		}
		return fmt.Errorf("%w: %w", malformed, err)
	}
	if d.Remaining() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", malformed, d.Remaining())
	}
	return nil
}

// Name reads a string of at most maxBytes (an ID or name field).
func Name(d *Decoder, maxBytes int, malformed error) (string, error) {
	s, err := d.String()
	if err != nil {
		return "", err
	}
	if len(s) > maxBytes {
		return "", fmt.Errorf("%w: name of %d bytes", malformed, len(s))
	}
	return s, nil
}

// FirstErr returns the first non-nil error of errs: encoders chain
// several writes and check once.
func FirstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
