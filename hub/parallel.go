package hub

import (
	"runtime"

	"ucv/parallel"
)

// parallelDo calls fn(i) for every i in [0, n) on up to GOMAXPROCS
// goroutines and returns when all are done. fn must only read shared
// state and write its own slot of a result slice: Apply uses it for
// per-record work whose results do not depend on one another (the
// deltas of an import, the records to resolve), then consumes the
// results serially in order, so the outcome is that of a serial loop.
func parallelDo(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/64+1) // small batches stay on the caller
	if workers < 2 || applySerially {
		for i := range n {
			fn(i)
		}
		return
	}
	parallel.For(n, workers, fn)
}
