package store

import (
	"context"
	"errors"
	"time"

	"ucv/crdt"
	"ucv/profile"
)

var errTODO = errors.New("store: not implemented yet")

// Store is an open edge replica. See the package doc.
type Store struct{}

// Open opens (creating if needed) the store at opts.Path and starts its
// group committer. It fails if the file is locked by another process
// (after 1 s) or its schema version is unknown.
func Open(opts Options) (*Store, error) { return nil, errTODO }

// Close stops accepting writes, commits what is queued, and closes the
// file. It is idempotent; later calls return nil. ctx bounds the wait.
func (s *Store) Close(ctx context.Context) error { return errTODO }

// Ingest stores events atomically — all of them or none — and returns
// after the transaction holding them is fsynced. Events whose messageId
// was seen within the dedupe window are counted as duplicates and change
// nothing. Identity resolution runs here: identifiers are looked up in the
// index (blocked values skipped), a profile is minted (ULID), attached or
// merged (canonical = smallest ID; others become redirects with a merge
// record), obeying per-type limits by priority. Errors: ErrClosed,
// ErrOverloaded, ctx errors (the events may still commit), I/O errors.
func (s *Store) Ingest(ctx context.Context, evs []Event) (IngestResult, error) {
	return IngestResult{}, errTODO
}

// LookupID returns the view of profile id, following redirects.
// ErrNotFound if there is none.
func (s *Store) LookupID(id string) (View, error) { return View{}, errTODO }

// LookupIdentifier returns the view of the profile holding id (which must
// be normalized). ErrNotFound if none.
func (s *Store) LookupIdentifier(id profile.Identifier) (View, error) { return View{}, errTODO }

// Profile returns the decoded CRDT state of profile id (following
// redirects); the caller owns it. ErrNotFound if none.
func (s *Store) Profile(id string) (*profile.Profile, error) { return nil, errTODO }

// ResolveIdentifier returns the canonical profile ID holding id.
func (s *Store) ResolveIdentifier(id profile.Identifier) (string, error) { return "", errTODO }

// Stats returns current gauges.
func (s *Store) Stats() (Stats, error) { return Stats{}, errTODO }

// Node returns this store's HLC node ID (stable across restarts).
func (s *Store) Node() crdt.ReplicaID { return 0 }

// HubSyncedAt returns when this replica last synced with the hub; the
// zero time means never (no hub yet).
func (s *Store) HubSyncedAt() time.Time { return time.Time{} }
