//go:build !linux

package edgebench

import "net"

// lockThread is a no-op off Linux, where the paired client uses net.Conn.
func lockThread() (release func()) { return func() {} }

// dialPaired connects with net.Dial off Linux (the raw-socket client is
// Linux-only; its numbers there include Go's netpoller).
func dialPaired(addr string) (pairedConn, error) { return net.Dial("tcp", addr) }
