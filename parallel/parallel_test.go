package parallel

import (
	"sync/atomic"
	"testing"
)

// Every index is handed out exactly once, whatever the worker count
// (none, fewer than the work, more than the work), and For returns only
// after the last call.
func TestEveryIndexOnce(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 4}, {1, 0}, {7, 1}, {1000, 3}, {5, 64}} {
		calls := make([]atomic.Int32, tc.n)
		For(tc.n, tc.workers, func(i int) { calls[i].Add(1) })
		for i := range calls {
			if c := calls[i].Load(); c != 1 {
				t.Fatalf("n=%d workers=%d: index %d called %d times", tc.n, tc.workers, i, c)
			}
		}
	}
}

// Start returns before the work is done; wait returns after it.
func TestStartThenWait(t *testing.T) {
	release := make(chan struct{})
	var done atomic.Int32
	wait := Start(4, 2, func(int) {
		<-release
		done.Add(1)
	})
	if done.Load() != 0 {
		t.Fatal("Start waited for the work")
	}
	close(release)
	wait()
	if done.Load() != 4 {
		t.Fatalf("after wait: %d of 4 calls done", done.Load())
	}
}
