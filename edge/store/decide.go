package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
	"ucv/profile/catalog"
)

// Decisions stored beside views (docs/decisions/0039-decisions-and-offers.md).
//
// When the catalog holds offers, every view is rendered with the
// profile's ranked offers at every placement (catalog.Compiled.Rank),
// and the moment that ranking can next change is folded into the view's
// next change, so the sweep and stale reads treat both alike. The
// ranking is kept in its own bucket, stamped with the view's evaluation
// (catalog digest and next change): a decision is served only while the
// view it was rendered with is fresh and carries the same stamp, so a
// view written by any other path (a migration) leaves it unused, never
// wrong.

// bucketDecisions: profile ID → decision record:
//
//	uint32 BE CRC-32C of the profile ID and the rest (recordSum) ‖
//	uint64 BE digest ‖ int64 BE next ms (the view's eval) ‖ uvarint n ‖
//	n × (uvarint len ‖ offer id ‖ float64 BE bits score), ranked
//
// A record that fails its checksum — damaged, or stored before records
// carried one — is not used: the read decides from the profile, as for
// a stale one, and the view's next write replaces it.
//
// Created at Open when missing.
var bucketDecisions = []byte("decisions")

// encodeDecision returns profile id's decision record: ranked, under
// evaluation ev.
func encodeDecision(id string, ev viewEval, ranked []catalog.Decided) []byte {
	b := make([]byte, sumLen, sumLen+17+len(ranked)*16)
	b = binary.BigEndian.AppendUint64(b, ev.digest)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.nextMs))
	b = binary.AppendUvarint(b, uint64(len(ranked)))
	for _, o := range ranked {
		b = binary.AppendUvarint(b, uint64(len(o.ID)))
		b = append(b, o.ID...)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(o.Score))
	}
	binary.BigEndian.PutUint32(b, recordSum([]byte(id), b[sumLen:]))
	return b
}

// decodeDecision reads profile id's decision record b, rendered with ev
// (ok false when it fails its checksum, was rendered with another
// evaluation or is malformed), and calls fn with each offer in rank
// order until fn returns false. The offer's id aliases b.
func decodeDecision(id, b []byte, ev viewEval, fn func(id []byte, score float64) bool) bool {
	if len(b) < sumLen || binary.BigEndian.Uint32(b) != recordSum(id, b[sumLen:]) {
		return false
	}
	return parseDecision(b[sumLen:], ev, fn)
}

// parseDecision is decodeDecision past the checksum.
func parseDecision(b []byte, ev viewEval, fn func(id []byte, score float64) bool) bool {
	if len(b) < 16 || binary.BigEndian.Uint64(b) != ev.digest || int64(binary.BigEndian.Uint64(b[8:])) != ev.nextMs {
		return false
	}
	b = b[16:]
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return false
	}
	b = b[k:]
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) || len(b)-k-int(l) < 8 {
			return false
		}
		id := b[k : k+int(l)]
		score := math.Float64frombits(binary.BigEndian.Uint64(b[k+int(l):]))
		b = b[k+int(l)+8:]
		if !fn(id, score) {
			break
		}
	}
	return true
}

// offersAt returns the offers at placement of decision record b
// (rendered with ev), at most limit, with their payloads; ok is false
// when b was rendered with another evaluation or is malformed.
func offersAt(cat *catalog.Compiled, id, b []byte, ev viewEval, placement string, limit int) ([]catalog.Decided, bool) {
	offers := make([]catalog.Decided, 0, min(limit, 8))
	ok := decodeDecision(id, b, ev, func(oid []byte, score float64) bool {
		if name, payload, ok := cat.OfferAt(oid, placement); ok {
			offers = append(offers, catalog.Decided{ID: name, Score: score, Payload: payload})
		}
		return len(offers) < limit
	})
	return offers, ok
}

// rank adds the profile's ranked offers to a view's evaluation, when the
// catalog has offers: ev.decision is then the record to store and
// ev.nextMs includes the ranking's next change.
func rank(p *profile.Profile, cat *catalog.Compiled, nowMs int64, audiences []string, ev *viewEval) {
	if !cat.HasOffers() {
		return
	}
	ranked, next := cat.Rank(p, time.UnixMilli(nowMs).UTC(), audiences)
	if !next.IsZero() && (ev.nextMs == 0 || next.UnixMilli() < ev.nextMs) {
		ev.nextMs = next.UnixMilli()
	}
	ev.decision = encodeDecision(p.ID, *ev, ranked)
}

// putDecision stores or removes id's decision with its view.
func (w *writer) putDecision(id string, ev viewEval) error {
	b := w.tx.Bucket(bucketDecisions)
	if ev.decision == nil {
		// Without offers in the catalog the bucket stays empty, and a
		// delete per profile written was a seek and two allocations for
		// nothing: look once a transaction.
		if w.noDecisions == 0 {
			w.noDecisions = 2
			if k, _ := b.Cursor().First(); k == nil {
				w.noDecisions = 1
			}
		}
		if w.noDecisions == 1 {
			return nil
		}
		return b.Delete([]byte(id))
	}
	w.noDecisions = 2
	return b.Put([]byte(id), ev.decision)
}

// Decided is a stored decision (Decision).
type Decided struct {
	// ID is the canonical profile ID; Version its HLC version string.
	ID, Version string
	// Offers are the eligible offers at the placement asked for, ranked,
	// at most the limit asked for, with their payloads.
	Offers []catalog.Decided
}

// Decision answers the offers at placement for the profile ref names (a
// profile ID, or a normalized identifier when byID is false) from the
// decision stored with its view, at most limit of them. found is false
// when there is no such profile (ErrNotFound is not returned: the caller
// decides for an unknown visitor); stored is false when no usable
// decision is stored (the view is stale, or was rendered without offers)
// — the caller then decides from the profile (Profile and
// catalog.Compiled.Decide). A read never serves a decision of a stale
// view.
func (s *Store) Decision(id string, ident profile.Identifier, byID bool, placement string, limit int) (d Decided, found, stored bool, err error) {
	cat := s.Catalog()
	// Read-your-writes for this profile: the decision rendered with its
	// plain pending events applied, or a wait (pending.go, overlay.go).
	key, ik := []byte(id), []byte(nil)
	if !byID {
		key, ik = nil, []byte(ident.Key())
	}
	if o, ok := s.settle(ik, key, true, true); ok {
		d = Decided{ID: o.p.ID, Version: o.c.Version}
		d.Offers, stored = offersAt(cat, []byte(o.p.ID), o.ev.decision, o.ev, placement, limit)
		return d, true, stored, nil
	}
	if byID {
		s.settleRedirect(id)
	}
	err = s.view(func(tx *bolt.Tx) error {
		key := []byte(id)
		if !byID {
			if key = tx.Bucket(bucketIndex).Get([]byte(ident.Key())); key == nil {
				return nil
			}
		}
		key, err := resolveKey(tx, key)
		if err != nil {
			return err
		}
		v := tx.Bucket(bucketViews).Get(key)
		if v == nil || viewFailsSum(key, v) || v[sumLen]&viewRepairing != 0 {
			st := tx.Bucket(bucketProfiles).Get(key)
			found = st != nil && !erasedRecord(key, st)
			return nil // the slow path reports damage and asks for repair
		}
		found = true
		ev := viewEvalOf(v)
		if ev.stale(cat.Digest(), s.opts.Now().UnixMilli()) {
			s.wakeSweep(!ev.ok || ev.digest != cat.Digest())
			return nil
		}
		d.ID = string(key)
		if n := int(v[sumLen+9]); len(v) >= sumLen+10+n {
			d.Version = string(v[sumLen+10 : sumLen+10+n])
		}
		d.Offers, stored = offersAt(cat, key, tx.Bucket(bucketDecisions).Get(key), ev, placement, limit)
		// A record stored without its JSON carries the version only
		// beside a decision (decision 0119); without one the caller
		// decides from the profile, which has it.
		stored = stored && d.Version != ""
		return nil
	})
	if err != nil {
		return Decided{}, false, false, fmt.Errorf("store: decision: %w", err)
	}
	return d, found, stored, nil
}
