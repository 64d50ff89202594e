// Package store is the edge's durable replica on bbolt, and the only
// bbolt user on the edge. It keeps profiles as CRDT state plus a
// pre-rendered JSON view (so a lookup is index get → stored bytes), the
// identifier index, redirects of merged profiles, a messageId dedupe
// window, an outbox of deltas for replication, and meta. Every bucket and
// key is named in schema.go.
//
// The store refuses damage: Open checks the file's structure before
// bbolt reads it (pages.go) and returns a *FileError instead of bbolt's
// panic; every profile state and view carries a checksum verified on
// read (record.go), and what fails is not served or replicated but
// repaired — a view from its state, a state from a replica's copy
// (repair.go). Verify checks a stopped node's file.
//
// Ingested events go through a write-ahead log (wal.go, applier.go;
// decision 0050): concurrent Append calls share one log write and one
// fdatasync and return once their events are durable there; the applier
// commits them to bbolt behind the log in large batches, together with
// the other writes (peers' changes, hub clusters, repairs, directives),
// recording in each transaction how far into the log it has applied;
// Open replays the log past that position. Lookups are answered from an
// in-memory read index of the committed views (memindex.go: one map
// probe, no transaction), which Open builds and the applier keeps after
// every commit; what it cannot answer for sure runs in a bbolt read
// transaction, concurrently with writes. Every read first waits until
// everything acknowledged before it started is applied (and so
// published to the read index), so a read after an acknowledged write
// sees it. A Store is safe for concurrent use.
package store

import (
	"errors"
	"log/slog"
	"time"

	"ucv/profile"
)

// Sentinel errors.
var (
	// ErrNotFound: no profile for that ID or identifier.
	ErrNotFound = errors.New("store: profile not found")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrOverloaded: the commit queue is full; retry later (HTTP 503).
	ErrOverloaded = errors.New("store: commit queue full")
	// ErrInUse: another process (a running node) holds the data file.
	ErrInUse = errors.New("store: data file in use by another process")
	// ErrDamaged: stored data failed verification. From Open (as a
	// *FileError) the data file's structure is broken and nothing was
	// changed; from a read, one profile's stored view or state failed its
	// checksum (or the profile waits for a replica's copy after such
	// damage): it is not served, and the store repairs it — from its own
	// state when only the view was damaged, else from the next full state
	// a peer or the hub sends (see repair.go).
	ErrDamaged = errors.New("store: data damaged")
)

// FileError is Open's and Verify's error for a data file whose bbolt
// structure is damaged (truncated, a page overwritten, a meta page
// invalid on both copies). It wraps ErrDamaged; Reason is one line.
type FileError struct {
	Path   string
	Reason string
}

func (e *FileError) Error() string {
	return "store: data file " + e.Path + " is damaged: " + e.Reason
}

func (e *FileError) Unwrap() error { return ErrDamaged }

// Options configure a Store. Start from DefaultOptions: Open fills in
// the defaults only for a zero NodeName, Rules, Now, MaxClockDrift,
// DedupeWindow, MaxBatchEvents, QueueLen, SweepInterval, ChangeBuffer,
// CompactDelay and PaceAbove. Every other field is taken
// as given — a zero Populate turns pre-faulting off, although
// DefaultOptions turns it on.
type Options struct {
	// Path of the bbolt file; created if missing.
	Path string
	// NodeName names this edge in merge records and sources.
	NodeName string
	// Rules are the identity rules applied on ingest.
	Rules *profile.Rules
	// Salt is the erasure tombstones' salt until the hub's privacy salt
	// is set (SetPrivacySalt), which then takes its place for good.
	Salt []byte
	// CompactDelay is how long after a commit that erased a profile
	// (a peer's or the hub's erased state merged in) the store waits
	// before compacting its file, so a burst of erasures costs one
	// compaction. Default 1 s.
	CompactDelay time.Duration
	// ConsentGranted is the consent default (ucv edge --consent-default):
	// whether a profile that has stated nothing about a consent category
	// counts as granting it, for decisions, lookups for a purpose and
	// forwarding. False (denied) unless set.
	ConsentGranted bool
	// Now is the clock (injected for tests).
	Now func() time.Time
	// MaxClockDrift bounds how far ahead remote HLC timestamps may be.
	MaxClockDrift time.Duration
	// DedupeWindow is how long a messageId is remembered (default 7 days).
	DedupeWindow time.Duration
	// MaxBatchEvents caps the events folded into one commit (default 20,000).
	MaxBatchEvents int
	// QueueLen (default 8,192) is the most requests the appender logs
	// in one group, and the room in the applier's queue beyond the
	// hard lag bound (32,768 requests or events acknowledged and not
	// taken by the applier): enough to go on acknowledging while the
	// applier commits a transaction it kept open (decision 0096).
	QueueLen int
	// Linger is how long the applier waits, with nothing more queued,
	// for a batch to reach LingerFill events when the previous batch had
	// LingerLoad or more (the edge is under load): bbolt's cost per
	// commit then falls on more events (docs/decisions/0095). Default
	// 20 ms; negative: never wait. Acknowledgements do not wait for it;
	// reads that must see an unapplied event (pending.go) may.
	Linger time.Duration
	// LingerLoad (default 32) and LingerFill (default 1,024) are
	// Linger's thresholds, in events.
	LingerLoad, LingerFill int
	// CommitAge is how long the applier may keep one write transaction
	// open across batches while more are queued and nobody waits for
	// them (docs/decisions/0096): a commit then rewrites each touched
	// profile once, and bbolt's cost per profile falls with the number a
	// commit rewrites. Default 1 s; negative: commit every batch. Reads
	// that must see an event, and other writes, make it commit at once.
	CommitAge time.Duration
	// IdleCommit is how long the applier may keep its transaction open
	// with nothing queued, counted from the transaction's start
	// (docs/decisions/0107): under light load — a till posting event
	// after event — a commit then takes every event of that time rather
	// than one or two, and its fdatasyncs stop competing with the log's.
	// Default 20 ms; negative: commit as soon as nothing is queued.
	// Reads that must see an event, other writes and Close make it
	// commit at once.
	IdleCommit time.Duration
	// IdleGap ends that wait sooner: with nothing queued, the applier
	// also commits once nothing has arrived for IdleGap (decision 0113).
	// Events posted back to back — a till's, a few hundred µs apart —
	// still commit together every IdleCommit, while an isolated event on
	// a quiet edge reaches the change stream, gossip, hub sync and the
	// forwarder (which see only what is committed) within about IdleGap
	// instead of IdleCommit. Default 2 ms; negative: IdleCommit alone.
	IdleGap time.Duration
	// CommitEvents caps the events (and remote changes and clusters) one
	// open transaction takes (default 16,384): what it holds decoded,
	// and what recovery replays beyond the lag bound. Larger ones cost
	// more an event where keys arrive clustered: bbolt splits a node
	// only at commit, so inserts into one leaf grow it (decision 0096).
	CommitEvents int
	// PaceAbove is the soft bound on events acknowledged and not yet
	// applied (default 8,192; negative: never pace): past it the
	// appender logs groups at the applier's measured rate, the slower
	// the further past, so under sustained load every acknowledgement
	// waits a little rather than those in flight during a commit waiting
	// it out (pace.go, docs/decisions/0102-pacing.md). The hard bound,
	// 32,768 events, holds either way.
	PaceAbove int
	// ApplierPriority is the nice value (-20 … 19) the applier's thread
	// asks for, on Linux (docs/decisions/0100-applier-priority.md); 0
	// leaves it at the process's. The applier is ingest's one serial
	// stage: given the CPU ahead of the request handlers, it drains what
	// they acknowledge instead of sharing a core with them, and the lag
	// bound holds acknowledgements back less. A negative value needs
	// CAP_SYS_NICE or an RLIMIT_NICE that allows it (systemd: LimitNICE=);
	// refused, the applier runs at the process's priority and Open logs
	// it once.
	ApplierPriority int
	// Populate pre-faults the database's memory map when it is opened or
	// grown (MAP_POPULATE), so a lookup never stalls on a first-touch page
	// fault. It trades open time and page-cache residency for read
	// latency; turn it off on edges with little memory. On in
	// DefaultOptions; unlike the numeric fields, false is not replaced by
	// the default.
	Populate bool
	// ViewMemoryBytes bounds the views the in-memory read index holds
	// (bytes of rendered JSON; memindex.go): 0 holds every view, a
	// negative value none (every lookup reads the file). Profiles over
	// the bound are served from the file, as before the index existed.
	ViewMemoryBytes int64
	// NoSync disables fsync: for benchmarks of everything else only; an
	// acknowledged write may then be lost.
	NoSync bool
	// PageSize is the data file's page size in bytes, a power of two
	// from 4096 to 65536 (default 16384; docs/decisions/0104-page-size.md).
	// It applies when the file is created, and to the copy a compaction
	// writes; a file keeps the size it was created with until then.
	// Larger pages make a commit write fewer, larger pages: faster under
	// load, more bytes written per event.
	PageSize int
	// RefetchPositions names persisted positions (SetPosition) reset to
	// 0 when a profile's damaged state is set aside, so the reader that
	// owns one fetches everything again: the hub sync client's feed
	// cursor, whose next pull then brings the hub's copy of every
	// cluster (hubsync.FeedCursor).
	RefetchPositions []string
	// Unreplicated says that nothing reads this store's outbox: an edge
	// with neither gossip peers nor a hub. The writer then numbers each
	// outbox entry (the bucket's sequence advances) but neither encodes
	// nor writes it, exactly as if it were written and trimmed at once —
	// which is what such an edge did (TrimOutboxFor with no readers). A
	// hub attached later still finds the early
	// sequences gone and is sent the full state (Resync), and a store
	// reopened replicated writes its entries again from the next
	// sequence. Decision 0123.
	Unreplicated bool
	// Logger receives the store's reports of damage found and repaired
	// (nil: discarded). Values are profile IDs, never identifiers.
	Logger *slog.Logger
	// SweepInterval is how often views whose evaluation has changed with
	// time (a windowed event aged out, a day passed) are rendered again
	// in the background (evaluate.go); reads never serve them stale
	// meanwhile. Default 1 s.
	SweepInterval time.Duration
	// ChangeBuffer is how many recent changes the change stream keeps
	// for subscribers that reconnect (Last-Event-ID). Default 10,000.
	ChangeBuffer int
	// MaxForwardBytes caps the forward outbox (Event.Forward; forward.go):
	// past it, each commit drops the oldest entries, unsent, and counts
	// them (ForwardStats.Evicted), so a long upstream outage costs the
	// upstream its oldest events, never this edge its ingest. Zero or
	// negative: no cap (the disk is the cap: ingest then fails with
	// ErrStorageFull). 1 GiB in DefaultOptions.
	MaxForwardBytes int64
	// FailWrites, when set, runs at the start of every commit and write
	// probe; an error it returns fails that transaction as a failed disk
	// write would, and is classified like one (wrap syscall.ENOSPC to
	// play a full disk, syscall.EROFS a read-only one). It is for tests:
	// a full or read-only file system cannot be made on demand. Leave it
	// nil in production.
	FailWrites func() error

	// applyHook, when set (tests), runs on the applier before each
	// commit of a batch.
	applyHook func()
	// applyErr, when set (tests), is consulted for each event the
	// applier applies: an error it returns fails that event's request
	// as a failure to store it would.
	applyErr func(Event) error
	// lingerHook, when set (tests), runs on the applier when it starts
	// waiting for a fuller batch (Linger).
	lingerHook func()
	// idleHook, when set (tests), runs on the applier when it starts
	// waiting with its transaction open and nothing queued (IdleCommit).
	idleHook func()
	// overlayHook, when set (tests), runs in the overlay's read
	// transaction before it reads what is pending (overlay.go).
	overlayHook func()
	// lagBound (tests) replaces maxApplyLag, the hard bound on what is
	// acknowledged and not yet applied (0: maxApplyLag).
	lagBound int
	// noLater (tests) applies every event at once, as before decision
	// 0121 (later.go).
	noLater bool
	// settleAt (tests) replaces settleAt (0: settleAt).
	settleAt int
	// initialMmap (tests) is bbolt's initial memory map size: a commit
	// that grows the map waits for every read transaction to end, which
	// a test holding one open while the applier commits must avoid.
	initialMmap int
}

// DefaultOptions returns the defaults for a store at path.
func DefaultOptions(path string) Options {
	return Options{
		Path:           path,
		NodeName:       "edge",
		Rules:          profile.DefaultRules(),
		Now:            time.Now,
		MaxClockDrift:  500 * time.Millisecond,
		DedupeWindow:   7 * 24 * time.Hour,
		MaxBatchEvents: 20000,
		SweepInterval:  time.Second,
		ChangeBuffer:   10000,
		CompactDelay:   time.Second,
		QueueLen:       8192,
		Linger:         20 * time.Millisecond,
		LingerLoad:     32,
		LingerFill:     1024,
		CommitAge:      time.Second,
		IdleCommit:     20 * time.Millisecond,
		IdleGap:        2 * time.Millisecond,
		CommitEvents:   16384,
		PageSize:       16384,
		PaceAbove:      8192,
		Populate:       true,

		MaxForwardBytes: 1 << 30,
	}
}

// Event is one message to ingest with where it came from.
type Event struct {
	Msg    *profile.Message
	Source string // the write key's label or app name; may be empty
	// Forward, when not nil, is the event as it is forwarded upstream
	// (profile.Message.Upstream): Ingest queues it in the forward outbox
	// in the transaction that stores the event, and not at all when the
	// event is a duplicate (see forward.go).
	Forward []byte
}

// IngestResult says what one Ingest call did.
type IngestResult struct {
	Stored     int // events applied
	Duplicates int // events dropped as already seen (by messageId)
	// Suppressed are events dropped because an identifier of theirs is
	// suppressed (privacy.go): nothing of them was stored.
	Suppressed int
	ProfileIDs []string // per event, the profile it landed on ("" for duplicates and suppressed events)
}

// View is a stored profile as the read path serves it.
type View struct {
	// ID is the canonical profile ID (after following redirects).
	ID string
	// Version is the profile's HLC version string.
	Version string
	// JSON is the pre-rendered profile view (profile.View as JSON) without
	// its time-dependent field: it ends inside the "computed" object, so a
	// reader appends `,"days_since_last_seen":N}` and any top-level fields,
	// then `}` (see edge/api). It is a copy the caller owns, not a view of
	// the store's memory: it stays valid and unchanged whatever the store
	// does next, and the caller may modify it or append to it.
	JSON []byte
	// LastSeenMs is the last event time (ms since epoch, 0 if none), for
	// days_since_last_seen.
	LastSeenMs int64
}

// Stats are gauges for metrics.
type Stats struct {
	Profiles    int
	Identifiers int
	OutboxLen   int
	DBBytes     int64
	// DedupeEntries is the messageIds in the dedupe window, each held in
	// memory (~56 bytes; decision 0111).
	DedupeEntries  int
	LastCommitSize int   // events in the latest commit
	Commits        int64 // transactions committed since Open
	// CommitEvents is a histogram of events per commit since Open:
	// CommitEvents[i] counts commits with at most CommitSizeBounds[i]
	// events (cumulative, as Prometheus expects); CommitEventsSum is the
	// total number of events committed.
	CommitEvents    []uint64
	CommitEventsSum uint64
	// ViewMismatches and StateMismatches count, since Open, stored views
	// and profile states that failed their checksum when read.
	ViewMismatches, StateMismatches uint64
	// Repairing is the number of profiles whose state was found damaged
	// and set aside, waiting for a full copy from a peer or the hub
	// (reads of them answer ErrDamaged meanwhile).
	Repairing int
	// Repaired counts, since Open, profiles a replica's copy repaired.
	Repaired uint64
	// Suppressed counts, since Open, ingested events dropped because an
	// identifier of theirs is on the suppression list (privacy.go).
	Suppressed uint64
	// Ingested counts, since Open, the events applied (duplicates and
	// suppressed events excluded) by message kind; Duplicates the events
	// dropped as already seen. Append does not know them: they are
	// counted when the applier commits.
	Ingested   map[profile.Kind]uint64
	Duplicates uint64
	// Compactions counts, since Open, rewrites of the data file
	// (Compact).
	Compactions uint64
	// CommitsBy counts the applier's commits since Open by why it
	// committed (CommitReason); commits of other write transactions are
	// in Commits only.
	CommitsBy [NumCommitReasons]int64
	// LinksSkipped counts, since Open, identifiers of ingested events
	// that identity resolution left out of the link (the event was still
	// stored), by SkipReason. The shared-till protection firing shows
	// here as SkipLimit.
	LinksSkipped [NumSkipReasons]uint64
	// The write path (decision 0050). ApplyLagEvents is what was
	// acknowledged (durable in the log) and not yet applied to the data
	// file when Stats was called — Stats itself then waits for it.
	// ApplySeconds is the applier's time spent committing since Open: its
	// rate is the applier's busy share, and near 1 the applier bounds
	// ingest. LogSyncs counts the appender's log writes since Open (one
	// write and one fdatasync per group of requests) and LogSyncSeconds
	// their time: their ratio is the acknowledgement's floor.
	ApplyLagEvents int64
	ApplySeconds   float64
	// FlushSeconds and TxCommitSeconds are the parts of ApplySeconds the
	// applier's commits spent storing and rendering the profiles they
	// touched, once each (writer.flush), and in bbolt's Tx.Commit
	// (writing the dirty pages and syncing them): the rest is applying
	// events.
	FlushSeconds    float64
	TxCommitSeconds float64
	LogSyncs        int64
	LogSyncSeconds  float64
	// LedSyncs is the part of LogSyncs a caller of Append logged itself,
	// finding the appender idle (decision 0108).
	LedSyncs int64
	// DeferredEvents counts the events the applier applied later,
	// several profiles at once on every core, rather than as it resolved
	// them (decision 0121).
	DeferredEvents int64
	// ApplyRate is the applier's measured rate (logged events per second
	// of its busy time, a moving average; 0 before the first sample) and
	// PacedGroups and PaceSeconds count the log's groups that waited to
	// keep to it past Options.PaceAbove, and their total wait, since
	// Open (pace.go).
	ApplyRate   float64
	PacedGroups int64
	PaceSeconds float64
	// ReadWaits counts the lookups answered from memory that waited for
	// the applier since Open: only those that asked for a profile an
	// acknowledged, unapplied event could change (decision 0063).
	ReadWaits uint64
	// ReadOverlays counts the lookups answered from memory with their
	// pending events applied to the view instead of waiting (decision
	// 0064).
	ReadOverlays uint64
}

// SkipReason says why identity resolution left an identifier out.
type SkipReason int

// Why an identifier was left out of an event's link.
const (
	// SkipBlocked: the value is blocked by the identity rules
	// ("anonymous", "null", 0000000000, …).
	SkipBlocked SkipReason = iota
	// SkipLimit: linking it would take a profile past a type's limit
	// (one kiosk's device ID shared by many shoppers).
	SkipLimit
	// SkipApart: it would link profiles the hub ruled different people.
	SkipApart
	// NumSkipReasons is the number of reasons.
	NumSkipReasons
)

// String names the reason as metrics label it.
func (r SkipReason) String() string {
	switch r {
	case SkipBlocked:
		return "blocked"
	case SkipLimit:
		return "limit"
	case SkipApart:
		return "apart"
	}
	return "unknown"
}

// CommitReason is why the applier committed its open transaction
// (docs/decisions/0096-applier-open-transaction.md): Stats.Commits by
// reason, so an operator can see what keeps an edge's commits small.
type CommitReason int

// Why the applier committed.
const (
	// CommitIdle: nothing more was queued and nobody waited (an edge
	// below saturation).
	CommitIdle CommitReason = iota
	// CommitWaiter: a read waited for an acknowledged event, a caller
	// of Ingest for its own, or another write transaction or a
	// compaction for the applier's.
	CommitWaiter
	// CommitRequest: a request in it was not a logged event (a peer's
	// changes, the hub's clusters, a repair, a directive).
	CommitRequest
	// CommitAge: it was Options.CommitAge old.
	CommitAge
	// CommitEvents: it held Options.CommitEvents events.
	CommitEvents
	// CommitClosing: the store was closing.
	CommitClosing
	// CommitEveryBatch: CommitAge 0 commits every batch.
	CommitEveryBatch
	// NumCommitReasons is the number of reasons.
	NumCommitReasons
)

// String names the reason as metrics label it.
func (r CommitReason) String() string {
	switch r {
	case CommitIdle:
		return "idle"
	case CommitWaiter:
		return "waiter"
	case CommitRequest:
		return "request"
	case CommitAge:
		return "age"
	case CommitEvents:
		return "events"
	case CommitClosing:
		return "closing"
	case CommitEveryBatch:
		return "every_batch"
	}
	return "unknown"
}

// CommitSizeBounds are the upper bounds of Stats.CommitEvents.
var CommitSizeBounds = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384}
