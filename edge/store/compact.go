package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// compactSuffix names the file Compact writes beside the data file.
const compactSuffix = ".compact"

// compactTxBytes bounds one transaction of the copy (bolt.Compact), so
// memory stays bounded whatever the file's size.
const compactTxBytes = 64 << 20

// removeCompactLeftover deletes a copy a crash left half-written. It
// holds only live data, but nothing reads it.
func removeCompactLeftover(path string) {
	_ = os.Remove(path + compactSuffix)
}

// view runs fn in a read transaction of the current file.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(fn)
}

// dbUpdate runs fn in a write transaction of the current file; Compact
// waits for it (and holds later ones back) while it copies the file.
func (s *Store) dbUpdate(fn func(*bolt.Tx) error) error {
	s.wait() // the applier's open transaction commits (opentx.go)
	defer s.waiting.Add(-1)
	return s.dbUpdatePatient(fn)
}

// dbUpdatePatient is dbUpdate for upkeep that can wait: it does not cut
// the applier's open transaction short, but waits for the applier to
// commit it on its own schedule — within Options.CommitAge under load,
// within Options.IdleCommit when its queue empties (decision 0107). (A
// commit the applier is made to make early rewrites the same leaves
// again for fewer events: an outbox trim once a second cut a third of
// the commits of a loaded edge short — bench/README, "Upkeep that waits
// for the applier's commit".)
func (s *Store) dbUpdatePatient(fn func(*bolt.Tx) error) error {
	s.writeGate.RLock()
	defer s.writeGate.RUnlock()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.Update(fn)
}

// Compact rewrites the data file so it holds live data only: bbolt
// keeps the old contents of freed pages (an erased person's, among
// others) until it reuses them. It copies every bucket into a new file
// beside the old one (bolt.Compact), fsyncs it, renames it over the old
// file, fsyncs the directory and reopens. Writes wait while it copies
// (the commit queue fills meanwhile; ingest may see ErrOverloaded);
// reads go on against the old file, and wait only for the rename and
// reopen. A crash at any point leaves either file whole at the path;
// the erasure's pending mark (CompactPending) survives in it until a
// compaction finishes, so the compaction runs again after a restart.
//
// ApplyDirective's caller compacts once per batch of directives before
// confirming them; erasures arriving from peers or the hub are
// compacted by the store itself, Options.CompactDelay after them.
func (s *Store) Compact() error {
	s.wait() // the applier's open transaction commits (opentx.go)
	s.writeGate.Lock()
	s.waiting.Add(-1)
	defer s.writeGate.Unlock()
	start := time.Now()
	path := s.opts.Path
	tmp := path + compactSuffix
	_ = os.Remove(tmp)
	dopts := *s.bopts
	dopts.MmapFlags = 0
	dopts.NoSync = s.opts.NoSync

	s.dbMu.RLock()
	if s.priv.dbClosed {
		s.dbMu.RUnlock()
		return ErrClosed
	}
	before := fileSize(path)
	dst, err := bolt.Open(tmp, 0o600, &dopts)
	if err == nil {
		err = bolt.Compact(dst, s.db, compactTxBytes)
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}
	s.dbMu.RUnlock()
	if err == nil && !s.opts.NoSync {
		err = syncFile(tmp)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: compact %s: %w", path, err)
	}

	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.priv.dbClosed {
		_ = os.Remove(tmp)
		return ErrClosed
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: compact: close %s: %w", path, err)
	}
	// From here the old handle is closed: failing to reopen leaves the
	// store unusable (every call fails) until the node restarts.
	if err := os.Rename(tmp, path); err != nil {
		return s.reopenAfter(fmt.Errorf("store: compact: rename: %w", err))
	}
	if !s.opts.NoSync {
		if err := syncFile(filepath.Dir(path)); err != nil {
			return s.reopenAfter(fmt.Errorf("store: compact: sync directory: %w", err))
		}
	}
	if err := s.reopenAfter(nil); err != nil {
		return err
	}
	// The copy carried the pending mark: no write could land in between.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(compactKey) }); err != nil {
		return fmt.Errorf("store: compact: clear the pending mark: %w", err)
	}
	s.priv.pending.Store(false)
	s.priv.compactions.Add(1)
	s.log.Info("data file compacted", "file", path, "bytes_before", before, "bytes_after", fileSize(path),
		"took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// reopenAfter opens the file at the store's path again (dbMu held) and
// returns cause, or the open's error.
func (s *Store) reopenAfter(cause error) error {
	db, err := bolt.Open(s.opts.Path, 0o600, s.bopts)
	if err != nil {
		s.log.Error("data file cannot be reopened after compaction; the store is unusable until restart", "file", s.opts.Path, "err", err)
		if cause == nil {
			cause = fmt.Errorf("store: compact: reopen %s: %w", s.opts.Path, err)
		}
		return cause
	}
	s.db = db
	return cause
}

// compactLoop compacts the file CompactDelay after an erasure marked it
// (CompactPending), until ctx ends; a failed compaction is retried.
func (s *Store) compactLoop(ctx context.Context) {
	defer close(s.priv.compactDone)
	for {
		if s.priv.pending.Load() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.opts.CompactDelay):
			}
			if s.priv.pending.Load() {
				if err := s.Compact(); err != nil {
					s.log.Warn("compacting the data file after an erasure failed; will retry", "err", err)
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.priv.wake:
		}
	}
}

// wakeCompact tells the compaction loop an erasure was committed.
func (s *Store) wakeCompact() {
	s.priv.pending.Store(true)
	select {
	case s.priv.wake <- struct{}{}:
	default:
	}
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
