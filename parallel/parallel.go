// Package parallel runs index-addressed work on a fixed number of
// goroutines: fn(i) once for every i in [0, n), in no particular order.
// Callers keep their results deterministic by having fn write only its
// own slot of a result slice and consuming the slots in index order (the
// hub's state machine and its identity engine both do).
package parallel

import (
	"sync"
	"sync/atomic"
)

// Start begins calling fn(i) for every i in [0, n) on max(workers, 1)
// goroutines, each taking the next index, and returns at once; wait
// blocks until every call has returned. fn must be safe to call
// concurrently.
func Start(n, workers int, fn func(i int)) (wait func()) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	return wg.Wait
}

// For is Start followed by wait: it returns when fn has been called for
// every i in [0, n).
func For(n, workers int, fn func(i int)) { Start(n, workers, fn)() }
