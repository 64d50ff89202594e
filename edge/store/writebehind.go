package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Writes behind (docs/decisions/0101-writes-behind.md).
//
// A replicating edge records small things often: gossip's and the hub
// push's cursors, the time of the last hub sync, the outbox trim a saved
// push cursor allows. Each went through dbUpdate, which counts as a
// waiter: the applier committed the transaction it keeps open under load
// (0096) and then the write committed a transaction of its own — two
// commits, four fdatasyncs, about once a second per writer, on an edge
// whose commits the rest of the design works to make large and rare.
//
// None of those writes needs to be durable when its caller returns: a
// cursor saved late only makes its reader deliver again what it had
// delivered (at-least-once, as a crash between saves always allowed); a
// sync time a second old is as good. So they are queued to the applier
// as requests that ride its transaction — the open one or the next —
// without making it commit: durable when it commits (within
// Options.CommitAge under load, at once on an idle edge), lost with it
// in a crash, in queue order with every other request. That order is
// what keeps the push cursor's rule: the outbox trim a save allows is
// queued after the save, so it is never durable without it.

// writeBehind queues fn to run in the applier's write transaction
// without making it commit, and returns at once; fn must only touch the
// meta or outbox buckets and must be cheap. A storage failure of the
// transaction drops fn with it (nobody waits to hear). With the queue
// full it runs fn in a transaction of its own instead (durable on
// return), so a busy edge still makes progress.
func (s *Store) writeBehind(fn func(*bolt.Tx) error) error {
	r := &request{behind: fn, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.queue <- r:
		s.mu.RUnlock()
		return nil
	default:
	}
	s.mu.RUnlock()
	return s.dbUpdate(fn)
}

// SetCursorBehind saves the named outbox reader's cursor (SetCursor)
// with the applier's next commit, without waiting for it or making it
// commit. Cursor reads the saved value once that commit is done.
func (s *Store) SetCursorBehind(name string, seq uint64) error {
	if err := s.writeBehind(putCursor(name, seq)); err != nil {
		return fmt.Errorf("store: save cursor %s: %w", name, err)
	}
	return nil
}

// TrimOutboxBehind is TrimOutbox made with the applier's next commit:
// the entries up to upTo, never past a cursor persisted — or saved
// behind before it — are deleted when that commit is done. It returns at
// once.
func (s *Store) TrimOutboxBehind(upTo uint64) error {
	err := s.writeBehind(func(tx *bolt.Tx) error {
		_, err := trimOutboxUpTo(tx, upTo)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: trim outbox: %w", err)
	}
	return nil
}

// SetHubSyncedAtBehind is SetHubSyncedAt made with the applier's next
// commit; HubSyncedAt answers with t at once.
func (s *Store) SetHubSyncedAtBehind(t time.Time) error {
	ms := t.UnixMilli()
	if ms <= s.hubSyncedMs.Load() {
		return nil
	}
	err := s.writeBehind(putHubSynced(ms))
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("store: record hub sync: %w", err)
	}
	s.noteHubSynced(ms)
	return err
}
