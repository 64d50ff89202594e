package crdt

import (
	"bytes"
	"cmp"
	"slices"
)

// LedgerEntry is one message's contribution to a Ledger: Key identifies
// the message (a hash of its messageId, chosen by the caller), Time is its
// event time and Data what it contributes (opaque here; the caller folds
// it into totals).
type LedgerEntry struct {
	Key  uint64
	Time int64
	Data []byte
}

// wins reports whether a should be the one version kept when a and b
// have the same key: the smaller (Time, Data). Any total order would do;
// this one keeps the earliest sighting of a message.
func (a LedgerEntry) wins(b LedgerEntry) bool {
	if a.Time != b.Time {
		return a.Time < b.Time
	}
	return bytes.Compare(a.Data, b.Data) < 0
}

// Ledger is a grow-only map from message key to that message's
// contribution, one version per key. Totals derived from a ledger count
// each message once however many replicas received it, however often a
// delta is redelivered and however profiles holding it are merged —
// unlike a PNCounter, whose per-replica entries count a message once per
// replica that applied it. The merge is a join: the union of keys, and
// for a key present on both sides the version that wins (smaller time,
// then smaller data), so replicas that saw different copies of one
// message agree on which one counts. The zero value is empty.
//
// A ledger grows with the number of distinct messages; callers keep Data
// small (docs/decisions/0009-exactly-once.md).
type Ledger struct {
	// Entries are sorted by Key, without duplicates.
	Entries []LedgerEntry
}

// find returns the position of key in l.Entries, or where it belongs,
// and whether it is there.
func (l Ledger) find(key uint64) (int, bool) {
	return slices.BinarySearchFunc(l.Entries, key, func(e LedgerEntry, k uint64) int { return cmp.Compare(e.Key, k) })
}

// Has reports whether key has an entry.
func (l Ledger) Has(key uint64) bool {
	_, ok := l.find(key)
	return ok
}

// Len returns the number of entries.
func (l Ledger) Len() int { return len(l.Entries) }

// Add records e (its Data is copied) and returns the delta to ship: e
// itself, or an empty ledger when the entry already kept wins over e and
// nothing changed.
//
// A new key is inserted in place when l's slice has room, and the slice
// grows by doubling when it has not, so that n Adds cost O(n) copies in
// all, not one copy of the whole ledger each (a store's regular customer
// holds thousands of entries: bench/README.md, "A ledger's entries and
// a timeline's items inserted in place"). Room is l's own: what shares
// l's entries (Joined, Adopted) gets them without room, so an Add to
// the sharer copies; and l itself must not be changed after it shared
// them ("Persistent joins", joined.go).
func (l *Ledger) Add(e LedgerEntry) Ledger {
	e.Data = bytes.Clone(e.Data)
	if !l.put(e) {
		return Ledger{}
	}
	return Ledger{Entries: []LedgerEntry{e}}
}

// put keeps e unless the entry kept for its key wins over it, and
// reports whether it did: a new key is inserted (into the slice's room,
// or growing it), a losing entry replaced — in place when the slice has
// room (it is l's own), in a copy otherwise (it may be shared: Joined,
// Adopted).
func (l *Ledger) put(e LedgerEntry) bool {
	i, ok := l.find(e.Key)
	switch {
	case !ok:
		l.Entries = slices.Insert(l.Entries, i, e)
	case e.wins(l.Entries[i]):
		if cap(l.Entries) == len(l.Entries) {
			l.Entries = slices.Clone(l.Entries)
		}
		l.Entries[i] = e
	default:
		return false
	}
	return true
}

// mergeInPlaceMax is the largest argument Merge folds in entry by entry
// (each an Add's insert) rather than by a linear join into a new slice:
// a peer's delta of one event into a large ledger then costs an insert,
// not a copy of the ledger.
const mergeInPlaceMax = 8

// Merge joins o into l. o is not aliased: l never writes to o's slice,
// and entries taken from o share only their immutable Data. When o adds
// nothing, l is left as it is, its room for Adds with it. A small o is
// put entry by entry (a binary search each, and nothing written for an
// entry l already covers), not first checked against the whole ledger.
func (l *Ledger) Merge(o Ledger) {
	switch {
	case len(o.Entries) <= mergeInPlaceMax:
		for _, e := range o.Entries {
			l.put(e)
		}
	case !l.covers(o):
		*l = l.join(o)
	}
}

// Joined returns the join of l and o without modifying either; see
// "Persistent joins" in joined.go. When o adds nothing, it returns l's
// entries, without room for Adds (Add).
func (l Ledger) Joined(o Ledger) Ledger {
	if l.covers(o) {
		return Ledger{Entries: slices.Clip(l.Entries)}
	}
	return l.join(o)
}

// join returns the join of l and o in a new slice.
func (l Ledger) join(o Ledger) Ledger {
	a, b := l.Entries, o.Entries
	out := make([]LedgerEntry, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Key < b[j].Key:
			out = append(out, a[i])
			i++
		case i == len(a) || a[i].Key > b[j].Key:
			out = append(out, b[j])
			j++
		default:
			e := a[i]
			if b[j].wins(e) {
				e = b[j]
			}
			out = append(out, e)
			i++
			j++
		}
	}
	return Ledger{Entries: out}
}

// covers reports whether merging o into l would change nothing.
func (l Ledger) covers(o Ledger) bool {
	i := 0
	for _, e := range o.Entries {
		for i < len(l.Entries) && l.Entries[i].Key < e.Key {
			i++
		}
		if i == len(l.Entries) || l.Entries[i].Key != e.Key || e.wins(l.Entries[i]) {
			return false
		}
	}
	return true
}

// Drop removes the entries for which drop returns true. Use it to apply
// erasure; it is a local filter, not a replicated operation.
func (l *Ledger) Drop(drop func(LedgerEntry) bool) {
	l.Entries = slices.DeleteFunc(slices.Clone(l.Entries), drop)
	if len(l.Entries) == 0 {
		l.Entries = nil
	}
}

// Clone returns a copy that shares only immutable entry data.
func (l Ledger) Clone() Ledger {
	if l.Entries == nil {
		return Ledger{}
	}
	return Ledger{Entries: slices.Clone(l.Entries)}
}

// Equal reports whether l and o hold the same entries.
func (l Ledger) Equal(o Ledger) bool {
	return slices.EqualFunc(l.Entries, o.Entries, func(a, b LedgerEntry) bool {
		return a.Key == b.Key && a.Time == b.Time && bytes.Equal(a.Data, b.Data)
	})
}
