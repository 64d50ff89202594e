package hubsync

import (
	"syscall"
	"testing"
	"time"
)

// checkUserTimeout checks the socket's TCP_USER_TIMEOUT, read with get.
func checkUserTimeout(t *testing.T, get func(level, opt int) int, want time.Duration) {
	t.Helper()
	if got := get(syscall.IPPROTO_TCP, tcpUserTimeout); got != int(want.Milliseconds()) {
		t.Errorf("TCP_USER_TIMEOUT = %d ms, want %d", got, want.Milliseconds())
	}
}
