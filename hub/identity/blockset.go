package identity

// blockSet holds the members of every block: for each key, the entry
// numbers of the records that have it, in the order they joined.
//
// Most blocks hold one record (an e-mail, a phone, a surname at one
// postcode), so that one member is the table's value itself; a block of
// two or more keeps its list in lists and the table holds -1-i for
// lists[i]. A hub holds ~18 keys per person: a table of int32 values
// (keyTable) costs ~19 bytes a key against ~60 for a map of slices with
// a slice per key (docs/decisions/0057-hub-memory-per-person.md).
//
// Slices returned by get and add may be a caller's one-element buffer
// or a list that later changes: callers read them before the next
// change, as they read the old map's slices.
type blockSet struct {
	m     *keyTable
	lists [][]int32
	free  []int32 // indices of unused lists
}

func newBlockSet() blockSet { return blockSet{m: new(keyTable)} }

// get returns k's members; a block of one is returned in buf.
func (s *blockSet) get(k blockKey, buf *[1]int32) []int32 {
	list, one, n := s.lookup(k)
	if n == 1 {
		buf[0] = one
		return buf[:]
	}
	return list
}

// lookup returns k's members without a buffer: the list of a block of
// two or more, or the one member of a block of one (list nil), and how
// many there are.
func (s *blockSet) lookup(k blockKey) (list []int32, one int32, n int) {
	v, ok := s.m.get(k)
	switch {
	case !ok:
		return nil, 0, 0
	case v >= 0:
		return nil, v, 1
	default:
		l := s.lists[-1-v]
		return l, 0, len(l)
	}
}

// size returns the number of k's members.
func (s *blockSet) size(k blockKey) int {
	_, _, n := s.lookup(k)
	return n
}

// add appends n to k's members and returns them (a block of one in
// buf). Like append on the old slice, a longer list may share its
// array with the list it grew from.
func (s *blockSet) add(k blockKey, n int32, buf *[1]int32) []int32 {
	v, ok := s.m.get(k)
	switch {
	case !ok:
		s.m.set(k, n)
		buf[0] = n
		return buf[:]
	case v >= 0:
		l := []int32{v, n}
		s.m.set(k, s.keep(l))
		return l
	default:
		l := append(s.lists[-1-v], n)
		s.lists[-1-v] = l
		return l
	}
}

// remove takes the first n out of k's members and returns the rest (a
// block of one in buf, nil for none). A list that stays a list is a new
// array, as the old map's removal made one: a slice read earlier keeps
// its members.
func (s *blockSet) remove(k blockKey, n int32, buf *[1]int32) []int32 {
	v, ok := s.m.get(k)
	switch {
	case !ok:
		return nil
	case v >= 0:
		if v == n {
			s.m.remove(k)
			return nil
		}
		buf[0] = v
		return buf[:]
	}
	i := -1 - v
	l := s.lists[i]
	for x, m := range l {
		if m == n {
			l = append(l[:x:x], l[x+1:]...)
			break
		}
	}
	if len(l) > 1 {
		s.lists[i] = l
		return l
	}
	s.lists[i] = nil
	s.free = append(s.free, i)
	if len(l) == 0 {
		s.m.remove(k)
		return nil
	}
	s.m.set(k, l[0])
	buf[0] = l[0]
	return buf[:]
}

// keep stores l as a list and returns its map value.
func (s *blockSet) keep(l []int32) int32 {
	if f := len(s.free); f > 0 {
		i := s.free[f-1]
		s.free = s.free[:f-1]
		s.lists[i] = l
		return -1 - i
	}
	s.lists = append(s.lists, l)
	return -int32(len(s.lists))
}
