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
