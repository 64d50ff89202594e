package crdt

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// fakeTime is a settable clock for tests.
type fakeTime struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeTime) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeTime) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func TestClockMonotonicWhenWallStandsStillOrGoesBack(t *testing.T) {
	ft := &fakeTime{t: time.UnixMilli(1_000_000)}
	c := NewClock(1, ft.now, time.Second, Timestamp{})
	prev := c.Now()
	for i := range 1000 {
		if i%100 == 0 {
			ft.add(-50 * time.Millisecond) // NTP step backwards
		}
		ts := c.Now()
		if !prev.Less(ts) {
			t.Fatalf("Now() = %v after %v, want strictly later", ts, prev)
		}
		prev = ts
	}
}

func TestClockRestartNeverGoesBack(t *testing.T) {
	ft := &fakeTime{t: time.UnixMilli(5_000)}
	c := NewClock(1, ft.now, time.Second, Timestamp{})
	for range 10 {
		c.Now()
	}
	hw := c.Last()
	ft.add(-time.Hour) // restarted with a clock an hour behind
	c2 := NewClock(1, ft.now, time.Second, hw)
	if ts := c2.Now(); !hw.Less(ts) {
		t.Fatalf("after restart Now() = %v, want after high-water mark %v", ts, hw)
	}
}

// A till whose clock runs an hour fast must not drag the store's clocks
// forward: its timestamps are refused until real time catches up.
func TestClockRejectsSkewedNode(t *testing.T) {
	good := &fakeTime{t: time.UnixMilli(10_000_000)}
	skewed := &fakeTime{t: good.t.Add(time.Hour)}
	a := NewClock(1, good.now, 500*time.Millisecond, Timestamp{})
	b := NewClock(2, skewed.now, 500*time.Millisecond, Timestamp{})

	before := a.Last()
	_, err := a.Update(b.Now())
	if !errors.Is(err, ErrClockDrift) {
		t.Fatalf("Update(skewed) error = %v, want ErrClockDrift", err)
	}
	if got := a.Last(); got != before {
		t.Fatalf("rejected Update moved the clock to %v, want %v", got, before)
	}
	if ts := a.Now(); ts.Wall != good.t.UnixMilli() {
		t.Fatalf("Now() after rejected update = %v, want wall %d", ts, good.t.UnixMilli())
	}
	// A register written by the skewed node cannot be accepted, so a later
	// honest write keeps winning on every replica that checks drift.
	if err := a.Check(b.Now()); !errors.Is(err, ErrClockDrift) {
		t.Fatalf("Check(skewed) = %v, want ErrClockDrift", err)
	}

	// Within the bound, the remote is accepted and causality holds.
	slight := &fakeTime{t: good.t.Add(300 * time.Millisecond)}
	c := NewClock(3, slight.now, 500*time.Millisecond, Timestamp{})
	r := c.Now()
	got, err := a.Update(r)
	if err != nil {
		t.Fatalf("Update(300ms ahead) = %v, want accepted", err)
	}
	if !r.Less(got) || !r.Less(a.Now()) {
		t.Fatalf("after Update(%v) clock at %v, want later", r, got)
	}
}

func TestClockUpdateProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ft := &fakeTime{t: time.UnixMilli(1_000_000)}
		c := NewClock(7, ft.now, time.Second, Timestamp{})
		last := c.Now()
		for range rapid.IntRange(1, 50).Draw(t, "n") {
			ft.add(time.Duration(rapid.IntRange(-20, 20).Draw(t, "step")) * time.Millisecond)
			if rapid.Bool().Draw(t, "remote") {
				r := Timestamp{
					Wall:    ft.now().UnixMilli() + rapid.Int64Range(-2000, 2000).Draw(t, "off"),
					Logical: uint32(rapid.IntRange(0, 5).Draw(t, "l")),
					Node:    ReplicaID(rapid.IntRange(1, 5).Draw(t, "node")),
				}
				got, err := c.Update(r)
				if r.Wall-ft.now().UnixMilli() > 1000 {
					if !errors.Is(err, ErrClockDrift) {
						t.Fatalf("Update(%v) accepted a remote beyond the bound", r)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Update(%v) = %v", r, err)
				}
				if !r.Less(got) || !last.Less(got) {
					t.Fatalf("Update(%v) = %v, last %v: not after both", r, got, last)
				}
				last = got
				continue
			}
			ts := c.Now()
			if !last.Less(ts) {
				t.Fatalf("Now() = %v, want after %v", ts, last)
			}
			last = ts
		}
	})
}

// TestTimestampStringIsSprintf holds String to the format it replaced.
func TestTimestampStringIsSprintf(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ts := Timestamp{
			Wall:    rapid.Int64().Draw(t, "wall"),
			Logical: rapid.Uint32().Draw(t, "logical"),
			Node:    ReplicaID(rapid.Uint64().Draw(t, "node")),
		}
		want := fmt.Sprintf("%d.%d@%x", ts.Wall, ts.Logical, uint64(ts.Node))
		if got := ts.String(); got != want {
			t.Fatalf("String() = %q, want %q", got, want)
		}
	})
}
