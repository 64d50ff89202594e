// Package api is the hub's HTTP surface (net/http): the sync endpoints
// edges push their outbox to and pull the change feed from (msgpack
// bodies from replication), the admin API (JSON), health, readiness and
// Prometheus metrics, and the internal endpoints hub nodes use to forward
// writes to the leader and to learn each other's HTTP addresses.
//
// Routes:
//
//	GET  /healthz                  the process is up
//	GET  /readyz                   a Raft leader is known; 503 that says the node waits
//	                               to be joined when no cluster has added it yet
//	GET  /metrics                  Prometheus
//	POST /v1/sync/push             replication.SyncPush → SyncAck, after Raft commit
//	GET  /v1/sync/feed             ?cursor=N&max=M&wait=D → FeedResponse (long-poll)
//	GET  /v1/sync/snapshot         every cluster at one Raft index, streamed
//	                               (replication snapshot stream; X-Hub-Index)
//	POST /v1/admin/join            {"id","raft_addr","http_url"}: add a voter
//	GET  /v1/admin/status          leader, peers, indexes, edges seen by this node
//	GET  /v1/admin/profiles/{ref}  ref is a profile ID or type:value
//	POST /v1/admin/merge           {"a","b","actor","reason"}
//	POST /v1/admin/unmerge         {"a","b","actor","reason"}
//	GET  /v1/admin/profiles/{ref}/why   the merge history in sentences
//	GET  /v1/admin/reviews         the review queue; POST …/accept, …/reject
//	POST /v1/admin/remove          {"id"}: remove a member
//	GET  /v1/admin/model           the identity model in use: hash, m/u per level
//	POST /v1/admin/model[?actor=]  body: a `ucv resolve --save-model` file; installs it
//	POST /v1/internal/apply        a hub command, forwarded by a follower
//	GET  /v1/internal/peers        node ID → HTTP URL as this node knows it
//
// Who may call what is the role matrix (RoleMatrix, printed in the
// README): tokens of the roles admin, steward, privacy, auditor, sync
// (an edge, named by its token) and node (hub nodes), from a bcrypt
// tokens file (ucv/hub/token) or the two development shortcuts. Identify
// maps a request to its identity; a missing or unknown token is 401, a
// role the route does not list 403 "forbidden". A hub without any token
// is open. Requests are rate-limited per token (per client IP without
// one: 429 with Retry-After) and Listener caps connections in total and
// per client IP.
//
// Peers is the client half: built before the hub.Server (its Forward is
// hub.Config.Forward), it forwards commands to the leader, joins a node
// to a cluster (`ucv hub --join`) and exchanges HTTP URLs with the other
// nodes. HTTPServer serves the API with read, write and idle timeouts
// and a body deadline that moves with a body arriving at a minimum rate;
// the feed's long-poll and the snapshot stream extend their own
// deadlines.
//
// Errors are {"error":{"code":…,"message":…}}; a 4xx names the field at
// fault and the request changed nothing. A sync gap is not an error but a
// protocol answer: 409 with a msgpack SyncAck naming the expected
// sequence (also in the X-Expected-Seq header).
package api
