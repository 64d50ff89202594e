package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"ucv/crdt"
	"ucv/crdt/codec"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// Store is an open edge replica. See the package doc.
type Store struct {
	// db is the open file. Every use holds dbMu shared (view, dbUpdate);
	// Compact holds it exclusively only while it swaps the file.
	db   *bolt.DB
	wb   writebackFile // the applier's descriptor for commit writeback hints (writeback.go)
	dbMu sync.RWMutex
	// open is the applier's write transaction between batches, and
	// waiting counts those who wait for it to commit (opentx.go).
	open    openTx
	waiting atomic.Int32
	// nudge wakes an applier that keeps its transaction open with
	// nothing queued (IdleCommit), or lingers for a fuller batch
	// (Linger), when someone starts waiting (wait).
	nudge chan struct{}
	// sized is the last committed writer's size, the next one's maps'
	// starting capacity (applier goroutine only; writer.go).
	sized writerSize
	bopts *bolt.Options // as opened, for Compact's reopen
	// writeGate is held shared by every write transaction and
	// exclusively by Compact while it copies the file, so no write
	// lands in the old file after the copy read it.
	writeGate sync.RWMutex
	opts      Options
	clock     *crdt.Clock
	node      crdt.ReplicaID

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan *request
	done   chan struct{} // closed when the committer exits
	once   sync.Once
	// abort is set by Close when its ctx ends: the committer refuses
	// what it has not committed yet (errAborted → ErrClosed).
	abort atomic.Bool

	entropy        io.Reader // owned by the committer
	changedMu      sync.Mutex
	changed        chan struct{} // see Changed; closed and replaced under changedMu
	digestMu       sync.Mutex
	digest         Digest // as of the last commit
	lastCommitSize atomic.Int64
	commits        atomic.Int64
	commitHist     [14]atomic.Uint64 // per CommitSizeBounds bucket, +Inf last; not cumulative
	linksSkipped   [NumSkipReasons]atomic.Uint64
	commitsBy      [NumCommitReasons]atomic.Int64
	commitEvents   atomic.Uint64
	hubSyncedMs    atomic.Int64
	health         writeHealth // see Writable

	log             *slog.Logger
	viewMismatches  atomic.Uint64
	stateMismatches atomic.Uint64
	repaired        atomic.Uint64
	repairMu        sync.Mutex
	repairQueued    map[string]bool // profiles with a repair request in the queue
	posMu           sync.Mutex
	posEpoch        map[string]uint64 // refetch epoch of each position when last read (see SetPosition)

	catalog   atomic.Pointer[catalog.Compiled] // see Catalog; nil = empty
	catalogMu sync.Mutex                       // serializes SetCatalog

	changes *changeLog // the change stream (changes.go)

	// The sweep of stale views (evaluate.go).
	sweepWake   chan struct{}
	sweepAll    atomic.Bool
	sweepMu     sync.Mutex // held by a sweep
	sweepCursor []byte     // guarded by sweepMu
	sweepStop   context.CancelFunc
	sweepDone   chan struct{}

	priv privacyState // erasure, suppression, compaction (privacy.go)

	// The write-ahead log of ingested events (wal.go, applier.go).
	wal     *wal
	walQ    chan *request // event requests for the appender
	walKick chan struct{} // wakes the appender (capacity 1; closed by Close)
	walDone chan struct{} // closed when the appender exits
	// appendMu is held by whoever logs a group (appendGroup): the
	// appender, or a caller of Append that found it idle and logs its own
	// request and whatever is queued (decision 0108). walBuf is the
	// group's encoding buffer, guarded by appendMu.
	appendMu sync.Mutex
	walBuf   []byte
	// ackedPos is the position of the last record acknowledged (durable
	// in the log and queued for the applier); appliedPos the last one
	// committed to the data file. applyCh is closed and replaced (under
	// applyMu) whenever appliedPos advances or the applier exits.
	ackedPos, appliedPos atomic.Uint64
	// pending is what acknowledged, unapplied events can change, for
	// lookups that wait only for those (pending.go); readWaits counts
	// the lookups from memory that waited for the applier, readOverlays
	// those answered with their pending events applied (overlay.go).
	pending pendingSet
	// dedupe indexes the dedupe set's messageIds (dedupe.go).
	dedupe        *dedupeIndex
	readWaits     atomic.Uint64
	readOverlays  atomic.Uint64
	applyMu       sync.Mutex
	applyCh       chan struct{}
	applierExited atomic.Bool
	// lagEvents and lagReqs are what was acknowledged and the applier
	// has not applied yet; openEvents what its open transaction holds
	// uncommitted (opentx.go).
	lagEvents, lagReqs, openEvents atomic.Int64
	// applyNanos is the wall time the applier spent committing batches;
	// logSyncs and logSyncNanos count the appender's log writes (each
	// with its fdatasync) and their wall time. See Stats.
	applyNanos, logSyncs, logSyncNanos atomic.Int64
	// ledSyncs counts the log writes a caller of Append led (decision 0108).
	ledSyncs atomic.Int64
	// deferred counts the events the applier deferred to their
	// profile's settling (later.go).
	deferred atomic.Int64
	// flushNanos and txCommitNanos are the parts of applyNanos the
	// applier's commits spent storing and rendering the touched profiles
	// (writer.flush) and in bbolt's Tx.Commit (writing the dirty pages,
	// two fdatasyncs).
	flushNanos, txCommitNanos atomic.Int64
	// pace is the appender's pacing at the applier's measured rate
	// (pace.go).
	pace pacer
	// rollLog asks the applier to start a new log segment and trim the
	// applied ones: set by a commit that erased a profile.
	rollLog atomic.Bool
	// Applied-event counters for metrics (IngestResult is known only
	// after apply): stored events by message kind, and duplicates.
	kindMu     sync.Mutex
	kindCounts map[profile.Kind]uint64
	dupCount   atomic.Uint64
	// mem is the in-memory read index (memindex.go), built by Open and
	// kept by the committer.
	mem *memIndex
}

type request struct {
	evs []Event
	// stamps are the HLC moments the appender acknowledged evs at
	// (markPending), the events' timestamps when the applier finds them
	// still ahead of their profile's version (writer.stampFor); nil for
	// requests not logged and events replayed after a restart.
	stamps []crdt.Timestamp
	remote []replication.Entry // changes from peers (ApplyRemote) instead of events
	// decoded holds remote[i]'s delta decoded by the caller, off the
	// commit goroutine (nil: not a delta, or undecodable).
	decoded []*profile.Profile
	// clusters are hub feed clusters (ApplyClusters; decoded holds their
	// states), unacked the last outbox sequence the hub acknowledged.
	clusters []replication.FeedItem
	unacked  uint64
	// replaceAll: the clusters come from a hub snapshot (BootstrapClusters).
	replaceAll bool
	// pos is recorded with the clusters (ApplyClustersAt).
	pos *position
	// full: remote holds full states from a peer (ApplyStates).
	full bool
	// repair lists profiles a read found damaged (requestRepair); nobody
	// waits for such a request.
	repair []string
	// refresh lists profiles whose views the sweep found stale: they are
	// rendered again, their states unchanged. dueKeys are the due
	// entries it read (deleted first: a profile gone since leaves none).
	refresh []string
	dueKeys [][]byte
	// directive is a privacy directive to carry out (ApplyDirective).
	directive *replication.Directive
	// behind is a small write to make in the applier's transaction
	// without making it commit (writeBehind); nobody waits for it.
	behind func(*bolt.Tx) error
	// taints and holdAll are r's hold on the read fence while queued
	// (holdFor, pending.go), ended by release.
	taints  []*pgroup
	holdAll bool
	// lsn is the log position of a logged event request (0: not
	// logged): its done was closed by the appender when the record was
	// durable; the applier sets res and err and never closes done.
	lsn uint64
	// payload is the encoded events of a logged request (walrec.go).
	payload []byte
	res     IngestResult
	rres    ApplyResult
	err     error
	done    chan struct{}
}

// Open opens (creating if needed) the store at opts.Path and starts its
// group committer. It fails with ErrInUse if the file is locked by
// another process (after 1 s), if its schema version is unknown, and with a *FileError
// (ErrDamaged) if the file's structure is damaged: it then changed
// nothing, and the file can be moved aside and the replica rebuilt from
// its peers and hub. A schema 1 file is migrated first; a schema 2 file is marked schema 3 (schema.go).
func Open(opts Options) (*Store, error) {
	def := DefaultOptions(opts.Path)
	if opts.NodeName == "" {
		opts.NodeName = def.NodeName
	}
	if opts.Rules == nil {
		opts.Rules = def.Rules
	}
	if opts.Now == nil {
		opts.Now = def.Now
	}
	if opts.MaxClockDrift <= 0 {
		opts.MaxClockDrift = def.MaxClockDrift
	}
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = def.DedupeWindow
	}
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = def.MaxBatchEvents
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = def.QueueLen
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = def.SweepInterval
	}
	if opts.Linger == 0 {
		opts.Linger = def.Linger
	}
	if opts.LingerLoad <= 0 {
		opts.LingerLoad = def.LingerLoad
	}
	if opts.LingerFill <= 0 {
		opts.LingerFill = def.LingerFill
	}
	if opts.CommitAge == 0 {
		opts.CommitAge = def.CommitAge
	}
	if opts.IdleCommit == 0 {
		opts.IdleCommit = def.IdleCommit
	}
	if opts.IdleGap == 0 {
		opts.IdleGap = def.IdleGap
	}
	if opts.CommitEvents <= 0 {
		opts.CommitEvents = def.CommitEvents
	}
	if opts.PaceAbove == 0 {
		opts.PaceAbove = def.PaceAbove
	}
	if opts.lagBound <= 0 {
		opts.lagBound = maxApplyLag
	}
	if opts.ChangeBuffer <= 0 {
		opts.ChangeBuffer = def.ChangeBuffer
	}
	if opts.CompactDelay <= 0 {
		opts.CompactDelay = def.CompactDelay
	}
	if opts.PageSize == 0 {
		opts.PageSize = def.PageSize
	}
	if !ValidPageSize(opts.PageSize) {
		return nil, fmt.Errorf("store: open %s: page size %d: want a power of two from %d to %d", opts.Path, opts.PageSize, MinPageSize, MaxPageSize)
	}
	bopts := &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true, // rebuilt on open; halves the pages each commit writes
		FreelistType:   bolt.FreelistMapType,
		NoSync:         opts.NoSync,
		PageSize:       opts.PageSize, // new files and compactions' copies only
	}
	if opts.Populate {
		bopts.MmapFlags = populateFlag
	}
	bopts.InitialMmapSize = opts.initialMmap
	if bopts.InitialMmapSize == 0 && strconv.IntSize == 64 {
		bopts.InitialMmapSize = initialMmapSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// bbolt panics (in a goroutine of its own, or with a fault no recover
	// catches) on a file whose structure is broken: check it first.
	pw, err := checkFile(opts.Path, bopts.Timeout)
	if err != nil {
		return nil, err
	}
	if pw != nil && pw.metaNote != "" {
		log.Warn("data file: one meta page is invalid; bbolt opened the transaction before it, so the last commit may be missing until peers or the hub send it again",
			"file", opts.Path, "damage", pw.metaNote)
	}
	removeCompactLeftover(opts.Path)
	db, err := bolt.Open(opts.Path, 0o600, bopts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Path, err)
	}
	s := &Store{db: db, bopts: bopts, opts: opts, pace: pacer{above: int64(opts.PaceAbove)}, queue: make(chan *request, opts.lagBound+opts.QueueLen), nudge: make(chan struct{}, 1), done: make(chan struct{}), changed: make(chan struct{}),
		walQ: make(chan *request, opts.QueueLen), walKick: make(chan struct{}, 1), walDone: make(chan struct{}), applyCh: make(chan struct{}), kindCounts: map[profile.Kind]uint64{},
		entropy: ulid.Monotonic(rand.Reader, 0), log: log, repairQueued: map[string]bool{}, posEpoch: map[string]uint64{}}
	var from, upgraded uint32
	var rehash time.Duration
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(schemaKey)
		switch {
		case v == nil:
			return meta.Put(schemaKey, binary.BigEndian.AppendUint32(nil, schemaVersion))
		case len(v) == 4 && binary.BigEndian.Uint32(v) == 1:
			from = 1
		case len(v) == 4 && binary.BigEndian.Uint32(v) >= 2 && binary.BigEndian.Uint32(v) <= 5:
			// Read as it is — the by-ID dedupe set emptied below — with
			// its digest hashed again, in the transaction that marks it
			// (schema.go).
			start := time.Now()
			if err := meta.Put(digestKey, digestAllOf(tx)); err != nil {
				return err
			}
			upgraded, rehash = binary.BigEndian.Uint32(v), time.Since(start)
			return meta.Put(schemaKey, binary.BigEndian.AppendUint32(nil, schemaVersion))
		case len(v) == 4 && binary.BigEndian.Uint32(v) == 6:
			// Read as it is (schema.go).
			upgraded = 6
			return meta.Put(schemaKey, binary.BigEndian.AppendUint32(nil, schemaVersion))
		case len(v) != 4 || binary.BigEndian.Uint32(v) != schemaVersion:
			return fmt.Errorf("store: schema version %x, this build reads 1 to %d", v, schemaVersion)
		}
		return nil
	})
	switch {
	case err != nil:
	case upgraded != 0 && upgraded < 6:
		log.Info("store: upgraded the data file's schema; its digest was hashed again", "file", opts.Path, "from", upgraded, "to", schemaVersion, "rehash", rehash)
	case upgraded != 0:
		log.Info("store: upgraded the data file's schema", "file", opts.Path, "from", upgraded, "to", schemaVersion)
	}
	if err == nil && from != 0 {
		err = s.migrate(from)
	}
	if err == nil {
		err = db.Update(emptyLegacyDedupe)
	}
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error {
			var err error
			s.dedupe, err = buildDedupeIndex(tx)
			return err
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: initialize %s: %w", opts.Path, err)
	}
	var hlc crdt.Timestamp
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(nodeKey); v == nil {
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			if err := meta.Put(nodeKey, b[:]); err != nil {
				return err
			}
			s.node = crdt.ReplicaID(binary.BigEndian.Uint64(b[:]))
		} else {
			s.node = crdt.ReplicaID(readU64(v))
		}
		if v := meta.Get(hlcKey); v != nil {
			ts, err := codec.Timestamp.Unmarshal(v)
			if err != nil {
				return fmt.Errorf("store: read clock high-water mark: %w", err)
			}
			hlc = ts
		}
		if v := meta.Get(digestKey); v != nil {
			if err := s.digest.unmarshal(v); err != nil {
				return err
			}
		}
		if v := meta.Get(hubSyncKey); v != nil {
			s.hubSyncedMs.Store(int64(readU64(v)))
		}
		s.loadCatalog(meta)
		if err := s.loadPrivacy(tx); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketForward); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketDecisions); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketHubHeld); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketDue)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: initialize %s: %w", opts.Path, err)
	}
	s.clock = crdt.NewClock(s.node, opts.Now, opts.MaxClockDrift, hlc)
	if err := s.buildMemIndex(opts.ViewMemoryBytes); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: build read index of %s: %w", opts.Path, err)
	}
	s.changes = newChangeLog(opts.Now().UnixMilli())
	if err := s.recoverLog(); err != nil {
		db.Close()
		return nil, err
	}
	go s.appendLoop()
	go s.commitLoop()
	var sweepCtx context.Context
	sweepCtx, s.sweepStop = context.WithCancel(context.Background())
	s.sweepWake, s.sweepDone = make(chan struct{}, 1), make(chan struct{})
	s.sweepAll.Store(true)
	go s.sweepLoop(sweepCtx)
	s.priv.compactDone = make(chan struct{})
	go s.compactLoop(sweepCtx)
	return s, nil
}

// Close stops accepting writes, logs and commits what is queued (every
// acknowledged event is applied: the write-ahead log is left empty), and
// closes the file. Acknowledged events that a Close whose ctx ended
// could not apply stay in the log and are applied by the next Open. If ctx ends first, the commits stop: the requests not yet
// committed — queued, or in the transaction being built — fail with
// ErrClosed (their callers were not acknowledged: a client retries, a
// peer's change comes again by anti-entropy or the hub's feed), the
// transaction is rolled back, and Close returns ctx's error (wrapped).
// It still waits for a commit already writing its pages and fsyncing
// (bbolt cannot stop one half-way); that is at most one batch.
//
// Either way the file is closed on return and holds every commit that
// was acknowledged and nothing of one that was not: the caller may exit,
// or open the file again. Close is idempotent; later calls return nil.
func (s *Store) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.sweepStop()
		<-s.sweepDone
		<-s.priv.compactDone
		s.mu.Lock()
		s.closed = true
		close(s.walQ)
		close(s.walKick)
		s.mu.Unlock()
		giveUp := func() {
			if err == nil {
				err = fmt.Errorf("store: close: %w", ctx.Err())
			}
			s.abort.Store(true)
			s.broadcastApplied() // an appender waiting for room sees abort
		}
		select {
		case <-s.walDone:
		case <-ctx.Done():
			giveUp()
			<-s.walDone
		}
		close(s.queue) // the appender, its only blocking sender, is gone
		select {
		case <-s.done:
		case <-ctx.Done():
			giveUp()
			<-s.done // bbolt cannot close under a running transaction
		}
		if werr := s.wal.close(s.appliedPos.Load()); werr != nil && err == nil {
			err = fmt.Errorf("store: close log: %w", werr)
		}
		s.dropMemIndex() // a closed store serves nothing, from memory either
		s.wb.close()     // the applier has exited
		s.dbMu.Lock()
		cerr := s.db.Close()
		s.priv.dbClosed = true
		s.dbMu.Unlock()
		if cerr != nil && err == nil {
			err = fmt.Errorf("store: close: %w", cerr)
		}
	})
	return err
}

// Ingest stores events atomically — all of them or none — and returns
// after they are applied to the data file, with what that did. It is
// Append followed by waiting for the applier, so the events are durable
// (in the write-ahead log) before Ingest returns even when the wait is
// cut short. Events whose messageId was seen within the dedupe window
// are counted as duplicates and change nothing. Identity resolution runs
// in the applier: identifiers are looked up in the index (blocked values
// skipped), a profile is minted (ULID), attached or merged (canonical =
// smallest ID; others become redirects with a merge record), obeying
// per-type limits by priority. Errors: those of Append; ctx errors
// while waiting for the applier (the events are durable and will be
// applied); ErrClosed if the store closed before applying them (they
// are applied when it opens again); an error of applying them that
// retrying cannot cure (the events were logged and are dropped).
func (s *Store) Ingest(ctx context.Context, evs []Event) (IngestResult, error) {
	r, err := s.appendRequest(ctx, 0, evs)
	if err != nil || r == nil {
		return IngestResult{}, err
	}
	if err := s.waitPos(ctx, r.lsn); err != nil {
		return IngestResult{}, err
	}
	return r.res, r.err
}

// Append stores events durably and returns once they are: written to
// the write-ahead log and fdatasynced (group commit: concurrent calls
// share one write and one sync). They are applied to the data file
// asynchronously, in log order, as Ingest describes — all of them or
// none; every read of this store that starts after Append returns sees
// them (reads wait for the applier when it is behind, see
// waitApplied). Errors: ErrClosed, ErrOverloaded (the log's queue is
// full), ctx errors (the events may still be logged and applied),
// ErrStorageFull and ErrNotWritable (nothing was logged), other I/O
// errors. Nil means durable.
func (s *Store) Append(ctx context.Context, evs []Event) error {
	_, err := s.appendRequest(ctx, 0, evs)
	return err
}

// AppendWithin is Append with its wait bounded by d instead of a
// context: past d it returns context.DeadlineExceeded (the events may
// still be logged, as with Append's ctx). It makes no context, and no
// timer when the events are durable by the time it would wait — as
// when the caller logs them itself (decision 0108). d ≤ 0: no bound.
func (s *Store) AppendWithin(d time.Duration, evs []Event) error {
	_, err := s.appendRequest(context.Background(), d, evs)
	return err
}

// waitTimers holds AppendWithin's timers, stopped, for reuse (a timer
// stopped or fired and drained delivers nothing stale since Go 1.23).
var waitTimers sync.Pool

// appendRequest logs evs and returns their request once the record is
// durable (nil request for no events), waiting at most d (0: no bound)
// or until ctx ends.
func (s *Store) appendRequest(ctx context.Context, d time.Duration, evs []Event) (*request, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	payload, err := encodeWALEvents(evs)
	if err != nil {
		return nil, err
	}
	r := &request{evs: evs, payload: payload, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	// With no group being logged and the applier keeping up, log this
	// one here rather than wake the appender and wait to be woken by it
	// (decision 0108). Taken under s.mu, so Close (which sets closed
	// under s.mu) sees every leader that started: the appender's exit
	// waits for appendMu.
	led := s.appendMu.TryLock()
	if led && !s.mayLead() {
		s.appendMu.Unlock()
		led = false
	}
	if led {
		s.mu.RUnlock()
		s.appendGroup(s.drainWAL([]*request{r}), true)
		s.appendMu.Unlock()
	} else {
		select {
		case s.walQ <- r:
		default:
			s.mu.RUnlock()
			return nil, ErrOverloaded
		}
		select {
		case s.walKick <- struct{}{}:
		default: // a kick is pending: the appender will drain r too
		}
		s.mu.RUnlock()
	}
	select {
	case <-r.done:
	default:
		if err := waitDone(ctx, d, r.done); err != nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return r, nil
}

// waitDone waits until done is closed, ctx ends (its error) or d > 0
// passes (context.DeadlineExceeded).
func waitDone(ctx context.Context, d time.Duration, done <-chan struct{}) error {
	if d <= 0 {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t, _ := waitTimers.Get().(*time.Timer)
	if t == nil {
		t = time.NewTimer(d)
	} else {
		t.Reset(d)
	}
	defer func() {
		t.Stop()
		waitTimers.Put(t)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return context.DeadlineExceeded
	}
}

// mayLead reports, with appendMu held, whether a caller of Append may
// log its own group: only while the applier's lag is under both the
// bound past which groups are paced (Options.PaceAbove, when pacing is
// on) and the hard bound. Only appendMu's holder adds to the lag, so
// the group is then neither paced nor kept waiting for room: a caller
// never sleeps or waits itself, bound by no timeout — under
// backpressure requests queue for the appender, and a caller's ctx can
// end its wait.
func (s *Store) mayLead() bool {
	bound := int64(s.opts.lagBound)
	if a := s.pace.above; a > 0 && a < bound {
		bound = a
	}
	return s.lagEvents.Load() < bound && s.lagReqs.Load() < int64(s.opts.lagBound)
}

// enqueue hands r to the committer and waits until it is committed (or
// ctx ends: the request may still commit).
func (s *Store) enqueue(ctx context.Context, r *request) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.holdFor(r) // released by the applier (commitLoop)
	select {
	case s.queue <- r:
	default:
		s.mu.RUnlock()
		s.release(r)
		return ErrOverloaded
	}
	s.mu.RUnlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// initialMmapSize is the data file's first memory map (on 64-bit
// systems): address space, not memory — pages beyond the file cost
// nothing, and MAP_POPULATE only faults in the file's. bbolt remaps when
// the file outgrows its map (doubling to 1 GiB, then a GiB at a time),
// and a remap copies every node of the applier's open transaction out of
// the old map and waits for every read transaction to end; mapping a GiB
// at once spares a growing edge those stalls below it.
const initialMmapSize = 1 << 30

// commitLoop is the applier (the group committer of old): it takes the
// first queued request — logged events from the appender, or a request
// of another kind (remote changes, clusters, repairs, directives,
// refreshes) — adds whatever else is already queued up to
// MaxBatchEvents, and commits them in one transaction and one fsync,
// recording the last log position applied in the same transaction.
func (s *Store) commitLoop() {
	if p := s.opts.ApplierPriority; p != 0 {
		restore, err := raisePriority(p)
		if err != nil {
			s.log.Info("the applier runs at the process's priority", "asked", p, "err", err)
		}
		defer restore()
	}
	defer func() {
		s.applierExited.Store(true)
		s.broadcastApplied()
		close(s.done)
	}()
	// Timers are synchronous (Go 1.23): after Stop, Reset needs no drain.
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	var prevReqs, prev int // the previous batch's requests and size
	defer func() {
		// nextRequest commits an open transaction before it reports the
		// queue closed: one is open here only after a panic.
		for _, r := range s.txAbandon() {
			s.refuse(r)
			s.release(r)
		}
	}()
	for {
		r, ok := s.nextRequest(idle)
		if !ok {
			return
		}
		if s.abort.Load() {
			for _, o := range s.txAbandon() {
				s.refuse(o)
				s.release(o)
			}
			s.refuse(r)
			s.release(r)
			continue
		}
		batch := []*request{r}
		n := len(r.evs) + len(r.remote) + len(r.clusters)
		limit := min(s.opts.MaxBatchEvents, maxApplyBatch)
		lingering, fired := false, false
	drain:
		for n < limit {
			var r2 *request
			var ok bool
			select {
			case r2, ok = <-s.queue:
			default:
				// Nothing queued. Under load, wait a little for a
				// fuller batch (docs/decisions/0095-applier-linger.md),
				// unless someone waits for the applier: a caller of
				// Ingest, or a read that must see an acknowledged event.
				// A fuller batch is worth nothing to them, and with
				// concurrent Ingest callers (every one of them waiting)
				// nothing more can come: each batch waited out the whole
				// linger.
				if !s.lingers(prevReqs, prev, n) || s.waiting.Load() != 0 {
					break drain
				}
				if !lingering {
					lingering = true
					linger.Reset(s.opts.Linger)
					if s.opts.lingerHook != nil {
						s.opts.lingerHook()
					}
				}
			wait:
				for {
					select {
					case r2, ok = <-s.queue:
						break wait
					case <-s.nudge:
						if s.waiting.Load() != 0 { // someone began to wait (wait)
							break drain
						}
						// A nudge left by a waiter the last commit served
						// (it counted itself, nudged, and was answered by a
						// commit the nudge did not cause): linger on.
					case <-linger.C:
						fired = true
						break drain
					}
				}
			}
			if !ok {
				break drain
			}
			batch = append(batch, r2)
			n += len(r2.evs) + len(r2.remote) + len(r2.clusters)
		}
		if lingering && !fired {
			linger.Stop()
		}
		prevReqs, prev = len(batch), n
		if s.opts.applyHook != nil {
			s.opts.applyHook()
		}
		start := time.Now()
		logged, _ := loggedEvents(batch)
		done := s.applyBatch(batch, n)
		busy := time.Since(start) // applyBatch counts it in applyNanos
		s.pace.observe(logged, busy)
		for _, r := range done {
			s.release(r) // committed and published, or refused
		}
	}
}

// lingers reports whether the applier, with nothing more queued, waits
// for more before committing a batch of n: while the previous batch
// showed load — two or more requests (writers are concurrent) and
// LingerLoad or more events — and n is short of LingerFill. An idle
// edge, or one writer that waits for each write to be applied, commits
// at once.
func (s *Store) lingers(prevReqs, prev, n int) bool {
	return s.opts.Linger > 0 && prevReqs >= 2 && prev >= s.opts.LingerLoad && n < s.opts.LingerFill
}

// refuse answers a request the committer will not commit because Close
// gave up waiting: ErrClosed, nothing of it stored. A logged request
// was acknowledged already: it stays in the log and is applied when the
// store opens again.
func (s *Store) refuse(r *request) {
	if r.lsn != 0 {
		return // Ingest's wait ends with ErrClosed when the applier exits
	}
	s.repairDone(r.repair)
	r.res, r.rres, r.err = IngestResult{}, ApplyResult{}, ErrClosed
	close(r.done)
}

// errAborted rolls back the transaction being built when Close's ctx
// has ended (see Store.abort).
var errAborted = errors.New("store: close: commit abandoned")

// aborted returns errAborted once Close has given up waiting, so the
// transaction being built is rolled back instead of committed.
func (s *Store) aborted() error {
	if s.abort.Load() {
		return errAborted
	}
	return nil
}

// commit applies batch in a transaction of its own and commits it,
// recording the position of its last logged request (txApply,
// txCommit). The applier's retries use it; no transaction may be open.
func (s *Store) commit(batch []*request) error {
	if err := s.txApply(batch); err != nil {
		s.txAbandon()
		if errors.Is(err, errAborted) {
			return err
		}
		for _, r := range batch {
			s.repairDone(r.repair)
		}
		return err
	}
	return s.txCommit()
}

// applyRequest applies one request with writer w.
func (s *Store) applyRequest(w *writer, r *request) error {
	if err := s.aborted(); err != nil {
		return err
	}
	if len(r.evs) == 0 {
		// A peer's changes, the hub's clusters, a directive, a repair, a
		// refresh: they read states, so deferred events are applied
		// first (later.go). So is a write behind: an outbox trim must
		// find the deferred events' deltas where applying them at once
		// would have put them, before it, in sequence order.
		if err := w.settle(); err != nil {
			return err
		}
	}
	switch {
	case r.behind != nil:
		return r.behind(w.tx)
	case r.refresh != nil:
		return w.refreshAll(r)
	case r.repair != nil:
		for _, id := range r.repair {
			if err := w.repair(id); err != nil {
				return err
			}
		}
		return nil
	case r.directive != nil:
		return w.directive(r.directive)
	case r.clusters != nil:
		return w.applyClusters(r)
	case r.remote != nil:
		for i, e := range r.remote {
			if err := s.aborted(); err != nil {
				return err
			}
			applied, err := w.applyRemote(e, r.decoded[i])
			if err != nil {
				return err
			}
			if applied {
				r.rres.Applied++
				if r.full && r.decoded[i] != nil {
					w.completeRepair(r.decoded[i].ID)
				}
			} else {
				r.rres.Rejected++
			}
		}
		return nil
	}
	r.res = IngestResult{ProfileIDs: make([]string, len(r.evs))}
	for i, ev := range r.evs {
		if err := s.aborted(); err != nil {
			return err
		}
		if f := s.opts.applyErr; f != nil {
			if err := f(ev); err != nil {
				return err
			}
		}
		if w.suppressed(ev.Msg) {
			r.res.Suppressed++
			continue
		}
		var stamp crdt.Timestamp
		if i < len(r.stamps) {
			stamp = r.stamps[i]
		}
		id, dup, err := w.ingest(ev, stamp)
		if err != nil {
			return err
		}
		if dup {
			r.res.Duplicates++
			continue
		}
		r.res.Stored++
		r.res.ProfileIDs[i] = id
	}
	return nil
}

// published makes what writer w's committed transaction (the requests
// of batch) changed known outside it: the read index, repairs and
// skips, the digest, the change stream, privacy counts, ingest counts,
// the log roll an erasure needs, and the outbox's listeners.
func (s *Store) published(w *writer, batch []*request) {
	s.memAfterCommit(&w.mem)
	s.reportRepairs(w)
	for r, n := range w.skipped {
		s.linksSkipped[r].Add(n)
	}
	s.digestMu.Lock()
	s.digest = w.digest
	s.digestMu.Unlock()
	s.changes.add(s.opts.ChangeBuffer, w.changes)
	s.priv.suppressN.Add(w.suppDelta)
	s.priv.erasedKeysN.Add(w.erasedKeysDelta)
	for _, r := range batch {
		s.priv.suppressedEvents.Add(uint64(r.res.Suppressed))
	}
	s.countIngested(batch)
	if w.erasedNow > 0 {
		s.rollLog.Store(true) // the log drops what preceded the erasure (applier.go)
		s.wakeCompact()
	}
	if w.outboxDelta > 0 {
		s.signalChanged()
	}
}

// resolveIn follows redirects from id within tx.
func resolveIn(tx *bolt.Tx, id string) (string, error) {
	red := tx.Bucket(bucketRedirects)
	for range maxRedirectHops {
		next := red.Get([]byte(id))
		if next == nil {
			return id, nil
		}
		id = string(next)
	}
	return "", fmt.Errorf("store: redirect chain from %s longer than %d", id, maxRedirectHops)
}

// resolveKey is resolveIn on a key, without allocating: the result is id
// or a slice of tx's memory map (valid for the life of tx).
func resolveKey(tx *bolt.Tx, id []byte) ([]byte, error) {
	red := tx.Bucket(bucketRedirects)
	for range maxRedirectHops {
		next := red.Get(id)
		if next == nil {
			return id, nil
		}
		id = next
	}
	return nil, fmt.Errorf("store: redirect chain from %s longer than %d", id, maxRedirectHops)
}

// LookupID returns the view of profile id, following redirects.
// ErrNotFound if there is none. It answers from the in-memory read
// index when that holds a servable view (memindex.go), else from the
// file.
func (s *Store) LookupID(id string) (View, error) {
	if c, ok := s.CachedID([]byte(id)); ok {
		return c.view(), nil
	}
	return s.lookupIDFile(id)
}

// lookupIDFile is LookupID read from the file.
func (s *Store) lookupIDFile(id string) (View, error) {
	s.settle(nil, []byte(id), false, false)
	s.settleRedirect(id)
	var v View
	e := s.mem.epoch.Load()
	err := s.view(func(tx *bolt.Tx) (err error) {
		v, err = s.viewOf(tx, []byte(id), e)
		return err
	})
	return v, err
}

// LookupIdentifier returns the view of the profile holding id (which must
// be normalized). ErrNotFound if none. Like LookupID it answers from
// memory when it can.
func (s *Store) LookupIdentifier(id profile.Identifier) (View, error) {
	key := id.Key()
	if c, ok := s.CachedIdentifier([]byte(key)); ok {
		return c.view(), nil
	}
	return s.lookupIdentifierFile(key)
}

// lookupIdentifierFile is LookupIdentifier of identifier key read from
// the file.
func (s *Store) lookupIdentifierFile(key string) (View, error) {
	if !s.unknownNow([]byte(key)) {
		s.settle([]byte(key), nil, false, false)
	}
	var v View
	e := s.mem.epoch.Load()
	err := s.view(func(tx *bolt.Tx) error {
		pid := tx.Bucket(bucketIndex).Get([]byte(key))
		if pid == nil {
			return ErrNotFound
		}
		var err error
		v, err = s.viewOf(tx, pid, e)
		return err
	})
	return v, err
}

// viewOf follows redirects from id and copies out its view record after
// verifying it. A view that fails its checksum, or is missing beside a
// stored profile, is ErrDamaged, and its repair is requested. A record
// stored without its JSON is rendered from the stored state and, when
// its evaluation is current, offered to the read index as of
// publication epoch e (the one before tx began).
func (s *Store) viewOf(tx *bolt.Tx, id []byte, e uint64) (View, error) {
	key, err := resolveKey(tx, id)
	if err != nil {
		return View{}, err
	}
	cid := string(key)
	b := tx.Bucket(bucketViews).Get(key)
	if b == nil {
		if st := tx.Bucket(bucketProfiles).Get(key); st == nil || erasedRecord(key, st) {
			return View{}, ErrNotFound // an erased profile has no view
		}
		s.requestRepair(cid)
		return View{}, fmt.Errorf("%w: profile %s: stored view is missing", ErrDamaged, cid)
	}
	v, ev, err := decodeViewRecord(cid, key, b)
	if err != nil {
		if viewFailsSum(key, b) {
			s.requestRepair(cid)
		}
		return v, err
	}
	cat := s.Catalog()
	nowMs := s.opts.Now().UnixMilli()
	if ev.stale(cat.Digest(), nowMs) {
		s.wakeSweep(!ev.ok || ev.digest != cat.Digest())
		return s.freshView(tx, cid, v, cat, nowMs)
	}
	if isBodiless(b) {
		if v, err = s.freshView(tx, cid, v, cat, nowMs); err != nil {
			return v, err
		}
		s.mem.offer(e, cid, v, ev)
		return v, nil
	}
	return v, nil
}

// Profile returns the decoded CRDT state of profile id (following
// redirects); the caller owns it. ErrNotFound if none; ErrDamaged if its
// stored state fails its checksum (its repair is then requested) or it
// waits for a replica's copy after such damage.
func (s *Store) Profile(id string) (*profile.Profile, error) {
	// Read-your-writes for this profile: its plain pending events
	// applied, or waited for (pending.go, overlay.go).
	if o, ok := s.settle(nil, []byte(id), true, false); ok {
		return o.p, nil
	}
	s.settleRedirect(id)
	var p *profile.Profile
	err := s.view(func(tx *bolt.Tx) error {
		cid, err := resolveIn(tx, id)
		if err != nil {
			return err
		}
		key := []byte(cid)
		b := tx.Bucket(bucketProfiles).Get(key)
		if b == nil {
			return ErrNotFound
		}
		state, err := openProfile(key, b)
		if err != nil {
			s.requestRepair(cid)
			return err
		}
		if tx.Bucket(bucketRepair).Get(key) != nil {
			return errRepairing(cid)
		}
		p, err = profile.Unmarshal(state)
		if err == nil && p.Erased.Set {
			p = nil
			return ErrNotFound
		}
		return err
	})
	return p, err
}

// ResolveIdentifier returns the canonical profile ID holding id.
func (s *Store) ResolveIdentifier(id profile.Identifier) (string, error) {
	// Read-your-writes for this identifier: pending events that all
	// leave it where it is, or a wait (pending.go, overlay.go).
	if o, ok := s.settle([]byte(id.Key()), nil, true, false); ok {
		return o.p.ID, nil
	}
	var cid string
	err := s.view(func(tx *bolt.Tx) error {
		pid := tx.Bucket(bucketIndex).Get([]byte(id.Key()))
		if pid == nil {
			return ErrNotFound
		}
		var err error
		cid, err = resolveIn(tx, string(pid))
		return err
	})
	return cid, err
}

// Stats returns current gauges, after waiting for the events
// acknowledged when it was called to be applied (read-your-writes: an
// event ingested before shows in the counts). ApplyLagEvents is what
// was outstanding before the wait.
func (s *Store) Stats() (Stats, error) {
	lag := s.lagEvents.Load() + s.openEvents.Load() // before waiting it away
	s.waitApplied()
	st, err := s.CommittedStats()
	st.ApplyLagEvents = lag
	return st, err
}

// CommittedStats returns current gauges without waiting for the
// applier: the counts of what the data file holds now, with
// ApplyLagEvents acknowledged events not in them yet. It is what a
// metrics scrape reads — a scrape that waited would have the applier
// commit its open transaction at once, and the batches behind it one by
// one, each time it ran under load (decision 0099).
func (s *Store) CommittedStats() (Stats, error) {
	var st Stats
	st.ApplyLagEvents = s.lagEvents.Load() + s.openEvents.Load()
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		st.Profiles = int(readU64(meta.Get(profilesKey)))
		st.Identifiers = int(readU64(meta.Get(identifiersKey)))
		st.OutboxLen = int(readU64(meta.Get(outboxKey)))
		st.DBBytes = tx.Size()
		st.DedupeEntries = s.dedupe.len()
		st.Repairing = tx.Bucket(bucketRepair).Stats().KeyN
		return nil
	})
	st.ViewMismatches = s.viewMismatches.Load()
	st.StateMismatches = s.stateMismatches.Load()
	st.Repaired = s.repaired.Load()
	st.Suppressed = s.priv.suppressedEvents.Load()
	st.Ingested, st.Duplicates = s.IngestedByKind()
	st.Compactions = s.priv.compactions.Load()
	st.LastCommitSize = int(s.lastCommitSize.Load())
	st.Commits = s.commits.Load()
	st.CommitEventsSum = s.commitEvents.Load()
	st.ApplySeconds = time.Duration(s.applyNanos.Load()).Seconds()
	st.ApplyRate = s.pace.Rate()
	st.PacedGroups = s.pace.waits.Load()
	st.PaceSeconds = time.Duration(s.pace.waitNanos.Load()).Seconds()
	st.FlushSeconds = time.Duration(s.flushNanos.Load()).Seconds()
	st.TxCommitSeconds = time.Duration(s.txCommitNanos.Load()).Seconds()
	st.LogSyncs = s.logSyncs.Load()
	st.LedSyncs = s.ledSyncs.Load()
	st.DeferredEvents = s.deferred.Load()
	st.LogSyncSeconds = time.Duration(s.logSyncNanos.Load()).Seconds()
	st.ReadWaits = s.readWaits.Load()
	st.ReadOverlays = s.readOverlays.Load()
	for r := range st.CommitsBy {
		st.CommitsBy[r] = s.commitsBy[r].Load()
	}
	for r := range st.LinksSkipped {
		st.LinksSkipped[r] = s.linksSkipped[r].Load()
	}
	var cum uint64
	for i := range CommitSizeBounds {
		cum += s.commitHist[i].Load()
		st.CommitEvents = append(st.CommitEvents, cum)
	}
	return st, err
}

// Node returns this store's HLC node ID (stable across restarts).
func (s *Store) Node() crdt.ReplicaID { return s.node }

// HubSyncedAt returns when this replica last synced with the hub; the
// zero time means never (no hub yet).
func (s *Store) HubSyncedAt() time.Time {
	ms := s.hubSyncedMs.Load()
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// SetHubSyncedAt records (durably) that this replica was in sync with
// the hub at t, for the staleness lookups report. The sync client calls
// it after each successful exchange; an older t than the recorded one is
// ignored, so the time never goes backwards.
func (s *Store) SetHubSyncedAt(t time.Time) error {
	ms := t.UnixMilli()
	if ms <= s.hubSyncedMs.Load() {
		return nil
	}
	if err := s.dbUpdate(putHubSynced(ms)); err != nil {
		return fmt.Errorf("store: record hub sync: %w", err)
	}
	s.noteHubSynced(ms)
	return nil
}

// putHubSynced returns the write of hub-sync time ms, which leaves a
// later time stored as it is.
func putHubSynced(ms int64) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if int64(readU64(meta.Get(hubSyncKey))) >= ms {
			return nil
		}
		return meta.Put(hubSyncKey, u64(uint64(ms)))
	}
}

// noteHubSynced moves the hub-sync time HubSyncedAt answers with to ms,
// never back.
func (s *Store) noteHubSynced(ms int64) {
	for cur := s.hubSyncedMs.Load(); ms > cur && !s.hubSyncedMs.CompareAndSwap(cur, ms); cur = s.hubSyncedMs.Load() {
	}
}

// Check runs bbolt's consistency check and the store's own invariants
// (see checkTx). Tests call it when they end. It holds the write lock
// while it runs (in a write transaction it rolls back): bbolt's check
// reads the shared freelist, which a concurrent commit changes — run in
// a read transaction it raced with hub sync's writes and reported pages
// as "reachable freed" that were not.
func (s *Store) Check() error {
	s.wait() // bbolt's one writer: the applier's open transaction commits (opentx.go)
	defer s.waiting.Add(-1)
	s.writeGate.RLock()
	defer s.writeGate.RUnlock()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	defer tx.Rollback()
	for err := range tx.Check() {
		return fmt.Errorf("store: bbolt check: %w", err)
	}
	var first error
	report := func(err error) bool {
		first = err
		return false
	}
	checkTx(tx, report)
	if first == nil {
		checkDedupe(tx, s.dedupe, report)
	}
	return first
}

// checkTx checks the store's records and invariants in tx and calls
// report with each problem found until it returns false: every profile
// state and view verifies (checksum, and the state decodes); every
// profile has a view; every index entry resolves to a stored profile and
// names the smallest holder; every identifier a profile holds is among
// its holders entries or, without any, its index entry names the
// profile, and every index entry without holders entries is so named;
// every identifier with holders entries has an index entry; the profile
// gauge matches. Profiles waiting for repair are counted in repairing;
// their views are flagged and verify.
func checkTx(tx *bolt.Tx, report func(error) bool) (profiles, views int) {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(schemaKey); len(v) != 4 || binary.BigEndian.Uint32(v) < 2 || binary.BigEndian.Uint32(v) > schemaVersion {
		report(fmt.Errorf("store: schema version %x, want %d", v, schemaVersion))
		return 0, 0
	}
	pb := tx.Bucket(bucketProfiles)
	vb := tx.Bucket(bucketViews)
	holders := tx.Bucket(bucketHolders)
	index := tx.Bucket(bucketIndex)
	quarantine := tx.Bucket(bucketQuarantine)
	hc := holders.Cursor()
	soleHeld, soleIndexed := 0, 0 // identifiers held by one profile, by the profiles and by the index
	err := pb.ForEach(func(k, v []byte) error {
		profiles++
		if vb.Get(k) == nil && !erasedRecord(k, v) {
			if !report(fmt.Errorf("store: profile %s has no view", k)) {
				return errStop
			}
		}
		state, err := openProfile(k, v)
		if err != nil {
			if !report(err) {
				return errStop
			}
			return nil
		}
		p, err := profile.Unmarshal(state)
		if err != nil {
			if !report(fmt.Errorf("store: profile %s: decode state: %w", k, err)) {
				return errStop
			}
			return nil
		}
		for _, key := range p.Identities.Elems() {
			held := false
			if eachHolderEntry(hc, key, func(h []byte) bool {
				held = bytes.Equal(h, k)
				return !held
			}) == 0 {
				if held = bytes.Equal(index.Get([]byte(key)), k); held && quarantine.Get(k) == nil {
					soleHeld++
				}
			}
			if !held {
				if !report(fmt.Errorf("store: profile %s holds %s, which neither its holders entries nor its index entry name", k, key)) {
					return errStop
				}
			}
		}
		return nil
	})
	if err != nil {
		return profiles, views
	}
	err = vb.ForEach(func(k, v []byte) error {
		views++
		if viewFailsSum(k, v) {
			if !report(fmt.Errorf("%w: profile %s: stored view fails its checksum", ErrDamaged, k)) {
				return errStop
			}
		} else if pb.Get(k) == nil && !report(fmt.Errorf("store: view of %s without a profile", k)) {
			return errStop
		}
		return nil
	})
	if err != nil {
		return profiles, views
	}
	// Every index entry resolves to a stored profile and names the
	// smallest holder.
	c := holders.Cursor()
	err = index.ForEach(func(k, v []byte) error {
		cid, err := resolveIn(tx, string(v))
		if err != nil {
			if !report(err) {
				return errStop
			}
			return nil
		}
		if pb.Get([]byte(cid)) == nil && !report(fmt.Errorf("store: index entry resolves to missing profile %s", cid)) {
			return errStop
		}
		// An identifier without holders entries has one holder, the
		// profile the entry names (holders.go).
		prefix := append(append([]byte(nil), k...), 0)
		hk, _ := c.Seek(prefix)
		if hk == nil || !bytes.HasPrefix(hk, prefix) {
			// A quarantined profile's identifiers are unknown; its
			// entries stay (repair.go).
			if quarantine.Get(v) == nil {
				soleIndexed++
			}
		} else if string(hk[len(prefix):]) != string(v) && !report(fmt.Errorf("store: index entry names %s, smallest holder is %s", v, hk[len(prefix):])) {
			return errStop
		}
		return nil
	})
	// Each profile's identifier found only in the index matched one
	// index entry naming that profile; any other such entry names a
	// profile that does not hold its identifier.
	if err == nil && soleIndexed != soleHeld && !report(fmt.Errorf("store: %d index entries without holders entries, %d identifiers held by the profile their entry names", soleIndexed, soleHeld)) {
		err = errStop
	}
	if err != nil {
		return profiles, views
	}
	// Every held identifier has an index entry (a damaged index page can
	// lose entries without breaking bbolt's structure).
	var last []byte
	err = holders.ForEach(func(k, _ []byte) error {
		key, _, ok := bytes.Cut(k, []byte{0})
		if !ok || bytes.Equal(key, last) {
			return nil
		}
		last = append(last[:0], key...)
		if index.Get(key) == nil && !report(fmt.Errorf("store: identifier %q is held but not indexed", key)) {
			return errStop
		}
		return nil
	})
	if err != nil {
		return profiles, views
	}
	if got := readU64(meta.Get(profilesKey)); got != uint64(profiles) {
		report(fmt.Errorf("store: profile gauge %d, %d stored", got, profiles))
	}
	checkForward(tx, report)
	return profiles, views
}

// errStop ends a ForEach early.
var errStop = errors.New("stop")

// identifierKeys lists every indexed identifier key (tests and checks).
func (s *Store) identifierKeys() ([]string, error) {
	var keys []string
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIndex).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	return keys, err
}
