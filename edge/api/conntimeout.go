package api

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Connection timeouts without a timer per request.
//
// fasthttp applies Config.ReadTimeout, IdleTimeout and WriteTimeout by
// setting a deadline on the connection three times per request (idle
// wait, request read, response write): each a clock read and a change
// to the runtime's timers. On lookups that was ~8 % of the edge's
// throughput (bench/README.md, "Connection timeouts without per-request
// timers"). The edge keeps the same three limits but enforces them from
// one sweeper per server instead (docs/decisions/0071-coarse-connection-timeouts.md):
//
//   - every headConn records, without a clock read, which phase it is in
//     and since when (a coarse clock the sweeper advances each tick):
//     waiting for a request (idle; a new connection counts as reading),
//     reading one (from its first byte), or writing the response (from
//     its first write until the next read);
//   - each tick the sweeper looks at the connections blocked in a read or
//     a write and, for one past its phase's limit, sets that direction's
//     deadline to the past. The blocked call then fails with the same
//     timeout error a deadline gives, and fasthttp answers and closes
//     exactly as with its own deadlines: 408 for a request not read in
//     time (handleConnError), a silent close for an idle keep-alive
//     connection or a stalled write.
//
// A limit fires between its duration and its duration plus two ticks
// late (the tick is a tenth of the shortest limit, 5–250 ms), never
// early. A handler running long is in no phase the sweeper enforces
// (fasthttp's deadlines did not bound it either). A handler that sets a
// write deadline itself (the live stream) owns its writes until the
// next request.

// connPhase is what a connection is doing, for its limits.
type connPhase int32

const (
	phaseReading connPhase = iota // a request, from its first byte (a new connection: from accept)
	phaseIdle                     // waiting for the next request on a kept-alive connection
	phaseWriting                  // the response, from its first write
)

// connTimeouts is one server's limits, coarse clock and sweeper.
type connTimeouts struct {
	read, write, idle time.Duration
	tick              time.Duration
	now               atomic.Int64 // unix ns, advanced every tick
	stop              chan struct{}
	stopOnce          sync.Once
}

// newConnTimeouts returns the limits (0: none) with their tick.
func newConnTimeouts(read, write, idle time.Duration) *connTimeouts {
	if idle == 0 {
		idle = read // fasthttp's rule: no IdleTimeout means ReadTimeout
	}
	shortest := time.Duration(0)
	for _, d := range []time.Duration{read, write, idle} {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	t := &connTimeouts{read: read, write: write, idle: idle, tick: min(max(shortest/10, 5*time.Millisecond), 250*time.Millisecond), stop: make(chan struct{})}
	t.now.Store(time.Now().UnixNano())
	return t
}

// limit is the limit of phase p (0: none).
func (t *connTimeouts) limit(p connPhase) time.Duration {
	switch p {
	case phaseReading:
		return t.read
	case phaseIdle:
		return t.idle
	default:
		return t.write
	}
}

// sweep runs until close: every tick it advances the clock and expires
// the connections in conns (heads: remote address → *headConn) past
// their limit.
func (t *connTimeouts) sweep(conns *sync.Map) {
	if t.read <= 0 && t.write <= 0 && t.idle <= 0 {
		return // no limits
	}
	tk := time.NewTicker(t.tick)
	defer tk.Stop()
	last := time.Now()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
		}
		now := time.Now()
		t.now.Store(now.UnixNano())
		// A phase's start is a clock value up to one tick (and this
		// tick's own delay) old: allow that much more, so that nothing
		// expires early.
		slack := t.tick + now.Sub(last)
		last = now
		conns.Range(func(_, v any) bool {
			v.(*headConn).expire(now, slack)
			return true
		})
	}
}

// close stops the sweeper.
func (t *connTimeouts) close() { t.stopOnce.Do(func() { close(t.stop) }) }

// connTiming is a headConn's phase bookkeeping. Its phase fields change
// under mu, from the connection's goroutine (Read, Write) and the
// sweeper (expire); a blocked Read or Write holds no lock.
type connTiming struct {
	tm          *connTimeouts // the server's limits (init)
	mu          sync.Mutex
	phase       connPhase
	since       int64 // tm.now when the phase began
	reading     bool  // a Read is blocked
	writing     bool  // a Write is blocked
	wrote       bool  // a response was written since the last read
	ownWrites   bool  // a handler set a write deadline: the sweeper leaves writes alone
	pastRead    bool  // the sweeper set the read deadline to the past
	pastWrite   bool  // … the write deadline
	handshaking bool  // a TLS handshake is blocked (reading or writing)
	underlying  net.Conn
}

// pastDeadline is a deadline already passed.
var pastDeadline = time.Unix(1, 0)

// init starts c's bookkeeping for conn under tm's limits.
func (c *connTiming) init(tm *connTimeouts, conn net.Conn) {
	c.tm, c.underlying = tm, conn
	c.since = tm.now.Load()
}

// beforeRead marks a Read about to block, and reports whether it is the
// first since a response was written (the wait for the next request).
func (c *connTiming) beforeRead() (answered bool) {
	c.mu.Lock()
	if c.pastRead { // a sweep raced with the read before: not this one's
		c.underlying.SetReadDeadline(time.Time{})
		c.pastRead = false
	}
	answered = c.wrote
	if c.wrote { // the previous response is out: wait for the next request
		c.wrote, c.ownWrites = false, false
		c.phase, c.since = phaseIdle, c.tm.now.Load()
	}
	c.reading = true
	c.mu.Unlock()
	return answered
}

// afterRead marks the Read returned with n bytes.
func (c *connTiming) afterRead(n int) {
	c.mu.Lock()
	c.reading = false
	if n > 0 && c.phase == phaseIdle { // a request's first byte
		c.phase, c.since = phaseReading, c.tm.now.Load()
	}
	c.mu.Unlock()
}

// beforeWrite marks a Write of b about to block. An interim "100
// Continue" (fasthttp writes and flushes it alone, before reading an
// Expect: 100-continue request's body) leaves the request's phase as it
// is: its body is bounded by ReadTimeout from the request's first byte,
// as fasthttp's deadline bounded it.
func (c *connTiming) beforeWrite(b []byte) {
	c.mu.Lock()
	if c.pastWrite {
		c.underlying.SetWriteDeadline(time.Time{})
		c.pastWrite = false
	}
	if !bytes.HasPrefix(b, continueLine) {
		if c.phase != phaseWriting {
			c.phase, c.since = phaseWriting, c.tm.now.Load()
		}
		c.wrote = true
	}
	c.writing = true
	c.mu.Unlock()
}

// continueLine starts an interim 100 Continue response.
var continueLine = []byte("HTTP/1.1 100 ")

// afterWrite marks the Write returned.
func (c *connTiming) afterWrite() {
	c.mu.Lock()
	c.writing = false
	c.mu.Unlock()
}

// ownWriteDeadline records that a handler set a write deadline itself.
func (c *connTiming) ownWriteDeadline() {
	c.mu.Lock()
	c.ownWrites = true
	c.pastWrite = false
	c.mu.Unlock()
}

// expire sets the deadline of a blocked Read or Write whose phase is
// older than its limit plus slack to the past.
func (c *connTiming) expire(now time.Time, slack time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.tm.limit(c.phase)
	if limit <= 0 || now.UnixNano()-c.since <= int64(limit+slack) {
		return
	}
	switch {
	case c.handshaking && !c.pastRead:
		c.pastRead, c.pastWrite = true, true
		c.underlying.SetDeadline(pastDeadline)
	case c.reading && c.phase != phaseWriting && !c.pastRead:
		c.pastRead = true
		c.underlying.SetReadDeadline(pastDeadline)
	case c.writing && c.phase == phaseWriting && !c.ownWrites && !c.pastWrite:
		c.pastWrite = true
		c.underlying.SetWriteDeadline(pastDeadline)
	}
}

// handshake marks a TLS handshake blocked (on) or done: it is bounded
// as the reading of the first request, from accept, on both directions.
func (c *connTiming) handshake(on bool) {
	c.mu.Lock()
	c.handshaking = on
	c.mu.Unlock()
}
