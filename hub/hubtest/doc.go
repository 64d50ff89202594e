// Package hubtest runs in-process hub clusters for tests: real Raft
// nodes (hub.Server) on raft's in-memory transport and stores, with
// partition, heal, kill and restart, and builders of the outbox entries
// edges push.
package hubtest
