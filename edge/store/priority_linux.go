package store

import (
	"fmt"
	"runtime"
	"syscall"
)

// raisePriority wires the calling goroutine to its OS thread and sets
// that thread's nice value to nice (decision 0100). On Linux a nice
// value belongs to a thread, so only the goroutine calling it — the
// applier — runs at that priority. The caller runs restore before it
// returns: it puts the thread's own value back, since the thread may
// outlive the goroutine (the runtime keeps the process's main thread,
// wedged, when a goroutine wired to it returns; any other it ends). A
// value the process may not take (a negative one without CAP_SYS_NICE or
// a high enough RLIMIT_NICE) is an error, and leaves the goroutine
// unwired on a thread as it was.
func raisePriority(nice int) (restore func(), err error) {
	runtime.LockOSThread()
	tid := syscall.Gettid()
	// The raw system call answers 20 − nice, so that it is never negative.
	raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err == nil {
		err = syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice)
	}
	if err != nil {
		runtime.UnlockOSThread()
		return func() {}, fmt.Errorf("store: applier thread priority %d: %w", nice, err)
	}
	return func() { _ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, 20-raw) }, nil
}
