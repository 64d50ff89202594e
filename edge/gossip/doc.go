// Package gossip replicates an edge's store to the other edges of the same
// site over hashicorp/memberlist, the only place ucv imports it.
//
// Live changes travel as rumours: a loop waits on store.Changed, reads the
// outbox from its persisted cursor and queues every entry on a
// TransmitLimitedQueue (never NamedBroadcast, which would silently drop a
// queued partial delta when a newer one with the same name arrives).
// Receivers apply each change through store.ApplyRemote — the same merge
// path as local writes — and relay it once (deduplicated by origin and
// sequence), so a change reaches every member even when the origin's
// retransmit budget is small. Entries larger than the packet budget go to
// every member over memberlist's reliable stream instead.
//
// Anti-entropy repairs whatever the rumours missed: memberlist's push/pull
// exchanges store digests; a node that finds buckets differing asks that
// peer for them (MsgPull, reliable), and the peer streams the buckets'
// full states in bounded chunks (MsgBucketEntries), which the requester
// applies through ApplyRemote. A joining edge bootstraps the same way,
// never holding the whole database in memory.
//
// memberlist's callbacks never block: decoding happens inline, everything
// else (applying, serving pulls, sending) is handed to bounded queues
// drained by the Node's goroutines; when a queue is full the work is
// dropped and counted, and anti-entropy repairs it later. Malformed or
// foreign messages are dropped and counted.
package gossip
