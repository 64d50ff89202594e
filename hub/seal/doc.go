// Package seal is crypto-shredding by epoch for the hub's Raft files
// (docs/decisions/0040-privacy.md, "Erasure in the hub's files").
//
// A Keyring holds AES-256-GCM epoch keys in its own small file in the
// data directory (KeyFileName), the whole file sealed by a
// key-encryption key (KEK, ReadKEKFile) and rewritten whole on every
// change (temporary file, fsync, rename, fsync of the directory).
// LogStore wraps a raft.LogStore so every entry's Data and Extensions
// are sealed under the current epoch's key; SnapshotStore wraps a
// raft.SnapshotStore so every snapshot is sealed as a stream of
// authenticated chunks. Shred starts a new epoch, compacts the Raft log
// (a snapshot with TrailingLogs 0) until it holds nothing written under
// an earlier epoch, destroys the earlier keys and removes the snapshots
// sealed under them: free pages of raft.db and old file versions then
// hold only ciphertext under keys that no longer exist anywhere.
//
// Entries and snapshots without the seal prefix (written before the
// data directory had a key file) are read as plaintext. Because bbolt
// keeps deleted values in free pages, MigrateBolt rewrites such a
// raft.db sealed before raft opens it, and SealLegacy re-seals such a
// snapshot; a plaintext prefix of any other log store is compacted away
// by the first Shred.
package seal
