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
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
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
