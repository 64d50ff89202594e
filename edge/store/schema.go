package store

// The on-disk layout: every bucket and meta key, in one place.
//
//	meta        schemaKey → uint32 BE schema version
//	            nodeKey → uint64 BE HLC node ID (random, minted at creation)
//	            hlcKey → codec Timestamp: the clock's high-water mark
//	            hubSyncKey → int64 BE ms of the last hub sync (absent: never)
//	            catalogKey → the catalog of definitions in force
//	            (catalog.Marshal; absent: none)
//	            profilesKey, identifiersKey, outboxKey → uint64 BE gauges
//	            digestKey → DigestBuckets × uint64 BE (see digest.go)
//	            "cursor:"+name → uint64 BE outbox reader position
//	            "pos:"+name → uint64 BE other position (hub feed index)
//	            "refetch:"+name → uint64 BE times a repair reset "pos:"+name
//	            resyncKey → uint64 BE start ‖ uint64 BE end of the last
//	            completed full-state resync (see resync.go)
//	            migrateKey → the last profile ID a schema migration
//	            finished (absent when none is under way; see migrate.go)
//	            probeKey → uint64 BE ms of the last write probe (health.go)
//	            walPosKey → uint64 BE position of the last write-ahead log
//	            record applied (wal.go; absent: none)
//	profiles    profile ID → profile record: checksum ‖ profile.Marshal
//	            state (S2-compressed msgpack; see record.go)
//	views       profile ID → view record: checksum ‖ flags ‖ … (see
//	            record.go)
//	index       "type:value" → profile ID: the smallest ID among holders
//	holders     "type:value" ‖ 0x00 ‖ profile ID → empty: every stored
//	            profile holding the identifier (the index is derived from it)
//	redirects   merged profile ID → the ID it was merged into
//	dedupe      empty since schema 5 (it held messageId → int64 BE ms
//	            first seen; Open empties it)
//	dedupeTime  int64 BE ms ‖ uint64 BE bucket sequence → messageId: the
//	            dedupe set, in time order for expiry, indexed by
//	            messageId in memory (dedupe.go); entries written before
//	            2026-12-07 are int64 BE ms ‖ messageId → empty, and are
//	            read and expire the same way
//	outbox      uint64 BE sequence → outbox entry (see outbox.go)
//	forward     uint64 BE sequence → an accepted event as it is forwarded
//	            upstream (see forward.go, with its meta keys)
//	apart       profile ID ‖ 0x00 ‖ profile ID → empty: the hub's
//	            cannot-links, kept under canonical IDs (see apart.go)
//	repair      profile ID → int64 BE ms: profiles whose state was found
//	            damaged, waiting for a replica's full copy (see repair.go)
//	quarantine  profile ID → the damaged profile record as found, kept
//	            for inspection (the latest per profile; never read back;
//	            dropped when the profile is erased)
//	hub_held    profile ID → 0x01: profiles holding state the hub's feed
//	            delivered, which the edge's rules do not merge by a shared
//	            identifier (see hubheld.go)
//	suppressed, erased_keys, and the meta keys privacy_salt,
//	            "privacy_done:"+request ID and compact_pending: see
//	            privacy.go. An erased profile keeps its record in profiles
//	            (ID, version, Erased, tombstones) and nothing else.
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
	bucketRepair     = []byte("repair")
	bucketQuarantine = []byte("quarantine")

	schema1Buckets = [][]byte{bucketMeta, bucketProfiles, bucketViews, bucketIndex, bucketRedirects, bucketDedupe, bucketDedupeTime, bucketOutbox, bucketHolders, bucketApart}
	allBuckets     = append(schema1Buckets[:len(schema1Buckets):len(schema1Buckets)], bucketRepair, bucketQuarantine)

	schemaKey      = []byte("schema")
	nodeKey        = []byte("node")
	hlcKey         = []byte("hlc")
	hubSyncKey     = []byte("hub_synced_at")
	profilesKey    = []byte("profiles")
	identifiersKey = []byte("identifiers")
	outboxKey      = []byte("outbox")
	digestKey      = []byte("digest")
	resyncKey      = []byte("resync")
	migrateKey     = []byte("migrate")
	probeKey       = []byte("write_probe")
	walPosKey      = []byte("wal_applied")
	catalogKey     = []byte("catalog")
)

// schemaVersion is the layout version this code writes. Version 2 added
// the checksums and flags of profile and view records and the repair and
// quarantine buckets; Open migrates a version 1 file (migrate.go).
// Version 3 keeps holders entries only for identifiers two or more
// profiles hold (holders.go): a version 2 file is a valid version 3 file,
// so Open just marks it, but a version 2 build must not open a version 3
// file (it would read a single holder as none and drop its index entry).
// Version 4 may store view records without their JSON (viewBodiless,
// decision 0109): a version 2 or 3 file is a valid version 4 file, but a
// version 3 build must not open a version 4 file (it would serve such a
// view as an empty document). Version 5 keeps the dedupe set in the
// dedupeTime bucket alone, indexed in memory (dedupe.go): Open empties a
// version 2–4 file's by-ID dedupe bucket, and a version 4 build must not
// open a version 5 file (it would find no messageId seen and store
// duplicates). Version 6 hashes the digest's items with XXH64 instead of
// FNV-1a (digest.go, decision 0118): Open hashes a version 2–5 file's
// digest again in the transaction that marks it, and a version 5 build
// must not open a version 6 file (it would take FNV hashes out of an
// XXH64 digest, which would then match no peer's). Version 7 stores a
// view record without its JSON with an empty version and no last-seen
// moment unless a decision is stored beside it (decision 0119): such a
// record changes only with its evaluation, and a read from the file
// takes both from the profile's state. A version 6 file is a valid
// version 7 file, so Open just marks it; a version 6 build must not open
// a version 7 file (its reads would serve an empty version).
const schemaVersion = 7

// maxRedirectHops bounds redirect chains (a cycle would be a bug).
const maxRedirectHops = 32
