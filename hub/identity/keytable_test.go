package identity

import (
	"testing"

	"pgregory.net/rapid"
)

// sameShardKeys returns n distinct block keys that all land in shard 0
// of a keyTable, so that probing, growth and backward-shift deletion are
// exercised as in a full table (keys spread over 4,096 shards rarely
// meet otherwise). Fibonacci hashing multiplies by an odd constant,
// which has an inverse modulo 2^64: a chosen hash gives its key.
func sameShardKeys(t *rapid.T, n int) []blockKey {
	inv := uint64(fib)
	for range 6 { // Newton's iteration doubles the correct low bits
		inv *= 2 - fib*inv
	}
	seen := map[blockKey]bool{}
	var out []blockKey
	for len(out) < n {
		h := rapid.Uint64().Draw(t, "h") >> keyShardBits // shard 0
		stored := h * inv
		if stored&keyUsed == 0 || seen[blockKey(stored&^keyUsed)] {
			continue
		}
		k := blockKey(stored &^ keyUsed)
		if _, si, _ := place(k); si != 0 {
			t.Fatalf("key %x lands in shard %d", k, si)
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

// TestKeyTableMatchesMap checks keyTable against a Go map through random
// sets, updates and removals of keys that share one shard — the table
// grows from 8 slots and runs of probes are shifted back on removal —
// and keys spread over all shards.
func TestKeyTableMatchesMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		keys := sameShardKeys(t, rapid.IntRange(1, 300).Draw(t, "keys"))
		for range rapid.IntRange(0, 50).Draw(t, "spread") {
			keys = append(keys, blockKey(rapid.Uint64().Draw(t, "k")>>8))
		}
		var tab keyTable
		ref := map[blockKey]int32{}
		for step := range rapid.IntRange(1, 2000).Draw(t, "steps") {
			k := keys[rapid.IntRange(0, len(keys)-1).Draw(t, "at")]
			if rapid.IntRange(0, 2).Draw(t, "op") < 2 {
				v := rapid.Int32().Draw(t, "v")
				tab.set(k, v)
				ref[k] = v
			} else {
				tab.remove(k)
				delete(ref, k)
			}
			if tab.len() != len(ref) {
				t.Fatalf("step %d: %d keys, want %d", step, tab.len(), len(ref))
			}
			if step%16 == 0 {
				for _, k := range keys {
					v, ok := tab.get(k)
					if want, wok := ref[k]; ok != wok || v != want {
						t.Fatalf("step %d: get(%x) = %d, %v; want %d, %v", step, k, v, ok, want, wok)
					}
				}
			}
		}
		for _, k := range keys {
			v, ok := tab.get(k)
			if want, wok := ref[k]; ok != wok || v != want {
				t.Fatalf("end: get(%x) = %d, %v; want %d, %v", k, v, ok, want, wok)
			}
		}
	})
}
