package seal

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
)

// A sealed snapshot is a header — snapMagic, the 4-byte epoch, a 32-byte
// random salt, the snapshot's index and term (8 bytes each) — then
// chunks of ChunkSize plaintext bytes (the last one shorter, never empty
// unless the snapshot is), each sealed with AES-256-GCM under
// HKDF-SHA256(epoch key, salt, snapInfo), nonce = 4 zero bytes ‖ the
// chunk's 8-byte number, additional data = header ‖ final flag (1 on the
// last chunk). A chunk moved, dropped or repeated fails its nonce, a
// truncated stream ends without a final chunk, and the header binds the
// stream to its snapshot's index and term. A snapshot without snapMagic
// is a plaintext one from before the key file and is read as is.
const (
	snapMagic  = "UCVSNAP1"
	snapHeader = len(snapMagic) + 4 + 32 + 8 + 8
	snapInfo   = "ucv hub/seal snapshot v1"
	// ChunkSize is the plaintext size of a snapshot chunk.
	ChunkSize = 64 << 10
)

// SnapshotStore is a raft.SnapshotStore that seals every snapshot it
// creates under the keyring's current epoch and opens what it reads. Safe
// for concurrent use if inner is.
type SnapshotStore struct {
	inner  raft.SnapshotStore
	k      *Keyring
	remove func(id string) error
}

var _ raft.SnapshotStore = (*SnapshotStore)(nil)

// NewSnapshotStore wraps inner. remove deletes a snapshot by ID; Reap
// uses it to delete snapshots sealed under retired epochs (or not
// sealed). Nil: Reap deletes nothing (raft's in-memory store keeps only
// the latest snapshot anyway).
func NewSnapshotStore(inner raft.SnapshotStore, k *Keyring, remove func(id string) error) *SnapshotStore {
	return &SnapshotStore{inner: inner, k: k, remove: remove}
}

// FileRemover returns the remove function for a raft.FileSnapshotStore
// rooted at dir (raft.NewFileSnapshotStore's base): it deletes the
// snapshot's directory and syncs its parent.
func FileRemover(dir string) func(id string) error {
	return func(id string) error {
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `/\`) {
			return fmt.Errorf("seal: snapshot id %q is not a plain name", id)
		}
		snaps := filepath.Join(dir, "snapshots")
		if err := os.RemoveAll(filepath.Join(snaps, id)); err != nil {
			return fmt.Errorf("seal: remove snapshot %s: %w", id, err)
		}
		return syncDir(snaps)
	}
}

func snapKey(k *Keyring, epoch uint32, salt []byte) (cipher.AEAD, error) {
	ek, err := k.epochKey(epoch)
	if err != nil {
		return nil, err
	}
	key, err := hkdf.Key(sha256.New, ek, salt, snapInfo, keySize)
	clear(ek)
	if err != nil {
		return nil, fmt.Errorf("seal: derive snapshot key: %w", err)
	}
	a, err := newAEAD(key)
	clear(key)
	return a, err
}

// Create implements raft.SnapshotStore: the sink seals what is written
// to it under the current epoch.
func (s *SnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	epoch := s.k.Current()
	hdr := make([]byte, snapHeader)
	copy(hdr, snapMagic)
	binary.BigEndian.PutUint32(hdr[len(snapMagic):], epoch)
	if _, err := rand.Read(hdr[len(snapMagic)+4 : len(snapMagic)+36]); err != nil {
		return nil, fmt.Errorf("seal: snapshot salt: %w", err)
	}
	binary.BigEndian.PutUint64(hdr[len(snapMagic)+36:], index)
	binary.BigEndian.PutUint64(hdr[len(snapMagic)+44:], term)
	a, err := snapKey(s.k, epoch, hdr[len(snapMagic)+4:len(snapMagic)+36])
	if err != nil {
		return nil, err
	}
	sink, err := s.inner.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	if _, err := sink.Write(hdr); err != nil {
		_ = sink.Cancel()
		return nil, fmt.Errorf("seal: write snapshot header: %w", err)
	}
	return &sealSink{SnapshotSink: sink, k: s.k, epoch: epoch, a: a, hdr: hdr, buf: make([]byte, 0, ChunkSize)}, nil
}

// List implements raft.SnapshotStore. Sizes are those of the stored
// (sealed) files; Open reports the plaintext size.
func (s *SnapshotStore) List() ([]*raft.SnapshotMeta, error) { return s.inner.List() }

// Open implements raft.SnapshotStore: the reader yields the plaintext
// and fails (ErrTampered, ErrUnknownEpoch) where it cannot; meta.Size is
// the plaintext size, as raft's snapshot transfer expects.
func (s *SnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.inner.Open(id)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(rc, ChunkSize+tagSize+1)
	head, err := br.Peek(len(snapMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		rc.Close()
		return nil, nil, fmt.Errorf("seal: snapshot %s: %w", id, err)
	}
	if !bytes.Equal(head, []byte(snapMagic)) { // legacy plaintext
		return meta, readCloser{br, rc}, nil
	}
	hdr := make([]byte, snapHeader)
	if _, err := io.ReadFull(br, hdr); err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("seal: snapshot %s: header: %w", id, ErrTampered)
	}
	epoch := binary.BigEndian.Uint32(hdr[len(snapMagic):])
	a, err := snapKey(s.k, epoch, hdr[len(snapMagic)+4:len(snapMagic)+36])
	if err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("seal: snapshot %s: %w", id, err)
	}
	if binary.BigEndian.Uint64(hdr[len(snapMagic)+36:]) != meta.Index || binary.BigEndian.Uint64(hdr[len(snapMagic)+44:]) != meta.Term {
		rc.Close()
		return nil, nil, fmt.Errorf("seal: snapshot %s: sealed for another index or term: %w", id, ErrTampered)
	}
	size, ok := plainSize(meta.Size)
	if !ok {
		rc.Close()
		return nil, nil, fmt.Errorf("seal: snapshot %s: size %d: %w", id, meta.Size, ErrTampered)
	}
	m := *meta
	m.Size = size
	return &m, &openReader{r: br, c: rc, a: a, hdr: hdr, ct: make([]byte, ChunkSize+tagSize)}, nil
}

// plainSize is the plaintext size of a sealed snapshot of stored bytes.
func plainSize(stored int64) (int64, bool) {
	body := stored - int64(snapHeader)
	if body < tagSize {
		return 0, false
	}
	chunks := (body + ChunkSize + tagSize - 1) / (ChunkSize + tagSize)
	return body - chunks*tagSize, true
}

// SnapshotEpoch returns the epoch snapshot id is sealed under; ok is
// false for a plaintext (legacy) snapshot.
func (s *SnapshotStore) SnapshotEpoch(id string) (epoch uint32, ok bool, err error) {
	_, rc, err := s.inner.Open(id)
	if err != nil {
		return 0, false, err
	}
	defer rc.Close()
	hdr := make([]byte, len(snapMagic)+4)
	if _, err := io.ReadFull(rc, hdr); err != nil || string(hdr[:len(snapMagic)]) != snapMagic {
		return 0, false, nil
	}
	return binary.BigEndian.Uint32(hdr[len(snapMagic):]), true, nil
}

// Reap deletes every snapshot not sealed under the current epoch. It
// never deletes the newest snapshot: if that one is not sealed under the
// current epoch it fails instead (take a snapshot first).
func (s *SnapshotStore) Reap() error {
	metas, err := s.inner.List()
	if err != nil {
		return fmt.Errorf("seal: list snapshots: %w", err)
	}
	cur := s.k.Current()
	for i, m := range metas {
		epoch, sealed, err := s.SnapshotEpoch(m.ID)
		if err != nil {
			return fmt.Errorf("seal: snapshot %s: %w", m.ID, err)
		}
		if sealed && epoch == cur {
			continue
		}
		if i == 0 {
			return fmt.Errorf("seal: the newest snapshot %s is not sealed under the current epoch", m.ID)
		}
		if s.remove == nil {
			continue
		}
		if err := s.remove(m.ID); err != nil {
			return err
		}
	}
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// sealSink seals chunks as they fill.
type sealSink struct {
	raft.SnapshotSink
	k     *Keyring
	epoch uint32
	a     cipher.AEAD
	hdr   []byte
	buf   []byte // plaintext of the chunk being filled
	out   []byte
	n     uint64 // chunks written
	err   error
}

func (w *sealSink) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize { // more follows: not the last chunk
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
		k := min(len(p), ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, written = p[k:], written+k
	}
	return written, nil
}

func chunkNonce(n uint64) []byte {
	var nonce [nonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], n)
	return nonce[:]
}

func (w *sealSink) flush(final bool) error {
	aad := append(w.hdr[:len(w.hdr):len(w.hdr)], 0)
	if final {
		aad[len(aad)-1] = 1
	}
	w.out = w.a.Seal(w.out[:0], chunkNonce(w.n), w.buf, aad)
	w.n++
	clear(w.buf)
	w.buf = w.buf[:0]
	if _, err := w.SnapshotSink.Write(w.out); err != nil {
		w.err = fmt.Errorf("seal: write snapshot: %w", err)
		return w.err
	}
	return nil
}

// Close seals the last chunk and closes the inner sink. If the sink's
// epoch was destroyed meanwhile (a Shred ran), the snapshot is cancelled
// instead: no snapshot lands under a key that no longer exists.
func (w *sealSink) Close() error {
	if w.err != nil {
		_ = w.SnapshotSink.Cancel()
		return w.err
	}
	if err := w.flush(true); err != nil {
		_ = w.SnapshotSink.Cancel()
		return err
	}
	w.k.mu.RLock() // held across Close so a destroy waits for it, and Reap then sees it
	defer w.k.mu.RUnlock()
	if _, ok := w.k.aeads[w.epoch]; !ok {
		_ = w.SnapshotSink.Cancel()
		return fmt.Errorf("seal: snapshot: %w (epoch %d destroyed while it was written)", ErrUnknownEpoch, w.epoch)
	}
	return w.SnapshotSink.Close()
}

// openReader opens chunks as they are read.
type openReader struct {
	r    *bufio.Reader
	c    io.Closer
	a    cipher.AEAD
	hdr  []byte
	ct   []byte
	pt   []byte // plaintext not yet returned
	n    uint64
	done bool
	err  error
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.pt) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.done {
			return 0, io.EOF
		}
		o.err = o.next()
	}
	n := copy(p, o.pt)
	o.pt = o.pt[n:]
	return n, nil
}

func (o *openReader) next() error {
	n, err := io.ReadFull(o.r, o.ct)
	final := false
	switch {
	case err == nil:
		if _, perr := o.r.Peek(1); errors.Is(perr, io.EOF) {
			final = true
		} else if perr != nil {
			return fmt.Errorf("seal: read snapshot: %w", perr)
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		final = true
	case errors.Is(err, io.EOF):
		return fmt.Errorf("seal: snapshot ends without its last chunk: %w", ErrTampered)
	default:
		return fmt.Errorf("seal: read snapshot: %w", err)
	}
	aad := append(o.hdr[:len(o.hdr):len(o.hdr)], 0)
	if final {
		aad[len(aad)-1] = 1
	}
	pt, err := o.a.Open(o.ct[:0], chunkNonce(o.n), o.ct[:n], aad)
	if err != nil {
		return fmt.Errorf("seal: snapshot chunk %d: %w", o.n, ErrTampered)
	}
	o.n++
	o.pt, o.done = pt, final
	return nil
}

func (o *openReader) Close() error { return o.c.Close() }
