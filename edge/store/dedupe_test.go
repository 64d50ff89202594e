package store

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"
)

// Whatever events arrive — repeats within the window and past it,
// restarts between them — the store counts as duplicates exactly the
// messageIds its set holds (a model of the set: filed when first stored,
// expired by the first commit past the window), and its in-memory index
// finds every entry the file holds (Check, before each restart and at
// the end).
func TestDedupeIndexHoldsWhatTheFileHolds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		now := t0
		var mu sync.Mutex
		o := DefaultOptions(filepath.Join(t.TempDir(), "edge.db"))
		o.NodeName = "till-1"
		o.DedupeWindow = time.Hour
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		s, err := Open(o)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { s.Close(context.Background()) }()
		stored := map[string]time.Time{} // the model: messageId → when stored
		for step := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0:
				mu.Lock()
				now = now.Add(time.Duration(rapid.IntRange(1, 50).Draw(rt, "minutes")) * time.Minute)
				mu.Unlock()
			case 1:
				if err := s.Check(); err != nil {
					rt.Fatalf("step %d: %v", step, err)
				}
				if err := s.Close(context.Background()); err != nil {
					rt.Fatal(err)
				}
				if s, err = Open(o); err != nil {
					rt.Fatal(err)
				}
			default:
				n := rapid.IntRange(1, 6).Draw(rt, "events")
				evs := make([]Event, n)
				mids := make([]string, n)
				for i := range evs {
					mids[i] = fmt.Sprintf("m%d", rapid.IntRange(0, 12).Draw(rt, "mid"))
					evs[i] = ev(t, fmt.Sprintf(`{"type":"track","userId":"u1","messageId":%q,"event":"E"}`, mids[i]))
				}
				res, err := s.Ingest(context.Background(), evs)
				if err != nil {
					rt.Fatal(err)
				}
				mu.Lock()
				at := now
				mu.Unlock()
				// A messageId is a duplicate while its entry is in the
				// set, or when it came earlier in the same request; a
				// commit expires, after its events, the entries older
				// than the window (each Ingest here commits).
				want := 0
				for _, mid := range mids {
					if _, ok := stored[mid]; ok {
						want++
						continue
					}
					stored[mid] = at
				}
				for mid, when := range stored {
					if when.UnixMilli() < at.Add(-time.Hour).UnixMilli() {
						delete(stored, mid)
					}
				}
				if res.Duplicates != want {
					rt.Fatalf("step %d: %v → %d duplicates, want %d", step, mids, res.Duplicates, want)
				}
				// The commit has forgotten what it expired: the index
				// holds the file's entries, no more.
				var inFile int
				if err := s.view(func(tx *bolt.Tx) error {
					inFile = tx.Bucket(bucketDedupeTime).Stats().KeyN
					return nil
				}); err != nil {
					rt.Fatal(err)
				}
				if got := s.dedupe.len(); got != inFile || inFile != len(stored) {
					rt.Fatalf("step %d: the index holds %d entries, the file %d, the model %d", step, got, inFile, len(stored))
				}
			}
		}
		if err := s.Check(); err != nil {
			rt.Fatal(err)
		}
	})
}

// Two messageIds whose hashes meet: the second goes to the map by
// string, both are found, and forgetting one leaves the other.
func TestDedupeIndexCollisions(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "x.db"), 0o600, nil) // a bare file: the store's Check would find these entries unindexed
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := newDedupeIndex()
	a, b := []byte("mid-a"), []byte("mid-b")
	ra, rb := dedupeRef{ms: 1, seq: 1}, dedupeRef{ms: 1, seq: 2}
	err = db.Update(func(tx *bolt.Tx) error {
		byTime, err := tx.CreateBucket(bucketDedupeTime)
		if err != nil {
			return err
		}
		for _, e := range []struct {
			mid []byte
			r   dedupeRef
		}{{a, ra}, {b, rb}} {
			if err := byTime.Put(e.r.key(e.mid), e.mid); err != nil {
				return err
			}
		}
		ha := d.hash(a)
		d.add(byTime, []dedupeNote{{h: ha, mid: "mid-a", ref: ra}, {h: ha, mid: "mid-b", ref: rb}}) // b's note under a's hash
		if len(d.collide) != 1 {
			t.Errorf("collide holds %d, want mid-b alone", len(d.collide))
		}
		for _, m := range [][]byte{a, b} {
			if !d.seen(byTime, m) {
				t.Errorf("%s not seen", m)
			}
		}
		if d.seen(byTime, []byte("mid-c")) {
			t.Error("a messageId never stored seen")
		}
		d.forget([]dedupeNote{{h: ha, mid: "mid-a", ref: ra}})
		if d.seen(byTime, a) || !d.seen(byTime, b) {
			t.Errorf("after forgetting mid-a: seen a %v, b %v; want false, true", d.seen(byTime, a), d.seen(byTime, b))
		}
		// A slot whose entry is gone from the file is taken, not
		// collided with.
		if err := byTime.Delete(rb.key(b)); err != nil {
			return err
		}
		d.forget([]dedupeNote{{h: ha, mid: "mid-b", ref: rb}})
		d.add(byTime, []dedupeNote{{h: ha, mid: "mid-a", ref: ra}})
		gone := dedupeRef{ms: 1, seq: 9} // in the index, not in the file
		d.byHash[d.hash(b)] = gone
		if d.seen(byTime, b) {
			t.Error("seen through a slot whose entry the file does not hold")
		}
		d.add(byTime, []dedupeNote{{h: d.hash(b), mid: "mid-b", ref: rb}})
		if got := d.byHash[d.hash(b)]; got != rb || len(d.collide) != 0 {
			t.Errorf("a stale slot: holds %+v (collide %d), want %+v", got, len(d.collide), rb)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkDedupeIndex reports what the index costs a messageId in
// memory (1,000,000 UUID-shaped messageIds, heap after a collection) and
// times the lookup of one that is not in it (the common case: a new
// event), without the file's check a hit adds.
func BenchmarkDedupeIndex(b *testing.B) {
	const n = 1_000_000
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	d := newDedupeIndex()
	for i := range n {
		d.byHash[d.hash(fmt.Appendf(nil, "%08x-%04x-4%03x-%012x", i*7919, i%65536, i%4096, i))] = dedupeRef{ms: int64(i), seq: uint64(i + 1)}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	miss := []byte("ffffffff-ffff-4fff-ffffffffffff")
	b.ResetTimer()
	for range b.N {
		if d.seen(nil, miss) {
			b.Fatal("seen")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "B/messageId")
	runtime.KeepAlive(d)
}
