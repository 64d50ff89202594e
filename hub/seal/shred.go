package seal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Stores is one data directory's sealed stores and their keyring.
type Stores struct {
	Keyring   *Keyring
	Logs      *LogStore
	Snapshots *SnapshotStore

	shredMu sync.Mutex // one Shred at a time
}

// MaxShredRounds bounds the snapshots one Shred takes while waiting for
// the log to drop what was written under retired epochs.
const MaxShredRounds = 20

// Shred crypto-shreds everything this node's files hold from before the
// call: it starts a new epoch, then — with r's TrailingLogs at 0, put
// back afterwards — waits until r has applied every entry still in its
// log that was written under the retired epochs, takes a snapshot (sealed under the new epoch) and
// checks that the log holds no entry of a retired epoch, repeating (at
// most MaxShredRounds snapshots, with a growing pause) until it does not;
// then it destroys the retired epochs' keys and deletes the snapshots
// sealed under them (or unsealed). It returns once this is done, or with
// an error when ctx ends or the rounds run out (the keys are then kept;
// a later Shred finishes the work). It runs on leaders and followers
// alike; each node shreds its own files. s.Logs must be r's log store
// and s.Snapshots its snapshot store.
func (s *Stores) Shred(ctx context.Context, r *raft.Raft) error {
	s.shredMu.Lock()
	defer s.shredMu.Unlock()
	if _, err := s.Logs.Rotate(); err != nil {
		return err
	}
	bound := s.Keyring.retiredBound()

	old := r.ReloadableConfig()
	zero := old
	zero.TrailingLogs = 0
	if err := r.ReloadConfig(zero); err != nil {
		return fmt.Errorf("seal: shred: trailing logs 0: %w", err)
	}
	defer func() {
		cur := r.ReloadableConfig()
		cur.TrailingLogs = old.TrailingLogs
		_ = r.ReloadConfig(cur) // valid before, valid again
	}()

	pause := 20 * time.Millisecond
	for round := 1; ; round++ {
		// Every entry up to the bound must be in the FSM before a
		// snapshot can cover it (or have been replaced by a later leader,
		// which moves the applied index past it too).
		for {
			last, err := s.Logs.LastIndex()
			if err != nil {
				return fmt.Errorf("seal: shred: %w", err)
			}
			if r.AppliedIndex() >= min(bound, last) {
				break
			}
			if r.State() == raft.Shutdown {
				return fmt.Errorf("seal: shred: %w", raft.ErrRaftShutdown)
			}
			if err := sleep(ctx, pause); err != nil {
				return fmt.Errorf("seal: shred: waiting for index %d to be applied (at %d): %w", min(bound, last), r.AppliedIndex(), err)
			}
		}
		if err := snapshot(ctx, r); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			if round >= MaxShredRounds || ctx.Err() != nil || errors.Is(err, raft.ErrRaftShutdown) {
				return fmt.Errorf("seal: shred: snapshot: %w", err)
			}
		} else {
			held, err := s.Logs.HoldsRetired()
			if err != nil {
				return err
			}
			if !held {
				break
			}
			if round >= MaxShredRounds {
				return fmt.Errorf("seal: shred: the log still holds entries of retired epochs after %d snapshots", round)
			}
		}
		if err := sleep(ctx, pause); err != nil {
			return fmt.Errorf("seal: shred: %w", err)
		}
		pause = min(2*pause, time.Second)
	}
	if err := s.Keyring.destroyRetired(); err != nil {
		return fmt.Errorf("seal: shred: %w", err)
	}
	if err := s.Snapshots.Reap(); err != nil {
		return fmt.Errorf("seal: shred: %w", err)
	}
	return nil
}

// Shredder returns Shred bound to r, for hub.Config.Shred.
func (s *Stores) Shredder(r *raft.Raft) func(context.Context) error {
	return func(ctx context.Context) error { return s.Shred(ctx, r) }
}

// snapshot takes a user snapshot, giving up waiting when ctx ends (the
// snapshot may still complete in the background).
func snapshot(ctx context.Context, r *raft.Raft) error {
	f := r.Snapshot()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewStores wraps the inner stores of one data directory with k: the
// log store (see NewLogStore for a log from before sealing; MigrateBolt
// first for a raft.db) and the snapshot store, whose snapshots remove
// deletes (FileRemover for a raft.FileSnapshotStore); a plaintext
// snapshot from before sealing is re-sealed (SealLegacy). Call it before
// raft opens the stores.
func NewStores(k *Keyring, logs raft.LogStore, snaps raft.SnapshotStore, remove func(id string) error) (*Stores, error) {
	ls, err := NewLogStore(logs, k)
	if err != nil {
		return nil, err
	}
	ss := NewSnapshotStore(snaps, k, remove)
	if err := ss.SealLegacy(); err != nil {
		return nil, err
	}
	return &Stores{Keyring: k, Logs: ls, Snapshots: ss}, nil
}
