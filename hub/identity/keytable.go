package identity

import "math/bits"

// keyTable maps block keys to int32 values, as map[blockKey]int32 would,
// in less memory: open addressing with linear probing over 12-byte
// slots, ~19 bytes a key at its average load against ~27 for Go's map
// (16-byte slots: the int32 value is padded to 8), where a hub holds ~18
// keys a person (docs/decisions/0057-hub-memory-per-person.md). It is
// split into keyShards tables that grow one at a time, so doubling one
// moves at most 1/keyShards of the keys: at 10M people ~44k keys, a
// millisecond, not a stall of every Apply.
//
// A slot holds the key with its top bit set (block keys keep the rule
// number, < 128, in their top byte, so the bit is free) and 0 when empty.
// Deletion shifts the following run back, so lookups never see
// tombstones. Nothing iterates it: the order of keys is never observed.
type keyTable struct {
	shards [keyShards]keyShard
}

const (
	keyShardBits = 12
	keyShards    = 1 << keyShardBits
	keyUsed      = 1 << 63
	// fib is 2^64 / φ, odd: Fibonacci hashing multiplies by it so the top
	// bits mix every bit of a key.
	fib = 0x9e3779b97f4a7c15
)

type keyShard struct {
	slots []keySlot // a power of two long, or nil
	n     int
	shift uint // 64 - log2(len(slots))
}

// keySlot is a key (with keyUsed) split in two words, so a slot is 12
// bytes, not 16.
type keySlot struct {
	lo, hi uint32
	v      int32
}

func (s keySlot) key() uint64 { return uint64(s.hi)<<32 | uint64(s.lo) }

// place returns k's stored form, its shard and its hash within the
// shard (spread).
func place(k blockKey) (stored uint64, shard int, h uint64) {
	stored = uint64(k) | keyUsed
	full := stored * fib
	return stored, int(full >> (64 - keyShardBits)), full << keyShardBits
}

// spread is the hash within its shard of a stored key.
func spread(stored uint64) uint64 { return stored * fib << keyShardBits }

// get returns k's value and whether k is in the table.
func (t *keyTable) get(k blockKey) (int32, bool) {
	stored, si, h := place(k)
	s := &t.shards[si]
	if s.slots == nil {
		return 0, false
	}
	mask := len(s.slots) - 1
	for i := int(h >> s.shift); ; i = (i + 1) & mask {
		switch sk := s.slots[i].key(); sk {
		case stored:
			return s.slots[i].v, true
		case 0:
			return 0, false
		}
	}
}

// set stores v under k, adding k if it is new.
func (t *keyTable) set(k blockKey, v int32) {
	stored, si, h := place(k)
	s := &t.shards[si]
	if (s.n+1)*8 > len(s.slots)*7 {
		s.grow()
	}
	mask := len(s.slots) - 1
	for i := int(h >> s.shift); ; i = (i + 1) & mask {
		switch sk := s.slots[i].key(); sk {
		case stored:
			s.slots[i].v = v
			return
		case 0:
			s.slots[i] = keySlot{lo: uint32(stored), hi: uint32(stored >> 32), v: v}
			s.n++
			return
		}
	}
}

// len returns the number of keys.
func (t *keyTable) len() int {
	n := 0
	for i := range t.shards {
		n += t.shards[i].n
	}
	return n
}

// remove deletes k if it is in the table.
func (t *keyTable) remove(k blockKey) {
	stored, si, h := place(k)
	s := &t.shards[si]
	if s.slots == nil {
		return
	}
	mask := len(s.slots) - 1
	i := int(h >> s.shift)
	for ; ; i = (i + 1) & mask {
		switch s.slots[i].key() {
		case stored:
			s.n--
			s.shiftBack(i)
			return
		case 0:
			return
		}
	}
}

// shiftBack empties slot i and moves back the entries after it that
// would otherwise no longer be found (backward-shift deletion).
func (s *keyShard) shiftBack(i int) {
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		sk := s.slots[j].key()
		if sk == 0 {
			break
		}
		home := int(spread(sk) >> s.shift)
		// j's entry may fill the hole at i when its home is not in the
		// cyclic range (i, j].
		if (j-home)&mask >= (j-i)&mask {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = keySlot{}
}

// grow doubles the shard (from 8 slots) and re-inserts its entries.
func (s *keyShard) grow() {
	old := s.slots
	size := max(8, 2*len(old))
	s.slots = make([]keySlot, size)
	s.shift = 64 - uint(bits.Len(uint(size-1)))
	mask := size - 1
	for _, e := range old {
		sk := e.key()
		if sk == 0 {
			continue
		}
		for i := int(spread(sk) >> s.shift); ; i = (i + 1) & mask {
			if s.slots[i].key() == 0 {
				s.slots[i] = e
				break
			}
		}
	}
}
