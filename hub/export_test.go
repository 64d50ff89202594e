package hub

import (
	"io"

	"github.com/hashicorp/raft"
)

// SetMaxBusyCount lowers the cap on a busy value's count for a test and
// returns the function that restores it.
func SetMaxBusyCount(n int) (restore func()) {
	old := maxBusyCount
	maxBusyCount = n
	return func() { maxBusyCount = old }
}

// SetRebuildBatch sets how many records a restore gives the identity
// engine at a time, for a test, and returns the function that restores it.
func SetRebuildBatch(n int) (restore func()) {
	old := rebuildBatch
	rebuildBatch = n
	return func() { rebuildBatch = old }
}

// PersistTo writes a snapshot the FSM returned (FSM.Snapshot) to w, as
// Persist writes it to a sink.
func PersistTo(s raft.FSMSnapshot, w io.Writer) error { return s.(*snapshot).write(w) }
