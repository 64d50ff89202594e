//go:build !linux

package hubsync

import (
	"testing"
	"time"
)

// checkUserTimeout does nothing: TCP_USER_TIMEOUT is Linux's.
func checkUserTimeout(*testing.T, func(level, opt int) int, time.Duration) {}
