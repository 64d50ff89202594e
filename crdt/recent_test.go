package crdt

import (
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// TestRecentSharersNeverSeeAnAdd is TestLedgerSharersNeverSeeAnAdd for
// the timeline: what takes a Recent's items by Joined or Adopted shares
// them without room, so its Adds copy them rather than write into the
// slice the Recent it took them from still holds (which is left alone
// once it has shared, by contract).
func TestRecentSharersNeverSeeAnAdd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 6).Draw(t, "n")
		item := func(label string) Item {
			return Item{
				ID:   rapid.SampledFrom([]string{"m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"}).Draw(t, label+"-id"),
				Time: rapid.Int64Range(0, 6).Draw(t, label+"-time"),
				Data: smallBytes(t),
			}
		}
		checkSharers(t, sharing[Recent]{
			write: func(r *Recent) {
				if rapid.IntRange(0, 3).Draw(t, "drop") == 0 {
					id := rapid.SampledFrom([]string{"m1", "m2", "m3"}).Draw(t, "dropped")
					r.Drop(func(it Item) bool { return it.ID == id }) // erasure
					return
				}
				r.Add(item("add"), n)
			},
			joined: func(r Recent) Recent {
				var d Recent
				for range rapid.IntRange(0, 2).Draw(t, "delta") {
					d.Add(item("delta"), n)
				}
				return r.Joined(d, n)
			},
			adopted: func(r Recent) Recent { return r.Adopted(n) },
			clone:   Recent.Clone,
			equal:   Recent.Equal,
		})
	})
}

// BenchmarkRecentAdd adds the newest item to a full timeline of 100 (a
// profile's: profile.TimelineCap), as every event does.
func BenchmarkRecentAdd(b *testing.B) {
	const n = 100
	var r Recent
	t := int64(0)
	id := func() string { t++; return "ajs-next-" + strconv.FormatInt(t, 16) }
	for range n {
		r.Add(Item{ID: id(), Time: t, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}, n)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Add(Item{ID: id(), Time: t, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}, n)
	}
}
