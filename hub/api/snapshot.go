package api

import (
	"fmt"
	"net/http"
	"strconv"

	"ucv/hub"
	"ucv/replication"
)

// Snapshot pages are cut at snapshotPageItems items or snapshotPageBytes
// of profile state, whichever comes first: small enough for an edge to
// apply each in one short transaction, large enough to amortize it.
const (
	snapshotPageItems = 1024
	snapshotPageBytes = 2 << 20
)

// streamChunkBytes is how much of a stream each WriteTimeout covers: a
// reader slower than streamChunkBytes per WriteTimeout (16 KiB per 30 s
// by default) is cut.
const streamChunkBytes = 16 << 10

// streamWriter writes a long answer to w in chunks of at most
// streamChunkBytes, giving each a full WriteTimeout (hold).
type streamWriter struct {
	w http.ResponseWriter
	s *Server
}

func (sw *streamWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), streamChunkBytes)
		sw.s.hold(sw.w, sw.s.cfg.WriteTimeout)
		m, err := sw.w.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

// snapshot streams every cluster as the node's FSM holds it at one Raft
// index (replication's snapshot stream: header, feed pages, end record).
// The copy is taken in O(1) and read without the FSM's lock, so a slow
// edge does not hold up Apply. A failure after the header has been sent
// can only cut the stream short; the end record's absence tells the
// edge. The stream as a whole has no deadline: every streamChunkBytes
// get a full WriteTimeout to go out, so a stream that keeps moving runs
// as long as it needs and one whose reader stalls is cut.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) error {
	n := s.node
	s.met.snapshots.Inc()
	s.hold(w, s.cfg.WriteTimeout)
	out := &streamWriter{w: w, s: s}
	b := n.FSM().Bootstrap()
	var sw *replication.SnapshotWriter
	var page []replication.FeedItem
	size := 0
	flush := func() error {
		if len(page) == 0 {
			return nil
		}
		if err := sw.Page(page); err != nil {
			return err
		}
		page, size = page[:0], 0
		return r.Context().Err()
	}
	err := b.Clusters(func(count int) error {
		w.Header().Set("Content-Type", msgpackType)
		w.Header().Set("X-Hub-Index", strconv.FormatUint(b.Index(), 10))
		var err error
		sw, err = replication.NewSnapshotWriter(out, &replication.SnapshotHeader{Index: b.Index(), Clusters: uint64(count), Catalog: b.Catalog()})
		return err
	}, func(v hub.View) error {
		st, err := v.Profile.Marshal()
		if err != nil {
			return fmt.Errorf("api: snapshot: encode profile: %w", err)
		}
		page = append(page, replication.FeedItem{Index: v.Changed, ID: v.ID, Fragments: v.Fragments, State: st, Apart: v.Apart})
		if size += len(st) + 64*(len(v.Fragments)+len(v.Apart)); len(page) >= snapshotPageItems || size >= snapshotPageBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = sw.Close()
	}
	if err != nil && sw != nil {
		// The header is out: the status cannot change any more. Log and
		// cut the stream; the edge sees no end record and retries.
		s.log.Warn("snapshot stream cut", "err", err)
		return nil
	}
	return err
}
