package hubsync

import (
	"sync"
	"time"
)

// The push cursor (PushCursor) in memory (decision 0097).
//
// Every persisted change of it is a write transaction of the store,
// which makes the store's applier commit the transaction it keeps open
// across batches under load; saved after every push, it made an edge
// with a hub commit per batch again. So the push loop keeps the cursor
// here and saves it, with the outbox trim it allows, at most every
// CursorInterval — and at once when it moves for a resync or a resend,
// and when the loop stops. A crash between saves forgets only progress:
// the edge pushes again from the saved cursor and the hub answers the
// entries it holds as duplicates (AckDuplicate), as it does for a push
// whose acknowledgement was lost. The outbox is never trimmed past the
// saved cursor (the trim runs after the save, and TrimOutbox caps it by
// every persisted cursor), so the entries after it are still there.
type pushCursor struct {
	mu      sync.Mutex
	loaded  bool
	cur     uint64 // the last sequence the hub acknowledged
	saved   uint64 // the value persisted
	savedAt time.Time
}

// pushPos returns the push cursor: the last outbox sequence the hub
// acknowledged, saved or not.
func (c *Client) pushPos() (uint64, error) {
	p := &c.push
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := c.loadPush(); err != nil {
		return 0, err
	}
	return p.cur, nil
}

// loadPush reads the persisted cursor once; p.mu is held.
func (c *Client) loadPush() error {
	if c.push.loaded {
		return nil
	}
	v, err := c.st.Cursor(PushCursor)
	c.push.persisted(v, err)
	return err
}

// setPushPos moves the push cursor to seq and saves it at once (a
// resync or a resend: rare, and the next push depends on it).
func (c *Client) setPushPos(seq uint64) error {
	c.push.mu.Lock()
	defer c.push.mu.Unlock()
	err := c.st.SetCursor(PushCursor, seq)
	c.push.persisted(seq, err)
	return err
}

// persisted records that v is the cursor's persisted value, read or
// written (unless err); p.mu is held.
func (p *pushCursor) persisted(v uint64, err error) {
	if err == nil {
		p.cur, p.saved, p.loaded, p.savedAt = v, v, true, time.Now()
	}
}

// advancePush records that the hub acknowledged up to seq and saves the
// cursor (and trims) when CursorInterval has passed since the last save.
func (c *Client) advancePush(seq uint64) error {
	p := &c.push
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := c.loadPush(); err != nil {
		return err
	}
	if seq > p.cur {
		p.cur = seq
	}
	return c.savePushIf(false)
}

// flushPush saves the cursor if it moved since the last save: when due
// (an idle pass of the push loop), or at once when final (the loop's
// end).
func (c *Client) flushPush(final bool) error {
	p := &c.push
	p.mu.Lock()
	defer p.mu.Unlock()
	return c.savePushIf(final)
}

// savePushIf saves the cursor if it moved, and CursorInterval has
// passed since the last save or final; p.mu is held.
func (c *Client) savePushIf(final bool) error {
	p := &c.push
	if !p.loaded || p.cur == p.saved || !final && time.Since(p.savedAt) < c.cfg.CursorInterval {
		return nil
	}
	return c.savePush()
}

// savePush persists the cursor, then trims the outbox up to it (no
// further than the other readers named in TrimAfter); p.mu is held.
func (c *Client) savePush() error {
	p := &c.push
	seq := p.cur
	if err := c.st.SetCursor(PushCursor, seq); err != nil {
		return err
	}
	p.saved, p.savedAt = seq, time.Now()
	upTo := seq
	for _, name := range c.cfg.TrimAfter {
		v, err := c.st.Cursor(name)
		if err != nil {
			return err
		}
		upTo = min(upTo, v)
	}
	_, err := c.st.TrimOutbox(upTo)
	return err
}
