package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
)

// migrateBatchSize bounds the profiles one migration transaction rewrites, so
// migrating a large file never holds it all dirty in memory.
var migrateBatchSize = 2000

// migrate brings a schema 1 file to schema 2, and so 3, before the store starts:
// every profile record gets its checksum, and every view is rendered
// again from its profile's state (so the new views' checksums vouch for
// views that match their states, whatever the old ones held) with its
// checksum and flags. It runs in transactions of migrateBatchSize profiles;
// each records the last profile it finished (meta migrateKey) in the
// same commit, so a migration cut short resumes where it stopped: a
// record is never migrated twice. A schema 1 state that does not decode
// is damaged: it is quarantined as at run time (repair.go). The last
// transaction deletes views left without a profile, recomputes the
// digest buckets of quarantined profiles and sets the schema version.
func (s *Store) migrate(from uint32) error {
	if from != 1 {
		return fmt.Errorf("store: no migration from schema %d", from)
	}
	for {
		done := false
		err := s.dbUpdate(func(tx *bolt.Tx) error {
			var err error
			done, err = s.migrateBatch(tx)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migrate schema 1: %w", err)
		}
		if done {
			break
		}
	}
	err := s.dbUpdate(func(tx *bolt.Tx) error {
		views, profiles := tx.Bucket(bucketViews), tx.Bucket(bucketProfiles)
		var orphans [][]byte
		if err := views.ForEach(func(k, _ []byte) error {
			if profiles.Get(k) == nil {
				orphans = append(orphans, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range orphans {
			if err := views.Delete(k); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		// The digest hashed again whole: a version 1 file's was FNV's
		// (schema 6); damaged states are left out, as digestOf leaves
		// them.
		if err := meta.Put(digestKey, digestAllOf(tx)); err != nil {
			return err
		}
		if err := meta.Delete(migrateKey); err != nil {
			return err
		}
		return meta.Put(schemaKey, binary.BigEndian.AppendUint32(nil, schemaVersion))
	})
	if err != nil {
		return fmt.Errorf("store: migrate schema 1: %w", err)
	}
	return nil
}

// migrateBatch migrates the next migrateBatchSize profiles after the one
// meta migrateKey names, and reports whether none were left.
func (s *Store) migrateBatch(tx *bolt.Tx) (bool, error) {
	meta := tx.Bucket(bucketMeta)
	profiles, views := tx.Bucket(bucketProfiles), tx.Bucket(bucketViews)
	type rec struct{ id, state []byte }
	var batch []rec
	c := profiles.Cursor()
	k, v := c.First()
	if after := meta.Get(migrateKey); after != nil {
		k, v = c.Seek(after)
		if k != nil && string(k) == string(after) {
			k, v = c.Next()
		}
	}
	for ; k != nil && len(batch) < migrateBatchSize; k, v = c.Next() {
		batch = append(batch, rec{append([]byte(nil), k...), append([]byte(nil), v...)})
	}
	if len(batch) == 0 {
		return true, nil
	}
	now := s.opts.Now().UnixMilli()
	for _, r := range batch {
		id := string(r.id)
		p, err := profile.Unmarshal(r.state)
		flags := byte(0)
		state := r.state
		if err != nil {
			if err := tx.Bucket(bucketQuarantine).Put(r.id, r.state); err != nil {
				return false, err
			}
			if err := tx.Bucket(bucketRepair).Put(r.id, u64(uint64(now))); err != nil {
				return false, err
			}
			if err := resetPositions(meta, s.opts.RefetchPositions); err != nil {
				return false, err
			}
			p, flags = profile.New(id), viewRepairing
			if state, err = p.Marshal(); err != nil {
				return false, err
			}
			s.log.Warn("schema migration: stored profile state does not decode; set it aside and serve errors for it until a peer or the hub sends its copy", "profile", id)
		}
		json, ev, err := renderView(p, emptyCatalog, now)
		if err != nil {
			return false, fmt.Errorf("render view of %s: %w", id, err)
		}
		var last int64
		if p.LastSeen.Set {
			last = p.LastSeen.V
		}
		if err := profiles.Put(r.id, sealProfile(id, state)); err != nil {
			return false, err
		}
		if err := views.Put(r.id, encodeViewRecord(id, flags, last, p.Version.String(), ev, json)); err != nil {
			return false, err
		}
	}
	return false, meta.Put(migrateKey, batch[len(batch)-1].id)
}
