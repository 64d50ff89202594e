package seal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// raftStableKeys are the keys raft keeps in its stable store (raft.go);
// they are part of raft's on-disk format.
var (
	raftStableUint64 = []string{"CurrentTerm", "LastVoteTerm"}
	raftStableBytes  = []string{"LastVoteCand"}
)

// MigrateBolt rewrites the raft-boltdb file at path, if it holds
// plaintext entries from before sealing, into a new file holding every
// entry sealed under k's current epoch and the same stable-store values,
// then renames it over path: a plaintext entry deleted later would
// otherwise stay readable in bbolt's free pages, which no key protects.
// The new file is written whole and fsynced before the rename, so a
// crash leaves either file complete and the next start migrates again.
// path must not be open. It reports whether it rewrote the file.
func MigrateBolt(path string, k *Keyring) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	src, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		return false, fmt.Errorf("seal: migrate: open %s: %w", path, err)
	}
	defer src.Close()
	plain, err := holdsPlaintext(src)
	if err != nil || !plain {
		return false, err
	}
	tmp := path + ".sealing"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("seal: migrate: %w", err)
	}
	if err := copyBolt(src, tmp, k); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if err := src.Close(); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("seal: migrate: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("seal: migrate: %w", err)
	}
	k.mu.Lock()
	k.fresh = false // the sealed entries are this keyring's
	k.mu.Unlock()
	return true, syncDir(filepath.Dir(path))
}

// holdsPlaintext reports whether s holds unsealed entries. Plaintext
// entries are a prefix (written before the key file; every entry since
// is sealed), so it reads the first and the last entry only.
func holdsPlaintext(s raft.LogStore) (bool, error) {
	first, err := s.FirstIndex()
	if err != nil {
		return false, fmt.Errorf("seal: migrate: %w", err)
	}
	last, err := s.LastIndex()
	if err != nil {
		return false, fmt.Errorf("seal: migrate: %w", err)
	}
	for _, i := range []uint64{first, last} {
		if i == 0 {
			continue
		}
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			return false, fmt.Errorf("seal: migrate: read entry %d: %w", i, err)
		}
		if !isSealed(l.Data) {
			return true, nil
		}
	}
	return false, nil
}

func copyBolt(src *raftboltdb.BoltStore, tmp string, k *Keyring) error {
	dst, err := raftboltdb.New(raftboltdb.Options{Path: tmp})
	if err != nil {
		return fmt.Errorf("seal: migrate: create %s: %w", tmp, err)
	}
	defer dst.Close()
	sealed := &LogStore{inner: dst, k: k}
	first, _ := src.FirstIndex()
	last, _ := src.LastIndex()
	const batch = 256
	var buf []*raft.Log
	for i := first; i <= last && first > 0; i++ {
		l := new(raft.Log)
		switch err := src.GetLog(i, l); {
		case errors.Is(err, raft.ErrLogNotFound):
			continue
		case err != nil:
			return fmt.Errorf("seal: migrate: read entry %d: %w", i, err)
		}
		if isSealed(l.Data) { // already sealed: copy as is
			if err := dst.StoreLog(l); err != nil {
				return fmt.Errorf("seal: migrate: %w", err)
			}
			continue
		}
		buf = append(buf, l)
		if len(buf) == batch || i == last {
			if err := sealed.StoreLogs(buf); err != nil {
				return fmt.Errorf("seal: migrate: %w", err)
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := sealed.StoreLogs(buf); err != nil {
			return fmt.Errorf("seal: migrate: %w", err)
		}
	}
	for _, key := range raftStableUint64 {
		v, err := src.GetUint64([]byte(key))
		if errors.Is(err, raftboltdb.ErrKeyNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("seal: migrate: stable %s: %w", key, err)
		}
		if err := dst.SetUint64([]byte(key), v); err != nil {
			return fmt.Errorf("seal: migrate: stable %s: %w", key, err)
		}
	}
	for _, key := range raftStableBytes {
		v, err := src.Get([]byte(key))
		if errors.Is(err, raftboltdb.ErrKeyNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("seal: migrate: stable %s: %w", key, err)
		}
		if err := dst.Set([]byte(key), v); err != nil {
			return fmt.Errorf("seal: migrate: stable %s: %w", key, err)
		}
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("seal: migrate: sync: %w", err)
	}
	return dst.Close()
}

// SealLegacy re-seals the newest snapshot under the current epoch if it
// is a plaintext one (from before the key file) and removes every
// plaintext snapshot (older ones are only fallbacks); without a remove
// function it does nothing. Run it before raft opens the store.
func (s *SnapshotStore) SealLegacy() error {
	if s.remove == nil {
		return nil
	}
	metas, err := s.inner.List()
	if err != nil {
		return fmt.Errorf("seal: list snapshots: %w", err)
	}
	var plain []string
	for i, m := range metas {
		_, sealed, err := s.SnapshotEpoch(m.ID)
		if err != nil {
			return fmt.Errorf("seal: snapshot %s: %w", m.ID, err)
		}
		if sealed {
			continue
		}
		if i == 0 {
			if err := s.reseal(m); err != nil {
				return err
			}
		}
		plain = append(plain, m.ID)
	}
	for _, id := range plain {
		if err := s.remove(id); err != nil {
			return err
		}
	}
	return nil
}

func (s *SnapshotStore) reseal(m *raft.SnapshotMeta) error {
	_, rc, err := s.inner.Open(m.ID)
	if err != nil {
		return fmt.Errorf("seal: snapshot %s: %w", m.ID, err)
	}
	defer rc.Close()
	sink, err := s.Create(m.Version, m.Index, m.Term, m.Configuration, m.ConfigurationIndex, addrEncoder{})
	if err != nil {
		return fmt.Errorf("seal: reseal snapshot %s: %w", m.ID, err)
	}
	if _, err := io.Copy(sink, rc); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("seal: reseal snapshot %s: %w", m.ID, err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("seal: reseal snapshot %s: %w", m.ID, err)
	}
	return nil
}

// addrEncoder encodes peers as raft's network and in-memory transports
// do (the address's bytes), which is all a snapshot store's Create asks
// of its transport (the legacy peers field of the snapshot's metadata).
// Its other methods are never called.
type addrEncoder struct{ raft.Transport }

func (addrEncoder) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte { return []byte(addr) }
