//go:build !unix

package arena

import (
	"errors"
	"os"
)

var errUnsupported = errors.New("arena: memory-mapped files are not supported on this platform")

func mmap(*os.File, int64, int) ([]byte, error) { return nil, errUnsupported }

func unmap([]byte) error { return nil }
