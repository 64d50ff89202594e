package replication

import (
	"fmt"

	"ucv/crdt/codec"
)

// Hub↔edge sync messages (msgpack over HTTP). They share the MsgType
// enum with gossip; they are numbered from 16 so gossip can grow to 15
// without the two ever colliding. Append only.
const (
	// MsgSyncPush: a run of one edge's outbox entries (SyncPush), the
	// body of POST /v1/sync/push.
	MsgSyncPush MsgType = 16
	// MsgSyncAck: the hub's answer to a push (SyncAck).
	MsgSyncAck MsgType = 17
	// MsgFeedRequest: a read of the hub's change feed (FeedRequest).
	MsgFeedRequest MsgType = 18
	// MsgFeedResponse: a page of the change feed (FeedResponse).
	MsgFeedResponse MsgType = 19
)

// Sync limits every decoder enforces on top of MaxMessageBytes.
const (
	// MaxFeedItems bounds the items of one feed page (and FeedRequest.Max).
	MaxFeedItems = 4096
	// MaxFragments bounds the fragments of one feed item.
	MaxFragments = 65536
)

// SyncPush is a run of one edge's outbox entries, oldest first. Entry
// sequences are strictly increasing and the first is First: the hub
// applies (Edge, Seq) at most once, so a retried push is harmless.
type SyncPush struct {
	// Edge is the pushing edge's stable ID (its store's HLC node ID in
	// hex): the key of the hub's per-edge sequence.
	Edge  string
	First uint64
	// Resync marks the first push of a resync: the run starts with the
	// full state of every profile and redirect the edge holds, so the
	// hub may accept it after a gap (it expects a sequence the edge no
	// longer has) and treats the skipped sequences as covered.
	Resync  bool
	Entries []Entry
}

// AckStatus says what the hub did with a push.
type AckStatus uint8

// Ack statuses. Append only.
const (
	// AckApplied: the entries up to Seq are committed.
	AckApplied AckStatus = 1
	// AckDuplicate: nothing was new; the hub already has up to Seq.
	AckDuplicate AckStatus = 2
	// AckGap: the push skipped sequences; resend from Seq.
	AckGap AckStatus = 3
)

// String names the status.
func (s AckStatus) String() string {
	switch s {
	case AckApplied:
		return "applied"
	case AckDuplicate:
		return "duplicate"
	case AckGap:
		return "gap"
	}
	return fmt.Sprintf("AckStatus(%d)", uint8(s))
}

// SyncAck answers a SyncPush once it is committed by Raft (or found to
// be a duplicate or a gap, which commit nothing).
type SyncAck struct {
	Status AckStatus
	// Seq is the last sequence the hub holds from the edge (AckApplied,
	// AckDuplicate: the edge may trim its outbox up to it), or the
	// sequence the hub expects next (AckGap).
	Seq uint64
	// Index is the Raft index of the command (0 for a gap).
	Index uint64
}

// FeedRequest reads the hub's change feed after Cursor (a Raft index),
// at most Max items (0: the hub's default).
type FeedRequest struct {
	Cursor uint64
	Max    uint32
}

// FeedItem is one resolved person as the hub holds it now.
type FeedItem struct {
	// Index is the Raft index of the cluster's last change.
	Index uint64
	// ID is the cluster's canonical profile ID.
	ID string
	// Fragments are the source profile IDs merged into ID, sorted; every
	// one but ID is a redirect to ID on the edges.
	Fragments []string
	// State is the cluster's joined profile (profile.Marshal, ID == ID).
	State []byte
	// Apart are profile IDs (fragments of other clusters) a steward ruled
	// different people from one of Fragments, sorted: the edge must
	// never merge this cluster with a profile that holds one of them.
	// Encoded only when not empty (the item is then an array of 5, not
	// 4), so an ordinary item's bytes are unchanged.
	Apart []string
}

// FeedResponse is a page of the change feed. Next is the cursor to ask
// from next time; Next == the request's cursor means nothing new.
type FeedResponse struct {
	Items []FeedItem
	Next  uint64
	// Catalog is the hub's catalog of definitions (profile/catalog's
	// Marshal) when it changed after the request's cursor; nil when it
	// did not. Encoded only when present (the response is then an array
	// of 3, not 2), so an ordinary page's bytes are unchanged.
	Catalog []byte
}

// MaxCatalogBytes bounds an encoded catalog of definitions in a feed
// page or a snapshot header (profile/catalog's MaxBytes).
const MaxCatalogBytes = 4 << 20

// MarshalSyncPush encodes a MsgSyncPush. It refuses a push whose
// sequences do not start at First or do not increase.
func MarshalSyncPush(p *SyncPush) ([]byte, error) {
	if err := checkPush(p); err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	return frame(MsgSyncPush, func(enc *codec.Encoder) error { return encodePushBody(enc, p) })
}

func encodePushBody(enc *codec.Encoder, p *SyncPush) error {
	if err := first(enc.EncodeArrayLen(4), enc.EncodeString(p.Edge), enc.EncodeUint(p.First), enc.EncodeBool(p.Resync)); err != nil {
		return err
	}
	return EncodeEntryList(enc, p.Entries)
}

func checkPush(p *SyncPush) error {
	if p.Edge == "" || len(p.Edge) > MaxNameBytes {
		return fmt.Errorf("edge ID of %d bytes", len(p.Edge))
	}
	if len(p.Entries) == 0 {
		return fmt.Errorf("push without entries")
	}
	if p.Entries[0].Seq != p.First || p.First == 0 {
		return fmt.Errorf("first entry has sequence %d, push says %d", p.Entries[0].Seq, p.First)
	}
	for i := 1; i < len(p.Entries); i++ {
		if p.Entries[i].Seq <= p.Entries[i-1].Seq {
			return fmt.Errorf("entry %d: sequence %d after %d", i, p.Entries[i].Seq, p.Entries[i-1].Seq)
		}
	}
	return nil
}

// UnmarshalSyncPush decodes a MsgSyncPush. Beyond the framing it checks
// that the edge ID is set, entries are present, the first has sequence
// First and sequences increase; errors wrap ErrMalformed. The result does
// not alias b.
func UnmarshalSyncPush(b []byte) (*SyncPush, error) {
	d, err := body(b, MsgSyncPush)
	if err != nil {
		return nil, err
	}
	p := &SyncPush{}
	err = func() error {
		if err := d.ExpectArray(4); err != nil {
			return err
		}
		if p.Edge, err = name(d); err != nil {
			return err
		}
		if p.First, err = d.Uint(); err != nil {
			return err
		}
		if p.Resync, err = d.Bool(); err != nil {
			return err
		}
		p.Entries, err = DecodeEntryList(d, true)
		return err
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	if err := checkPush(p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return p, nil
}

// MarshalSyncAck encodes a MsgSyncAck.
func MarshalSyncAck(a *SyncAck) ([]byte, error) {
	if a.Status < AckApplied || a.Status > AckGap {
		return nil, fmt.Errorf("replication: ack status %d", a.Status)
	}
	return frame(MsgSyncAck, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(3), enc.EncodeUint(uint64(a.Status)), enc.EncodeUint(a.Seq), enc.EncodeUint(a.Index))
	})
}

// UnmarshalSyncAck decodes a MsgSyncAck; an unknown status is malformed.
func UnmarshalSyncAck(b []byte) (*SyncAck, error) {
	d, err := body(b, MsgSyncAck)
	if err != nil {
		return nil, err
	}
	a := &SyncAck{}
	err = func() error {
		if err := d.ExpectArray(3); err != nil {
			return err
		}
		st, err1 := d.Uint()
		seq, err2 := d.Uint()
		idx, err3 := d.Uint()
		if err := first(err1, err2, err3); err != nil {
			return err
		}
		if st < uint64(AckApplied) || st > uint64(AckGap) {
			return fmt.Errorf("%w: ack status %d", ErrMalformed, st)
		}
		*a = SyncAck{Status: AckStatus(st), Seq: seq, Index: idx}
		return nil
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return a, nil
}

// MarshalFeedRequest encodes a MsgFeedRequest.
func MarshalFeedRequest(r *FeedRequest) ([]byte, error) {
	if r.Max > MaxFeedItems {
		return nil, fmt.Errorf("replication: feed request for %d items, limit %d", r.Max, MaxFeedItems)
	}
	return frame(MsgFeedRequest, func(enc *codec.Encoder) error {
		return first(enc.EncodeArrayLen(2), enc.EncodeUint(r.Cursor), enc.EncodeUint(uint64(r.Max)))
	})
}

// UnmarshalFeedRequest decodes a MsgFeedRequest; Max is at most
// MaxFeedItems.
func UnmarshalFeedRequest(b []byte) (*FeedRequest, error) {
	d, err := body(b, MsgFeedRequest)
	if err != nil {
		return nil, err
	}
	r := &FeedRequest{}
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		c, err1 := d.Uint()
		m, err2 := d.Uint()
		if err := first(err1, err2); err != nil {
			return err
		}
		if m > MaxFeedItems {
			return fmt.Errorf("%w: feed request for %d items", ErrMalformed, m)
		}
		*r = FeedRequest{Cursor: c, Max: uint32(m)}
		return nil
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return r, nil
}

// MarshalFeedResponse encodes a MsgFeedResponse.
func MarshalFeedResponse(r *FeedResponse) ([]byte, error) {
	if len(r.Items) > MaxFeedItems {
		return nil, fmt.Errorf("replication: feed page of %d items, limit %d", len(r.Items), MaxFeedItems)
	}
	if len(r.Catalog) > MaxCatalogBytes {
		return nil, fmt.Errorf("replication: catalog of %d bytes, limit %d", len(r.Catalog), MaxCatalogBytes)
	}
	b, err := frame(MsgFeedResponse, func(enc *codec.Encoder) error {
		fields := 2
		if len(r.Catalog) > 0 {
			fields = 3
		}
		if err := first(enc.EncodeArrayLen(fields), enc.EncodeUint(r.Next), enc.EncodeArrayLen(len(r.Items))); err != nil {
			return err
		}
		for i := range r.Items {
			it := &r.Items[i]
			if len(it.ID) > MaxNameBytes || len(it.Fragments) > MaxFragments || len(it.Apart) > MaxFragments {
				return fmt.Errorf("item %d: %d-byte ID, %d fragments, %d apart", i, len(it.ID), len(it.Fragments), len(it.Apart))
			}
			fields := 4
			if len(it.Apart) > 0 {
				fields = 5
			}
			if err := first(enc.EncodeArrayLen(fields), enc.EncodeUint(it.Index), enc.EncodeString(it.ID),
				enc.EncodeArrayLen(len(it.Fragments))); err != nil {
				return err
			}
			for _, f := range it.Fragments {
				if len(f) > MaxNameBytes {
					return fmt.Errorf("item %d: fragment ID of %d bytes", i, len(f))
				}
				if err := enc.EncodeString(f); err != nil {
					return err
				}
			}
			if err := enc.EncodeBytes(it.State); err != nil {
				return err
			}
			if fields == 5 {
				if err := enc.EncodeArrayLen(len(it.Apart)); err != nil {
					return err
				}
				for _, f := range it.Apart {
					if len(f) > MaxNameBytes {
						return fmt.Errorf("item %d: apart ID of %d bytes", i, len(f))
					}
					if err := enc.EncodeString(f); err != nil {
						return err
					}
				}
			}
		}
		if len(r.Catalog) > 0 {
			return enc.EncodeBytes(r.Catalog)
		}
		return nil
	})
	if err == nil && len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("replication: feed page of %d bytes, limit %d", len(b), MaxMessageBytes)
	}
	return b, err
}

// UnmarshalFeedResponse decodes a MsgFeedResponse. Item indexes never
// exceed Next. The result does not alias b.
func UnmarshalFeedResponse(b []byte) (*FeedResponse, error) {
	d, err := body(b, MsgFeedResponse)
	if err != nil {
		return nil, err
	}
	r := &FeedResponse{}
	err = func() error {
		fields, err := d.ArrayLen(1)
		if err != nil {
			return err
		}
		if fields != 2 && fields != 3 {
			return fmt.Errorf("%w: feed response of %d fields", ErrMalformed, fields)
		}
		if r.Next, err = d.Uint(); err != nil {
			return err
		}
		// An item is at least 5 bytes: header, index, ID, fragments, state.
		n, err := d.ArrayLen(5)
		if err != nil {
			return err
		}
		if n > MaxFeedItems {
			return fmt.Errorf("%w: feed page of %d items", ErrMalformed, n)
		}
		r.Items = make([]FeedItem, n)
		for i := range r.Items {
			it := &r.Items[i]
			fields, err := d.ArrayLen(1)
			if err != nil {
				return err
			}
			if fields != 4 && fields != 5 {
				return fmt.Errorf("%w: feed item of %d fields", ErrMalformed, fields)
			}
			if it.Index, err = d.Uint(); err != nil {
				return err
			}
			if it.Index > r.Next {
				return fmt.Errorf("%w: item index %d after next %d", ErrMalformed, it.Index, r.Next)
			}
			if it.ID, err = name(d); err != nil {
				return err
			}
			m, err := d.ArrayLen(1)
			if err != nil {
				return err
			}
			if m > MaxFragments {
				return fmt.Errorf("%w: %d fragments", ErrMalformed, m)
			}
			it.Fragments = make([]string, m)
			for j := range it.Fragments {
				if it.Fragments[j], err = name(d); err != nil {
					return err
				}
			}
			if it.State, err = d.Bytes(); err != nil {
				return err
			}
			if fields == 5 {
				if it.Apart, err = names(d, MaxFragments); err != nil {
					return err
				}
				if len(it.Apart) == 0 { // one encoding per value: none is 4 fields
					return fmt.Errorf("%w: empty apart list", ErrMalformed)
				}
			}
		}
		if fields == 3 {
			if r.Catalog, err = d.Bytes(); err != nil {
				return err
			}
			if len(r.Catalog) == 0 || len(r.Catalog) > MaxCatalogBytes { // none is 2 fields
				return fmt.Errorf("%w: catalog of %d bytes", ErrMalformed, len(r.Catalog))
			}
		}
		return nil
	}()
	if err := end(d, err); err != nil {
		return nil, err
	}
	return r, nil
}

// names decodes an array of at most limit names.
func names(d *codec.Decoder, limit int) ([]string, error) {
	m, err := d.ArrayLen(1)
	if err != nil {
		return nil, err
	}
	if m > limit {
		return nil, fmt.Errorf("%w: %d names, limit %d", ErrMalformed, m, limit)
	}
	out := make([]string, m)
	for j := range out {
		if out[j], err = name(d); err != nil {
			return nil, err
		}
	}
	return out, nil
}
