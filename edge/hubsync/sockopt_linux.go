package hubsync

import (
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT (include/uapi/linux/tcp.h), which
// the syscall package does not name on every architecture.
const tcpUserTimeout = 18

// setUserTimeout sets how long data sent on fd may stay unacknowledged
// (and keepalive probes unanswered) before the kernel drops the
// connection.
func setUserTimeout(fd uintptr, d time.Duration) error {
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(d.Milliseconds()))
}
