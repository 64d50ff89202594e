package crdt

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// ReplicaID identifies the writer of a timestamp, dot or counter entry.
// Profiles derive it from the node and the profile ID (see profile.Replica)
// so that entries of two profiles merged into one never collide.
type ReplicaID uint64

// Timestamp is a hybrid logical clock reading: physical milliseconds since
// the Unix epoch, a logical counter for events within one millisecond, and
// the node that issued it. Timestamps are totally ordered by (Wall,
// Logical, Node); the node breaks ties deterministically. The zero value
// is earlier than every issued timestamp.
type Timestamp struct {
	Wall    int64  // physical time, ms since the Unix epoch
	Logical uint32 // counter within Wall
	Node    ReplicaID
}

// Compare returns -1, 0 or +1 as t is before, equal to or after u.
func (t Timestamp) Compare(u Timestamp) int {
	switch {
	case t.Wall != u.Wall:
		return cmp3(t.Wall < u.Wall)
	case t.Logical != u.Logical:
		return cmp3(t.Logical < u.Logical)
	case t.Node != u.Node:
		return cmp3(t.Node < u.Node)
	}
	return 0
}

func cmp3(less bool) int {
	if less {
		return -1
	}
	return 1
}

// Less reports whether t is before u.
func (t Timestamp) Less(u Timestamp) bool { return t.Compare(u) < 0 }

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Time returns the physical part as a time.Time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Wall).UTC() }

// String formats t as "wall.logical@node" (node in hex), as
// fmt.Sprintf("%d.%d@%x", t.Wall, t.Logical, uint64(t.Node)) would: a
// profile's version and every view carry it, so it is built with one
// allocation.
func (t Timestamp) String() string {
	var a [64]byte
	b := strconv.AppendInt(a[:0], t.Wall, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(t.Logical), 10)
	b = append(b, '@')
	return string(strconv.AppendUint(b, uint64(t.Node), 16))
}

// Clock is a hybrid logical clock (Kulkarni et al., 2014). It issues
// strictly increasing timestamps that stay close to physical time and
// respect causality: after Update(r), every Now is after r.
//
// A remote timestamp more than MaxDrift ahead of the local physical clock
// is rejected with ErrClockDrift and leaves the clock unchanged, so one
// node with a wrong clock cannot drag every other clock (and win every
// last-writer-wins register) into the future. Clock is safe for
// concurrent use.
type Clock struct {
	mu       sync.Mutex
	now      func() time.Time
	node     ReplicaID
	maxDrift time.Duration
	last     Timestamp
}

// NewClock returns a clock for node reading physical time from now.
// maxDrift bounds how far ahead a remote timestamp may be (<= 0 means
// 500 ms). start is the high-water mark persisted before a restart (zero
// for a new node); the clock never issues a timestamp at or before it.
func NewClock(node ReplicaID, now func() time.Time, maxDrift time.Duration, start Timestamp) *Clock {
	if maxDrift <= 0 {
		maxDrift = 500 * time.Millisecond
	}
	start.Node = node
	return &Clock{now: now, node: node, maxDrift: maxDrift, last: start}
}

// Node returns the clock's node ID.
func (c *Clock) Node() ReplicaID { return c.node }

// Now issues a new timestamp, strictly after every timestamp issued or
// accepted by Update before.
func (c *Clock) Now() Timestamp {
	pt := c.now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt > c.last.Wall {
		c.last = Timestamp{Wall: pt, Node: c.node}
	} else {
		c.last.Logical++
		c.last.Node = c.node
		if c.last.Logical == 0 { // counter overflow: borrow a millisecond
			c.last.Wall++
		}
	}
	return c.last
}

// Update merges a remote timestamp into the clock and returns a new local
// timestamp after both. If remote is more than MaxDrift ahead of local
// physical time it returns ErrClockDrift and changes nothing.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	pt := c.now().UnixMilli()
	if remote.Wall-pt > c.maxDrift.Milliseconds() {
		return Timestamp{}, fmt.Errorf("%w: %d ms ahead (bound %d ms)", ErrClockDrift, remote.Wall-pt, c.maxDrift.Milliseconds())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.last
	switch {
	case pt > l.Wall && pt > remote.Wall:
		c.last = Timestamp{Wall: pt}
	case l.Wall == remote.Wall:
		c.last = Timestamp{Wall: l.Wall, Logical: max(l.Logical, remote.Logical) + 1}
	case l.Wall > remote.Wall:
		c.last = Timestamp{Wall: l.Wall, Logical: l.Logical + 1}
	default:
		c.last = Timestamp{Wall: remote.Wall, Logical: remote.Logical + 1}
	}
	c.last.Node = c.node
	if c.last.Logical == 0 {
		c.last.Wall++
	}
	return c.last, nil
}

// Check reports ErrClockDrift if remote is more than MaxDrift ahead of the
// local physical clock, without changing the clock.
func (c *Clock) Check(remote Timestamp) error {
	pt := c.now().UnixMilli()
	if remote.Wall-pt > c.maxDrift.Milliseconds() {
		return fmt.Errorf("%w: %d ms ahead (bound %d ms)", ErrClockDrift, remote.Wall-pt, c.maxDrift.Milliseconds())
	}
	return nil
}

// Last returns the high-water mark: the latest timestamp issued or
// accepted. Persist it so a restarted node never goes back in time.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
