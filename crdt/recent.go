package crdt

import (
	"bytes"
	"cmp"
	"slices"
)

// Item is one entry of a Recent set: an ID (a messageId), its time (ms
// since the epoch, or any int64 order key) and opaque data.
type Item struct {
	ID   string
	Time int64
	Data []byte
}

// rank orders items newest first: by Time, then ID, both descending.
func rank(a, b Item) int {
	if c := cmp.Compare(b.Time, a.Time); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// newer reports whether a should replace b when both have the same ID.
func newer(a, b Item) bool {
	if a.Time != b.Time {
		return a.Time > b.Time
	}
	return bytes.Compare(a.Data, b.Data) > 0
}

// Recent is a bounded set that keeps the newest N items by (Time, ID),
// deduplicated by ID: the merge is a join (union, one version per ID —
// the greatest by (Time, Data) — then the N highest ranked). N is
// configuration, not state: every replica must use the same N, or joins
// stop being associative. Items are kept sorted newest first.
type Recent struct {
	Items []Item
}

// Has reports whether an item with id is kept.
func (r Recent) Has(id string) bool {
	for _, it := range r.Items {
		if it.ID == id {
			return true
		}
	}
	return false
}

// Add inserts it (keeping at most n items) and returns the delta.
func (r *Recent) Add(it Item, n int) Recent {
	d := Recent{Items: []Item{{ID: it.ID, Time: it.Time, Data: bytes.Clone(it.Data)}}}
	r.Merge(d, n)
	return d
}

// Merge joins o into r, keeping the n newest items. Both sides are kept
// sorted, so this is a linear merge; a map is built only over items of o
// that did not meet an identical item of r, which is the delta itself in
// the common case and nothing when replicas already agree.
func (r *Recent) Merge(o Recent, n int) {
	switch {
	case len(r.Items) > n:
		r.mergeAll(o, n)
	case len(o.Items) == 0:
	case len(o.Items) == 1:
		r.mergeOne(o.Items[0], n)
	default:
		r.mergeAll(o, n)
	}
}

// mergeOne is Merge of one item (an Add's delta: the common case) into
// r of at most n items, with the result of mergeAll and none of its
// bookkeeping. It writes into r's slice when the slice has room — room
// is r's own: what shares r's items (Joined, Adopted) gets them without
// room, so it copies, and r itself must not be changed after it shared
// them ("Persistent joins", joined.go) — and otherwise builds a new one
// with room for later Adds, so that a timeline taking one event after
// another is not copied whole for each (bench/README.md, "A ledger's
// entries and a timeline's items inserted in place").
func (r *Recent) mergeOne(it Item, n int) {
	pos, ins := -1, len(r.Items) // it.ID's index in r; where it ranks
	for k, x := range r.Items {
		if x.ID == it.ID {
			pos = k
		}
		if ins == len(r.Items) && rank(it, x) < 0 {
			ins = k
		}
	}
	owned := cap(r.Items) > len(r.Items)
	if pos >= 0 {
		switch x := r.Items[pos]; {
		case x.Time == it.Time: // one version: the greater data
			if bytes.Compare(it.Data, x.Data) > 0 {
				if !owned {
					r.Items = slices.Clone(r.Items)
				}
				r.Items[pos] = it
			}
			return
		case x.Time > it.Time: // the newer version is kept
			return
		}
	} else if ins >= n {
		return // ranks below the n kept
	}
	out := r.Items
	if !owned {
		// Room to grow by doubling, up to the n items kept and the one
		// an insertion holds before the last is cut.
		out = make([]Item, len(r.Items), min(n+1, max(2*len(r.Items), 4)))
		copy(out, r.Items)
	}
	out = slices.Insert(out, ins, it)
	if pos >= 0 { // it is newer than its old version, which ranked after it
		out = slices.Delete(out, pos+1, pos+2)
	}
	if len(out) > n {
		clear(out[n:])
		out = out[:n]
	}
	r.Items = out
}

// mergeAll is Merge in general.
func (r *Recent) mergeAll(o Recent, n int) {
	if len(o.Items) == 0 && len(r.Items) <= n {
		return
	}
	type src uint8
	const fromR, fromO, fromBoth src = 0, 1, 2
	out := make([]Item, 0, min(len(r.Items)+len(o.Items), n+len(o.Items)))
	from := make([]src, 0, cap(out))
	i, j, onlyO := 0, 0, 0
	for i < len(r.Items) || j < len(o.Items) {
		var c int
		switch {
		case i == len(r.Items):
			c = 1
		case j == len(o.Items):
			c = -1
		default:
			c = rank(r.Items[i], o.Items[j])
		}
		switch {
		case c < 0:
			out, from = append(out, r.Items[i]), append(from, fromR)
			i++
		case c > 0:
			out, from = append(out, o.Items[j]), append(from, fromO)
			onlyO++
			j++
		default: // same ID and time: keep the greater data
			it := r.Items[i]
			if bytes.Compare(o.Items[j].Data, it.Data) > 0 {
				it = o.Items[j]
			}
			out, from = append(out, it), append(from, fromBoth)
			i++
			j++
		}
	}
	if onlyO > 0 && len(r.Items) > 0 {
		// The same ID at different times: keep the newer (earlier in out).
		pos := make(map[string]int, onlyO)
		for k, it := range out {
			if from[k] == fromO {
				pos[it.ID] = k
			}
		}
		drop := false
		for k, it := range out {
			if from[k] != fromR {
				continue
			}
			if q, ok := pos[it.ID]; ok {
				loser := k
				if newer(it, out[q]) {
					loser = q
				}
				from[loser] = 255
				drop = true
			}
		}
		if drop {
			w := 0
			for k := range out {
				if from[k] != 255 {
					out[w] = out[k]
					w++
				}
			}
			clear(out[w:])
			out = out[:w]
		}
	}
	if len(out) > n {
		clear(out[n:])
		out = out[:n]
	}
	if len(out) == 0 {
		out = nil
	}
	r.Items = out
}

// Drop removes the items for which drop returns true. Use it to apply
// erasure; it is a local filter, not a replicated operation. Like
// Ledger.Drop it filters a copy: the items may be shared (Joined,
// Adopted).
func (r *Recent) Drop(drop func(Item) bool) {
	r.Items = slices.DeleteFunc(slices.Clone(r.Items), drop)
	if len(r.Items) == 0 {
		r.Items = nil
	}
}

// Clone returns a copy that shares only immutable item data.
func (r Recent) Clone() Recent {
	if r.Items == nil {
		return Recent{}
	}
	return Recent{Items: slices.Clone(r.Items)}
}

// Equal reports whether r and o hold the same items.
func (r Recent) Equal(o Recent) bool {
	return slices.EqualFunc(r.Items, o.Items, func(a, b Item) bool {
		return a.ID == b.ID && a.Time == b.Time && bytes.Equal(a.Data, b.Data)
	})
}
