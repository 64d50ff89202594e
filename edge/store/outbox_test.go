package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"ucv/replication"
)

// TestOutboxEncodingIsFixed pins the bytes of an outbox value: data
// files hold them, so a change of encoding (or of the entry type the
// outbox stores) must not change them.
func TestOutboxEncodingIsFixed(t *testing.T) {
	for _, tc := range []struct {
		e    replication.Entry
		want string
	}{
		// [1, "01HZY", "", bin(1 2 3)]
		{replication.Entry{Seq: 7, Kind: replication.KindDelta, ProfileID: "01HZY", Delta: []byte{1, 2, 3}}, "9401a53031485a59a0c403010203"},
		// [2, "a", "b", nil]
		{replication.Entry{Seq: 8, Kind: replication.KindMerge, ProfileID: "a", From: "b"}, "9402a161a162c0"},
	} {
		b, err := encodeOutbox(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != tc.want {
			t.Errorf("encodeOutbox(%+v) = %s, want %s", tc.e, got, tc.want)
		}
		back, err := decodeOutbox(tc.e.Seq, b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.e, back); d != "" {
			t.Errorf("decodeOutbox(encodeOutbox(e)) (-want +got):\n%s", d)
		}
	}
}

// TestSchema1OutboxReads: the outbox entries of files written by earlier
// builds decode, encode back to the very bytes on disk, and are what
// Outbox returns once the file is opened (and migrated).
func TestSchema1OutboxReads(t *testing.T) {
	for _, rev := range schema1Fixtures {
		t.Run(rev, func(t *testing.T) {
			path := copyFixture(t, "testdata/schema1-"+rev+".db")
			db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			var raw []replication.Entry
			err = db.View(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
					e, err := decodeOutbox(binary.BigEndian.Uint64(k), v)
					if err != nil {
						t.Fatalf("outbox entry %x: %v", k, err)
					}
					if b, err := encodeOutbox(e); err != nil || !bytes.Equal(b, v) {
						t.Errorf("outbox entry %x encodes back to %x, %v; on disk %x", k, b, err, v)
					}
					raw = append(raw, e)
					return nil
				})
			})
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) == 0 {
				t.Fatal("the fixture has no outbox entries")
			}
			s, err := openFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			got, err := s.Outbox(0, len(raw)+1)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(raw, got); d != "" {
				t.Errorf("Outbox after opening the schema 1 file (-on disk +got):\n%s", d)
			}
		})
	}
}
