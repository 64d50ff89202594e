package store

import (
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Early writeback of a commit's pages (docs/decisions/0103-commit-writeback.md).
//
// bbolt's commit writes every dirty page with pwrite, then fdatasyncs
// the file before it writes the meta page. Under load a commit writes
// tens of thousands of pages (~100 MB), all still dirty in the page
// cache when the fdatasync starts, so the applier waits for the device
// to take all of them at once. While the applier commits, a helper asks
// the kernel every writebackEvery to start writing the file's dirty
// pages back without waiting (sync_file_range SYNC_FILE_RANGE_WRITE on
// Linux; nothing elsewhere): the device takes them while bbolt writes
// the rest, and the fdatasync finds less left to do.
//
// It changes nothing bbolt relies on: a page the kernel writes early is
// one bbolt has written already, the fdatasync that makes the commit
// durable still runs (a failed hint is ignored), and the meta page is
// written only after it.

// writebackEvery is how often the helper asks, while a commit runs.
const writebackEvery = 5 * time.Millisecond

// writebackFile is a descriptor of the data file, opened for the hints
// only; the page cache is the file's, whatever descriptor asks. It
// follows the store's bbolt handle across compactions, which replace
// the file. Only the applier goroutine uses it (and Close, after it).
type writebackFile struct {
	db *bolt.DB // the handle f was opened for
	f  *os.File
}

// commitWriteback starts the hints for a commit of the applier's
// transaction and returns the function that stops them (call it when
// Commit returns). Without a descriptor it does nothing.
func (s *Store) commitWriteback() (stop func()) {
	wb := &s.wb
	if wb.db != s.db {
		wb.close()
		if f, err := os.Open(s.db.Path()); err == nil {
			wb.db, wb.f = s.db, f
		} else {
			wb.db = s.db // no hints for this file; asked once
		}
	}
	if wb.f == nil {
		return func() {}
	}
	return startWriteback(wb.f, writebackEvery)
}

// close closes the descriptor, if one is open.
func (wb *writebackFile) close() {
	if wb.f != nil {
		_ = wb.f.Close()
	}
	*wb = writebackFile{}
}

// startWriteback hints, every interval until stop returns, that f's
// dirty pages be written back (writebackHint).
func startWriteback(f *os.File, interval time.Duration) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				writebackHint(f)
			}
		}
	}()
	return func() { close(done); <-finished }
}
