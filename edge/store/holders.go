package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Who holds an identifier (schema 3, decision 0065).
//
// The index bucket maps every held identifier key to its smallest
// holder's profile ID. The holders bucket lists identifier‖0‖profile for
// the identifiers that two or more profiles hold — a family's landline,
// an e-mail a household shares. An identifier one profile holds has no
// holders entries: its index entry is its holder. So a new person's
// identifiers cost one random B+tree write each (the index), not two
// (bbolt rewrites every leaf a commit touches; the second write cost the
// applier about a fifth of its throughput).
//
// Files written before schema 3 have a holders entry for every holder,
// single ones included. They read the same way — an identifier with
// holders entries is held by exactly those profiles — and the writer
// drops an identifier's single entry the next time its holders change
// (updateHolders), so no migration rewrites the file.
//
// Invariants (checkTx): an identifier has holders entries only if it has
// an index entry, and the index entry names the first of them; a
// profile holding an identifier is among its holders entries, or the
// identifier has none and the index names the profile.

// eachHolderEntry calls fn with the profile ID of every holders-bucket
// entry of identifier key, in order, until fn returns false, and returns
// how many it saw.
func eachHolderEntry(c *bolt.Cursor, key string, fn func(holder []byte) bool) int {
	prefix := []byte(key + "\x00")
	n := 0
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
		if !fn(k[len(prefix):]) {
			break
		}
	}
	return n
}

// eachHolder calls fn with every profile holding identifier key, in
// order, until fn returns false: its holders entries, or else the
// profile its index entry names (indexed: the index value of key, nil
// if none). c is a holders-bucket cursor.
func eachHolder(c *bolt.Cursor, indexed []byte, key string, fn func(holder []byte) bool) {
	if eachHolderEntry(c, key, fn) == 0 && indexed != nil {
		fn(indexed)
	}
}

// eachHeld calls fn with every (identifier key, holder) pair the index
// and holders buckets record, in key order, until fn returns an error,
// which it returns. indexed, when not nil, overrides an index value: it
// returns the value to use for key and whether it overrides it (a nil
// value: not held). The holders bucket is walked alongside the index, not
// sought per key. The slices fn sees are valid only during the call.
func eachHeld(index, holders *bolt.Bucket, indexed func(key []byte) ([]byte, bool), fn func(key, holder []byte) error) error {
	hc := holders.Cursor()
	hk, _ := hc.First()
	return index.ForEach(func(k, v []byte) error {
		if indexed != nil {
			if o, ok := indexed(k); ok {
				v = o
			}
		}
		// Skip entries of smaller identifiers (none, when the invariants
		// hold); identifiers order as their holders keys do, since no key
		// holds a 0 byte.
		for hk != nil && bytes.Compare(holderKeyIdent(hk), k) < 0 {
			hk, _ = hc.Next()
		}
		n := 0
		for ; hk != nil && bytes.Equal(holderKeyIdent(hk), k); hk, _ = hc.Next() {
			n++
			if err := fn(k, hk[len(k)+1:]); err != nil {
				return err
			}
		}
		if n == 0 && v != nil {
			return fn(k, v)
		}
		return nil
	})
}

// holderKeyIdent is the identifier part of holders-bucket key hk.
func holderKeyIdent(hk []byte) []byte {
	if i := bytes.IndexByte(hk, 0); i >= 0 {
		return hk[:i]
	}
	return hk
}

// eachHeld is eachHeld over this transaction's buckets as of the last
// commit: an identifier's provisional index entry is read as the one it
// replaced.
func (w *writer) eachHeld(fn func(key, holder []byte) error) error {
	var committed func([]byte) ([]byte, bool)
	if len(w.provisional) > 0 {
		committed = func(k []byte) ([]byte, bool) {
			was, ok := w.provisional[string(k)]
			return was, ok
		}
	}
	return eachHeld(w.tx.Bucket(bucketIndex), w.tx.Bucket(bucketHolders), committed, fn)
}
