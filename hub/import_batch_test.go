package hub

import (
	"bytes"
	"fmt"
	"maps"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"pgregory.net/rapid"

	"ucv/hub/identity"
)

// TestImportResolutionBatchEqualsSerial: an FSM resolving CmdImport's
// records with Index.AddBatch (parallel scoring) and building deltas and
// records on all cores ends in byte for byte the state — fragments,
// clusters, merge history, reviews — that one doing it all on one
// goroutine, calling Index.Add record by record, reaches, over random imports,
// re-imports with changed rows, and random batch sizes.
func TestImportResolutionBatchEqualsSerial(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	cols := []ImportColumn{{"first", identity.FirstName}, {"last", identity.LastName}, {"dob", identity.BirthDate},
		{"street", identity.Address}, {"city", identity.City}, {"postcode", identity.Postcode}, {"email", identity.Email}}
	traits, types, err := ImportShape(cols)
	if err != nil {
		t.Fatal(err)
	}
	pool := importPeople(400)
	rapid.Check(t, func(t *rapid.T) {
		var cmds [][]byte
		for range rapid.IntRange(1, 4).Draw(t, "batches") {
			im := &Import{Source: "crm", Traits: traits, Types: types}
			seen := map[string]bool{}
			for range rapid.IntRange(1, 150).Draw(t, "rows") {
				n := rapid.IntRange(0, len(pool)-1).Draw(t, "row")
				id := fmt.Sprint(n)
				if seen[id] {
					continue
				}
				seen[id] = true
				v := map[identity.Kind]string{}
				for _, f := range pool[n].Fields {
					v[f.Kind] = f.Value
				}
				last := v[identity.LastName]
				if rapid.IntRange(0, 5).Draw(t, "change") == 0 {
					last += "e" // a re-import changes the row
				}
				email := fmt.Sprintf("c%d@example.com", n)
				if rapid.IntRange(0, 9).Draw(t, "shared") == 0 {
					email = "family@example.com"
				}
				rec, errs := ImportRecordOf("crm", id, cols, []string{v[identity.FirstName], last,
					v[identity.BirthDate], v[identity.Address], v[identity.City], v[identity.Postcode], email}, "US", identity.DateAuto)
				if errs != nil {
					t.Fatal(errs)
				}
				im.Records = append(im.Records, rec)
			}
			b, err := MarshalImport(im)
			if err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, b)
		}
		state := func(serial bool) ([]byte, string) {
			applySerially = serial
			defer func() { applySerially = false }()
			f, err := NewFSM()
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cmds {
				if res := f.Apply(&raft.Log{Index: uint64(i + 1), Data: c, AppendedAt: time.Unix(1_800_000_000, 0)}).(*Result); res.Err != nil {
					t.Fatalf("apply: %v", res.Err)
				}
			}
			snap, err := f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := snap.(*snapshot).write(&buf); err != nil {
				t.Fatal(err)
			}
			checkDerived(t, f)
			return buf.Bytes(), fmt.Sprintf("%+v\n%+v", f.st.ix.Clusters(), f.st.ix.Reviews())
		}
		wantSnap, wantIx := state(true)
		gotSnap, gotIx := state(false)
		if wantIx != gotIx {
			t.Fatalf("engine state differs (-serial +batch):\n%s", cmp.Diff(wantIx, gotIx))
		}
		if !bytes.Equal(wantSnap, gotSnap) {
			t.Fatalf("snapshots differ: %d bytes serially, %d with AddBatch", len(wantSnap), len(gotSnap))
		}
	})
}

// checkDerived fails unless f's indexes that are derived from its
// fragments, not snapshotted, hold what the fragments say: the feed an
// entry (changed, ID) per fragment an Apply put, the identifier and
// address indexes the entries of each fragment's identity record.
func checkDerived(t interface{ Fatalf(string, ...any) }, f *FSM) {
	wantFeed, gotFeed := map[feedKey]bool{}, map[feedKey]bool{}
	f.st.frags.Ascend(func(fr *fragment) bool {
		if fr.changed != 0 {
			wantFeed[feedKey{fr.changed, fr.id}] = true
		}
		return true
	})
	f.st.feed.Ascend(func(k feedKey) bool { gotFeed[k] = true; return true })
	if !maps.Equal(gotFeed, wantFeed) {
		t.Fatalf("feed holds %d entries, the fragments say %d: %v", len(gotFeed), len(wantFeed), gotFeed)
	}
	fields := map[string][]identity.Field{}
	for id, packed := range f.st.recs {
		fields[id] = unpackFields(packed)
	}
	checkIdentIndexes(t, f.st, fields)
}
