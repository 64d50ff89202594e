package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// threadsAtNice counts the process's threads whose nice value is nice
// (/proc/self/task/*/stat, field 19).
func threadsAtNice(t *testing.T, nice int) int {
	t.Helper()
	stats, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended meanwhile
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // from field 3, the state
		if v, err := strconv.Atoi(fields[19-3]); err == nil && v == nice {
			n++
		}
	}
	return n
}

// The applier alone runs at ApplierPriority, on a thread of its own, and
// leaves no thread at that priority when it ends (the runtime keeps the
// main thread, wedged, if the applier was wired to it: found by this test
// under load). The test asks for a lower priority (5), which any process
// may take, so it does not need CAP_SYS_NICE.
func TestApplierPriority(t *testing.T) {
	const nice = 5
	if n := threadsAtNice(t, nice); n != 0 {
		t.Fatalf("%d threads at nice %d before the store opens", n, nice)
	}
	s := open(t, func(o *Options) { o.ApplierPriority = nice })
	for i := range 50 {
		if _, err := s.Ingest(context.Background(), []Event{ev(t, fmt.Sprintf(`{"type":"track","userId":"prio-%d","event":"x"}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	if n := threadsAtNice(t, nice); n != 1 {
		t.Fatalf("%d threads at nice %d while the store is open, want 1 (the applier's)", n, nice)
	}
	if n := threadsAtNice(t, 0); n == 0 {
		t.Fatal("no thread left at the process's priority")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The applier's goroutine has returned: its thread ended, or is back
	// at the process's priority.
	deadline := time.Now().Add(5 * time.Second)
	for threadsAtNice(t, nice) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a thread at nice %d outlives the closed store", nice)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
