package hubsync

// The push cursor (PushCursor) is a store.ReaderCursor (decision 0097):
// the push loop keeps it in memory and saves it, with the outbox trim
// it allows, at most every CursorInterval — at once when it moves for a
// resync or a resend, and when the loop stops. A crash between saves
// forgets only progress: the edge pushes again from the saved cursor
// and the hub answers the entries it holds as duplicates (AckDuplicate),
// as it does for a push whose acknowledgement was lost. The outbox is
// trimmed only after a save, and a trim never passes a persisted
// cursor, so the entries after the saved one are still there. The
// periodic saves and the trims are made with the store's next commit
// (SetCursorBehind, TrimOutboxBehind; decision 0101): the trim is
// queued after the save it follows, so it is never durable without it.

// pushPos returns the push cursor: the last outbox sequence the hub
// acknowledged, saved or not.
func (c *Client) pushPos() (uint64, error) { return c.push.Pos() }

// setPushPos moves the push cursor to seq and saves it at once (a
// resync or a resend: rare, and the next push depends on it).
func (c *Client) setPushPos(seq uint64) error { return c.push.Set(seq) }

// advancePush records that the hub acknowledged up to seq; when that
// saves the cursor, the outbox is trimmed up to it.
func (c *Client) advancePush(seq uint64) error {
	return c.trimAfter(c.push.Advance(seq))
}

// flushPush saves the cursor if it moved since the last save — when due
// (an idle pass of the push loop), or at once when final (the loop's
// end) — and trims after the save.
func (c *Client) flushPush(final bool) error {
	return c.trimAfter(c.push.Flush(final))
}

// trimAfter trims the outbox up to a push cursor just saved at seq, no
// further than the other readers named in TrimAfter.
func (c *Client) trimAfter(seq uint64, saved bool, err error) error {
	if err != nil || !saved {
		return err
	}
	upTo := seq
	for _, name := range c.cfg.TrimAfter {
		v, err := c.st.Cursor(name)
		if err != nil {
			return err
		}
		upTo = min(upTo, v)
	}
	return c.st.TrimOutboxBehind(upTo)
}
