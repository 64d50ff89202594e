// Package hub is the authoritative side of ucv: a small Raft cluster
// (hashicorp/raft with raft-boltdb) whose replicated state machine merges
// every edge's outbox, runs identity resolution (package hub/identity)
// over all of it, keeps the identity graph with the reason for every merge
// and split, and numbers every change by its Raft index so edges can pull
// a change feed from a cursor.
//
// The state machine (fsm*.go) is deterministic: Apply reads only the log
// entry and the current state, never the clock, randomness or map order,
// so every node holds byte-identical state after the same log (the tests
// compare snapshot bytes). Server (server.go) wraps it in a Raft node.
//
// The identity graph is built from fragments: one CRDT state per source
// profile ID as edges push it. A cluster is a set of fragments (its ID is
// the smallest fragment ID) and its profile is the join of its fragments,
// recomputed when membership changes, which is what makes unmerge exact.
// The state machine also holds the catalog of definitions (computed
// traits, audiences), every cluster's audience memberships and the
// transitions between them, evaluated at a clock carried in the log
// (docs/decisions/0033-hub-catalog-and-transitions.md), and the
// destinations those transitions (and merges and splits) are delivered
// to: a webhook delivery queue in the state machine, sent by the
// leader's deliverer (deliver.go, package hub/webhook) and acknowledged
// through Raft (docs/decisions/0036-webhooks.md).
// Outside the state machine, Server.FitModel (fit.go) fits the
// customer-value and RFM models over every cluster and defines them in
// the catalog, on demand and on the leader's schedule
// (docs/decisions/0037-value-models-in-the-product.md).
//
// See docs/decisions/0008-hub.md and the records it lists (0013–0026).
package hub
