package gossip

import "sync"

// seenSet remembers the last cap (origin, sequence) pairs, so a relayed
// change is applied and relayed once. Forgetting one is harmless: the
// change is applied again (idempotent) and relayed a bounded number of
// times.
type seenSet struct {
	mu   sync.Mutex
	set  map[seenKey]struct{}
	ring []seenKey
	next int
}

type seenKey struct{ origin, seq uint64 }

func newSeenSet(capacity int) *seenSet {
	return &seenSet{set: make(map[seenKey]struct{}, capacity), ring: make([]seenKey, 0, capacity)}
}

// add records the pair and reports whether it was new.
func (s *seenSet) add(origin, seq uint64) bool {
	k := seenKey{origin, seq}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[k]; ok {
		return false
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, k)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % len(s.ring)
	}
	s.set[k] = struct{}{}
	return true
}
