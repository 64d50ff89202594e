package api

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// probeConn is a net.Conn whose Read records whether a flag was set
// when it was called.
type probeConn struct {
	net.Conn
	flag *atomic.Bool
	seen []bool
}

func (c *probeConn) Read(b []byte) (int, error) {
	c.seen = append(c.seen, c.flag.Load())
	return len(b), nil
}

func (c *probeConn) Write(b []byte) (int, error) { return len(b), nil }

// TestReadAfterAnswerYields: the first read after an answer lets a
// goroutine that became runnable meanwhile run before it reads (the
// other connections' requests, decision 0116); a read that follows a
// read does not yield. One processor makes the order certain: a new
// goroutine runs only when the current one yields or blocks.
func TestReadAfterAnswerYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var flag atomic.Bool
	pc := &probeConn{flag: &flag}
	hc := &headConn{Conn: pc, heads: &sync.Map{}, key: "k"}
	tm := newConnTimeouts(time.Minute, time.Minute, time.Minute)
	defer tm.close()
	hc.init(tm, pc)
	buf := make([]byte, 8)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); flag.Store(true) }()
	if _, err := hc.Read(buf); err != nil { // no answer yet: no yield
		t.Fatal(err)
	}
	if _, err := hc.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Read(buf); err != nil { // after the answer: yields first
		t.Fatal(err)
	}
	wg.Wait()
	if len(pc.seen) != 2 || pc.seen[0] || !pc.seen[1] {
		t.Fatalf("runnable goroutine had run at each read: %v, want [false true]", pc.seen)
	}
}
