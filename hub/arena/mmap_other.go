//go:build !unix

package arena

import "os"

const supported = false

func mmap(*os.File, int64, int) ([]byte, error) { return nil, ErrUnsupported }

func unmap([]byte) error { return nil }
