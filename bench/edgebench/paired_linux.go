package edgebench

import (
	"fmt"
	"net"
	"runtime"
	"syscall"
)

// lockThread pins the paired client to its OS thread until release.
func lockThread() (release func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// rawConn is a blocking TCP socket used with plain read/write system
// calls, as a C client would: no netpoller, no goroutine hand-offs.
type rawConn int

func (c rawConn) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(c), p)
		if err == syscall.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

func (c rawConn) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := syscall.Write(int(c), p[written:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

func (c rawConn) Close() error { return syscall.Close(int(c)) }

// dialPaired connects a blocking IPv4 socket with TCP_NODELAY to addr.
func dialPaired(addr string) (pairedConn, error) {
	a, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("TCP_NODELAY: %w", err)
	}
	sa := &syscall.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("connect: %w", err)
	}
	return rawConn(fd), nil
}
