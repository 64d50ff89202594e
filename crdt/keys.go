package crdt

import (
	"cmp"
	"slices"
)

// SortedKeys returns m's keys in ascending order, allocating the slice
// once (slices.Sorted(maps.Keys(m)) grows it key by key: a profile's
// encoding took a dozen allocations for it); nil for an empty map.
func SortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	if len(m) == 0 {
		return nil
	}
	return AppendSortedKeys(make([]K, 0, len(m)), m)
}

// AppendSortedKeys appends m's keys in ascending order to dst and
// returns the extended slice. An encoder that passes a stack array's
// slice as dst sorts a small map's keys without allocating.
func AppendSortedKeys[M ~map[K]V, K cmp.Ordered, V any](dst []K, m M) []K {
	n := len(dst)
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst[n:])
	return dst
}

// SortedKeysFunc is SortedKeys ordered by compare.
func SortedKeysFunc[M ~map[K]V, K comparable, V any](m M, compare func(a, b K) int) []K {
	if len(m) == 0 {
		return nil
	}
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, compare)
	return ks
}
