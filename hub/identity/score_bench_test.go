package identity

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkScoreCandidatePairs measures pair scoring (comparison vector
// and weight) over the candidate pairs of 5,000 synthetic records. Besides
// wall time it reports the scoring thread's own CPU time per pair, which a
// shared, loaded machine inflates far less.
//
//	go test -run '^$' -bench ScoreCandidatePairs -benchmem ./hub/identity
func BenchmarkScoreCandidatePairs(b *testing.B) {
	recs, _ := synth(11, 5000)
	ix := load(b, testModel(b), recs)
	set := ix.CandidateSet()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	b.ResetTimer()
	for b.Loop() {
		set.Score()
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(set.Len()*b.N), "ns/pair")
	b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/float64(set.Len()*b.N), "cpu-ns/pair")
}

// threadCPU returns the calling OS thread's user+system CPU time.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD, Linux
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
