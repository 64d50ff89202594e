package store

import (
	"testing"
	"time"
)

// A ReaderCursor reads the persisted position once, keeps moves in
// memory until its interval has passed, saves a moved position when
// flushed as final, and saves a Set at once, backwards too.
func TestReaderCursor(t *testing.T) {
	s := open(t)
	if err := s.SetCursor("r", 5); err != nil {
		t.Fatal(err)
	}
	c := NewReaderCursor(s, "r", time.Hour)
	persisted := func() uint64 {
		t.Helper()
		v, err := s.Cursor("r")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v, err := c.Pos(); err != nil || v != 5 {
		t.Fatalf("Pos = %d, %v; want the persisted 5", v, err)
	}
	if _, saved, err := c.Advance(9); err != nil || saved {
		t.Fatalf("Advance within the interval saved (%v, %v)", saved, err)
	}
	if _, saved, _ := c.Advance(7); saved {
		t.Fatal("Advance backwards saved")
	}
	if v, _ := c.Pos(); v != 9 || persisted() != 5 {
		t.Fatalf("Pos %d, persisted %d; want 9 in memory, 5 persisted (Advance never moves back)", v, persisted())
	}
	if _, saved, _ := c.Flush(false); saved {
		t.Fatal("Flush before the interval saved")
	}
	if at, saved, err := c.Flush(true); err != nil || !saved || at != 9 || persisted() != 9 {
		t.Fatalf("Flush(final) = %d, %v, %v; persisted %d; want 9 saved", at, saved, err, persisted())
	}
	if _, saved, _ := c.Flush(true); saved {
		t.Fatal("Flush of an unmoved position saved")
	}
	if err := c.Set(3); err != nil || persisted() != 3 {
		t.Fatalf("Set(3) = %v, persisted %d", err, persisted())
	}
	now := NewReaderCursor(s, "r", 0)
	if at, saved, err := now.Advance(4); err != nil || !saved || at != 4 {
		t.Fatalf("interval 0: Advance(4) = %d, %v, %v; want saved at once", at, saved, err)
	}
	// Saved behind: persisted with the applier's next commit, at once on
	// an idle store.
	deadline := time.Now().Add(10 * time.Second)
	for persisted() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("interval 0: persisted %d 10 s after Advance(4), want 4", persisted())
		}
		time.Sleep(time.Millisecond)
	}
}
