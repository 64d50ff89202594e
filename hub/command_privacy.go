package hub

import (
	"fmt"
	"math"

	"ucv/crdt/codec"
	"ucv/replication"
)

// Privacy commands (docs/decisions/0040-privacy.md). None of them carries
// a raw identifier: a request names the person by the salted key of the
// identifier and the profile IDs the leader resolved it to.
const (
	// CmdPrivacy records a privacy request (PrivacyRequest).
	CmdPrivacy CmdType = 12
	// CmdPrivacyDone records an edge's receipts: the requests it has
	// carried out (EdgeReceipts).
	CmdPrivacyDone CmdType = 13
	// CmdShredDone records that a hub node shredded its files after the
	// requests' last edge receipts (ShredReceipt).
	CmdShredDone CmdType = 14
	// CmdDecommission records that an edge is gone for good: it no
	// longer blocks privacy requests and its sync batches are refused
	// (Decommission).
	CmdDecommission CmdType = 15
	// CmdAudit appends one entry to the audit log (AuditEntry).
	CmdAudit CmdType = 16
	// CmdEdgeRegister records an edge the hub has not seen push, at its
	// first privacy step, before it pulls anything: from then on every
	// erasure waits for its receipt (EdgeRegister).
	CmdEdgeRegister CmdType = 17
)

// PrivacyType is a privacy request's type. Append only.
type PrivacyType uint8

// Privacy request types.
const (
	PrivacyErase      PrivacyType = 1
	PrivacySuppress   PrivacyType = 2
	PrivacyUnsuppress PrivacyType = 3
	PrivacyExport     PrivacyType = 4
)

var privacyNames = map[PrivacyType]string{PrivacyErase: "erase", PrivacySuppress: "suppress",
	PrivacyUnsuppress: "unsuppress", PrivacyExport: "export"}

// String returns the type's API name ("erase", …).
func (t PrivacyType) String() string {
	if s, ok := privacyNames[t]; ok {
		return s
	}
	return fmt.Sprintf("privacy(%d)", uint8(t))
}

// ParsePrivacyType reads an API name; ok is false for an unknown one.
func ParsePrivacyType(s string) (PrivacyType, bool) {
	for t, n := range privacyNames {
		if n == s {
			return t, true
		}
	}
	return 0, false
}

// directive returns the replication directive type of t (0 for export,
// which edges never see).
func (t PrivacyType) directive() replication.DirectiveType {
	switch t {
	case PrivacyErase:
		return replication.DirectiveErase
	case PrivacySuppress:
		return replication.DirectiveSuppress
	case PrivacyUnsuppress:
		return replication.DirectiveUnsuppress
	}
	return 0
}

// Limits of the privacy commands.
const (
	// MaxPrivacyIDs bounds the profile IDs of one request (the whole
	// person as the leader resolved it; the FSM adds their clusters).
	MaxPrivacyIDs = replication.MaxDirectiveIDs
	// MaxReceipts bounds the request IDs of one receipt command.
	MaxReceipts = replication.MaxDirectives
	// MaxAuditTargets bounds the targets of one audit entry.
	MaxAuditTargets = 1024
	// MaxVoters bounds the voters a shred receipt names.
	MaxVoters = 64
)

// PrivacyRequest is a privacy request as the leader's API handler
// commits it: the identifier normalised, salted and resolved there.
type PrivacyRequest struct {
	// ID is the request's ID (random, minted by the handler).
	ID   string
	Type PrivacyType
	// Key is the salted key of the identifier (crdt.TombstoneKey of
	// "type:value" under the hub's salt).
	Key string
	// ProfileIDs are the profiles the identifier resolved to (sorted);
	// the FSM expands them to their whole clusters. Empty: nobody.
	ProfileIDs []string
	Actor      string
	// At is the leader's wall clock, ms: the request's created_at, and
	// the erasure's time.
	At int64
	// Salt is set only when the handler found no salt in the state: the
	// new random salt (replication.SaltBytes), kept if it is the first.
	// A request whose salt differs from the one the state already holds
	// fails with ErrConflict and changes nothing (its Key was computed
	// under the wrong salt); the handler retries.
	Salt []byte
}

// EdgeReceipts are an edge's receipts: the request IDs it carried out.
// Applying them twice changes nothing.
type EdgeReceipts struct {
	Edge string
	IDs  []string
}

// ShredReceipt says that hub node Node shredded its files after the
// last edge receipt of requests IDs. Voters are the Raft voters as the
// node saw them: a request is done once every one of them has shredded.
type ShredReceipt struct {
	Node   string
	IDs    []string
	Voters []string
}

// Decommission retires edge Edge.
type Decommission struct {
	Edge  string
	Actor string
	At    int64 // ms
}

// EdgeRegister registers edge Edge: an edge that pulls the hub's
// profiles before (or without ever) pushing must confirm erasures like
// one that pushed.
type EdgeRegister struct {
	Edge string
}

// AuditEntry is one entry of the audit log. Targets name people by
// profile ID, requests by ID and definitions by name: never a raw
// identifier.
type AuditEntry struct {
	// Seq numbers entries from 1 in log order (set by the FSM).
	Seq uint64 `json:"seq"`
	// At is the leader's wall clock when the action ended, ms.
	At      int64    `json:"at"`
	Actor   string   `json:"actor"`
	Role    string   `json:"role"`
	Action  string   `json:"action"` // "POST /v1/admin/privacy/requests"
	Targets []string `json:"target"`
	Outcome int      `json:"outcome"` // HTTP status
}

func checkNames(what string, ss []string, limit int) error {
	if len(ss) > limit {
		return fmt.Errorf("%w: %d %s, limit %d", ErrInvalid, len(ss), what, limit)
	}
	for _, s := range ss {
		if s == "" || len(s) > MaxNameBytes {
			return fmt.Errorf("%w: %s of %d bytes", ErrInvalid, what, len(s))
		}
	}
	return nil
}

func decodeNames(d *codec.Decoder, limit int) ([]string, error) {
	n, err := d.ArrayLen(1)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %d names, limit %d", ErrMalformed, n, limit)
	}
	var out []string
	for range n {
		s, err := decodeName(d)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, fmt.Errorf("%w: empty name", ErrMalformed)
		}
		out = append(out, s)
	}
	return out, nil
}

// MarshalPrivacy encodes a CmdPrivacy entry.
func MarshalPrivacy(p *PrivacyRequest) ([]byte, error) {
	switch {
	case p.ID == "" || len(p.ID) > MaxNameBytes:
		return nil, fmt.Errorf("%w: request ID of %d bytes", ErrInvalid, len(p.ID))
	case privacyNames[p.Type] == "":
		return nil, fmt.Errorf("%w: privacy type %d", ErrInvalid, p.Type)
	case p.Key == "" || len(p.Key) > MaxNameBytes || len(p.Actor) > MaxNameBytes:
		return nil, fmt.Errorf("%w: key or actor", ErrInvalid)
	case len(p.Salt) != 0 && len(p.Salt) != replication.SaltBytes:
		return nil, fmt.Errorf("%w: salt of %d bytes", ErrInvalid, len(p.Salt))
	case p.At < 0:
		return nil, fmt.Errorf("%w: request before 1970", ErrInvalid)
	}
	if err := checkNames("profile IDs", p.ProfileIDs, MaxPrivacyIDs); err != nil {
		return nil, err
	}
	return frame(CmdPrivacy, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(7), enc.EncodeString(p.ID), enc.EncodeUint(uint64(p.Type)),
			enc.EncodeString(p.Key), encodeStrings(enc, p.ProfileIDs), enc.EncodeString(p.Actor),
			enc.EncodeInt(p.At), enc.EncodeBytes(p.Salt))
	})
}

// UnmarshalPrivacy decodes a CmdPrivacy entry. Errors wrap ErrMalformed.
func UnmarshalPrivacy(b []byte) (*PrivacyRequest, error) {
	d, err := bodyOf(b, CmdPrivacy)
	if err != nil {
		return nil, err
	}
	p := &PrivacyRequest{}
	err = func() error {
		if err := d.ExpectArray(7); err != nil {
			return err
		}
		var errs [7]error
		var t uint64
		p.ID, errs[0] = decodeName(d)
		t, errs[1] = d.Uint()
		p.Key, errs[2] = decodeName(d)
		p.ProfileIDs, errs[3] = decodeNames(d, MaxPrivacyIDs)
		p.Actor, errs[4] = decodeName(d)
		p.At, errs[5] = d.Int()
		p.Salt, errs[6] = d.Bytes()
		if err := first(errs[:]...); err != nil {
			return err
		}
		if t > math.MaxUint8 || privacyNames[PrivacyType(t)] == "" {
			return fmt.Errorf("%w: privacy type %d", ErrMalformed, t)
		}
		p.Type = PrivacyType(t)
		switch {
		case p.ID == "" || p.Key == "":
			return fmt.Errorf("%w: request without an ID or key", ErrMalformed)
		case len(p.Salt) != 0 && len(p.Salt) != replication.SaltBytes:
			return fmt.Errorf("%w: salt of %d bytes", ErrMalformed, len(p.Salt))
		case p.At < 0:
			return fmt.Errorf("%w: request at %d", ErrMalformed, p.At)
		}
		if len(p.Salt) == 0 {
			p.Salt = nil
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return p, nil
}

// MarshalEdgeReceipts encodes a CmdPrivacyDone entry.
func MarshalEdgeReceipts(r *EdgeReceipts) ([]byte, error) {
	if r.Edge == "" || len(r.Edge) > MaxNameBytes {
		return nil, fmt.Errorf("%w: edge ID of %d bytes", ErrInvalid, len(r.Edge))
	}
	if err := checkNames("request IDs", r.IDs, MaxReceipts); err != nil {
		return nil, err
	}
	return frame(CmdPrivacyDone, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(2), enc.EncodeString(r.Edge), encodeStrings(enc, r.IDs))
	})
}

// UnmarshalEdgeReceipts decodes a CmdPrivacyDone entry. Errors wrap
// ErrMalformed.
func UnmarshalEdgeReceipts(b []byte) (*EdgeReceipts, error) {
	d, err := bodyOf(b, CmdPrivacyDone)
	if err != nil {
		return nil, err
	}
	r := &EdgeReceipts{}
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		var err1, err2 error
		r.Edge, err1 = decodeName(d)
		r.IDs, err2 = decodeNames(d, MaxReceipts)
		if err := first(err1, err2); err != nil {
			return err
		}
		if r.Edge == "" {
			return fmt.Errorf("%w: receipts without an edge", ErrMalformed)
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return r, nil
}

// MarshalShredReceipt encodes a CmdShredDone entry.
func MarshalShredReceipt(r *ShredReceipt) ([]byte, error) {
	if r.Node == "" || len(r.Node) > MaxNameBytes {
		return nil, fmt.Errorf("%w: node ID of %d bytes", ErrInvalid, len(r.Node))
	}
	if err := first(checkNames("request IDs", r.IDs, MaxReceipts), checkNames("voters", r.Voters, MaxVoters)); err != nil {
		return nil, err
	}
	return frame(CmdShredDone, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(3), enc.EncodeString(r.Node), encodeStrings(enc, r.IDs), encodeStrings(enc, r.Voters))
	})
}

// UnmarshalShredReceipt decodes a CmdShredDone entry. Errors wrap
// ErrMalformed.
func UnmarshalShredReceipt(b []byte) (*ShredReceipt, error) {
	d, err := bodyOf(b, CmdShredDone)
	if err != nil {
		return nil, err
	}
	r := &ShredReceipt{}
	err = func() error {
		if err := d.ExpectArray(3); err != nil {
			return err
		}
		var errs [3]error
		r.Node, errs[0] = decodeName(d)
		r.IDs, errs[1] = decodeNames(d, MaxReceipts)
		r.Voters, errs[2] = decodeNames(d, MaxVoters)
		if err := first(errs[:]...); err != nil {
			return err
		}
		if r.Node == "" {
			return fmt.Errorf("%w: shred receipt without a node", ErrMalformed)
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return r, nil
}

// MarshalDecommission encodes a CmdDecommission entry.
func MarshalDecommission(x *Decommission) ([]byte, error) {
	if x.Edge == "" || len(x.Edge) > MaxNameBytes || len(x.Actor) > MaxNameBytes || x.At < 0 {
		return nil, fmt.Errorf("%w: decommission of an edge ID of %d bytes", ErrInvalid, len(x.Edge))
	}
	return frame(CmdDecommission, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(3), enc.EncodeString(x.Edge), enc.EncodeString(x.Actor), enc.EncodeInt(x.At))
	})
}

// MarshalEdgeRegister encodes a CmdEdgeRegister entry.
func MarshalEdgeRegister(x *EdgeRegister) ([]byte, error) {
	if x.Edge == "" || len(x.Edge) > MaxNameBytes {
		return nil, fmt.Errorf("%w: registration of an edge ID of %d bytes", ErrInvalid, len(x.Edge))
	}
	return frame(CmdEdgeRegister, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(1), enc.EncodeString(x.Edge))
	})
}

// UnmarshalEdgeRegister decodes a CmdEdgeRegister entry. Errors wrap
// ErrMalformed.
func UnmarshalEdgeRegister(b []byte) (*EdgeRegister, error) {
	d, err := bodyOf(b, CmdEdgeRegister)
	if err != nil {
		return nil, err
	}
	x := &EdgeRegister{}
	err = func() error {
		if err := d.ExpectArray(1); err != nil {
			return err
		}
		var err1 error
		if x.Edge, err1 = decodeName(d); err1 != nil {
			return err1
		}
		if x.Edge == "" {
			return fmt.Errorf("%w: registration without an edge", ErrMalformed)
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return x, nil
}

// UnmarshalDecommission decodes a CmdDecommission entry. Errors wrap
// ErrMalformed.
func UnmarshalDecommission(b []byte) (*Decommission, error) {
	d, err := bodyOf(b, CmdDecommission)
	if err != nil {
		return nil, err
	}
	x := &Decommission{}
	err = func() error {
		if err := d.ExpectArray(3); err != nil {
			return err
		}
		var errs [3]error
		x.Edge, errs[0] = decodeName(d)
		x.Actor, errs[1] = decodeName(d)
		x.At, errs[2] = d.Int()
		if err := first(errs[:]...); err != nil {
			return err
		}
		if x.Edge == "" || x.At < 0 {
			return fmt.Errorf("%w: decommission", ErrMalformed)
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return x, nil
}

// MarshalAudit encodes a CmdAudit entry (Seq is not encoded).
func MarshalAudit(e *AuditEntry) ([]byte, error) {
	for _, s := range []string{e.Actor, e.Role, e.Action} {
		if len(s) > MaxNameBytes {
			return nil, fmt.Errorf("%w: audit field of %d bytes", ErrInvalid, len(s))
		}
	}
	if err := checkNames("targets", e.Targets, MaxAuditTargets); err != nil {
		return nil, err
	}
	if e.At < 0 || e.Outcome < 0 || e.Outcome > 999 {
		return nil, fmt.Errorf("%w: audit time or outcome", ErrInvalid)
	}
	return frame(CmdAudit, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(6), enc.EncodeInt(e.At), enc.EncodeString(e.Actor), enc.EncodeString(e.Role),
			enc.EncodeString(e.Action), encodeStrings(enc, e.Targets), enc.EncodeInt(int64(e.Outcome)))
	})
}

// UnmarshalAudit decodes a CmdAudit entry. Errors wrap ErrMalformed.
func UnmarshalAudit(b []byte) (*AuditEntry, error) {
	d, err := bodyOf(b, CmdAudit)
	if err != nil {
		return nil, err
	}
	e, err := decodeAudit(d, false)
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeAudit reads an audit entry: with seq, as the snapshot stores
// it, else as CmdAudit carries it.
func decodeAudit(d *codec.Decoder, seq bool) (*AuditEntry, error) {
	n := 6
	if seq {
		n = 7
	}
	if err := d.ExpectArray(n); err != nil {
		return nil, err
	}
	e := &AuditEntry{}
	var errs [7]error
	var outcome int64
	e.At, errs[0] = d.Int()
	e.Actor, errs[1] = decodeName(d)
	e.Role, errs[2] = decodeName(d)
	e.Action, errs[3] = decodeName(d)
	e.Targets, errs[4] = decodeNames(d, MaxAuditTargets)
	outcome, errs[5] = d.Int()
	if seq { // the snapshot's record adds the number last
		e.Seq, errs[6] = d.Uint()
	}
	if err := first(errs[:]...); err != nil {
		return nil, err
	}
	if e.At < 0 || outcome < 0 || outcome > 999 {
		return nil, fmt.Errorf("%w: audit time or outcome", ErrMalformed)
	}
	e.Outcome = int(outcome)
	return e, nil
}
