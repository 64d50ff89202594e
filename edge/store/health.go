package store

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// Errors of a write transaction that failed because of the file system
// under the data file. They wrap the system error (errors.Is(err,
// syscall.ENOSPC) holds as well), and Writable reports them until a
// later write succeeds.
var (
	// ErrStorageFull: the file system is full or over quota (ENOSPC,
	// EDQUOT). Nothing of the failed transaction was stored.
	ErrStorageFull = errors.New("store: no space left for the data file")
	// ErrNotWritable: the file system is read-only (EROFS) or failing
	// (EIO). Nothing of the failed transaction was stored.
	ErrNotWritable = errors.New("store: data file not writable")
)

// writeHealth is the outcome of the latest write transaction.
type writeHealth struct {
	// err holds the classified error of the latest write transaction if
	// it failed for a storage reason, else nil.
	err atomic.Pointer[error]
}

// storageError classifies a write transaction's error: ErrStorageFull or
// ErrNotWritable wrapped around it, or nil when the cause is not the
// file system.
func storageError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrStorageFull, err)
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EIO):
		return fmt.Errorf("%w: %w", ErrNotWritable, err)
	}
	return nil
}

// update runs fn in a write transaction and records whether the file
// system took it (see Writable). A storage failure is returned wrapped
// in ErrStorageFull or ErrNotWritable. Options.FailWrites is consulted
// first.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	// A success clears only the failure known when it began: a write the
	// appender saw refused while this transaction was committing (the
	// disk filled meanwhile) is newer news than this success.
	before := s.health.err.Load()
	err := s.dbUpdate(func(tx *bolt.Tx) error {
		if f := s.opts.FailWrites; f != nil {
			if err := f(); err != nil {
				return err
			}
		}
		return fn(tx)
	})
	return s.noteWrite(before, err)
}

// noteWrite records the outcome err of a write transaction begun when
// before was the known storage failure, and returns err — a storage
// failure wrapped in ErrStorageFull or ErrNotWritable.
func (s *Store) noteWrite(before *error, err error) error {
	serr := storageError(err)
	switch {
	case err == nil:
		s.health.err.CompareAndSwap(before, nil)
	case serr != nil:
		s.health.err.Store(&serr)
		return serr
	}
	return err
}

// Writable returns nil while writes succeed, and the error of the latest
// write transaction (wrapping ErrStorageFull or ErrNotWritable) while
// the file system refuses them: a full disk, a file system remounted
// read-only. The state changes with every commit; ProbeWrite tests it
// without one. Safe for concurrent use; it does no I/O.
func (s *Store) Writable() error {
	if p := s.health.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Serving returns nil while the store is open and ErrClosed once Close
// has begun, at once: a readiness check must not wait for the applier
// to catch up with ingest, as Stats does (under sustained ingest that
// is up to its lag, about a second at saturation — past a probe's
// timeout).
func (s *Store) Serving() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// ProbeWrite commits a small write (the time, under the meta key
// write_probe) and returns its error, updating Writable: a node whose
// writes failed calls it to learn when they work again without waiting
// for traffic. It blocks for one fsync; ErrClosed after Close.
func (s *Store) ProbeWrite() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(probeKey, u64(uint64(s.opts.Now().UnixMilli())))
	})
	if err != nil {
		return fmt.Errorf("store: write probe: %w", err)
	}
	return nil
}
