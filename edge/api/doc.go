// Package api is the edge's HTTP interface (fasthttp): Segment-compatible
// ingest (/v1/identify|track|page|screen|group|alias|batch and the
// analytics.js settings endpoint), profile lookups (/v1/profiles/…),
// decisions (/v1/decide/{ref}: the catalog's offers for a profile, from
// the ranking stored with its view), and the operational endpoints
// /healthz, /readyz and /metrics.
//
// The package owns no data: every request goes to a Store (the edge's
// bbolt replica). Ingest answers 200 only after the store reports the
// events durable. A batch stores its valid items and lists the invalid
// ones in the 200 ("rejected"), as Segment does; a disk that refuses
// writes is a 507/503 with a code saying so, and /readyz is not ready
// until writes work again. Browsers reach ingest and settings through
// CORS, limited to Config.CORSOrigins.
//
// Writes need a write key (Config.WriteKeys) outside dev mode; reads need
// a read key (Config.ReadKeys) with the route's Scope once any read key
// is configured — profiles for /v1/profiles/…, decide for /v1/decide/…
// (with profiles too for ?explain=true), stream for /v1/stream. A write key
// cannot read and a read key cannot write (403). Each key has a token
// bucket (Config.ReadKeyRate, Config.WriteKeyRate; over it 429 with
// Retry-After), and fasthttp caps connections in total and per client IP
// (Config.Concurrency, Config.MaxConnsPerIP). Whether reads may be open
// is the edge node's decision (loopback only, or InsecureOpenReads).
//
// The main lookup serves the store's pre-rendered JSON with a small
// time-dependent tail appended, so the read path is a probe of the
// store's in-memory read index, a copy and a write, with no profile
// decode and no allocation (lookupCached).
//
// Errors are answered as {"error":{"code":…,"message":…}}; one function,
// errorStatus, maps errors to status and code (the vocabulary the hub
// shares: invalid_request, unauthorized, forbidden, not_found,
// rate_limited, …).
// Messages name the field at fault and never contain the values a client
// sent.
package api
