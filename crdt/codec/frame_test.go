package codec

import (
	"errors"
	"testing"
)

var errBad = errors.New("bad frame")

func TestFrameRoundTrip(t *testing.T) {
	b, err := Frame(7, func(e *Encoder) error { return FirstErr(e.EncodeArrayLen(1), e.EncodeString("edge-1")) })
	if err != nil || b[0] != 7 {
		t.Fatalf("Frame: %v %x", err, b)
	}
	d, err := Unframe(b, 7, 64, errBad)
	if err != nil {
		t.Fatal(err)
	}
	err = d.ExpectArray(1)
	var s string
	if err == nil {
		s, err = Name(d, 6, errBad)
	}
	if err := Finish(d, err, errBad); err != nil || s != "edge-1" {
		t.Fatalf("decode: %q, %v", s, err)
	}
	for name, f := range map[string]func() error{
		"empty":     func() error { _, err := Unframe(nil, 7, 64, errBad); return err },
		"wrong tag": func() error { _, err := Unframe(b, 8, 64, errBad); return err },
		"too big":   func() error { _, err := Unframe(b, 7, 3, errBad); return err },
		"long name": func() error {
			d, _ := Unframe(b, 7, 64, errBad)
			_ = d.ExpectArray(1)
			_, err := Name(d, 5, errBad)
			return err
		},
		"trailing": func() error {
			d, _ := Unframe(append(b, 0xc0), 7, 64, errBad)
			_ = d.ExpectArray(1)
			_, _ = d.String()
			return Finish(d, nil, errBad)
		},
		"decode error": func() error { return Finish(NewDecoder(nil), errors.New("eof"), errBad) },
	} {
		if err := f(); !errors.Is(err, errBad) {
			t.Errorf("%s: %v, want the caller's sentinel", name, err)
		}
	}
}
