//go:build !linux

package hubsync

import "time"

// setUserTimeout does nothing here: TCP_USER_TIMEOUT is Linux's; the
// keepalive probes and the request deadlines still bound a dead
// connection.
func setUserTimeout(uintptr, time.Duration) error { return nil }
