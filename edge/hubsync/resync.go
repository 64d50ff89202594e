package hubsync

import (
	"context"
	"fmt"

	"ucv/edge/store"
	"ucv/replication"
)

// Resyncer is the part of Store the push loop uses to recover from a
// hub that lost this edge's sequences (see edge/store.Store.Resync).
type Resyncer interface {
	// Resync appends the full state of everything the store holds to
	// the outbox after a reserved sequence above after, and records the
	// range.
	Resync(ctx context.Context, after uint64) (store.ResyncRange, error)
	// LastResync returns the range of the last completed Resync.
	LastResync() (store.ResyncRange, error)
	// LastSeq returns the outbox's last sequence.
	LastSeq() (uint64, error)
}

// A resync, end to end (docs/decisions/0024-hub-resync.md):
//
//  1. A push answers a gap expecting a sequence this edge no longer
//     holds (the hub lost its data, or is a new cluster), or a
//     duplicate claiming sequences it never wrote (its data directory
//     was restored from a copy).
//  2. The store appends the full state of every profile and redirect
//     to the outbox after a reserved sequence Start (store.Resync) and
//     records the range; the push cursor moves to Start. Everything
//     below Start is in those states.
//  3. The first push from Start carries SyncPush.Resync: the hub
//     accepts it although it skips sequences, counts the skipped ones
//     as applied, and from then on expects contiguous sequences again.
//
// Each step is idempotent: a crash before the range is recorded leaves
// full states the next resync supersedes; a crash after it but before
// the cursor moved is repaired by resyncCursor; a replayed resync push
// is a duplicate at the hub.

// resyncCursor returns the push cursor to use and whether the push
// from it opens a resync. A recorded resync whose Start is above the
// cursor (the cursor move after Resync did not persist, or a hub asked
// for entries below Start) moves the cursor to Start: the entries up to
// it are covered by the full states after it, which stay in the outbox
// because no cursor has passed them.
func (c *Client) resyncCursor(cur uint64) (uint64, bool, error) {
	rr, err := c.st.LastResync()
	if err != nil || rr.Start == 0 || cur > rr.Start {
		return cur, false, err
	}
	if cur < rr.Start {
		if err := c.setPushPos(rr.Start); err != nil {
			return cur, false, err
		}
	}
	return rr.Start, true, nil
}

// behind handles a gap ack expecting exp, below the push's first
// sequence: the hub lacks entries this edge acknowledged before. When
// the outbox still holds exp, the cursor moves back to resend from it;
// otherwise the edge resyncs. A gap in answer to a push flagged as a
// resync is ErrBehind: resyncing again would walk the store for
// nothing.
func (c *Client) behind(ctx context.Context, p *replication.SyncPush, exp uint64) error {
	if p.Resync {
		return fmt.Errorf("%w: hub expects sequence %d and refused a resync from %d", ErrBehind, exp, p.First)
	}
	es, err := c.st.Outbox(exp-1, 1)
	if err != nil {
		return err
	}
	if len(es) == 1 && es[0].Seq == exp {
		c.log.Warn("hub lacks acknowledged entries; resending them", "hub", c.url(), "expected", exp, "first", p.First)
		return c.setPushPos(exp - 1)
	}
	return c.resync(ctx, 0, fmt.Sprintf("hub expects sequence %d, no longer in the outbox", exp))
}

// trimmedPast checks, before a push from cur, that the outbox still holds
// the entry after cur: es (read from cur) must start at cur+1, or, when
// empty, no entry may have been written after cur. With a hub the outbox
// is never trimmed past the push cursor, so a missing entry means an
// edge that ran without a hub trimmed what no hub had acknowledged
// (cmd/ucv does, to bound a standalone edge's disk), or a resync was cut
// short after reserving its sequence. The hub cannot hold those entries:
// the edge resyncs its full state at once instead of pushing into a gap.
// It reports whether it did.
func (c *Client) trimmedPast(ctx context.Context, cur uint64, es []replication.Entry) (bool, error) {
	if len(es) > 0 {
		if es[0].Seq == cur+1 {
			return false, nil
		}
	} else if last, err := c.st.CommittedLastSeq(); err != nil || last <= cur {
		return false, err
	} else if again, err := c.st.CommittedOutbox(cur, 1); err != nil || len(again) == 1 && again[0].Seq == cur+1 {
		return false, err // committed between the two reads: not trimmed
	}
	return true, c.resync(ctx, 0, fmt.Sprintf("outbox entries after sequence %d were trimmed unacknowledged", cur))
}

// ahead checks a duplicate ack claiming sequences up to seq, beyond what
// the push carried: fine if this edge wrote them; if the outbox never
// reached seq, the hub holds another writer's entries under this edge's
// ID (a data directory restored from a copy), so entries written here
// since were dropped as duplicates. The edge then resyncs above seq. It
// reports whether it did.
func (c *Client) ahead(ctx context.Context, seq uint64) (bool, error) {
	last, err := c.st.LastSeq()
	if err != nil || seq <= last {
		return false, err
	}
	return true, c.resync(ctx, seq, fmt.Sprintf("hub holds sequence %d, beyond this edge's last %d", seq, last))
}

// resync runs the store's full-state resync above after and moves the
// push cursor to its start; the next push carries the resync flag.
func (c *Client) resync(ctx context.Context, after uint64, why string) error {
	c.log.Warn("hub lost this edge's sequences; resyncing full state", "hub", c.url(), "reason", why)
	rr, err := c.st.Resync(ctx, after)
	if err != nil {
		return err
	}
	c.log.Info("resync queued", "hub", c.url(), "start", rr.Start, "end", rr.End)
	return c.setPushPos(rr.Start)
}
