package replication

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"ucv/crdt/codec"
)

var sampleApart = &FeedResponse{Next: 9, Items: []FeedItem{
	{Index: 8, ID: "01A", Fragments: []string{"01A"}, State: []byte{1}, Apart: []string{"01B", "01C"}},
	{Index: 9, ID: "01B", Fragments: []string{"01B"}, State: []byte{2}, Apart: []string{"01A"}},
	{Index: 9, ID: "01D", Fragments: []string{"01D"}, State: []byte{3}},
}}

// TestFeedApart (fuzz seed of sampleApart:
// testdata/fuzz/FuzzUnmarshalFeedResponse/apart): an item's cannot-link partners round-trip; an item
// without them keeps the 4-field encoding (older readers' bytes); the
// decoder refuses an empty 5th field (one encoding per value), other
// field counts, and every truncation.
func TestFeedApart(t *testing.T) {
	b, err := MarshalFeedResponse(sampleApart)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalFeedResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sampleApart, got, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	for i := range len(b) {
		if _, err := UnmarshalFeedResponse(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrMalformed", i, len(b), err)
		}
	}
	plain := &FeedResponse{Next: 1, Items: []FeedItem{{Index: 1, ID: "a", Fragments: []string{"a"}, State: []byte{1}}}}
	pb, err := MarshalFeedResponse(plain)
	if err != nil {
		t.Fatal(err)
	}
	// [Next, [item]] with item = [index, id, fragments, state]: the item
	// header sits after the type byte, the outer header, Next and the
	// items header.
	if pb[4] != 0x94 {
		t.Fatalf("an item without partners starts % x, want a 4-array (0x94)", pb[:6])
	}
	for name, item := range map[string]func(*codec.Encoder) error{
		"empty apart": func(enc *codec.Encoder) error {
			return first(enc.EncodeArrayLen(5), enc.EncodeUint(1), enc.EncodeString("a"), enc.EncodeArrayLen(1),
				enc.EncodeString("a"), enc.EncodeBytes([]byte{1}), enc.EncodeArrayLen(0))
		},
		"three fields": func(enc *codec.Encoder) error {
			return first(enc.EncodeArrayLen(3), enc.EncodeUint(1), enc.EncodeString("a"), enc.EncodeArrayLen(0))
		},
		"six fields": func(enc *codec.Encoder) error {
			return first(enc.EncodeArrayLen(6), enc.EncodeUint(1), enc.EncodeString("a"), enc.EncodeArrayLen(1),
				enc.EncodeString("a"), enc.EncodeBytes([]byte{1}), enc.EncodeArrayLen(1), enc.EncodeString("b"), enc.EncodeNil())
		},
	} {
		bad, err := frame(MsgFeedResponse, func(enc *codec.Encoder) error {
			if err := first(enc.EncodeArrayLen(2), enc.EncodeUint(1), enc.EncodeArrayLen(1)); err != nil {
				return err
			}
			return item(enc)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalFeedResponse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
