package crdt

import (
	"testing"
)

func ts(wall int64, node ReplicaID) Timestamp { return Timestamp{Wall: wall, Node: node} }

func TestORSetAddWins(t *testing.T) {
	var a, b ORSet
	d := a.Add(1, "email:ann@example.com")
	b.Merge(d)
	// Concurrently: a removes, b re-adds.
	rm := a.Remove("email:ann@example.com")
	add := b.Add(2, "email:ann@example.com")
	a.Merge(add)
	b.Merge(rm)
	if !a.Has("email:ann@example.com") || !b.Has("email:ann@example.com") {
		t.Fatalf("concurrent add and remove: present on a=%v b=%v, want both (add wins)", a.Has("email:ann@example.com"), b.Has("email:ann@example.com"))
	}
	// A remove that has observed every add removes.
	rm = a.Remove("email:ann@example.com")
	b.Merge(rm)
	if a.Has("email:ann@example.com") || b.Has("email:ann@example.com") {
		t.Fatal("observed remove left the element")
	}
	// Dots stay compact: repeated adds replace, not accumulate.
	for range 100 {
		a.Add(1, "x")
	}
	if n := len(a.Entries["x"]); n != 1 {
		t.Fatalf("after 100 adds element has %d dots, want 1", n)
	}
	if len(a.Ctx.Cloud) != 0 {
		t.Fatalf("context cloud = %v, want compacted into the vector", a.Ctx.Cloud)
	}
}

func TestPNCounterNoDoubleCountOnRedelivery(t *testing.T) {
	var hub, till PNCounter
	var deltas []PNCounter
	for _, cents := range []int64{1999, 500, -500, 12000} {
		deltas = append(deltas, till.Add(3, cents))
	}
	for range 3 { // every delta redelivered three times, out of order
		for i := len(deltas) - 1; i >= 0; i-- {
			hub.Merge(deltas[i])
		}
		hub.Merge(till)
	}
	if got, want := hub.Value(), int64(1999+500-500+12000); got != want {
		t.Fatalf("revenue after redelivery = %d, want %d", got, want)
	}
}

func TestLWWTieBreakDeterministic(t *testing.T) {
	x := Register{TS: ts(5, 1), Val: []byte("x")}
	y := Register{TS: ts(5, 2), Val: []byte("y")}
	if got := x.Merge(y); string(got.Val) != "y" {
		t.Fatalf("Merge = %q, want the higher node's write", got.Val)
	}
	if got := y.Merge(x); string(got.Val) != "y" {
		t.Fatalf("Merge reversed = %q, want the higher node's write", got.Val)
	}
}

func TestRecentKeepsNewestN(t *testing.T) {
	var r Recent
	for i := range 10 {
		r.Add(Item{ID: string(rune('a' + i)), Time: int64(i)}, 3)
	}
	r.Add(Item{ID: "j", Time: 9}, 3) // redelivery of the newest
	if len(r.Items) != 3 || r.Items[0].ID != "j" || r.Items[2].ID != "h" {
		t.Fatalf("items = %+v, want j,i,h", r.Items)
	}
	r.Add(Item{ID: "old", Time: 1}, 3)
	if r.Has("old") {
		t.Fatal("an item older than the window was kept")
	}
}

// Erase, then merge an old replica that still has the person: the person
// stays gone.
func TestErasureWinsOverOldReplica(t *testing.T) {
	salt := []byte("deployment-salt")
	var live, old ORSet
	var tomb Tombstones
	var traits, oldTraits LWWMap
	old.Add(1, "email:ann@example.com")
	old.Add(1, "user_id:u1")
	oldTraits.Set("name", []byte("Ann"), ts(1, 1))
	live.Merge(old)
	traits.Merge(oldTraits)

	tomb.Erase(TombstoneKey(salt, "email:ann@example.com"))
	erased := func(e string) bool { return tomb.Erased(TombstoneKey(salt, e)) }
	live.DropElems(erased)

	// Weeks later the old replica comes back, having even re-added.
	old.Add(1, "email:ann@example.com")
	live.Merge(old)
	live.DropElems(erased)
	if live.Has("email:ann@example.com") {
		t.Fatal("erased identifier resurrected by an old replica")
	}
	if !live.Has("user_id:u1") {
		t.Fatal("erasure of one identifier dropped another")
	}
	if TombstoneKey(salt, "email:ann@example.com") == TombstoneKey([]byte("other"), "email:ann@example.com") {
		t.Fatal("tombstone key does not depend on the salt")
	}
}
