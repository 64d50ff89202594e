package store

// The on-disk layout: every bucket and meta key, in one place.
//
//	meta        schemaKey → uint32 BE schema version
//	            nodeKey → uint64 BE HLC node ID (random, minted at creation)
//	            hlcKey → codec Timestamp: the clock's high-water mark
//	            hubSyncKey → int64 BE ms of the last hub sync (absent: never)
//	            profilesKey, identifiersKey, outboxKey → uint64 BE gauges
//	profiles    profile ID → profile.Marshal state (S2-compressed msgpack)
//	views       profile ID → view record (see encodeViewRecord)
//	index       "type:value" → profile ID (possibly redirected)
//	redirects   merged profile ID → the ID it was merged into
//	dedupe      messageId → int64 BE ms first seen
//	dedupeTime  int64 BE ms ‖ messageId → empty (for expiry in order)
//	outbox      uint64 BE sequence → outbox entry (see outbox.go)
var (
	bucketMeta       = []byte("meta")
	bucketProfiles   = []byte("profiles")
	bucketViews      = []byte("views")
	bucketIndex      = []byte("index")
	bucketRedirects  = []byte("redirects")
	bucketDedupe     = []byte("dedupe")
	bucketDedupeTime = []byte("dedupe_time")
	bucketOutbox     = []byte("outbox")

	allBuckets = [][]byte{bucketMeta, bucketProfiles, bucketViews, bucketIndex, bucketRedirects, bucketDedupe, bucketDedupeTime, bucketOutbox}

	schemaKey      = []byte("schema")
	nodeKey        = []byte("node")
	hlcKey         = []byte("hlc")
	hubSyncKey     = []byte("hub_synced_at")
	profilesKey    = []byte("profiles")
	identifiersKey = []byte("identifiers")
	outboxKey      = []byte("outbox")
)

// schemaVersion is the layout version this code reads and writes.
const schemaVersion = 1

// maxRedirectHops bounds redirect chains (a cycle would be a bug).
const maxRedirectHops = 32
