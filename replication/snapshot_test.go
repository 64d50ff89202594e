package replication

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func snapshotStream(t testing.TB, index uint64, pages [][]FeedItem) []byte {
	t.Helper()
	n := 0
	for _, p := range pages {
		n += len(p)
	}
	var buf bytes.Buffer
	sw, err := NewSnapshotWriter(&buf, &SnapshotHeader{Index: index, Clusters: uint64(n)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if err := sw.Page(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readSnapshot(b []byte) (SnapshotHeader, [][]FeedItem, error) {
	sr, err := NewSnapshotReader(bytes.NewReader(b))
	if err != nil {
		return SnapshotHeader{}, nil, err
	}
	var pages [][]FeedItem
	for {
		p, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return sr.Header(), pages, nil
		}
		if err != nil {
			return sr.Header(), pages, err
		}
		pages = append(pages, p)
	}
}

func samplePages() [][]FeedItem {
	var pages [][]FeedItem
	for p := range 3 {
		var items []FeedItem
		for i := range 4 {
			id := fmt.Sprintf("p%d%d", p, i)
			items = append(items, FeedItem{Index: uint64(p*4 + i + 1), ID: id, Fragments: []string{id, id + "x"}, State: []byte{1, 2, byte(i)}})
		}
		pages = append(pages, items)
	}
	return pages
}

func TestSnapshotStreamRoundTrip(t *testing.T) {
	pages := samplePages()
	b := snapshotStream(t, 42, pages)
	h, got, err := readSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(SnapshotHeader{Index: 42, Clusters: 12}, h); d != "" {
		t.Fatalf("header %+v", h)
	}
	if d := cmp.Diff(pages, got); d != "" {
		t.Fatalf("pages differ (-want +got):\n%s", d)
	}
	// An empty hub streams a header and an end record.
	if _, got, err := readSnapshot(snapshotStream(t, 7, nil)); err != nil || len(got) != 0 {
		t.Fatalf("empty snapshot: %v, %d pages", err, len(got))
	}
}

// Every cut of a stream before its last byte is an error, never a
// shorter snapshot taken for a whole one.
func TestSnapshotStreamTruncated(t *testing.T) {
	b := snapshotStream(t, 42, samplePages())
	for n := range len(b) {
		if _, _, err := readSnapshot(b[:n]); !errors.Is(err, ErrSnapshotStream) {
			t.Fatalf("cut at %d of %d bytes: %v", n, len(b), err)
		}
	}
}

func TestSnapshotStreamRejects(t *testing.T) {
	var buf bytes.Buffer
	sw, err := NewSnapshotWriter(&buf, &SnapshotHeader{Index: 5, Clusters: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Page([]FeedItem{{Index: 6, ID: "p", Fragments: []string{"p"}}}); err == nil {
		t.Fatal("an item changed after the snapshot's index was written")
	}
	// Counts that do not add up: the header promises two, one is sent.
	b := snapshotStream(t, 5, [][]FeedItem{{{Index: 1, ID: "p", Fragments: []string{"p"}}}})
	h, _ := MarshalSnapshotHeader(&SnapshotHeader{Index: 5, Clusters: 2})
	forged := append([]byte{byte(len(h))}, h...)
	forged = append(forged, b[1+int(b[0]):]...)
	if _, _, err := readSnapshot(forged); !errors.Is(err, ErrSnapshotStream) {
		t.Fatalf("forged count: %v", err)
	}
}

func FuzzSnapshotReader(f *testing.F) {
	f.Add(snapshotStream(f, 42, samplePages()))
	f.Add(snapshotStream(f, 0, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, pages, err := readSnapshot(b)
		if err != nil {
			return
		}
		n := 0
		for _, p := range pages {
			n += len(p)
			for _, it := range p {
				if it.Index > h.Index {
					t.Fatalf("item at %d beyond the snapshot's %d", it.Index, h.Index)
				}
			}
		}
		if uint64(n) != h.Clusters {
			t.Fatalf("read %d items, header says %d", n, h.Clusters)
		}
	})
}
