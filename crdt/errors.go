package crdt

import "errors"

// ErrClockDrift is returned by Clock.Update when a remote timestamp is
// further ahead of the local physical clock than the configured bound.
// The remote state must not be accepted; the sender retries later.
var ErrClockDrift = errors.New("crdt: remote clock too far ahead")
