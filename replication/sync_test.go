package replication

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"ucv/crdt/codec"
)

var (
	samplePush = &SyncPush{Edge: "00ab12cd34ef5678", First: 7, Entries: []Entry{
		{Seq: 7, Kind: KindDelta, ProfileID: "01HZY", Delta: []byte{1, 2, 3}},
		{Seq: 8, Kind: KindMerge, ProfileID: "01HZA", From: "01HZY"},
		{Seq: 9, Kind: KindDelta, ProfileID: "p", Delta: bytes.Repeat([]byte{9}, 3000)},
	}}
	// A resync's first push: full states after a jump in sequences.
	sampleResync = &SyncPush{Edge: "00ab12cd34ef5678", First: 4096, Resync: true, Entries: []Entry{
		{Seq: 4096, Kind: KindDelta, ProfileID: "01HZA", Delta: []byte{4, 5}},
		{Seq: 4097, Kind: KindMerge, ProfileID: "01HZA", From: "01HZY"},
	}}
	sampleAck  = &SyncAck{Status: AckApplied, Seq: 9, Index: 1 << 33}
	sampleReq  = &FeedRequest{Cursor: 12345, Max: 256}
	sampleFeed = &FeedResponse{Next: 42, Items: []FeedItem{
		{Index: 40, ID: "01A", Fragments: []string{"01A", "01B"}, State: []byte{0x80}},
		{Index: 42, ID: "01C", Fragments: []string{"01C"}, State: bytes.Repeat([]byte{1}, 500)},
	}}
)

func syncSamples(t testing.TB) map[string][]byte {
	t.Helper()
	p, err1 := MarshalSyncPush(samplePush)
	a, err2 := MarshalSyncAck(sampleAck)
	r, err3 := MarshalFeedRequest(sampleReq)
	f, err4 := MarshalFeedResponse(sampleFeed)
	e, err5 := MarshalFeedResponse(&FeedResponse{Next: 3})
	rs, err6 := MarshalSyncPush(sampleResync)
	if err := first(err1, err2, err3, err4, err5, err6); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"push": p, "ack": a, "feed request": r, "feed response": f, "empty feed": e, "resync push": rs}
}

func decodeSync(b []byte) error {
	var err error
	switch Type(b) {
	case MsgSyncPush:
		_, err = UnmarshalSyncPush(b)
	case MsgSyncAck:
		_, err = UnmarshalSyncAck(b)
	case MsgFeedRequest:
		_, err = UnmarshalFeedRequest(b)
	case MsgFeedResponse:
		_, err = UnmarshalFeedResponse(b)
	default:
		err = ErrMalformed
	}
	return err
}

func TestSyncRoundTrip(t *testing.T) {
	b := syncSamples(t)
	p, err := UnmarshalSyncPush(b["push"])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(samplePush, p, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("push round trip (-want +got):\n%s", d)
	}
	rs, err := UnmarshalSyncPush(b["resync push"])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sampleResync, rs, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("resync push round trip (-want +got):\n%s", d)
	}
	a, err := UnmarshalSyncAck(b["ack"])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sampleAck, a); d != "" {
		t.Errorf("ack round trip (-want +got):\n%s", d)
	}
	r, err := UnmarshalFeedRequest(b["feed request"])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sampleReq, r); d != "" {
		t.Errorf("feed request round trip (-want +got):\n%s", d)
	}
	f, err := UnmarshalFeedResponse(b["feed response"])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sampleFeed, f, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("feed round trip (-want +got):\n%s", d)
	}
}

// Every proper prefix, a trailing byte and another message's type are
// refused.
func TestSyncStrict(t *testing.T) {
	for name, b := range syncSamples(t) {
		t.Run(name, func(t *testing.T) {
			if err := decodeSync(b); err != nil {
				t.Fatalf("valid message: %v", err)
			}
			for i := range len(b) {
				if err := decodeSync(b[:i]); !errors.Is(err, ErrMalformed) {
					t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrMalformed", i, len(b), err)
				}
			}
			if err := decodeSync(append(append([]byte(nil), b...), 0)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("trailing byte: err = %v, want ErrMalformed", err)
			}
			wrong := append([]byte{byte(MsgEntries)}, b[1:]...)
			if _, err := UnmarshalSyncPush(wrong); !errors.Is(err, ErrMalformed) {
				t.Fatalf("gossip type byte: err = %v, want ErrMalformed", err)
			}
		})
	}
}

// Pushes that break the sequence rules are refused on both sides.
func TestSyncPushRules(t *testing.T) {
	for name, p := range map[string]*SyncPush{
		"no edge":        {First: 1, Entries: []Entry{{Seq: 1, Kind: KindDelta}}},
		"no entries":     {Edge: "e", First: 1},
		"first mismatch": {Edge: "e", First: 2, Entries: []Entry{{Seq: 1, Kind: KindDelta}}},
		"zero sequence":  {Edge: "e", First: 0, Entries: []Entry{{Seq: 0, Kind: KindDelta}}},
		"not increasing": {Edge: "e", First: 3, Entries: []Entry{{Seq: 3, Kind: KindDelta}, {Seq: 3, Kind: KindDelta}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := MarshalSyncPush(p); err == nil {
				t.Fatal("MarshalSyncPush accepted it")
			}
			// Forge the same push by hand: the decoder must refuse it too.
			ok := &SyncPush{Edge: "e", First: 1, Entries: []Entry{{Seq: 1, Kind: KindDelta}}}
			b, err := MarshalSyncPush(ok)
			if err != nil {
				t.Fatal(err)
			}
			forged, err := frame(MsgSyncPush, func(enc *codec.Encoder) error { return encodePushBody(enc, p) })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := UnmarshalSyncPush(forged); !errors.Is(err, ErrMalformed) {
				t.Fatalf("forged push: err = %v, want ErrMalformed", err)
			}
			if _, err := UnmarshalSyncPush(b); err != nil {
				t.Fatalf("valid push: %v", err)
			}
		})
	}
	// The resync flag is a msgpack bool: an integer in its place is refused.
	notBool, err := frame(MsgSyncPush, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(4), enc.EncodeString("e"), enc.EncodeUint(1), enc.EncodeUint(1)); err != nil {
			return err
		}
		return EncodeEntryList(enc, []Entry{{Seq: 1, Kind: KindDelta}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalSyncPush(notBool); !errors.Is(err, ErrMalformed) {
		t.Errorf("integer resync flag: err = %v, want ErrMalformed", err)
	}
	if _, err := MarshalSyncAck(&SyncAck{Status: 9}); err == nil {
		t.Error("MarshalSyncAck accepted status 9")
	}
	if _, err := UnmarshalSyncAck([]byte{byte(MsgSyncAck), 0x93, 0x09, 0x01, 0x01}); !errors.Is(err, ErrMalformed) {
		t.Errorf("ack status 9: err = %v, want ErrMalformed", err)
	}
	if _, err := UnmarshalFeedRequest([]byte{byte(MsgFeedRequest), 0x92, 0x01, 0xcd, 0xff, 0xff}); !errors.Is(err, ErrMalformed) {
		t.Errorf("feed request for 65535 items: err = %v, want ErrMalformed", err)
	}
	if _, err := UnmarshalFeedResponse([]byte{byte(MsgFeedResponse), 0x92, 0x01, 0x91, 0x94, 0x05, 0xa0, 0x90, 0xc4, 0x00}); !errors.Is(err, ErrMalformed) {
		t.Errorf("item index after next: err = %v, want ErrMalformed", err)
	}
}

// The sync types never reuse a gossip type.
func TestMsgTypesDistinct(t *testing.T) {
	seen := map[MsgType]bool{}
	for _, m := range []MsgType{MsgEntries, MsgDigest, MsgPull, MsgBucketEntries, MsgSyncPush, MsgSyncAck, MsgFeedRequest, MsgFeedResponse} {
		if seen[m] {
			t.Fatalf("message type %d used twice", m)
		}
		seen[m] = true
	}
}

func FuzzUnmarshalSyncPush(f *testing.F) {
	for _, b := range syncSamples(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalSyncPush(b)
		if err != nil {
			return
		}
		again, err := MarshalSyncPush(p)
		if err != nil {
			t.Fatalf("decoded push does not encode: %v", err)
		}
		reencode(t, b, again, func(b []byte) error { _, err := UnmarshalSyncPush(b); return err })
	})
}

func FuzzUnmarshalSyncAck(f *testing.F) {
	for _, b := range syncSamples(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := UnmarshalSyncAck(b)
		if err != nil {
			return
		}
		again, err := MarshalSyncAck(a)
		if err != nil {
			t.Fatalf("decoded ack does not encode: %v", err)
		}
		reencode(t, b, again, func(b []byte) error { _, err := UnmarshalSyncAck(b); return err })
	})
}

func FuzzUnmarshalFeedRequest(f *testing.F) {
	for _, b := range syncSamples(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalFeedRequest(b)
		if err != nil {
			return
		}
		again, err := MarshalFeedRequest(r)
		if err != nil {
			t.Fatalf("decoded feed request does not encode: %v", err)
		}
		reencode(t, b, again, func(b []byte) error { _, err := UnmarshalFeedRequest(b); return err })
	})
}

func FuzzUnmarshalFeedResponse(f *testing.F) {
	for _, b := range syncSamples(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalFeedResponse(b)
		if err != nil {
			return
		}
		again, err := MarshalFeedResponse(r)
		if err != nil {
			t.Fatalf("decoded feed page does not encode: %v", err)
		}
		reencode(t, b, again, func(b []byte) error { _, err := UnmarshalFeedResponse(b); return err })
	})
}
