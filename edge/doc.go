// Package edge runs an edge node: the sidecar beside a till, storefront or
// support desk that ingests Segment-spec events into a durable local
// replica (edge/store) and serves profile lookups over HTTP (edge/api).
package edge
