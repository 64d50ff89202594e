package hubsync

import "errors"

// Sentinel errors.
var (
	// ErrHub is returned (wrapped) when a hub answers with an unexpected
	// status or body.
	ErrHub = errors.New("hubsync: unexpected hub answer")
	// ErrBehind is returned (wrapped) when the hub expects sequences this
	// edge no longer holds in its outbox (trimmed without a hub ack): the
	// outbox cannot repair it.
	ErrBehind = errors.New("hubsync: hub expects trimmed outbox entries")
)
