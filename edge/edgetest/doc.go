// Package edgetest runs clusters of edges in one process for tests and
// benchmarks: an in-memory memberlist transport on a shared Network that
// can drop packets, partition and heal (memberlist's MockNetwork is not
// safe to build on: it has no loss or partitions and races on shutdown),
// and a Cluster harness that starts N edges, each with a real bbolt store
// in a temporary directory and gossip timers shrunk to milliseconds.
package edgetest
