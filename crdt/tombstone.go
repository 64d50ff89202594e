package crdt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// TombstoneKey derives the key under which value (an identifier key or a
// profile ID) is recorded as erased: a hex HMAC-SHA256 with the
// deployment's salt, truncated to 128 bits. Without the salt the key
// reveals nothing about the person; with it, an erased value can still be
// recognised when an old replica sends it again.
func TombstoneKey(salt []byte, value string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Tombstones is a grow-only set of erasure keys (see TombstoneKey).
// Erasure wins: whatever state is merged later, a value whose key is in
// the set must be dropped by the owner of that state (ORSet.DropElems,
// LWWMap.DropKeys, Recent.Drop). The zero value is empty.
type Tombstones struct {
	Keys GSet
}

// Erase records key and returns the delta.
func (t *Tombstones) Erase(key string) Tombstones { return Tombstones{Keys: t.Keys.Add(key)} }

// Erased reports whether key has been erased.
func (t Tombstones) Erased(key string) bool { return t.Keys.Has(key) }

// Len returns the number of tombstones.
func (t Tombstones) Len() int { return t.Keys.Len() }

// Merge joins o into t.
func (t *Tombstones) Merge(o Tombstones) { t.Keys.Merge(o.Keys) }

// Clone returns a deep copy.
func (t Tombstones) Clone() Tombstones { return Tombstones{Keys: t.Keys.Clone()} }

// Equal reports whether t and o hold the same keys.
func (t Tombstones) Equal(o Tombstones) bool { return t.Keys.Equal(o.Keys) }

// DropElems removes every element for which drop returns true, as an
// observed remove (its dots stay in the context, so a later merge of an
// older replica cannot bring it back unless that replica re-added it).
func (s *ORSet) DropElems(drop func(string) bool) {
	for _, e := range SortedKeys(s.Entries) {
		if drop(e) {
			for _, d := range s.Entries[e] {
				s.Ctx.add(d)
			}
			delete(s.Entries, e)
		}
	}
	s.Ctx.compact()
	if len(s.Entries) == 0 {
		s.Entries = nil
	}
}

// DropKeys removes the keys for which drop returns true. Unlike Delete it
// leaves no register behind: it is used for erasure, where the key itself
// must not survive and the tombstone set keeps it from coming back.
func (m *LWWMap) DropKeys(drop func(string) bool) {
	for k := range m.M {
		if drop(k) {
			delete(m.M, k)
		}
	}
}
