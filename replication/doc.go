// Package replication holds what edges (and, later, the hub) say to each
// other: the gossip messages that carry outbox entries between the edges
// of a store, the digests and bucket pulls of anti-entropy, and their
// encodings. It is pure: no I/O, no goroutines, no clock reads.
//
// Every message is framed by a leading type byte (MsgType, an append-only
// enum that is never renumbered) followed by one msgpack value written with
// crdt/codec. Decoders are strict: a truncated body, an unknown type,
// trailing bytes or lengths beyond the input are rejected with an error
// wrapping ErrMalformed, so a foreign or damaged packet is dropped and
// counted, never half-applied.
package replication
