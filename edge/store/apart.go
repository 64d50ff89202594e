package store

import (
	"bytes"
	"slices"
)

// Cannot-links ("apart"): a steward at the hub ruled that two profiles are
// different people (an unmerge, a review reject). The hub's feed carries,
// per cluster, the fragments it must never merge with
// (replication.FeedItem.Apart); ApplyClusters stores them under the
// cluster's ID, and every merge decided here — at ingest, when replicated
// state reveals a shared identifier (reindex), and a merge a peer gossips
// (mergeRemote) — is refused for two profiles one of which lists a profile
// that resolves here to the other. A shared identifier then stays held by
// both (the index names the smaller ID, as for the identity rules' limits).
//
// Lists live under canonical IDs: when a profile becomes a redirect
// (putRedirect) its list moves to the profile it now resolves to, so a
// merged profile keeps every partner of its parts. A feed item replaces
// its cluster's list and clears the lists of its other fragments: the
// hub's list is the whole truth for the cluster, a later steward merge
// included. Partner IDs are fragments, resolved through redirects when
// checked, so they stay right whatever the partner later merges with.

// apartKey is the key of one cannot-link of profile id.
func apartKey(id, partner string) []byte {
	return []byte(id + "\x00" + partner)
}

// anyApart reports whether the store holds any cannot-link (checked once
// per transaction): without one, no merge needs checking.
func (w *writer) anyApart() bool {
	if w.hasApart == 0 {
		w.hasApart = 1
		if k, _ := w.tx.Bucket(bucketApart).Cursor().First(); k != nil {
			w.hasApart = 2
		}
	}
	return w.hasApart == 2
}

// partners returns the cannot-link partners stored under id.
func (w *writer) partners(id string) []string {
	if !w.anyApart() {
		return nil
	}
	prefix := []byte(id + "\x00")
	var out []string
	c := w.tx.Bucket(bucketApart).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// setApart replaces the partners stored under id.
func (w *writer) setApart(id string, partners []string) error {
	old := w.partners(id)
	if slices.Equal(old, partners) {
		return nil
	}
	b := w.tx.Bucket(bucketApart)
	for _, p := range old {
		if err := b.Delete(apartKey(id, p)); err != nil {
			return err
		}
	}
	for _, p := range partners {
		if p == "" || p == id {
			continue
		}
		if err := b.Put(apartKey(id, p), nil); err != nil {
			return err
		}
		w.hasApart = 2
	}
	return nil
}

// moveApart adds from's partners to to's (from was merged into to) and
// removes them from from.
func (w *writer) moveApart(from, to string) error {
	ps := w.partners(from)
	if len(ps) == 0 {
		return nil
	}
	b := w.tx.Bucket(bucketApart)
	for _, p := range ps {
		if err := b.Delete(apartKey(from, p)); err != nil {
			return err
		}
		if p == to {
			continue
		}
		if err := b.Put(apartKey(to, p), nil); err != nil {
			return err
		}
	}
	return nil
}

// apart reports whether canonical profiles p and q must never merge: one
// lists a partner that resolves here to the other, or one is a stand-in
// for a damaged state (repair.go) — its identifiers are unknown until a
// replica's copy comes, so no rule can say the two are one person.
func (w *writer) apart(p, q string) bool {
	if p == q {
		return false
	}
	if w.isRepairing(p) || w.isRepairing(q) {
		return true
	}
	if !w.anyApart() {
		return false
	}
	for _, pair := range [2][2]string{{p, q}, {q, p}} {
		for _, f := range w.partners(pair[0]) {
			if w.canonical(f) == pair[1] {
				return true
			}
		}
	}
	return false
}

// apartFromAny reports whether canonical profile p must never merge with
// any of the canonical profiles in linked.
func (w *writer) apartFromAny(p string, linked []string) bool {
	for _, q := range linked {
		if w.apart(p, q) {
			return true
		}
	}
	return false
}

// holdersOf returns the canonical profiles holding identifier key as
// of the last commit (holders.go), sorted.
func (w *writer) holdersOf(key string) []string {
	var out []string
	eachHolder(w.tx.Bucket(bucketHolders).Cursor(), w.committedIndex(key), key, func(h []byte) bool {
		if id := w.canonical(string(h)); !w.deleted[id] {
			out = append(out, id)
		}
		return true
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// contested reports whether identifier key, which the index gives to
// canonical profile pid, is also held by a profile that must never
// merge with pid: the identifier alone cannot say which of them an event
// belongs to. Only a pid with partners of its own is checked (one seek
// per identifier of an event when the store holds any cannot-link); the
// hub sends both sides' lists, so this misses nothing but a moment
// between two pages, and then only the choice of target, never the
// refusal to merge.
func (w *writer) contested(key, pid string) bool {
	if len(w.partners(pid)) == 0 {
		return false
	}
	for _, h := range w.holdersOf(key) {
		if h != pid && w.apart(pid, h) {
			return true
		}
	}
	return false
}
