package profile

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time this process has used (user and system,
// all threads: the garbage collector's workers included).
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProfileCodecCPU is BenchmarkProfileEncode and
// BenchmarkProfileDecode reporting CPU time per operation (cpu-ns/op)
// besides wall time: on a machine shared with other jobs, time spent
// waiting for a core inflates ns/op but not cpu-ns/op.
func BenchmarkProfileCodecCPU(b *testing.B) {
	benchCodecCPU(b, benchProfile(b, 1))
}
