package identity

import (
	"hash/maphash"
	"strings"
	"sync"

	"ucv/profile"
)

// NormalizePhone is profile.NormalizePhone(raw, region), memoized: a
// phone number's parse and validation (libphonenumber's patterns) costs
// tens of microseconds, and one value is normalized several times on its
// way into the hub — by the import's field checks, then by every
// prepare of the record (docs/decisions/0049-resolution-throughput.md,
// "Third pass"). The function is pure, so the cache only saves time: a
// value and its error are exactly what profile.NormalizePhone returns,
// whichever call filled the entry. Safe for concurrent use; bounded
// (each shard is emptied when full).
func NormalizePhone(raw, region string) (string, error) {
	k := phoneKey{raw, region}
	s := &phoneShards[maphash.String(phoneSeed, raw)%uint64(len(phoneShards))]
	s.mu.Lock()
	r, ok := s.m[k]
	s.mu.Unlock()
	if ok {
		return r.v, r.err
	}
	v, err := profile.NormalizePhone(raw, region)
	s.mu.Lock()
	if s.m == nil || len(s.m) >= phoneShardMax {
		s.m = make(map[phoneKey]phoneResult, 64)
	}
	// The key is copied: raw may point into a larger buffer (a decoded
	// entry) that the cache must not keep alive.
	s.m[phoneKey{strings.Clone(raw), strings.Clone(region)}] = phoneResult{v, err}
	s.mu.Unlock()
	return v, err
}

type phoneKey struct{ raw, region string }

type phoneResult struct {
	v   string
	err error
}

type phoneShard struct {
	mu sync.Mutex
	m  map[phoneKey]phoneResult
}

// phoneShardMax bounds a shard: 16 × 4,096 values (a few MB) outlive
// the two import batches between a value's field check and its
// record's resolution.
const phoneShardMax = 4096

var (
	phoneShards [16]phoneShard
	phoneSeed   = maphash.MakeSeed()
)
