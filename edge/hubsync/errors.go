package hubsync

import "errors"

// Sentinel errors.
var (
	// ErrHub is returned (wrapped) when a hub answers with an unexpected
	// status or body.
	ErrHub = errors.New("hubsync: unexpected hub answer")
	// ErrBehind is returned (wrapped) when the hub answers a gap to a
	// push flagged as a resync (which a hub never should): it expects
	// sequences this edge no longer holds and refuses full states in
	// their place. The push is retried with backoff, never resynced
	// again. A gap to an ordinary push is not an error: the client
	// resends the entries or resyncs (see Resyncer).
	ErrBehind = errors.New("hubsync: hub expects trimmed outbox entries")
)

// errUnreachable marks a failure to reach the hub at all (no connection,
// or one that failed mid-request), as opposed to an answer that was an
// error: the loops retry it sooner (Config.LinkBackoff).
var errUnreachable = errors.New("hubsync: hub unreachable")
