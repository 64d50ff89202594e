//go:build linux

package arena

import (
	"fmt"
	"os"
	"syscall"
)

// reserve gives f's bytes [off, off+n) disk blocks now, growing the
// file: a page of a shared mapping over a hole gets its block only when
// first written, and a full disk then kills the process with SIGBUS
// where fallocate returns ENOSPC (grow falls back to the heap).
func reserve(f *os.File, off int64, n int) error {
	if err := syscall.Fallocate(int(f.Fd()), 0, off, int64(n)); err != nil {
		return fmt.Errorf("arena: fallocate: %w", err)
	}
	return nil
}
