package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"ucv/crdt/codec"
)

// Snapshot stream messages: GET /v1/sync/snapshot answers a stream of
// frames, each [uvarint length][message]: one MsgSnapshotHeader, any
// number of MsgFeedResponse pages (every item's Index at most the
// header's, every page's Next equal to it), and one MsgSnapshotEnd that
// repeats the index and counts the items, so a truncated or spliced
// stream is detected. Append only.
const (
	// MsgSnapshotHeader opens a snapshot stream (SnapshotHeader).
	MsgSnapshotHeader MsgType = 20
	// MsgSnapshotEnd closes it (SnapshotEnd).
	MsgSnapshotEnd MsgType = 21
)

// SnapshotHeader says at which Raft index the hub captured the
// snapshot: after applying the stream, an edge reads the change feed
// from Index.
type SnapshotHeader struct {
	Index uint64
	// Clusters is the number of items the stream will carry.
	Clusters uint64
	// Catalog is the hub's catalog of definitions (profile/catalog's
	// Marshal) as of Index; nil when it has none. Encoded only when
	// present (the header is then an array of 3, not 2), so a header
	// without one has the bytes it always had.
	Catalog []byte
}

// SnapshotEnd closes a snapshot stream.
type SnapshotEnd struct {
	Index uint64
	Items uint64
}

// ErrSnapshotStream wraps every error of a snapshot stream that is not
// the underlying reader's: bad framing, a message out of place, counts
// that do not add up.
var ErrSnapshotStream = errors.New("replication: bad snapshot stream")

func marshalSnapPair(t MsgType, a, b uint64) ([]byte, error) {
	return frame(t, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(2), enc.EncodeUint(a), enc.EncodeUint(b))
	})
}

func unmarshalSnapPair(t MsgType, b []byte) (x, y uint64, err error) {
	d, err := body(b, t)
	if err != nil {
		return 0, 0, err
	}
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		var e1, e2 error
		x, e1 = d.Uint()
		y, e2 = d.Uint()
		return first(e1, e2)
	}()
	return x, y, end(d, err)
}

// MarshalSnapshotHeader encodes a MsgSnapshotHeader.
func MarshalSnapshotHeader(h *SnapshotHeader) ([]byte, error) {
	if len(h.Catalog) == 0 {
		return marshalSnapPair(MsgSnapshotHeader, h.Index, h.Clusters)
	}
	if len(h.Catalog) > MaxCatalogBytes {
		return nil, fmt.Errorf("replication: catalog of %d bytes, limit %d", len(h.Catalog), MaxCatalogBytes)
	}
	return frame(MsgSnapshotHeader, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(3), enc.EncodeUint(h.Index), enc.EncodeUint(h.Clusters), enc.EncodeBytes(h.Catalog))
	})
}

// UnmarshalSnapshotHeader decodes a MsgSnapshotHeader.
func UnmarshalSnapshotHeader(b []byte) (*SnapshotHeader, error) {
	d, err := body(b, MsgSnapshotHeader)
	if err != nil {
		return nil, err
	}
	h := &SnapshotHeader{}
	err = func() error {
		n, err := d.ArrayLen(1)
		if err != nil {
			return err
		}
		if n != 2 && n != 3 {
			return fmt.Errorf("%w: snapshot header of %d fields", ErrMalformed, n)
		}
		var e1, e2 error
		h.Index, e1 = d.Uint()
		h.Clusters, e2 = d.Uint()
		if err := first(e1, e2); err != nil || n == 2 {
			return err
		}
		if h.Catalog, err = d.Bytes(); err != nil {
			return err
		}
		if len(h.Catalog) == 0 || len(h.Catalog) > MaxCatalogBytes { // none is 2 fields
			return fmt.Errorf("%w: catalog of %d bytes", ErrMalformed, len(h.Catalog))
		}
		return nil
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return h, nil
}

// MarshalSnapshotEnd encodes a MsgSnapshotEnd.
func MarshalSnapshotEnd(e *SnapshotEnd) ([]byte, error) {
	return marshalSnapPair(MsgSnapshotEnd, e.Index, e.Items)
}

// UnmarshalSnapshotEnd decodes a MsgSnapshotEnd.
func UnmarshalSnapshotEnd(b []byte) (*SnapshotEnd, error) {
	i, n, err := unmarshalSnapPair(MsgSnapshotEnd, b)
	if err != nil {
		return nil, err
	}
	return &SnapshotEnd{Index: i, Items: n}, nil
}

// SnapshotWriter writes a snapshot stream: the header at creation,
// pages with Page, the end record with Close. It buffers; Close flushes.
type SnapshotWriter struct {
	w     *bufio.Writer
	index uint64
	items uint64
	err   error
}

// NewSnapshotWriter writes h to w and returns the writer of the rest.
func NewSnapshotWriter(w io.Writer, h *SnapshotHeader) (*SnapshotWriter, error) {
	sw := &SnapshotWriter{w: bufio.NewWriterSize(w, 256<<10), index: h.Index}
	b, err := MarshalSnapshotHeader(h)
	if err != nil {
		return nil, err
	}
	if err := sw.frame(b); err != nil {
		return nil, err
	}
	return sw, nil
}

func (sw *SnapshotWriter) frame(b []byte) error {
	if sw.err != nil {
		return sw.err
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := sw.w.Write(hdr[:n]); err != nil {
		sw.err = fmt.Errorf("replication: write snapshot: %w", err)
		return sw.err
	}
	if _, err := sw.w.Write(b); err != nil {
		sw.err = fmt.Errorf("replication: write snapshot: %w", err)
	}
	return sw.err
}

// Page writes items as one MsgFeedResponse page (Next = the snapshot's
// index). The items must fit MaxMessageBytes together; a caller that
// does not know splits on error (the error leaves the stream intact).
func (sw *SnapshotWriter) Page(items []FeedItem) error {
	if sw.err != nil {
		return sw.err
	}
	for i := range items {
		if items[i].Index > sw.index {
			return fmt.Errorf("replication: snapshot item %s changed at %d, after the snapshot's index %d", items[i].ID, items[i].Index, sw.index)
		}
	}
	b, err := MarshalFeedResponse(&FeedResponse{Items: items, Next: sw.index})
	if err != nil {
		return err
	}
	if err := sw.frame(b); err != nil {
		return err
	}
	sw.items += uint64(len(items))
	return nil
}

// Items returns how many items the stream carries so far.
func (sw *SnapshotWriter) Items() uint64 { return sw.items }

// Close writes the end record and flushes. It does not close the
// underlying writer.
func (sw *SnapshotWriter) Close() error {
	b, err := MarshalSnapshotEnd(&SnapshotEnd{Index: sw.index, Items: sw.items})
	if err != nil {
		return err
	}
	if err := sw.frame(b); err != nil {
		return err
	}
	if err := sw.w.Flush(); err != nil {
		sw.err = fmt.Errorf("replication: write snapshot: %w", err)
	}
	return sw.err
}

// streamErr wraps a message's decoding error as ErrSnapshotStream only:
// a decoder's io.EOF must never read as the stream's clean end.
func streamErr(what string, err error) error {
	return fmt.Errorf("%w: %s: %s", ErrSnapshotStream, what, err.Error())
}

// SnapshotReader reads a snapshot stream written by SnapshotWriter.
type SnapshotReader struct {
	r      *bufio.Reader
	header SnapshotHeader
	items  uint64
	done   bool
	buf    []byte
}

// NewSnapshotReader reads the header from r.
func NewSnapshotReader(r io.Reader) (*SnapshotReader, error) {
	sr := &SnapshotReader{r: bufio.NewReaderSize(r, 256<<10)}
	b, err := sr.next()
	if err != nil {
		return nil, err
	}
	h, err := UnmarshalSnapshotHeader(b)
	if err != nil {
		return nil, streamErr("header", err)
	}
	sr.header = *h
	return sr, nil
}

// Header returns the stream's header.
func (sr *SnapshotReader) Header() SnapshotHeader { return sr.header }

func (sr *SnapshotReader) next() ([]byte, error) {
	n, err := binary.ReadUvarint(sr.r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: frame length: %w", ErrSnapshotStream, err)
	}
	if n == 0 || n > MaxMessageBytes {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrSnapshotStream, n)
	}
	if uint64(cap(sr.buf)) < n {
		sr.buf = make([]byte, n)
	}
	sr.buf = sr.buf[:n]
	if _, err := io.ReadFull(sr.r, sr.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: frame: %w", ErrSnapshotStream, err)
	}
	return sr.buf, nil
}

// Next returns the next page of items (the result does not alias the
// stream), or io.EOF after an end record whose index and count match
// what was read. Any other error means the stream is unusable.
func (sr *SnapshotReader) Next() ([]FeedItem, error) {
	if sr.done {
		return nil, io.EOF
	}
	b, err := sr.next()
	if err != nil {
		return nil, err
	}
	switch MsgType(b[0]) {
	case MsgFeedResponse:
		page, err := UnmarshalFeedResponse(b)
		if err != nil {
			return nil, streamErr("page", err)
		}
		if page.Next != sr.header.Index {
			return nil, fmt.Errorf("%w: page at index %d in a snapshot at %d", ErrSnapshotStream, page.Next, sr.header.Index)
		}
		sr.items += uint64(len(page.Items))
		if sr.items > sr.header.Clusters {
			return nil, fmt.Errorf("%w: more than the %d items announced", ErrSnapshotStream, sr.header.Clusters)
		}
		return page.Items, nil
	case MsgSnapshotEnd:
		e, err := UnmarshalSnapshotEnd(b)
		if err != nil {
			return nil, streamErr("end", err)
		}
		if e.Index != sr.header.Index || e.Items != sr.items || e.Items != sr.header.Clusters {
			return nil, fmt.Errorf("%w: end says %d items at index %d; read %d of %d at %d",
				ErrSnapshotStream, e.Items, e.Index, sr.items, sr.header.Clusters, sr.header.Index)
		}
		sr.done = true
		return nil, io.EOF
	}
	return nil, fmt.Errorf("%w: message type %d", ErrSnapshotStream, b[0])
}
