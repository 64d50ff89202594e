package hub

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"ucv/hub/seal"
)

// KEKFileName is the key-encryption key file New generates in the data
// directory when Config.KEKFile is empty.
const KEKFileName = "kek"

// openStores opens the on-disk stores of cfg.DataDir sealed (hub/seal):
// the KEK from cfg.KEKFile (or DataDir/kek, generated on first start),
// the epoch keyring, raft.db — rewritten sealed first if it holds
// plaintext entries from before sealing — and the file snapshot store.
// The caller closes the returned BoltStore after Raft shuts down.
func openStores(cfg Config, log hclog.Logger) (*raftboltdb.BoltStore, *seal.Stores, error) {
	var keks [][]byte
	var err error
	if cfg.KEKFile != "" {
		keks, err = seal.ReadKEKFile(cfg.KEKFile)
	} else {
		keks, err = seal.EnsureKEKFile(filepath.Join(cfg.DataDir, KEKFileName))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("hub: %w", err)
	}
	k, err := seal.Open(cfg.DataDir, keks)
	if err != nil {
		return nil, nil, fmt.Errorf("hub: %w", err)
	}
	path := filepath.Join(cfg.DataDir, "raft.db")
	if migrated, err := seal.MigrateBolt(path, k); err != nil {
		return nil, nil, fmt.Errorf("hub: %w", err)
	} else if migrated {
		log.Info("sealed the raft log of a data directory from before sealing")
	}
	bs, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		return nil, nil, fmt.Errorf("hub: open raft log: %w", err)
	}
	fss, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotsRetained, log)
	if err != nil {
		bs.Close()
		return nil, nil, fmt.Errorf("hub: snapshot store: %w", err)
	}
	st, err := seal.NewStores(k, bs, fss, seal.FileRemover(cfg.DataDir))
	if err != nil {
		bs.Close()
		return nil, nil, fmt.Errorf("hub: %w", err)
	}
	return bs, st, nil
}

// Shred crypto-shreds this node's files (seal.Stores.Shred): once it
// returns nil, nothing written to the Raft log or a snapshot before the
// call can be read from this node's data directory any more — what the
// FSM still holds is in the new snapshot, sealed under a new key. Run it
// after the FSM has erased a person, on every node (followers too); it
// blocks until done or ctx ends (set a deadline: it waits for this node
// to apply what was written before the call). A node whose stores were
// given in Config (no data directory, e.g. hub/hubtest's in-memory
// stores) has no files: Shred returns nil at once.
func (s *Server) Shred(ctx context.Context) error {
	if s.sealed == nil {
		return nil
	}
	return s.sealed.Shred(ctx, s.raft)
}
