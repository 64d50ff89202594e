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
		holders := []Recent{{}}
		snaps := []Recent{{}}
		shared := []bool{false}
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			i := rapid.IntRange(0, len(holders)-1).Draw(t, "holder")
			var took Recent
			op := rapid.IntRange(0, 5).Draw(t, "op")
			switch {
			case op <= 2:
				if shared[i] {
					continue
				}
				holders[i].Add(item("add"), n)
				snaps[i] = holders[i].Clone()
				continue
			case op == 3:
				var d Recent
				for range rapid.IntRange(0, 2).Draw(t, "delta") {
					d.Add(item("delta"), n)
				}
				took = holders[i].Joined(d, n)
			case op == 4:
				took = holders[i].Adopted(n)
			default:
				took = holders[i].Clone()
			}
			shared[i] = shared[i] || op < 5
			holders, snaps, shared = append(holders, took), append(snaps, took.Clone()), append(shared, false)
			for k := range holders {
				if !holders[k].Equal(snaps[k]) {
					t.Fatalf("holder %d changed by another's Add:\n has  %v\n want %v", k, holders[k].Items, snaps[k].Items)
				}
			}
		}
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
