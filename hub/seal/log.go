package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// A sealed entry's Data is entryMagic, the 4-byte big-endian epoch, a
// 12-byte nonce, then the AES-256-GCM sealing under the epoch's key of
// uvarint(len(Data)) ‖ Data ‖ Extensions, with additional data
// entryMagic ‖ epoch ‖ index ‖ term ‖ type (so an entry cannot be moved
// to another index or term). Its Extensions are stored empty. Data that
// does not start with entryMagic is a plaintext entry from before the
// data directory had a key file: hub commands start with a small command
// type byte, Raft configurations with a msgpack map, noops and barriers
// are empty, so none starts with 0xF5.
const (
	entryMagic  = "\xf5us1"
	entryHeader = len(entryMagic) + 4 + nonceSize
)

// LogStore is a raft.LogStore that seals every entry it stores under
// the keyring's current epoch and opens what it reads. It is safe for
// concurrent use as raft uses it: StoreLog(s) and rotation exclude each
// other, so every entry sealed under an epoch is at or below the index
// recorded when that epoch retired.
type LogStore struct {
	inner raft.LogStore
	k     *Keyring
	mu    sync.RWMutex // write: rotation
}

var _ raft.LogStore = (*LogStore)(nil)

// NewLogStore wraps inner. A log whose first entry is plaintext (from
// before the data directory had a key file; MigrateBolt rewrites a
// raft.db so none is left) is adopted: its plaintext entries are read as
// they are, and the first Shred compacts them away. A keyring just
// created over a log whose last entry is sealed is refused: the key file
// that belongs to the log is missing.
func NewLogStore(inner raft.LogStore, k *Keyring) (*LogStore, error) {
	s := &LogStore{inner: inner, k: k}
	first, err := inner.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("seal: log: %w", err)
	}
	last, err := inner.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("seal: log: %w", err)
	}
	if last == 0 {
		return s, nil
	}
	var l raft.Log
	if k.fresh {
		if err := inner.GetLog(last, &l); err != nil {
			return nil, fmt.Errorf("seal: log: read entry %d: %w", last, err)
		}
		if isSealed(l.Data) {
			return nil, fmt.Errorf("seal: the raft log holds sealed entries but the data directory had no key file (%s): restore it", KeyFileName)
		}
	}
	if err := inner.GetLog(first, &l); err != nil {
		return nil, fmt.Errorf("seal: log: read entry %d: %w", first, err)
	}
	if !isSealed(l.Data) {
		if err := k.setLegacy(last); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func isSealed(data []byte) bool { return bytes.HasPrefix(data, []byte(entryMagic)) }

func entryAAD(dst []byte, hdr []byte, l *raft.Log) []byte {
	dst = append(dst, hdr[:len(entryMagic)+4]...)
	dst = binary.BigEndian.AppendUint64(dst, l.Index)
	dst = binary.BigEndian.AppendUint64(dst, l.Term)
	return append(dst, byte(l.Type))
}

// sealEntry returns a copy of l with Data sealed and Extensions empty.
func (s *LogStore) sealEntry(l *raft.Log) (*raft.Log, error) {
	epoch, a := s.k.current()
	n := binary.MaxVarintLen64 + len(l.Data) + len(l.Extensions)
	buf := make([]byte, entryHeader, entryHeader+n+tagSize)
	copy(buf, entryMagic)
	binary.BigEndian.PutUint32(buf[len(entryMagic):], epoch)
	s.k.nonce(buf[len(entryMagic)+4 : entryHeader])
	var aadBuf [len(entryMagic) + 4 + 17]byte
	aad := entryAAD(aadBuf[:0], buf, l)
	// The plaintext goes where the ciphertext will be: GCM seals in
	// place, so an entry costs one allocation of its sealed size.
	plain := binary.AppendUvarint(buf[entryHeader:], uint64(len(l.Data)))
	plain = append(plain, l.Data...)
	plain = append(plain, l.Extensions...)
	out := a.Seal(buf[:entryHeader], buf[len(entryMagic)+4:entryHeader], plain, aad)
	c := *l
	c.Data, c.Extensions = out[:len(out):len(out)], nil
	return &c, nil
}

// openEntry opens l in place; a plaintext (legacy) entry stays as is.
func (s *LogStore) openEntry(l *raft.Log) error {
	if !isSealed(l.Data) {
		return nil
	}
	if len(l.Data) < entryHeader+tagSize {
		return fmt.Errorf("seal: log entry %d: %w", l.Index, ErrTampered)
	}
	epoch := binary.BigEndian.Uint32(l.Data[len(entryMagic):])
	a, err := s.k.aead(epoch)
	if err != nil {
		return fmt.Errorf("seal: log entry %d: %w", l.Index, err)
	}
	var aadBuf [len(entryMagic) + 4 + 17]byte
	aad := entryAAD(aadBuf[:0], l.Data, l)
	plain, err := a.Open(nil, l.Data[len(entryMagic)+4:entryHeader], l.Data[entryHeader:], aad)
	if err != nil {
		return fmt.Errorf("seal: log entry %d: %w", l.Index, ErrTampered)
	}
	n, w := binary.Uvarint(plain)
	if w <= 0 || n > uint64(len(plain)-w) {
		return fmt.Errorf("seal: log entry %d: %w", l.Index, ErrTampered)
	}
	data, ext := plain[w:w+int(n)], plain[w+int(n):]
	l.Data, l.Extensions = nil, nil
	if len(data) > 0 {
		l.Data = data[:len(data):len(data)]
	}
	if len(ext) > 0 {
		l.Extensions = ext
	}
	return nil
}

// FirstIndex implements raft.LogStore.
func (s *LogStore) FirstIndex() (uint64, error) { return s.inner.FirstIndex() }

// LastIndex implements raft.LogStore.
func (s *LogStore) LastIndex() (uint64, error) { return s.inner.LastIndex() }

// GetLog implements raft.LogStore: it opens a sealed entry (an error
// wrapping ErrUnknownEpoch or ErrTampered when it cannot) and returns a
// plaintext one as stored.
func (s *LogStore) GetLog(index uint64, l *raft.Log) error {
	if err := s.inner.GetLog(index, l); err != nil {
		return err
	}
	return s.openEntry(l)
}

// StoreLog implements raft.LogStore.
func (s *LogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore: it stores sealed copies; the
// caller's entries are not modified.
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sealed := make([]*raft.Log, len(logs))
	for i, l := range logs {
		c, err := s.sealEntry(l)
		if err != nil {
			return err
		}
		sealed[i] = c
	}
	return s.inner.StoreLogs(sealed)
}

// DeleteRange implements raft.LogStore.
func (s *LogStore) DeleteRange(min, max uint64) error { return s.inner.DeleteRange(min, max) }

// Rotate starts a new epoch: entries stored from now on are sealed under
// a new key; the old key stays until Shred destroys it.
func (s *LogStore) Rotate() (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, err := s.inner.LastIndex()
	if err != nil {
		return 0, fmt.Errorf("seal: rotate: %w", err)
	}
	return s.k.rotate(last)
}

// HoldsRetired reports whether the log may still hold an entry written
// under a retired epoch (or a legacy plaintext entry): it reads the
// entries from the first index up to the retired epochs' bound, stopping
// at the first such entry, so after a compaction it reads few.
func (s *LogStore) HoldsRetired() (bool, error) {
	bound := s.k.retiredBound()
	first, err := s.inner.FirstIndex()
	if err != nil {
		return false, fmt.Errorf("seal: log: %w", err)
	}
	if bound == 0 || first == 0 || first > bound {
		return false, nil
	}
	last, err := s.inner.LastIndex()
	if err != nil {
		return false, fmt.Errorf("seal: log: %w", err)
	}
	cur := s.k.Current()
	for i := first; i <= min(last, bound); i++ {
		var l raft.Log
		switch err := s.inner.GetLog(i, &l); {
		case errors.Is(err, raft.ErrLogNotFound):
			continue
		case err != nil:
			return false, fmt.Errorf("seal: log: read entry %d: %w", i, err)
		}
		if !isSealed(l.Data) || len(l.Data) < entryHeader || binary.BigEndian.Uint32(l.Data[len(entryMagic):]) != cur {
			return true, nil
		}
	}
	return false, nil
}
