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

// Merge joins o into r, keeping the n newest items.
func (r *Recent) Merge(o Recent, n int) {
	if len(o.Items) == 0 && len(r.Items) <= n {
		return
	}
	byID := make(map[string]int, len(r.Items)+len(o.Items))
	out := make([]Item, 0, len(r.Items)+len(o.Items))
	add := func(it Item, clone bool) {
		if i, ok := byID[it.ID]; ok {
			if newer(it, out[i]) {
				if clone {
					it.Data = bytes.Clone(it.Data)
				}
				out[i] = it
			}
			return
		}
		if clone {
			it.Data = bytes.Clone(it.Data)
		}
		byID[it.ID] = len(out)
		out = append(out, it)
	}
	for _, it := range r.Items {
		add(it, false)
	}
	for _, it := range o.Items {
		add(it, true)
	}
	slices.SortFunc(out, rank)
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
// erasure; it is a local filter, not a replicated operation.
func (r *Recent) Drop(drop func(Item) bool) {
	r.Items = slices.DeleteFunc(r.Items, drop)
	if len(r.Items) == 0 {
		r.Items = nil
	}
}

// Clone returns a deep copy.
func (r Recent) Clone() Recent {
	if r.Items == nil {
		return Recent{}
	}
	c := make([]Item, len(r.Items))
	for i, it := range r.Items {
		c[i] = Item{ID: it.ID, Time: it.Time, Data: bytes.Clone(it.Data)}
	}
	return Recent{Items: c}
}

// Equal reports whether r and o hold the same items.
func (r Recent) Equal(o Recent) bool {
	return slices.EqualFunc(r.Items, o.Items, func(a, b Item) bool {
		return a.ID == b.ID && a.Time == b.Time && bytes.Equal(a.Data, b.Data)
	})
}
