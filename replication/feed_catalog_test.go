package replication

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"ucv/crdt/codec"
)

// A feed page and a snapshot header carry the catalog of definitions as
// an optional last field: present, it round-trips; absent, the bytes are
// those of the format before catalogs (older readers' bytes); an empty
// one is refused (one encoding per value), and so is every truncation.
func TestFeedCatalog(t *testing.T) {
	cat := []byte{'C', 0x93, 7, 0x90, 0x90}
	withCat := &FeedResponse{Next: 9, Catalog: cat, Items: []FeedItem{{Index: 8, ID: "01A", Fragments: []string{"01A"}, State: []byte{1}}}}
	b, err := MarshalFeedResponse(withCat)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalFeedResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(withCat, got, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	for i := range len(b) {
		if _, err := UnmarshalFeedResponse(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrMalformed", i, len(b), err)
		}
	}
	// Only the catalog: a page with no items.
	only := &FeedResponse{Next: 12, Catalog: cat}
	if b, err = MarshalFeedResponse(only); err != nil {
		t.Fatal(err)
	}
	if got, err = UnmarshalFeedResponse(b); err != nil || !bytes.Equal(got.Catalog, cat) || got.Next != 12 || len(got.Items) != 0 {
		t.Fatalf("catalog-only page: %+v, %v", got, err)
	}
	plain, err := MarshalFeedResponse(&FeedResponse{Next: 1})
	if err != nil {
		t.Fatal(err)
	}
	if plain[1] != 0x92 {
		t.Fatalf("a page without a catalog starts % x, want a 2-array (0x92)", plain[:3])
	}
	for name, body := range map[string]func(*codec.Encoder) error{
		"empty catalog": func(enc *codec.Encoder) error {
			return first(enc.EncodeArrayLen(3), enc.EncodeUint(1), enc.EncodeArrayLen(0), enc.EncodeBytes(nil))
		},
		"four fields": func(enc *codec.Encoder) error {
			return first(enc.EncodeArrayLen(4), enc.EncodeUint(1), enc.EncodeArrayLen(0), enc.EncodeBytes(cat), enc.EncodeNil())
		},
	} {
		bad, err := frame(MsgFeedResponse, body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalFeedResponse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}

	h := &SnapshotHeader{Index: 5, Clusters: 2, Catalog: cat}
	if b, err = MarshalSnapshotHeader(h); err != nil {
		t.Fatal(err)
	}
	gh, err := UnmarshalSnapshotHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(h, gh); d != "" {
		t.Fatalf("header round trip (-want +got):\n%s", d)
	}
	for i := range len(b) {
		if _, err := UnmarshalSnapshotHeader(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("header prefix of %d/%d bytes: err = %v, want ErrMalformed", i, len(b), err)
		}
	}
	old, err := marshalSnapPair(MsgSnapshotHeader, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	if nb, _ := MarshalSnapshotHeader(&SnapshotHeader{Index: 5, Clusters: 2}); !bytes.Equal(nb, old) {
		t.Fatalf("a header without a catalog is % x, want the old % x", nb, old)
	}
	empty, err := frame(MsgSnapshotHeader, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(3), enc.EncodeUint(5), enc.EncodeUint(2), enc.EncodeBytes(nil))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalSnapshotHeader(empty); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty catalog in a header: err = %v, want ErrMalformed", err)
	}

	// Through a whole stream.
	var buf bytes.Buffer
	sw, err := NewSnapshotWriter(&buf, &SnapshotHeader{Index: 5, Clusters: 0, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	sr, err := NewSnapshotReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sr.Header().Catalog, cat) {
		t.Fatalf("stream header catalog % x", sr.Header().Catalog)
	}
}
