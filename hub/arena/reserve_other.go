//go:build !linux

package arena

import "os"

// reserve grows f to off+n bytes. Without fallocate the new range is a
// hole, given disk blocks as its pages are first written.
func reserve(f *os.File, off int64, n int) error { return f.Truncate(off + int64(n)) }
