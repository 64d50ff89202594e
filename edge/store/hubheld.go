package store

// Profiles the hub has judged (docs/decisions/0059-edge-keeps-hub-judgement.md).
//
// The hub resolves identity with everything every edge and import sent
// it; an edge's rules see one shared identifier. When two clusters the
// hub delivered hold the same e-mail, phone or device, the hub has
// already weighed that identifier against everything else it knows of
// both and kept them two people (a household's landline, a family
// e-mail, a kiosk). So the edge does not merge them by it:
//
//   - reindex leaves two hub-held profiles that share an identifier as
//     two holders of it (both keep it; the index names the smaller ID);
//   - an identifier two or more profiles already hold (sharedKey) joins
//     nobody, on any replica: reindex does not merge through it, and an
//     event carrying it links it only to the profile its other
//     identifiers chose (resolve).
//
// Events still merge hub-held profiles by first-hand evidence (an event
// that carries one person's user ID and another's anonymous ID), as the
// identity rules say; the hub sees the merge and its engine has the last
// word.

import (
	"slices"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
	"ucv/replication"
)

// bucketHubHeld: canonical profile ID → 0x01, for every profile that
// holds state of a cluster the hub's feed delivered (set in
// applyClusters, carried by fold). Not empty: bbolt's Get answers nil for
// an empty value put in the same transaction. A redirect's entry is stale
// and harmless: only canonical IDs are asked.
var bucketHubHeld = []byte("hub_held")

// hubHeld reports whether canonical profile id holds state the hub
// delivered.
func (w *writer) hubHeld(id string) bool {
	return w.tx.Bucket(bucketHubHeld).Get([]byte(id)) != nil
}

// markHubHeld records that canonical profile id holds hub state.
func (w *writer) markHubHeld(id string) error {
	b := w.tx.Bucket(bucketHubHeld)
	if b.Get([]byte(id)) != nil {
		return nil
	}
	return b.Put([]byte(id), []byte{1})
}

// markClusters marks every decodable cluster of a feed page, before any
// of them is applied, so reindex already knows the hub has judged each.
func (w *writer) markClusters(cs []replication.FeedItem, ok func(i int) bool) error {
	for i, c := range cs {
		if c.ID == "" || !ok(i) {
			continue
		}
		if err := w.markHubHeld(c.ID); err != nil {
			return err
		}
		if lc := w.canonical(c.ID); lc != c.ID {
			if err := w.markHubHeld(lc); err != nil {
				return err
			}
		}
	}
	return nil
}

// sharedKey reports whether two or more profiles held identifier key at
// the last commit: something kept them apart (a type's limit, the hub's
// cannot-link, the hub's judgement), so the identifier alone says nothing
// about who is whom.
func (w *writer) sharedKey(key string) bool {
	return len(w.holdersOf(key)) >= 2
}

// HoldersOf returns the profiles that hold identifier id, as canonical
// IDs in order (the first is the one a lookup by id answers with), as of
// the last commit: one for an identifier of one person, several for one
// people share (IdentifierHolders). At most limit of them (limit ≤ 0:
// all); more reports whether some were left out. ErrNotFound if no
// profile holds it.
func (s *Store) HoldersOf(id profile.Identifier, limit int) (holders []string, more bool, err error) {
	s.waitApplied()
	err = s.view(func(tx *bolt.Tx) error {
		var rerr error
		key := id.Key()
		eachHolder(tx.Bucket(bucketHolders).Cursor(), tx.Bucket(bucketIndex).Get([]byte(key)), key, func(h []byte) bool {
			canon, err := resolveKey(tx, h)
			if err != nil {
				rerr = err
				return false
			}
			holders = append(holders, string(canon))
			return true
		})
		return rerr
	})
	if err != nil {
		return nil, false, err
	}
	slices.Sort(holders)
	holders = slices.Compact(holders)
	if len(holders) == 0 {
		return nil, false, ErrNotFound
	}
	if limit > 0 && len(holders) > limit {
		return holders[:limit], true, nil
	}
	return holders, false, nil
}
