package store

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestWALPowerLoss: a power cut keeps what the last fdatasync covered
// and any part of what was written after it — each 512-byte sector of
// the segment holding its new bytes or its old ones (zeros written
// ahead, or nothing past the old length), the file's new length kept or
// not (decision 0106). Whatever survives, the log opens with every
// synced record and then a prefix of the unsynced ones, positions
// consecutive, never a record that was not written; appending then and
// opening again keeps them all.
func TestWALPowerLoss(t *testing.T) {
	root := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp(root, "c")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		dir = filepath.Join(dir, "x.wal")
		w, _, err := openWAL(dir, 7, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		next := 0
		var ids []string
		var all [][]Event // every record appended, in order
		groups := func(label string) {
			for range rapid.IntRange(0, 5).Draw(rt, label) {
				recs := make([][]Event, rapid.IntRange(1, 3).Draw(rt, "records"))
				for i := range recs {
					recs[i] = walEvents(t, next, rapid.IntRange(1, 3).Draw(rt, "events"))
					if rapid.IntRange(0, 9).Draw(rt, "big") == 0 { // one record may cross a chunk
						recs[i][0].Msg.Properties = map[string]any{"blob": strings.Repeat("x", rapid.IntRange(1, walChunk+4096).Draw(rt, "blob"))}
					}
					for _, e := range recs[i] {
						ids = append(ids, e.Msg.MessageID)
					}
					next += len(recs[i])
				}
				all = append(all, recs...)
				appendRecords(t, w, recs...)
			}
		}
		groups("synced groups")
		synced := len(ids)
		seg := segPath(t, dir)
		old, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		groups("unsynced groups")
		written, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		crash(w)

		// The cut: the length the device kept, then sector by sector.
		img := slices.Clone(old)
		if len(written) > len(old) && rapid.Bool().Draw(rt, "length kept") {
			img = append(img, make([]byte, len(written)-len(old))...)
		}
		keep := rapid.SampledFrom([]float64{0, 0.3, 0.7, 0.9, 0.97, 1}).Draw(rt, "share of sectors kept")
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 1))
		for off := 0; off < len(img); off += 512 {
			end := min(off+512, len(img), len(written))
			if off < end && rng.Float64() < keep {
				copy(img[off:end], written[off:end])
			}
		}
		if err := os.WriteFile(seg, img, 0o600); err != nil {
			t.Fatal(err)
		}

		w, pending, err := openWAL(dir, 7, 0, false)
		if err != nil {
			rt.Fatalf("open after the cut: %v", err)
		}
		got := messageIDs(pending)
		if len(got) < synced || !slices.Equal(got, ids[:len(got)]) {
			rt.Fatalf("after the cut: %d records' events %v…, want the %d synced and a prefix of the rest", len(got), got[:min(len(got), 8)], synced)
		}
		for i, r := range pending {
			if r.lsn != uint64(i+1) {
				rt.Fatalf("record %d at position %d", i, r.lsn)
			}
		}
		// Appending after the cut, and a crash: everything kept stays.
		// The next record is the first one lost, sent again as a client
		// retries it: byte for byte the record it was, so whatever of
		// the records after it survived the cut would read as valid
		// right after it, had open not cut them off.
		more := walEvents(t, 1_000_000, 1)
		if len(pending) < len(all) {
			more = all[len(pending)]
		}
		appendRecords(t, w, more)
		crash(w)
		_, again, err := openWAL(dir, 7, 0, false)
		if err != nil {
			rt.Fatalf("open after appending past the cut: %v", err)
		}
		want := append(slices.Clone(got), messageIDs([]walRecord{{evs: more}})...)
		if ids := messageIDs(again); !slices.Equal(ids, want) {
			rt.Fatalf("after appending past the cut: %d events, want the %d kept and the %d appended", len(ids), len(got), len(more))
		}
	})
}
