package store

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The applier's writeback descriptor is the data file's, follows it
// across compactions (which replace the file) without leaking the old
// one, and is closed with the store.
func TestCommitWritebackFollowsTheFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	s := open(t, func(o *Options) { o.CompactDelay = time.Hour })
	inode := func(f *os.File, path string) (uint64, uint64) {
		t.Helper()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		pi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino, pi.Sys().(*syscall.Stat_t).Ino
	}
	fds := func() int {
		t.Helper()
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	ingest(t, s, `{"type":"track","userId":"u1","messageId":"w0","event":"Viewed"}`) // Ingest returns after the commit
	if s.wb.f == nil || s.wb.db != s.db {
		t.Fatalf("after a commit: writeback descriptor %v for handle %p, store handle %p", s.wb.f, s.wb.db, s.db)
	}
	if got, want := inode(s.wb.f, s.opts.Path); got != want {
		t.Fatalf("writeback descriptor's inode %d, data file's %d", got, want)
	}
	before := fds()
	for i := range 3 {
		old, _ := inode(s.wb.f, s.opts.Path)
		if err := s.Compact(); err != nil {
			t.Fatal(err)
		}
		ingest(t, s, `{"type":"track","userId":"u1","messageId":"w`+string(rune('1'+i))+`","event":"Viewed"}`)
		got, want := inode(s.wb.f, s.opts.Path)
		if got != want || got == old {
			t.Fatalf("compaction %d: writeback descriptor's inode %d (before %d), data file's %d", i+1, got, old, want)
		}
	}
	if after := fds(); after > before {
		t.Errorf("open descriptors %d before three compactions, %d after: the old files' leak", before, after)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.wb.f != nil {
		t.Error("writeback descriptor still open after Close")
	}
}
