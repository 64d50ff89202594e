// Package crdt holds the replicated data types every ucv profile is built
// from: a hybrid logical clock and state/delta CRDTs (LWW register and map,
// PN-counter, max/min registers, grow-only and add-wins observed-remove
// sets, a bounded recent-items set and erasure tombstones).
//
// # Contract
//
// Every type's Merge is a join: commutative, associative and idempotent,
// so replicas that receive the same states or deltas in any order, any
// number of times, converge. Mutators apply a change to the receiver and
// return the delta: a (small) state of the same type that, merged into any
// replica, has the same effect. Property tests in this package prove the
// laws for each type.
//
// Merge only reads its argument and never retains its maps or slices of
// structure, but byte values (register values, item data) are immutable
// once inside a CRDT and are shared between states rather than copied:
// never modify a []byte obtained from a CRDT. Mutators copy the bytes
// they are given.
//
// The package uses only the standard library, does no I/O and reads the
// time only through the clock function given to NewClock. Values are not
// safe for concurrent mutation; Clock is. Encodings live in crdt/codec.
package crdt
