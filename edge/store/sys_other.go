//go:build !linux

package store

import "os"

// populateFlag is Linux's MAP_POPULATE; elsewhere Options.Populate does
// nothing and pages fault in on first touch.
const populateFlag = 0

// fdatasync is File.Sync where the system has no fdatasync (on macOS,
// F_FULLFSYNC: the stronger flush).
func fdatasync(f *os.File) error { return f.Sync() }

// writebackHint does nothing where there is no sync_file_range.
func writebackHint(*os.File) {}
