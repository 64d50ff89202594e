package hubtest

import (
	"sync"
	"time"
)

// Clock is the leaders' clock of a test cluster (hub.Config.Now): real
// time plus an offset the test moves forward, so a test makes thirty
// days pass without sleeping. Safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the real time plus the offset.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// TickInterval is how often the nodes of test clusters look for
// clusters due for re-evaluation (hub.Config.TickInterval).
const TickInterval = 10 * time.Millisecond
