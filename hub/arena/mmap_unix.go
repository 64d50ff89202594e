//go:build unix

package arena

import (
	"fmt"
	"os"
	"syscall"
)

const supported = true

// mmap maps n bytes of f at off, shared (writes go to the file, so the
// kernel can write the pages back and drop them under memory pressure).
func mmap(f *os.File, off int64, n int) ([]byte, error) {
	b, err := syscall.Mmap(int(f.Fd()), off, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("arena: mmap: %w", err)
	}
	return b, nil
}

func unmap(b []byte) error {
	if err := syscall.Munmap(b); err != nil {
		return fmt.Errorf("arena: munmap: %w", err)
	}
	return nil
}
