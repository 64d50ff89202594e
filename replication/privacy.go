package replication

import (
	"fmt"

	"ucv/crdt/codec"
)

// Privacy sync (docs/decisions/0040-privacy.md): an edge calls the hub's
// POST /v1/sync/privacy with a PrivacySync and gets PrivacyDirectives
// back. It is how erasure and suppression reach every edge, offline ones
// whenever they return, with a receipt from each.
const (
	// MsgPrivacySync: an edge's receipts and request for directives
	// (PrivacySync), the body of POST /v1/sync/privacy.
	MsgPrivacySync MsgType = 20
	// MsgPrivacyDirectives: the hub's answer (PrivacyDirectives).
	MsgPrivacyDirectives MsgType = 21
)

// Privacy limits every decoder enforces.
const (
	// MaxDirectives bounds the directives of one answer and the receipts
	// of one call.
	MaxDirectives = 1024
	// MaxDirectiveIDs bounds the profile IDs and keys of one directive.
	MaxDirectiveIDs = 65536
	// SaltBytes is the length of the hub's privacy salt.
	SaltBytes = 32
)

// DirectiveType says what a directive asks of an edge. Append only.
type DirectiveType uint8

// Directive types.
const (
	// DirectiveErase: erase every profile in ProfileIDs (the whole person
	// as the hub resolved it), leaving only their IDs marked erased
	// (profile.Erase's state: Erased at At, tombstones Keys), drop every
	// derived record of them, and make the data file hold no byte of
	// theirs before confirming.
	DirectiveErase DirectiveType = 1
	// DirectiveSuppress: add Keys to the suppression list; events naming
	// any of them are accepted, counted and dropped.
	DirectiveSuppress DirectiveType = 2
	// DirectiveUnsuppress: remove Keys from the suppression list.
	DirectiveUnsuppress DirectiveType = 3
)

// Directive is one privacy request as an edge must carry it out.
type Directive struct {
	// ID is the privacy request's ID, which the edge confirms in
	// PrivacySync.Done once it has carried the directive out durably.
	ID   string
	Type DirectiveType
	// Index is the Raft index of the request; directives are sent, and
	// must be carried out, in Index order.
	Index uint64
	// At is the request's time in Unix milliseconds (erase: the Erased
	// marker's time).
	At int64
	// ProfileIDs (erase): every profile ID of the person, sorted.
	ProfileIDs []string
	// Keys are salted identifier keys (crdt.TombstoneKey under the hub's
	// salt), sorted: erase — a tombstone of every identifier the person
	// had; suppress and unsuppress — the identifier's key.
	Keys []string
}

// PrivacySync is an edge's call: the requests it has carried out since
// its last call, and a request for those it has not.
type PrivacySync struct {
	// Edge is the calling edge's stable ID (as in SyncPush).
	Edge string
	// Done are request IDs the edge has carried out durably.
	Done []string
}

// PrivacyDirectives is the hub's answer: its salt (so edges hash
// identifiers as the hub does) and, in Index order, every directive the
// edge has not confirmed, the receipts of this call already committed.
type PrivacyDirectives struct {
	// Salt is the hub's privacy salt (SaltBytes), or empty when no
	// privacy request was ever made.
	Salt       []byte
	Directives []Directive
}

// MarshalPrivacySync encodes a MsgPrivacySync.
func MarshalPrivacySync(p *PrivacySync) ([]byte, error) {
	if p.Edge == "" || len(p.Edge) > MaxNameBytes {
		return nil, fmt.Errorf("replication: edge ID of %d bytes", len(p.Edge))
	}
	if len(p.Done) > MaxDirectives {
		return nil, fmt.Errorf("replication: %d receipts, limit %d", len(p.Done), MaxDirectives)
	}
	return frame(MsgPrivacySync, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(2), enc.EncodeString(p.Edge)); err != nil {
			return err
		}
		return encodeNames(enc, p.Done)
	})
}

// UnmarshalPrivacySync decodes a MsgPrivacySync; errors wrap
// ErrMalformed. The result does not alias b.
func UnmarshalPrivacySync(b []byte) (*PrivacySync, error) {
	d, err := body(b, MsgPrivacySync)
	if err != nil {
		return nil, err
	}
	p := &PrivacySync{}
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		if p.Edge, err = name(d); err != nil {
			return err
		}
		if p.Edge == "" {
			return fmt.Errorf("%w: empty edge ID", ErrMalformed)
		}
		p.Done, err = names(d, MaxDirectives)
		return err
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return p, nil
}

// MarshalPrivacyDirectives encodes a MsgPrivacyDirectives.
func MarshalPrivacyDirectives(p *PrivacyDirectives) ([]byte, error) {
	if len(p.Salt) != 0 && len(p.Salt) != SaltBytes {
		return nil, fmt.Errorf("replication: salt of %d bytes", len(p.Salt))
	}
	if len(p.Directives) > MaxDirectives {
		return nil, fmt.Errorf("replication: %d directives, limit %d", len(p.Directives), MaxDirectives)
	}
	for i := range p.Directives {
		if err := checkDirective(&p.Directives[i]); err != nil {
			return nil, fmt.Errorf("replication: directive %d: %w", i, err)
		}
	}
	return frame(MsgPrivacyDirectives, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(2), enc.EncodeBytes(p.Salt), enc.EncodeArrayLen(len(p.Directives))); err != nil {
			return err
		}
		for i := range p.Directives {
			x := &p.Directives[i]
			if err := first(enc.EncodeArrayLen(6), enc.EncodeString(x.ID), enc.EncodeUint(uint64(x.Type)),
				enc.EncodeUint(x.Index), enc.EncodeInt(x.At)); err != nil {
				return err
			}
			if err := first(encodeNames(enc, x.ProfileIDs), encodeNames(enc, x.Keys)); err != nil {
				return err
			}
		}
		return nil
	})
}

func checkDirective(x *Directive) error {
	if x.ID == "" || len(x.ID) > MaxNameBytes {
		return fmt.Errorf("request ID of %d bytes", len(x.ID))
	}
	if x.Type < DirectiveErase || x.Type > DirectiveUnsuppress {
		return fmt.Errorf("type %d", x.Type)
	}
	if len(x.ProfileIDs) > MaxDirectiveIDs || len(x.Keys) > MaxDirectiveIDs {
		return fmt.Errorf("%d profile IDs and %d keys, limit %d each", len(x.ProfileIDs), len(x.Keys), MaxDirectiveIDs)
	}
	if x.Type != DirectiveErase && len(x.ProfileIDs) != 0 {
		return fmt.Errorf("profile IDs on a %d directive", x.Type)
	}
	return nil
}

// UnmarshalPrivacyDirectives decodes a MsgPrivacyDirectives; an unknown
// directive type or a salt of the wrong length is malformed. The result
// does not alias b.
func UnmarshalPrivacyDirectives(b []byte) (*PrivacyDirectives, error) {
	d, err := body(b, MsgPrivacyDirectives)
	if err != nil {
		return nil, err
	}
	p := &PrivacyDirectives{}
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		if p.Salt, err = d.Bytes(); err != nil {
			return err
		}
		if len(p.Salt) != 0 && len(p.Salt) != SaltBytes {
			return fmt.Errorf("%w: salt of %d bytes", ErrMalformed, len(p.Salt))
		}
		if len(p.Salt) == 0 {
			p.Salt = nil
		}
		n, err := d.ArrayLen(7)
		if err != nil {
			return err
		}
		if n > MaxDirectives {
			return fmt.Errorf("%w: %d directives", ErrMalformed, n)
		}
		p.Directives = make([]Directive, n)
		for i := range p.Directives {
			x := &p.Directives[i]
			if err := d.ExpectArray(6); err != nil {
				return err
			}
			if x.ID, err = name(d); err != nil {
				return err
			}
			t, err1 := d.Uint()
			idx, err2 := d.Uint()
			at, err3 := d.Int()
			if err := first(err1, err2, err3); err != nil {
				return err
			}
			if t > 255 {
				return fmt.Errorf("%w: directive type %d", ErrMalformed, t)
			}
			x.Type, x.Index, x.At = DirectiveType(t), idx, at
			if x.ProfileIDs, err = names(d, MaxDirectiveIDs); err != nil {
				return err
			}
			if x.Keys, err = names(d, MaxDirectiveIDs); err != nil {
				return err
			}
			if err := checkDirective(x); err != nil {
				return fmt.Errorf("%w: directive %d: %w", ErrMalformed, i, err)
			}
		}
		return nil
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return p, nil
}

// encodeNames encodes a list of strings as an array.
func encodeNames(enc *codec.Encoder, ss []string) error {
	if err := enc.EncodeArrayLen(len(ss)); err != nil {
		return err
	}
	for _, s := range ss {
		if err := enc.EncodeString(s); err != nil {
			return err
		}
	}
	return nil
}
