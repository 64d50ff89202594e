package store

// The on-disk layout: every bucket and meta key, in one place.
//
//	meta        schemaKey → uint32 BE schema version
//	            nodeKey → uint64 BE HLC node ID (random, minted at creation)
//	            hlcKey → codec Timestamp: the clock's high-water mark
//	            hubSyncKey → int64 BE ms of the last hub sync (absent: never)
//	            profilesKey, identifiersKey, outboxKey → uint64 BE gauges
//	            digestKey → DigestBuckets × uint64 BE (see digest.go)
//	            "cursor:"+name → uint64 BE outbox reader position
//	            "pos:"+name → uint64 BE other position (hub feed index)
//	            resyncKey → uint64 BE start ‖ uint64 BE end of the last
//	            completed full-state resync (see resync.go)
//	            probeKey → uint64 BE ms of the last write probe (health.go)
//	profiles    profile ID → profile.Marshal state (S2-compressed msgpack)
//	views       profile ID → view record (see encodeViewRecord)
//	index       "type:value" → profile ID: the smallest ID among holders
//	holders     "type:value" ‖ 0x00 ‖ profile ID → empty: every stored
//	            profile holding the identifier (the index is derived from it)
//	redirects   merged profile ID → the ID it was merged into
//	dedupe      messageId → int64 BE ms first seen
//	dedupeTime  int64 BE ms ‖ messageId → empty (for expiry in order)
//	outbox      uint64 BE sequence → outbox entry (see outbox.go)
//	apart       profile ID ‖ 0x00 ‖ profile ID → empty: the hub's
//	            cannot-links, kept under canonical IDs (see apart.go)
var (
	bucketMeta       = []byte("meta")
	bucketProfiles   = []byte("profiles")
	bucketViews      = []byte("views")
	bucketIndex      = []byte("index")
	bucketRedirects  = []byte("redirects")
	bucketDedupe     = []byte("dedupe")
	bucketDedupeTime = []byte("dedupe_time")
	bucketOutbox     = []byte("outbox")
	bucketHolders    = []byte("holders")
	bucketApart      = []byte("apart")

	allBuckets = [][]byte{bucketMeta, bucketProfiles, bucketViews, bucketIndex, bucketRedirects, bucketDedupe, bucketDedupeTime, bucketOutbox, bucketHolders, bucketApart}

	schemaKey      = []byte("schema")
	nodeKey        = []byte("node")
	hlcKey         = []byte("hlc")
	hubSyncKey     = []byte("hub_synced_at")
	profilesKey    = []byte("profiles")
	identifiersKey = []byte("identifiers")
	outboxKey      = []byte("outbox")
	digestKey      = []byte("digest")
	resyncKey      = []byte("resync")
	probeKey       = []byte("write_probe")
)

// schemaVersion is the layout version this code reads and writes.
const schemaVersion = 1

// maxRedirectHops bounds redirect chains (a cycle would be a bug).
const maxRedirectHops = 32
