package store

import (
	"os"
	"syscall"
)

// populateFlag pre-faults the data file's memory map (Options.Populate).
const populateFlag = syscall.MAP_POPULATE

// fdatasync flushes f's data (and the metadata needed to read it back) to
// the device: the log's acknowledgement.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// writebackHint asks the kernel to start writing f's dirty pages to the
// device without waiting for them (sync_file_range with
// SYNC_FILE_RANGE_WRITE over the whole file). Errors are ignored: it is
// a hint, the commit's fdatasync is the guarantee.
func writebackHint(f *os.File) {
	const syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE
	_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), 0, 0, syncFileRangeWrite, 0, 0)
}
