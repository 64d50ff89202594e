package crdt

import (
	"runtime"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// TestLedgerAddGrowsInPlace: an Add of a new key to a ledger whose slice
// has room inserts it in that slice, and n Adds copy O(n) entries in all
// — the slice grows by doubling. Before, every Add copied the whole
// ledger into a new slice: 1,000 Adds to a ledger of ~5,000 entries
// allocated ~190 MB.
func TestLedgerAddGrowsInPlace(t *testing.T) {
	var l Ledger
	key := uint64(0)
	next := func() uint64 { key += 0x9E3779B97F4A7C15; return key } // keys in no order
	for range 4096 {
		l.Add(LedgerEntry{Key: next(), Time: 1, Data: []byte{1}})
	}
	for cap(l.Entries) == len(l.Entries) {
		l.Add(LedgerEntry{Key: next(), Time: 1, Data: []byte{1}})
	}
	first := &l.Entries[0]
	l.Add(LedgerEntry{Key: next(), Time: 1, Data: []byte{1}})
	if &l.Entries[0] != first {
		t.Errorf("Add with room moved the ledger to a new slice")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 1000 {
		l.Add(LedgerEntry{Key: next(), Time: 1, Data: []byte{1}})
	}
	runtime.ReadMemStats(&after)
	if b := after.TotalAlloc - before.TotalAlloc; b > 8<<20 {
		t.Errorf("1,000 Adds to a ledger of ~5,000 entries allocated %d bytes, want well under 8 MiB (one doubling)", b)
	}
	for i := 1; i < len(l.Entries); i++ {
		if l.Entries[i-1].Key >= l.Entries[i].Key {
			t.Fatalf("entries out of order at %d", i)
		}
	}
}

// TestLedgerSharersNeverSeeAnAdd: what takes a ledger's entries by
// Joined or Adopted shares them, and an Add or a small Merge to it later
// copies them
// rather than write into the slice the ledger it took them from still
// holds — as Clone's copy never shares. The ledger that shared them
// is not changed in place afterwards, by contract ("Persistent joins",
// joined.go), so it is left alone here once it has shared.
func TestLedgerSharersNeverSeeAnAdd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		entry := func(label string) LedgerEntry {
			return LedgerEntry{
				Key:  rapid.Uint64Range(1, 40).Draw(t, label+"-key"),
				Time: rapid.Int64Range(0, 4).Draw(t, label+"-time"),
				Data: smallBytes(t),
			}
		}
		checkSharers(t, sharing[Ledger]{
			write: func(l *Ledger) {
				if rapid.Bool().Draw(t, "merge") {
					// A peer's delta: merged entry by entry, in place.
					var d Ledger
					for range rapid.IntRange(1, 3).Draw(t, "merged") {
						d.Add(entry("merged"))
					}
					l.Merge(d)
					return
				}
				l.Add(entry("add"))
			},
			joined: func(l Ledger) Ledger {
				var d Ledger
				for range rapid.IntRange(0, 3).Draw(t, "delta") {
					d.Add(entry("delta"))
				}
				return l.Joined(d)
			},
			adopted: Ledger.Adopted,
			clone:   Ledger.Clone,
			equal:   Ledger.Equal,
		})
	})
}

// sharing is what checkSharers does with a type: write to a state in
// place, and take a state's storage by a join, an adoption or a clone.
type sharing[T any] struct {
	write                  func(*T)
	joined, adopted, clone func(T) T
	equal                  func(a, b T) bool
}

// checkSharers runs random writes, joins, adoptions and clones across
// holders of one type, and checks after each step that every holder
// still holds what it last wrote or took: no write reached another
// holder through storage they share. A holder that gave its storage away
// (by a join or an adoption) is not written again, as the persistent-join
// contract requires.
func checkSharers[T any](t *rapid.T, s sharing[T]) {
	var zero T
	holders, snaps := []T{zero}, []T{zero} // snaps: what each holder last wrote or took
	shared := []bool{false}                // it gave its storage to another holder
	for range rapid.IntRange(1, 60).Draw(t, "steps") {
		i := rapid.IntRange(0, len(holders)-1).Draw(t, "holder")
		var took T
		op := rapid.IntRange(0, 5).Draw(t, "op")
		switch {
		case op <= 2:
			if shared[i] {
				continue
			}
			s.write(&holders[i])
			snaps[i] = s.clone(holders[i])
			continue
		case op == 3:
			took = s.joined(holders[i])
		case op == 4:
			took = s.adopted(holders[i])
		default:
			took = s.clone(holders[i])
		}
		shared[i] = shared[i] || op < 5
		holders, snaps, shared = append(holders, took), append(snaps, s.clone(took)), append(shared, false)
		for k := range holders {
			if !s.equal(holders[k], snaps[k]) {
				t.Fatalf("holder %d changed by another's write:\n has  %+v\n want %+v", k, holders[k], snaps[k])
			}
		}
	}
}

// BenchmarkLedgerAdd adds new keys to a ledger of n entries: every n
// Adds it starts again from a copy of the n entries (which has no room,
// so the first Add of each round grows the slice), keeping the size
// between n and 2n.
func BenchmarkLedgerAdd(b *testing.B) {
	benchLedgerGrowth(b, []int{10, 100, 1000, 10000}, func(l *Ledger, e LedgerEntry) { l.Add(e) })
}

// BenchmarkLedgerMergeDelta merges a peer's one-event delta (one new
// entry) into a ledger of n entries, kept between n and 2n as in
// BenchmarkLedgerAdd.
func BenchmarkLedgerMergeDelta(b *testing.B) {
	benchLedgerGrowth(b, []int{100, 1000, 10000}, func(l *Ledger, e LedgerEntry) {
		l.Merge(Ledger{Entries: []LedgerEntry{e}})
	})
}

// benchLedgerGrowth times op, giving a ledger of n entries one new
// entry, for each n of sizes (see BenchmarkLedgerAdd).
func benchLedgerGrowth(b *testing.B, sizes []int, op func(*Ledger, LedgerEntry)) {
	for _, n := range sizes {
		b.Run("entries="+strconv.Itoa(n), func(b *testing.B) {
			key := uint64(0)
			entry := func() LedgerEntry {
				key += 0x9E3779B97F4A7C15
				return LedgerEntry{Key: key, Time: 1, Data: []byte{1, 2, 3}}
			}
			var base Ledger
			for range n {
				base.Add(entry())
			}
			l, added := base.Clone(), 0
			b.ReportAllocs()
			for b.Loop() {
				if added == n {
					l, added = base.Clone(), 0
				}
				op(&l, entry())
				added++
			}
		})
	}
}
