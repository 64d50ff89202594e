package store

import (
	"sync"
	"time"
)

// ReaderCursor is an outbox reader's position — a named Cursor — kept
// in memory and saved at most every interval, when the reader moves it
// on (SetCursorBehind: with the store's next commit, decision 0101), and
// at once, durably, when it is Set or Flushed as final (SetCursor)
// (docs/decisions/0097-outbox-readers-follow-commits.md). A reader that
// saved after every pass (gossip, the hub push) made a busy edge commit
// per batch again, and a durable save is a write transaction of its own
// that makes the applier commit the one it keeps open. A crash between
// saves — or before the commit a save behind rides — forgets only
// progress: the reader delivers the entries after the saved position
// again, as at-least-once delivery always allowed. A trim never passes a
// persisted cursor, so those entries are still there. Safe for
// concurrent use.
type ReaderCursor struct {
	st    CursorStore
	name  string
	every time.Duration

	mu      sync.Mutex
	loaded  bool
	cur     uint64 // the reader's position
	saved   uint64 // the value persisted
	savedAt time.Time
}

// CursorStore is the part of Store a ReaderCursor reads and saves
// through.
type CursorStore interface {
	Cursor(name string) (uint64, error)
	SetCursor(name string, seq uint64) error
	SetCursorBehind(name string, seq uint64) error
}

// NewReaderCursor returns the cursor called name of st, saved at most
// every interval (0: at every move).
func NewReaderCursor(st CursorStore, name string, every time.Duration) *ReaderCursor {
	return &ReaderCursor{st: st, name: name, every: every}
}

// Pos returns the position, saved or not; the first call reads the
// persisted one.
func (c *ReaderCursor) Pos() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(); err != nil {
		return 0, err
	}
	return c.cur, nil
}

// load reads the persisted position once; c.mu is held.
func (c *ReaderCursor) load() error {
	if c.loaded {
		return nil
	}
	v, err := c.st.Cursor(c.name)
	c.persisted(v, err)
	return err
}

// persisted records v as the position persisted, read or written
// (unless err); c.mu is held.
func (c *ReaderCursor) persisted(v uint64, err error) {
	if err == nil {
		c.cur, c.saved, c.loaded, c.savedAt = v, v, true, time.Now()
	}
}

// Set moves the position to seq, backwards too, and saves it now.
func (c *ReaderCursor) Set(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.st.SetCursor(c.name, seq)
	c.persisted(seq, err)
	return err
}

// Advance moves the position on to seq (never back) and saves it when
// the interval has passed since the last save. saved reports a save, of
// position at.
func (c *ReaderCursor) Advance(seq uint64) (at uint64, saved bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(); err != nil {
		return 0, false, err
	}
	c.cur = max(c.cur, seq)
	return c.saveIf(false)
}

// Flush saves a position that moved since the last save: when the
// interval has passed, or at once when final (the reader stops).
func (c *ReaderCursor) Flush(final bool) (at uint64, saved bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saveIf(final)
}

// saveIf is Flush with c.mu held.
func (c *ReaderCursor) saveIf(final bool) (uint64, bool, error) {
	if !c.loaded || c.cur == c.saved || !final && time.Since(c.savedAt) < c.every {
		return 0, false, nil
	}
	save := c.st.SetCursorBehind
	if final {
		save = c.st.SetCursor
	}
	if err := save(c.name, c.cur); err != nil {
		return 0, false, err
	}
	c.saved, c.savedAt = c.cur, time.Now()
	return c.cur, true, nil
}
