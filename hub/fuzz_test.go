package hub_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/hub/identity"
	"ucv/hub/webhook"
	"ucv/replication"
)

// FuzzCommands: the command decoders never panic, and what they accept
// re-encodes to bytes that decode to the same command (msgpack has
// several encodings of one value, so bytes may differ).
func FuzzCommands(f *testing.F) {
	b, _ := hub.MarshalSync(&hub.SyncBatch{Edge: "e", Entries: hubtestEntries()})
	rs, _ := hub.MarshalSync(&hub.SyncBatch{Edge: "e", Resync: true, Entries: hubtestEntries()})
	m, _ := hub.MarshalMerge(&hub.Merge{A: "a", B: "b", Actor: "s", Reason: "r"})
	u, _ := hub.MarshalUnmerge(&hub.Unmerge{A: "a", B: "b"})
	ra, _ := hub.MarshalReview(&hub.Review{A: "a", B: "b", Accept: true, Actor: "s", Reason: "r"})
	rr, _ := hub.MarshalReview(&hub.Review{A: "a", B: "b"})
	um, _ := identity.Untrained(identity.DefaultConfig())
	ub, _ := um.Marshal()
	sm, _ := hub.MarshalSetModel(&hub.SetModel{Model: ub, Actor: "ops"})
	dl, _ := hub.MarshalDelivered(&hub.Delivered{Results: []hub.DeliveryResult{{Q: 1, Outcome: webhook.Retry, Next: 5, Err: "HTTP 503"}}})
	rp, _ := hub.MarshalReplay(&hub.Replay{Dest: "crm", IDs: []uint64{1, 2}, Actor: "ops"})
	for _, s := range [][]byte{b, rs, m, u, ra, rr, sm, dl, rp, {1}, {2, 0x94}, {4, 0x94}, {6, 0x92}, {10, 0x91}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if sb, err := hub.UnmarshalSync(data); err == nil {
			again, err := hub.MarshalSync(sb)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalSync(again); err != nil || !cmp.Equal(back, sb) {
				t.Fatalf("sync batch does not round-trip: %v", err)
			}
		}
		if dl, err := hub.UnmarshalDelivered(data); err == nil {
			again, err := hub.MarshalDelivered(dl)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalDelivered(again); err != nil || !cmp.Equal(back, dl) {
				t.Fatalf("delivery results do not round-trip: %v", err)
			}
		}
		if rp, err := hub.UnmarshalReplay(data); err == nil {
			again, err := hub.MarshalReplay(rp)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := hub.UnmarshalReplay(again); err != nil || !cmp.Equal(back, rp) {
				t.Fatalf("replay does not round-trip: %v", err)
			}
		}
		if mg, err := hub.UnmarshalMerge(data); err == nil {
			again, _ := hub.MarshalMerge(mg)
			if back, err := hub.UnmarshalMerge(again); err != nil || *back != *mg {
				t.Fatal("merge does not round-trip")
			}
		}
		if um, err := hub.UnmarshalUnmerge(data); err == nil {
			again, _ := hub.MarshalUnmerge(um)
			if back, err := hub.UnmarshalUnmerge(again); err != nil || *back != *um {
				t.Fatal("unmerge does not round-trip")
			}
		}
		if sm, _, err := hub.UnmarshalSetModel(data); err == nil {
			again, err := hub.MarshalSetModel(sm)
			if err != nil {
				t.Fatal(err)
			}
			if back, _, err := hub.UnmarshalSetModel(again); err != nil || !bytes.Equal(back.Model, sm.Model) || back.Actor != sm.Actor {
				t.Fatalf("model command does not round-trip: %v", err)
			}
		}
		if rv, err := hub.UnmarshalReview(data); err == nil {
			if rv.Accept != (data[0] == byte(hub.CmdReviewAccept)) {
				t.Fatalf("review of type %d decoded with Accept %v", data[0], rv.Accept)
			}
			again, _ := hub.MarshalReview(rv)
			if back, err := hub.UnmarshalReview(again); err != nil || *back != *rv {
				t.Fatal("review does not round-trip")
			}
		}
	})
}

// FuzzRestore: Restore never panics on arbitrary bytes.
func FuzzRestore(f *testing.F) {
	l := newLog(f)
	twoStores(l)
	f.Add(l.snapshot())
	if b, err := os.ReadFile(filepath.Join("testdata", "snapshot_model.golden")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("ucvhub\x01\x00\xff\x05\x94\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm, err := hub.NewFSM()
		if err != nil {
			t.Fatal(err)
		}
		_ = fsm.Restore(nopCloser{bytes.NewReader(data)})
	})
}

func hubtestEntries() []replication.Entry {
	e := hubtest.NewEdge("e", 1)
	return []replication.Entry{e.Delta(hubtest.Event{Profile: "P"}), e.Merge("Q", "P")}
}
