// Package hubsync is the edge's side of hub sync: it pushes the store's
// outbox to the hub in batches from a persisted cursor, trims the outbox
// only after the hub acknowledged (a Raft commit), and pulls the hub's
// change feed from its own persisted cursor, applying each resolved person
// with store.ApplyClusters (merged fragments become redirects to the
// canonical ID; a cluster the hub split is replaced by the hub's state,
// keeping the edge's unacknowledged outbox entries). With the hub unreachable the edge keeps
// ingesting; the client retries with backoff across every hub URL and
// drains and catches up when one answers. A link that silently drops
// packets is noticed within seconds (request deadlines, keepalive,
// TCP_USER_TIMEOUT) and its return within a fraction of one (staggered
// dial attempts): dial.go, docs/decisions/0053-reconnect.md. A hub that lost this edge's
// sequences (rebuilt, or a new cluster) gets them resent from the outbox
// when it still holds them, else a resync: the full state of every
// profile and redirect, pushed with the resync flag (resync.go).
package hubsync
