package replication

import (
	"errors"
	"fmt"

	"ucv/crdt/codec"
)

// MsgType is the leading byte of every gossip message. Append only: a
// value, once released, keeps its meaning forever.
type MsgType byte

// Message types.
const (
	// MsgEntries: a batch of one origin's outbox entries (live deltas and
	// merge decisions), broadcast and relayed epidemically.
	MsgEntries MsgType = 1
	// MsgDigest: a node's store digest, exchanged by push/pull.
	MsgDigest MsgType = 2
	// MsgPull: a request for the full state of some digest buckets.
	MsgPull MsgType = 3
	// MsgBucketEntries: one chunk of full states answering a MsgPull.
	MsgBucketEntries MsgType = 4
)

// Kind says what an Entry carries. Append only: the values are on the
// wire and in every edge's data file (edge/store's outbox).
type Kind uint8

// Entry kinds.
const (
	// KindDelta: Delta is a profile.Marshal'ed delta (or full state) of
	// ProfileID.
	KindDelta Kind = 1
	// KindMerge: profile From was merged into ProfileID (From is now a
	// redirect); receivers fold their copy of From into ProfileID.
	KindMerge Kind = 2
)

// Limits every decoder enforces, so a forged message cannot make a node
// allocate more than the budget.
const (
	// MaxMessageBytes bounds any encoded message (a chunk of bucket
	// entries is the largest).
	MaxMessageBytes = 8 << 20
	// MaxDigestBuckets bounds the buckets of a digest.
	MaxDigestBuckets = 4096
	// MaxNameBytes bounds a node name.
	MaxNameBytes = 512
)

// ErrMalformed is returned (wrapped) for bytes that are not a valid
// message: empty, unknown type, truncated, trailing data, out of bounds.
var ErrMalformed = errors.New("replication: malformed message")

// Entry is one replicated change. It is also what edge/store keeps in
// its outbox, in commit order, and hands to gossip and hub sync as it is.
type Entry struct {
	// Seq is the change's position in its origin's outbox (0 for full
	// states from anti-entropy, which have no position).
	Seq       uint64
	Kind      Kind
	ProfileID string
	From      string
	Delta     []byte
}

// Size returns an upper bound of the entry's encoded size in bytes.
func (e *Entry) Size() int {
	return 1 + 9 + 2 + 5 + len(e.ProfileID) + 5 + len(e.From) + 5 + len(e.Delta)
}

// Entries is a batch of changes from one origin store (MsgEntries) or a
// chunk of full states (MsgBucketEntries).
type Entries struct {
	// Origin is the HLC node ID of the store that made the changes; with
	// Entry.Seq it names a change uniquely (for relay deduplication).
	Origin  uint64
	Entries []Entry
}

// Digest is a node's store digest (MsgDigest).
type Digest struct {
	// Node is the memberlist name of the sender, so the receiver knows
	// whom to pull differing buckets from.
	Node    string
	Buckets []uint64
	// Hash names the item hash Buckets are made of (the store's
	// DigestHash); 0, a digest of two elements, is a sender from before
	// it was sent. Receivers compare only digests of their own hash.
	Hash uint8
}

// Pull asks a node for the full states of digest buckets (MsgPull).
type Pull struct {
	// Node is the memberlist name of the requester, to answer to.
	Node    string
	Buckets []int
}

// Type returns the type byte of an encoded message (0 if empty).
func Type(b []byte) MsgType {
	if len(b) == 0 {
		return 0
	}
	return MsgType(b[0])
}

func frame(t MsgType, body func(*codec.Encoder) error) ([]byte, error) {
	out, err := codec.Frame(byte(t), body)
	if err != nil {
		return nil, fmt.Errorf("replication: encode message %d: %w", t, err)
	}
	return out, nil
}

func first(errs ...error) error { return codec.FirstErr(errs...) }

// body checks the frame and returns a decoder over the body.
func body(b []byte, t MsgType) (*codec.Decoder, error) {
	return codec.Unframe(b, byte(t), MaxMessageBytes, ErrMalformed)
}

func end(d *codec.Decoder, err error) error { return codec.Finish(d, err, ErrMalformed) }

// MarshalEntries encodes es as a message of type t (MsgEntries or
// MsgBucketEntries).
func MarshalEntries(t MsgType, es *Entries) ([]byte, error) {
	if t != MsgEntries && t != MsgBucketEntries {
		return nil, fmt.Errorf("replication: entries in message type %d", t)
	}
	return frame(t, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(2), enc.EncodeUint(es.Origin)); err != nil {
			return err
		}
		return EncodeEntryList(enc, es.Entries)
	})
}

// UnmarshalEntries decodes a message of type t written by MarshalEntries.
// The result does not alias b.
func UnmarshalEntries(t MsgType, b []byte) (*Entries, error) {
	if t != MsgEntries && t != MsgBucketEntries {
		return nil, fmt.Errorf("%w: entries in message type %d", ErrMalformed, t)
	}
	d, err := body(b, t)
	if err != nil {
		return nil, err
	}
	es := &Entries{}
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		if es.Origin, err = d.Uint(); err != nil {
			return err
		}
		es.Entries, err = DecodeEntryList(d, false)
		return err
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return es, nil
}

// EncodeEntryList writes es as an array of [seq, kind, profile ID, from,
// delta] arrays: the one encoding of entries in gossip, sync pushes and
// hub log entries.
func EncodeEntryList(enc *codec.Encoder, es []Entry) error {
	if err := enc.EncodeArrayLen(len(es)); err != nil {
		return err
	}
	for i := range es {
		e := &es[i]
		if err := first(enc.EncodeArrayLen(5), enc.EncodeUint(e.Seq), enc.EncodeUint(uint64(e.Kind)),
			enc.EncodeString(e.ProfileID), enc.EncodeString(e.From), enc.EncodeBytes(e.Delta)); err != nil {
			return err
		}
	}
	return nil
}

// DecodeEntryList reads what EncodeEntryList wrote, refusing unknown
// kinds and, when limitNames is set, IDs longer than MaxNameBytes. Errors
// wrap ErrMalformed or codec.ErrCorrupt. The result does not alias the
// decoder's input.
func DecodeEntryList(d *codec.Decoder, limitNames bool) ([]Entry, error) {
	str := d.String
	if limitNames {
		str = func() (string, error) { return name(d) }
	}
	// An entry is at least 6 bytes: array header, seq, kind, 3 empties.
	n, err := d.ArrayLen(6)
	if err != nil {
		return nil, err
	}
	es := make([]Entry, n)
	for i := range es {
		if err := d.ExpectArray(5); err != nil {
			return nil, err
		}
		seq, err1 := d.Uint()
		kind, err2 := d.Uint()
		id, err3 := str()
		from, err4 := str()
		delta, err5 := d.Bytes()
		if err := first(err1, err2, err3, err4, err5); err != nil {
			return nil, err
		}
		if kind != uint64(KindDelta) && kind != uint64(KindMerge) {
			return nil, fmt.Errorf("%w: entry kind %d", ErrMalformed, kind)
		}
		es[i] = Entry{Seq: seq, Kind: Kind(kind), ProfileID: id, From: from, Delta: delta}
	}
	return es, nil
}

// MarshalDigest encodes a MsgDigest.
func MarshalDigest(g *Digest) ([]byte, error) {
	if len(g.Buckets) > MaxDigestBuckets || len(g.Node) > MaxNameBytes {
		return nil, fmt.Errorf("replication: digest of %d buckets from a %d-byte name", len(g.Buckets), len(g.Node))
	}
	return frame(MsgDigest, func(enc *codec.Encoder) error {
		n := 2
		if g.Hash != 0 {
			n = 3
		}
		if err := first(enc.EncodeArrayLen(n), enc.EncodeString(g.Node), enc.EncodeArrayLen(len(g.Buckets))); err != nil {
			return err
		}
		for _, v := range g.Buckets {
			if err := enc.EncodeUint(v); err != nil {
				return err
			}
		}
		if g.Hash != 0 {
			return enc.EncodeUint(uint64(g.Hash))
		}
		return nil
	})
}

// nodeBuckets reads the head shared by a digest and a pull — a
// two-element array of the node's name and a list of at most
// MaxDigestBuckets numbers — up to the list's length.
func nodeBuckets(d *codec.Decoder) (node string, n int, err error) {
	if err := d.ExpectArray(2); err != nil {
		return "", 0, err
	}
	return nodeBucketsIn(d)
}

// nodeBucketsIn is nodeBuckets after the array's head.
func nodeBucketsIn(d *codec.Decoder) (node string, n int, err error) {
	if node, err = name(d); err != nil {
		return "", 0, err
	}
	if n, err = d.ArrayLen(1); err != nil {
		return "", 0, err
	}
	if n > MaxDigestBuckets {
		return "", 0, fmt.Errorf("%w: %d buckets", ErrMalformed, n)
	}
	return node, n, nil
}

// UnmarshalDigest decodes a MsgDigest.
func UnmarshalDigest(b []byte) (*Digest, error) {
	d, err := body(b, MsgDigest)
	if err != nil {
		return nil, err
	}
	g := &Digest{}
	err = func() error {
		// Two elements (node, buckets) or, naming the hash, three.
		elems, err := d.ArrayLen(1)
		if err != nil {
			return err
		}
		if elems != 2 && elems != 3 {
			return fmt.Errorf("%w: a digest of %d elements", ErrMalformed, elems)
		}
		var n int
		if g.Node, n, err = nodeBucketsIn(d); err != nil {
			return err
		}
		g.Buckets = make([]uint64, n)
		for i := range g.Buckets {
			if g.Buckets[i], err = d.Uint(); err != nil {
				return err
			}
		}
		if elems == 3 {
			h, err := d.Uint()
			if err != nil {
				return err
			}
			if h == 0 || h > 255 {
				return fmt.Errorf("%w: digest hash %d", ErrMalformed, h)
			}
			g.Hash = uint8(h)
		}
		return nil
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return g, nil
}

func name(d *codec.Decoder) (string, error) { return codec.Name(d, MaxNameBytes, ErrMalformed) }

// MarshalPull encodes a MsgPull.
func MarshalPull(p *Pull) ([]byte, error) {
	if len(p.Buckets) > MaxDigestBuckets || len(p.Node) > MaxNameBytes {
		return nil, fmt.Errorf("replication: pull of %d buckets from a %d-byte name", len(p.Buckets), len(p.Node))
	}
	return frame(MsgPull, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(2), enc.EncodeString(p.Node), enc.EncodeArrayLen(len(p.Buckets))); err != nil {
			return err
		}
		for _, v := range p.Buckets {
			if v < 0 || v >= MaxDigestBuckets {
				return fmt.Errorf("bucket %d out of range", v)
			}
			if err := enc.EncodeUint(uint64(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// UnmarshalPull decodes a MsgPull. Buckets are within [0, MaxDigestBuckets).
func UnmarshalPull(b []byte) (*Pull, error) {
	d, err := body(b, MsgPull)
	if err != nil {
		return nil, err
	}
	p := &Pull{}
	err = func() error {
		var n int
		if p.Node, n, err = nodeBuckets(d); err != nil {
			return err
		}
		p.Buckets = make([]int, n)
		for i := range p.Buckets {
			v, err := d.Uint()
			if err != nil {
				return err
			}
			if v >= MaxDigestBuckets {
				return fmt.Errorf("%w: bucket %d", ErrMalformed, v)
			}
			p.Buckets[i] = int(v)
		}
		return nil
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return p, nil
}
