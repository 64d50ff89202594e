// Package edge runs an edge node: the sidecar beside a till, storefront or
// support desk that ingests Segment-spec events into a durable local
// replica (edge/store), serves profile lookups over HTTP (edge/api),
// replicates with the store's other edges (edge/gossip) and syncs with the
// hub (edge/hubsync). Node owns their lifecycle: New starts them in
// dependency order, Close stops them in reverse. cmd/ucv only turns flags
// into a Config.
package edge
