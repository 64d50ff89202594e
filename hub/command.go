package hub

import (
	"fmt"
	"math"
	"time"

	"ucv/crdt/codec"
	"ucv/hub/identity"
	"ucv/profile/catalog"
	"ucv/replication"
)

// CmdType is the leading byte of every Raft log entry the hub writes.
// Append only: a value, once released, keeps its meaning forever, because
// old log entries and snapshots are replayed by new binaries.
type CmdType byte

// Command types.
const (
	// CmdSync applies one edge's sync batch (SyncBatch).
	CmdSync CmdType = 1
	// CmdMerge records a steward's decision that two profiles are one
	// person (Merge).
	CmdMerge CmdType = 2
	// CmdUnmerge records a steward's decision that two profiles are
	// different people and splits their cluster (Unmerge).
	CmdUnmerge CmdType = 3
	// CmdReviewAccept accepts a pending review pair: the two fragments
	// are one person (Review with Accept set).
	CmdReviewAccept CmdType = 4
	// CmdReviewReject rejects a pending review pair: the two fragments
	// are different people and the pair leaves the queue (Review).
	CmdReviewReject CmdType = 5
	// CmdModel installs a trained identity model (SetModel): from its
	// index on, every node scores with it
	// (docs/decisions/0026-hub-identity-model.md).
	CmdModel CmdType = 6
)

// Limits the decoders enforce.
const (
	// MaxCommandBytes bounds one encoded command (a sync batch is the
	// largest). Raft entries beyond a few MB slow every follower.
	MaxCommandBytes = 16 << 20
	// MaxNameBytes bounds edge IDs, profile IDs, actors and reasons.
	MaxNameBytes = 512
)

// SyncBatch is a run of one edge's outbox entries. Entries carry the
// edge's outbox sequences, strictly increasing; (Edge, Entry.Seq) names a
// change uniquely, which makes a retried batch a no-op.
type SyncBatch struct {
	Edge string
	// Resync marks a batch that opens an edge's resync (see
	// replication.SyncPush.Resync): its first new entry may lie beyond
	// the sequence the hub expects, and the sequences skipped count as
	// applied.
	Resync  bool
	Entries []replication.Entry
}

// Seq returns the sequence of the batch: that of its last entry (0 when
// empty).
func (b *SyncBatch) Seq() uint64 {
	if len(b.Entries) == 0 {
		return 0
	}
	return b.Entries[len(b.Entries)-1].Seq
}

// Merge is a steward's decision that profiles A and B are one person.
type Merge struct {
	A, B   string
	Actor  string // who decided (admin user, "edge:ID")
	Reason string // free text shown in the merge history; no PII
}

// Unmerge is a steward's decision that profiles A and B are different
// people: their cluster is split so that they end apart, and each side's
// profile is recomputed from its fragments.
type Unmerge struct {
	A, B   string
	Actor  string
	Reason string
}

// Review is a steward's ruling on a pending pair of the review queue
// (identity.Index.Reviews): Accept links A and B (must-link), otherwise
// they are kept apart (cannot-link). Unlike Merge and Unmerge, the pair
// must be pending when the command applies, else it changes nothing and
// fails with ErrNotFound.
type Review struct {
	A, B   string
	Accept bool
	Actor  string
	Reason string
}

func first(errs ...error) error { return codec.FirstErr(errs...) }

func frame(t CmdType, body func(*codec.Encoder) error) ([]byte, error) {
	out, err := codec.Frame(byte(t), body)
	if err != nil {
		return nil, fmt.Errorf("hub: encode command %d: %w", t, err)
	}
	if len(out) > MaxCommandBytes {
		return nil, fmt.Errorf("%w: command of %d bytes, limit %d", ErrInvalid, len(out), MaxCommandBytes)
	}
	return out, nil
}

func decodeName(d *codec.Decoder) (string, error) { return codec.Name(d, MaxNameBytes, ErrMalformed) }

// finish turns a decode error into ErrMalformed and rejects trailing bytes.
func finish(d *codec.Decoder, err error) error { return codec.Finish(d, err, ErrMalformed) }

func bodyOf(b []byte, t CmdType) (*codec.Decoder, error) {
	return codec.Unframe(b, byte(t), MaxCommandBytes, ErrMalformed)
}

// MarshalSync encodes a CmdSync entry.
func MarshalSync(b *SyncBatch) ([]byte, error) {
	if len(b.Edge) > MaxNameBytes {
		return nil, fmt.Errorf("%w: edge ID of %d bytes", ErrInvalid, len(b.Edge))
	}
	return frame(CmdSync, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(3), enc.EncodeString(b.Edge), enc.EncodeBool(b.Resync)); err != nil {
			return err
		}
		return replication.EncodeEntryList(enc, b.Entries)
	})
}

// UnmarshalSync decodes a CmdSync entry. Errors wrap ErrMalformed. The
// result does not alias b.
func UnmarshalSync(b []byte) (*SyncBatch, error) {
	d, err := bodyOf(b, CmdSync)
	if err != nil {
		return nil, err
	}
	sb := &SyncBatch{}
	err = func() error {
		if err := d.ExpectArray(3); err != nil {
			return err
		}
		if sb.Edge, err = decodeName(d); err != nil {
			return err
		}
		if sb.Resync, err = d.Bool(); err != nil {
			return err
		}
		sb.Entries, err = replication.DecodeEntryList(d, true)
		return err
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return sb, nil
}

func marshalPair(t CmdType, a, b, actor, reason string) ([]byte, error) {
	for _, s := range []string{a, b, actor, reason} {
		if len(s) > MaxNameBytes {
			return nil, fmt.Errorf("%w: field of %d bytes", ErrInvalid, len(s))
		}
	}
	return frame(t, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(4), enc.EncodeString(a), enc.EncodeString(b),
			enc.EncodeString(actor), enc.EncodeString(reason))
	})
}

func unmarshalPair(t CmdType, b []byte) (x [4]string, err error) {
	d, err := bodyOf(b, t)
	if err != nil {
		return x, err
	}
	err = func() error {
		if err := d.ExpectArray(4); err != nil {
			return err
		}
		for i := range x {
			if x[i], err = decodeName(d); err != nil {
				return err
			}
		}
		return nil
	}()
	return x, finish(d, err)
}

// MarshalMerge encodes a CmdMerge entry.
func MarshalMerge(m *Merge) ([]byte, error) {
	return marshalPair(CmdMerge, m.A, m.B, m.Actor, m.Reason)
}

// UnmarshalMerge decodes a CmdMerge entry. Errors wrap ErrMalformed.
func UnmarshalMerge(b []byte) (*Merge, error) {
	x, err := unmarshalPair(CmdMerge, b)
	if err != nil {
		return nil, err
	}
	return &Merge{A: x[0], B: x[1], Actor: x[2], Reason: x[3]}, nil
}

// MarshalUnmerge encodes a CmdUnmerge entry.
func MarshalUnmerge(u *Unmerge) ([]byte, error) {
	return marshalPair(CmdUnmerge, u.A, u.B, u.Actor, u.Reason)
}

// UnmarshalUnmerge decodes a CmdUnmerge entry. Errors wrap ErrMalformed.
func UnmarshalUnmerge(b []byte) (*Unmerge, error) {
	x, err := unmarshalPair(CmdUnmerge, b)
	if err != nil {
		return nil, err
	}
	return &Unmerge{A: x[0], B: x[1], Actor: x[2], Reason: x[3]}, nil
}

// MarshalReview encodes a CmdReviewAccept or CmdReviewReject entry.
func MarshalReview(r *Review) ([]byte, error) {
	t := CmdReviewReject
	if r.Accept {
		t = CmdReviewAccept
	}
	return marshalPair(t, r.A, r.B, r.Actor, r.Reason)
}

// UnmarshalReview decodes a CmdReviewAccept or CmdReviewReject entry.
// Errors wrap ErrMalformed.
func UnmarshalReview(b []byte) (*Review, error) {
	t := CmdReviewReject
	if len(b) > 0 && CmdType(b[0]) == CmdReviewAccept {
		t = CmdReviewAccept
	}
	x, err := unmarshalPair(t, b)
	if err != nil {
		return nil, err
	}
	return &Review{A: x[0], B: x[1], Accept: t == CmdReviewAccept, Actor: x[2], Reason: x[3]}, nil
}

// MaxModelBytes bounds an encoded identity model in a CmdModel entry,
// leaving room in MaxCommandBytes for the frame and the actor.
const MaxModelBytes = MaxCommandBytes - 4<<10

// SetModel installs a trained identity model: Model is its encoding
// (identity.Model.Marshal, as `ucv resolve --save-model` writes it).
type SetModel struct {
	Model []byte
	Actor string
}

// MarshalSetModel encodes a CmdModel entry. It checks the sizes only;
// UnmarshalSetModel (which the FSM and Server.Apply run) decodes the
// model.
func MarshalSetModel(m *SetModel) ([]byte, error) {
	switch {
	case len(m.Actor) > MaxNameBytes:
		return nil, fmt.Errorf("%w: actor of %d bytes", ErrInvalid, len(m.Actor))
	case len(m.Model) == 0:
		return nil, fmt.Errorf("%w: empty model", ErrInvalid)
	case len(m.Model) > MaxModelBytes:
		return nil, fmt.Errorf("%w: model of %d bytes, limit %d", ErrInvalid, len(m.Model), MaxModelBytes)
	}
	return frame(CmdModel, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(2), enc.EncodeBytes(m.Model), enc.EncodeString(m.Actor))
	})
}

// UnmarshalSetModel decodes a CmdModel entry and the model it carries.
// Errors wrap ErrMalformed (and identity.ErrBadModel for a model this
// binary cannot read). Neither result aliases b.
func UnmarshalSetModel(b []byte) (*SetModel, *identity.Model, error) {
	d, err := bodyOf(b, CmdModel)
	if err != nil {
		return nil, nil, err
	}
	sm := &SetModel{}
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		if sm.Model, err = d.Bytes(); err != nil {
			return err
		}
		sm.Actor, err = decodeName(d)
		return err
	}()
	if err := finish(d, err); err != nil {
		return nil, nil, err
	}
	m, err := identity.Unmarshal(sm.Model)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return sm, m, nil
}

// CmdDefine, CmdUndefine and CmdTick change the catalog of definitions
// and advance its clock (docs/decisions/0033-hub-catalog-and-transitions.md).
const (
	// CmdDefine puts one definition into the catalog (Define): a
	// computed trait or an audience, replacing one of the same name.
	CmdDefine CmdType = 7
	// CmdUndefine removes one definition from the catalog (Undefine).
	CmdUndefine CmdType = 8
	// CmdTick tells the state machine that time has passed (Tick): the
	// clusters whose membership can change by then are re-evaluated.
	// Only the leader's scheduler proposes it.
	CmdTick CmdType = 9
)

// Define puts a definition into the catalog. Definition is the JSON
// body of the admin API's PUT (catalog.ParseDefinition reads it; the API
// writes it re-encoded, so the log carries one canonical form).
type Define struct {
	Kind, Name string
	Definition []byte
	Actor      string
}

// Undefine removes a definition from the catalog.
type Undefine struct {
	Kind, Name string
	Actor      string
}

// MaxDefinitionBytes bounds a definition's JSON in a CmdDefine entry,
// except a fitted model's (catalog.MaxModelBytes: the recommendations
// model lists every product's neighbours).
const MaxDefinitionBytes = 64 << 10

// definitionLimit is the largest definition of kind a CmdDefine carries.
func definitionLimit(kind string) int {
	if kind == catalog.KindModel {
		return catalog.MaxModelBytes
	}
	return MaxDefinitionBytes
}

// MarshalDefine encodes a CmdDefine entry. It checks sizes only;
// UnmarshalDefine (which Server.Apply runs before proposing) checks the
// definition on its own, and the FSM against the whole catalog.
func MarshalDefine(d *Define) ([]byte, error) {
	for _, s := range []string{d.Kind, d.Name, d.Actor} {
		if len(s) > MaxNameBytes {
			return nil, fmt.Errorf("%w: field of %d bytes", ErrInvalid, len(s))
		}
	}
	if limit := definitionLimit(d.Kind); len(d.Definition) > limit {
		return nil, fmt.Errorf("%w: definition of %d bytes, limit %d", ErrInvalid, len(d.Definition), limit)
	}
	return frame(CmdDefine, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(4), enc.EncodeString(d.Kind), enc.EncodeString(d.Name),
			enc.EncodeBytes(d.Definition), enc.EncodeString(d.Actor))
	})
}

// UnmarshalDefine decodes a CmdDefine entry. Errors wrap ErrMalformed.
// It does not check the definition (see checkDefinition).
func UnmarshalDefine(b []byte) (*Define, error) {
	d, err := bodyOf(b, CmdDefine)
	if err != nil {
		return nil, err
	}
	def := &Define{}
	err = func() error {
		if err := d.ExpectArray(4); err != nil {
			return err
		}
		var errs [4]error
		def.Kind, errs[0] = decodeName(d)
		def.Name, errs[1] = decodeName(d)
		def.Definition, errs[2] = d.Bytes()
		def.Actor, errs[3] = decodeName(d)
		if err := first(errs[:]...); err != nil {
			return err
		}
		if len(def.Definition) > definitionLimit(def.Kind) {
			return fmt.Errorf("%w: definition of %d bytes", ErrMalformed, len(def.Definition))
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return def, nil
}

// MarshalUndefine encodes a CmdUndefine entry.
func MarshalUndefine(u *Undefine) ([]byte, error) {
	for _, s := range []string{u.Kind, u.Name, u.Actor} {
		if len(s) > MaxNameBytes {
			return nil, fmt.Errorf("%w: field of %d bytes", ErrInvalid, len(s))
		}
	}
	return frame(CmdUndefine, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(3), enc.EncodeString(u.Kind), enc.EncodeString(u.Name), enc.EncodeString(u.Actor))
	})
}

// UnmarshalUndefine decodes a CmdUndefine entry. Errors wrap
// ErrMalformed.
func UnmarshalUndefine(b []byte) (*Undefine, error) {
	d, err := bodyOf(b, CmdUndefine)
	if err != nil {
		return nil, err
	}
	u := &Undefine{}
	err = func() error {
		if err := d.ExpectArray(3); err != nil {
			return err
		}
		var errs [3]error
		u.Kind, errs[0] = decodeName(d)
		u.Name, errs[1] = decodeName(d)
		u.Actor, errs[2] = decodeName(d)
		return first(errs[:]...)
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return u, nil
}

// Tick says that the leader's clock read At: the state machine's clock
// moves to it (never backwards) and re-evaluates the clusters due by
// then.
type Tick struct {
	At time.Time
}

// MarshalTick encodes a CmdTick entry (At in milliseconds).
func MarshalTick(t *Tick) ([]byte, error) {
	ms := t.At.UnixMilli()
	if ms < 0 {
		return nil, fmt.Errorf("%w: tick before 1970", ErrInvalid)
	}
	return frame(CmdTick, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(1), enc.EncodeUint(uint64(ms)))
	})
}

// UnmarshalTick decodes a CmdTick entry. Errors wrap ErrMalformed.
func UnmarshalTick(b []byte) (*Tick, error) {
	d, err := bodyOf(b, CmdTick)
	if err != nil {
		return nil, err
	}
	var ms uint64
	err = func() error {
		if err := d.ExpectArray(1); err != nil {
			return err
		}
		ms, err = d.Uint()
		if err == nil && ms > math.MaxInt64 {
			err = fmt.Errorf("%w: tick at %d ms", ErrMalformed, ms)
		}
		return err
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return &Tick{At: time.UnixMilli(int64(ms)).UTC()}, nil
}
