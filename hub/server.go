package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"ucv/hub/arena"
	"ucv/hub/identity"
	"ucv/hub/seal"
	"ucv/profile/catalog"
	"ucv/tlsconf"
)

// Config configures a Server. Start from DefaultConfig.
type Config struct {
	// NodeID is this node's Raft server ID; unique and stable.
	NodeID string
	// DataDir holds raft.db (log and stable store, BoltDB) and the
	// snapshots directory. Unused when Transport is set.
	DataDir string
	// RaftAddr is the TCP address Raft binds and advertises (loopback in
	// tests and dev); port 0 picks a free port, which is then advertised
	// (Server.RaftAddr). Unused when Transport is set.
	RaftAddr string
	// KEKFile names the key-encryption key file (hub/seal.ReadKEKFile:
	// one base64 32-byte key a line, the first current) wrapping the
	// epoch keys that seal the Raft log and snapshots in DataDir; ""
	// generates DataDir/kek (0600) on first start, so the KEK then sits
	// beside the data (dev convenience, weaker). Unused when Transport is
	// set.
	KEKFile string
	// Bootstrap makes this node form a new single-voter cluster when it
	// has no Raft state yet; others then join through AddVoter.
	Bootstrap bool
	// Raft is the Raft library's configuration; LocalID is set from
	// NodeID. Tests shrink its timers.
	Raft *raft.Config
	// ApplyTimeout bounds how long Apply waits to enqueue and commit when
	// the context has no earlier deadline.
	ApplyTimeout time.Duration
	// SnapshotsRetained is how many file snapshots to keep.
	SnapshotsRetained int
	// Forward sends a command to the leader, named by its node ID, when
	// this node is not the leader (hub/api's Peers.Forward posts it to the
	// leader's internal endpoint; the in-process test cluster calls the
	// leader directly). It returns the leader's Result, whose Err is the
	// domain error if any. Nil makes Apply on a follower fail with a
	// *NotLeaderError.
	Forward func(ctx context.Context, leaderID string, cmd []byte) (*Result, error)
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// RaftLog receives the Raft library's own (hclog) output; nil
	// discards it.
	RaftLog io.Writer
	// RaftTLS, when set, runs the TCP transport over mutual TLS: both
	// ends of every Raft connection present a hub node certificate
	// (serverAuth and clientAuth) that its CA signed, and plain
	// connections are refused. It needs a certificate and a CA; its files
	// reload as the Loader does, for new connections.
	RaftTLS *tlsconf.Loader

	// Now is the leader's clock for ticks (CmdTick): when it passes the
	// earliest moment some cluster's audience membership can change
	// without a new event (FSM.NextDue), the leader proposes a tick with
	// its time. Nil: time.Now. Tests drive it.
	Now func() time.Time
	// TickInterval is how often the leader compares its clock with
	// FSM.NextDue (a read of the smallest key of an index, so cheap);
	// 0: one second.
	TickInterval time.Duration
	// ModelFitInterval is how often the leader refits the value models
	// ("clv", "rfm": Server.FitModel) over every cluster; 0 (the
	// default here; `ucv hub` runs them daily) turns the schedule off.
	ModelFitInterval time.Duration
	// RetentionInterval is how often the leader sweeps the clusters for
	// people the catalog's retention policy has expired and raises
	// system-initiated erase requests for them (RetentionSweep); 0 (the
	// default here; `ucv hub` sweeps hourly) turns the schedule off.
	RetentionInterval time.Duration

	// IdentityTrainInterval is how often the leader refits the identity
	// model on its fragments' records and installs it when a held-back
	// check finds it no worse than the model in use (selftrain.go,
	// docs/decisions/0047-hub-self-training.md); 0 (the default here;
	// `ucv hub` trains hourly) turns self-training off.
	IdentityTrainInterval time.Duration
	// IdentityTrainPoll is how often the leader checks whether a fit is
	// due (the interval passed, or the fragments grew); 0: the interval
	// or a minute, whichever is shorter.
	IdentityTrainPoll time.Duration
	// IdentityTrainMinRecords is the smallest number of fragments the
	// leader trains on; 0: DefaultIdentityTrainMinRecords.
	IdentityTrainMinRecords int
	// IdentityTrainGrowth and IdentityTrainGrowthMin: the leader refits
	// before the interval is up once the fragments grew by this
	// fraction and by this many since the last fit; 0:
	// DefaultIdentityTrainGrowth, DefaultIdentityTrainGrowthMin.
	IdentityTrainGrowth    float64
	IdentityTrainGrowthMin int
	// IdentityTrainMinLabelled is how many steward decisions a candidate
	// must be checked against before it may be installed; 0 (the
	// default) lets the held-back likelihood check alone install one.
	// Data where EM's "match" class learns households rather than people
	// (bench/README.md, customers) needs the stewards' evidence.
	IdentityTrainMinLabelled int
	// HotFragments is how many of the most recently changed fragments
	// stay decoded between Applies (FSM.SetHotFragments): 0 means
	// DefaultHotFragments, a negative value none (every fragment encoded
	// when its Apply ends).
	HotFragments int
	// HeapFragments keeps cold fragments' encodings on the Go heap. By
	// default a server with a DataDir keeps them in a memory-mapped
	// scratch file there (FSM.UseArena), off the heap.
	HeapFragments bool
	// IdentityCandidate, when set, replaces every trained candidate
	// before its check: tests force a bad one. Nil in production.
	IdentityCandidate func(*identity.Model) *identity.Model
	// IdentityTrainTune, when set, adjusts the configuration a candidate
	// is trained with (by default the model in use's): tests shrink
	// RandomPairs to train fast. Nil in production.
	IdentityTrainTune func(*identity.Config)

	// Shred makes this node's files hold no readable byte of erased
	// people (hub/seal's crypto-shredding: a new epoch, a snapshot, the
	// old keys destroyed). The node calls it, once for every batch of
	// erase requests whose edges have all confirmed, before it commits
	// its shred receipt (docs/decisions/0040-privacy.md); an error is
	// retried. It runs on its own goroutine and may block for as long as
	// it needs; ctx ends when the node closes. Nil: the node's own
	// Server.Shred (hub/seal.go), which has nothing to do for a node
	// without a data directory.
	Shred func(ctx context.Context) error

	// Webhooks configures the leader's webhook deliverer (deliver.go);
	// nil: DefaultWebhookConfig.
	Webhooks *WebhookConfig

	// Transport, LogStore, StableStore and SnapshotStore replace the
	// TCP transport and the on-disk stores when set (all four together):
	// hub/hubtest runs clusters on raft's in-memory transport this way.
	Transport     raft.Transport
	LogStore      raft.LogStore
	StableStore   raft.StableStore
	SnapshotStore raft.SnapshotStore
}

// DefaultConfig returns production defaults (Raft's own defaults for
// timers).
func DefaultConfig() Config {
	return Config{
		Raft:              raft.DefaultConfig(),
		ApplyTimeout:      10 * time.Second,
		SnapshotsRetained: 3,
		Now:               time.Now,
		TickInterval:      time.Second,
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("hub: config: NodeID is required")
	case c.Raft == nil:
		return errors.New("hub: config: Raft is required (start from DefaultConfig)")
	case c.ApplyTimeout <= 0:
		return errors.New("hub: config: ApplyTimeout must be positive")
	case c.ModelFitInterval < 0:
		return errors.New("hub: config: ModelFitInterval must not be negative")
	case c.RetentionInterval < 0:
		return errors.New("hub: config: RetentionInterval must not be negative")
	case c.IdentityTrainInterval < 0 || c.IdentityTrainPoll < 0 || c.IdentityTrainMinRecords < 0 ||
		c.IdentityTrainGrowth < 0 || c.IdentityTrainGrowthMin < 0 || c.IdentityTrainMinLabelled < 0:
		return errors.New("hub: config: the IdentityTrain settings must not be negative")
	case c.Transport != nil && (c.LogStore == nil || c.StableStore == nil || c.SnapshotStore == nil):
		return errors.New("hub: config: Transport needs LogStore, StableStore and SnapshotStore")
	case c.Transport == nil && (c.DataDir == "" || c.RaftAddr == ""):
		return errors.New("hub: config: DataDir and RaftAddr are required")
	case c.RaftTLS != nil && (c.Transport != nil || !c.RaftTLS.HasCert() || !c.RaftTLS.HasCA()):
		return errors.New("hub: config: RaftTLS needs a certificate and a CA, and the TCP transport (no Transport)")
	}
	return nil
}

// NotLeaderError is returned by Apply on a follower that cannot forward.
// It names the leader (empty when none is known) so the caller can retry
// there. It matches ErrNotLeader.
type NotLeaderError struct {
	LeaderID   string // node ID
	LeaderAddr string // Raft address
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "hub: not the leader; no leader known"
	}
	return fmt.Sprintf("hub: not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Server is one hub node: a Raft member running the FSM. Its methods are
// safe for concurrent use.
type Server struct {
	cfg    Config
	fsm    *FSM
	raft   *raft.Raft
	trans  raft.Transport
	log    *slog.Logger
	closer []io.Closer  // on-disk stores
	sealed *seal.Stores // the sealed on-disk stores; nil with Config's stores

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
	ticker    sync.WaitGroup // the tick loop, the deliverer, the shred loop and the model fit loops
	trainMu   sync.Mutex     // one identity model fit at a time (selftrain.go)
}

// New starts a Raft node with an empty FSM (Raft restores the latest
// snapshot and replays the log). With cfg.Bootstrap it forms a cluster
// of itself when no Raft state exists. It never panics on I/O.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fsm, err := NewFSM()
	if err != nil {
		return nil, err
	}
	fsm.SetLogger(cfg.Logger) // Raft restores the latest snapshot in NewRaft
	if cfg.HotFragments != 0 {
		fsm.SetHotFragments(cfg.HotFragments) // negative: none
	}
	if cfg.DataDir != "" && !cfg.HeapFragments {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("hub: data dir: %w", err)
		}
		if err := fsm.UseArena(cfg.DataDir, 0); err != nil && !errors.Is(err, arena.ErrUnsupported) {
			return nil, err
		} // where mmap is missing the fragments stay on the heap
	}
	s := &Server{cfg: cfg, fsm: fsm, log: cfg.Logger, closed: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	rc := *cfg.Raft
	rc.LocalID = raft.ServerID(cfg.NodeID)
	out := cfg.RaftLog
	if out == nil {
		out = io.Discard
	}
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Output: out, Level: hclog.Info})

	trans, logs, stable, snaps := cfg.Transport, cfg.LogStore, cfg.StableStore, cfg.SnapshotStore
	if trans == nil {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("hub: data dir: %w", err)
		}
		bs, sealed, err := openStores(cfg, rc.Logger) // seal.go
		if err != nil {
			return nil, err
		}
		s.closer, s.sealed = append(s.closer, bs), sealed
		logs, stable, snaps = sealed.Logs, bs, sealed.Snapshots
		addr, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
		if err != nil {
			s.closeStores()
			return nil, fmt.Errorf("hub: raft address: %w", err)
		}
		var advertise net.Addr = addr
		if addr.Port == 0 {
			advertise = nil // advertise the port the listener got
		}
		tt, err := newTransport(cfg, advertise, rc.Logger)
		if err != nil {
			s.closeStores()
			return nil, fmt.Errorf("hub: raft transport: %w", err)
		}
		s.closer = append(s.closer, tt)
		trans = tt
	}
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(logs, stable, snaps)
		if err != nil {
			s.closeStores()
			return nil, fmt.Errorf("hub: read raft state: %w", err)
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: trans.LocalAddr()}}}
			if err := raft.BootstrapCluster(&rc, logs, stable, snaps, trans, conf); err != nil {
				s.closeStores()
				return nil, fmt.Errorf("hub: bootstrap: %w", err)
			}
		}
	}
	r, err := raft.NewRaft(&rc, fsm, logs, stable, snaps, trans)
	if err != nil {
		s.closeStores()
		return nil, fmt.Errorf("hub: start raft: %w", err)
	}
	s.raft = r
	s.trans = trans
	if s.cfg.Shred == nil {
		s.cfg.Shred = s.Shred // hub/seal.go: no files, nothing to shred
	}
	s.ticker.Add(3)
	go s.tickLoop()
	go s.deliverLoop()
	go s.shredLoop()
	if cfg.ModelFitInterval > 0 {
		s.ticker.Add(1)
		go s.fitLoop()
	}
	if cfg.RetentionInterval > 0 {
		s.ticker.Add(1)
		go s.retentionLoop()
	}
	if cfg.IdentityTrainInterval > 0 {
		s.ticker.Add(1)
		go s.identityTrainLoop() // selftrain.go
	}
	s.log.Info("hub node started", "node", cfg.NodeID, "addr", string(trans.LocalAddr()), "bootstrap", cfg.Bootstrap, "raft_tls", cfg.RaftTLS != nil)
	return s, nil
}

// newTransport returns Raft's TCP transport on cfg.RaftAddr, over mutual
// TLS with cfg.RaftTLS.
func newTransport(cfg Config, advertise net.Addr, log hclog.Logger) (*raft.NetworkTransport, error) {
	const maxPool, timeout = 3, 10 * time.Second
	if cfg.RaftTLS == nil {
		return raft.NewTCPTransportWithLogger(cfg.RaftAddr, advertise, maxPool, timeout, log)
	}
	st, err := newTLSStream(cfg.RaftAddr, advertise, cfg.RaftTLS)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithLogger(st, maxPool, timeout, log), nil
}

// FSM returns the node's state machine, for reads. Reads on a follower
// may lag the leader; Barrier first for read-your-writes on the leader.
func (s *Server) FSM() *FSM { return s.fsm }

// RaftAddr returns the address Raft advertises.
func (s *Server) RaftAddr() string {
	return string(s.trans.LocalAddr())
}

// ID returns the node ID.
func (s *Server) ID() string { return s.cfg.NodeID }

// IsLeader reports whether this node currently believes it leads.
func (s *Server) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the known leader's node ID and Raft address (both
// empty when none is known).
func (s *Server) Leader() (id, raftAddr string) {
	addr, lid := s.raft.LeaderWithID()
	return string(lid), string(addr)
}

func (s *Server) timeout(ctx context.Context) time.Duration {
	d := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return max(d, time.Millisecond)
}

// Apply commits cmd (built by MarshalSync, MarshalMerge or
// MarshalUnmerge) and returns the FSM's result once it is committed and
// applied on this node (or, forwarded, on the leader): an acknowledged
// command is durable on a quorum. A domain error is returned both as
// the error and in Result.Err; the command then changed nothing. On a
// follower Apply forwards through Config.Forward or returns a
// *NotLeaderError. Blocks until done, ctx ends or ApplyTimeout passes;
// a timed-out command may still commit later (sync batches are
// idempotent, so callers retry).
func (s *Server) Apply(ctx context.Context, cmd []byte) (*Result, error) {
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	if len(cmd) == 0 || len(cmd) > MaxCommandBytes {
		return nil, fmt.Errorf("%w: command of %d bytes", ErrInvalid, len(cmd))
	}
	if err := validate(cmd); err != nil {
		return nil, err
	}
	if s.raft.State() != raft.Leader {
		id, addr := s.Leader()
		if s.cfg.Forward == nil || id == "" {
			return nil, &NotLeaderError{LeaderID: id, LeaderAddr: addr}
		}
		res, err := s.cfg.Forward(ctx, id, cmd)
		if err != nil {
			return res, fmt.Errorf("hub: forward to leader %s: %w", id, err)
		}
		return res, res.Err
	}
	f := s.raft.Apply(cmd, s.timeout(ctx))
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				id, addr := s.Leader()
				return nil, fmt.Errorf("hub: apply: %w (%w)", &NotLeaderError{LeaderID: id, LeaderAddr: addr}, err)
			}
			return nil, fmt.Errorf("hub: apply: %w", err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("hub: apply: %w", ctx.Err())
	}
	res, ok := f.Response().(*Result)
	if !ok {
		return nil, fmt.Errorf("hub: apply: unexpected FSM response %T", f.Response())
	}
	return res, res.Err
}

// validate decodes cmd as the FSM will, so a malformed command is refused
// before it reaches the log (where it would stop every replica).
func validate(cmd []byte) error {
	var err error
	switch CmdType(cmd[0]) {
	case CmdSync:
		_, err = UnmarshalSync(cmd)
	case CmdImport:
		_, err = UnmarshalImport(cmd)
	case CmdMerge:
		_, err = UnmarshalMerge(cmd)
	case CmdUnmerge:
		_, err = UnmarshalUnmerge(cmd)
	case CmdReviewAccept, CmdReviewReject:
		_, err = UnmarshalReview(cmd)
	case CmdModel:
		_, _, err = UnmarshalSetModel(cmd)
	case CmdModelFit:
		_, _, err = UnmarshalModelFit(cmd)
	case CmdDefine:
		var d *Define
		if d, err = UnmarshalDefine(cmd); err == nil {
			var perr error
			if d.Kind == KindDestination {
				_, perr = ParseDestination(d.Name, d.Definition)
			} else {
				_, perr = catalog.ParseDefinition(d.Kind, d.Name, d.Definition)
			}
			if perr != nil {
				err = definitionErr(perr)
			}
		}
	case CmdUndefine:
		_, err = UnmarshalUndefine(cmd)
	case CmdTick:
		_, err = UnmarshalTick(cmd)
	case CmdDelivered:
		_, err = UnmarshalDelivered(cmd)
	case CmdReplay:
		_, err = UnmarshalReplay(cmd)
	case CmdPrivacy:
		_, err = UnmarshalPrivacy(cmd)
	case CmdPrivacyDone:
		_, err = UnmarshalEdgeReceipts(cmd)
	case CmdShredDone:
		_, err = UnmarshalShredReceipt(cmd)
	case CmdDecommission:
		_, err = UnmarshalDecommission(cmd)
	case CmdAudit:
		_, err = UnmarshalAudit(cmd)
	case CmdEdgeRegister:
		_, err = UnmarshalEdgeRegister(cmd)
	default:
		err = fmt.Errorf("%w: command type %d", ErrMalformed, cmd[0])
	}
	return err
}

// Sync commits one edge sync batch; see Apply.
func (s *Server) Sync(ctx context.Context, b *SyncBatch) (*Result, error) {
	cmd, err := MarshalSync(b)
	if err != nil {
		return nil, err
	}
	return s.Apply(ctx, cmd)
}

// AddVoter adds (or updates the address of) a voting member. It must
// run on the leader; followers get a *NotLeaderError.
func (s *Server) AddVoter(ctx context.Context, id, addr string) error {
	return s.membership(ctx, func(t time.Duration) raft.IndexFuture {
		return s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, t)
	})
}

// RemoveServer removes a member. It must run on the leader.
func (s *Server) RemoveServer(ctx context.Context, id string) error {
	return s.membership(ctx, func(t time.Duration) raft.IndexFuture {
		return s.raft.RemoveServer(raft.ServerID(id), 0, t)
	})
}

func (s *Server) membership(ctx context.Context, change func(time.Duration) raft.IndexFuture) error {
	if s.raft.State() != raft.Leader {
		id, addr := s.Leader()
		return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
	}
	if err := change(s.timeout(ctx)).Error(); err != nil {
		return fmt.Errorf("hub: membership change: %w", err)
	}
	return nil
}

// Barrier waits until every command committed before it is applied to
// this node's FSM (leader only): reads after it see all acknowledged
// writes.
func (s *Server) Barrier(ctx context.Context) error {
	if err := s.raft.Barrier(s.timeout(ctx)).Error(); err != nil {
		return fmt.Errorf("hub: barrier: %w", err)
	}
	return nil
}

// Close stops the Raft node and closes the stores. It is idempotent and
// returns the first error. ctx bounds how long Close waits for Raft to
// shut down; if it ends first, Close returns an error wrapping ctx's and
// the stores are closed when Raft's shutdown completes, in the
// background — never under a Raft that may still write to them (until
// then the data directory stays locked).
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.ticker.Wait() // its Apply ends when s.closed does
		done := make(chan error, 1)
		go func() {
			err := s.raft.Shutdown().Error()
			if cerr := s.closeStores(); err == nil {
				err = cerr
			}
			s.log.Info("hub node stopped", "node", s.cfg.NodeID)
			done <- err
		}()
		select {
		case s.closeErr = <-done:
		case <-ctx.Done():
			s.closeErr = fmt.Errorf("hub: close: %w (the stores close when Raft's shutdown completes)", ctx.Err())
		}
	})
	return s.closeErr
}

func (s *Server) closeStores() error {
	var first error
	for i := len(s.closer) - 1; i >= 0; i-- {
		if err := s.closer[i].Close(); err != nil && first == nil {
			first = fmt.Errorf("hub: close store: %w", err)
		}
	}
	s.closer = nil
	return first
}

// tickLoop runs on every node and acts on the leader: every
// TickInterval it compares the clock with the earliest moment some
// cluster's audience membership can change (FSM.NextDue) and, once that
// has passed, proposes a tick carrying the clock's time. The FSM then
// re-evaluates the clusters due (at most MaxTickClusters a tick, so the
// loop ticks again at once while some remain due). A tick proposed by a
// leader that lost its leadership meanwhile fails or commits harmlessly:
// a cluster not due is not re-evaluated, and a transition is recorded
// only when a membership changes, so two ticks never repeat one.
// now is the node's clock: Config.Now, or the wall clock.
func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// untilClosed returns a context that ends when the node closes (or
// cancel is called), for the leader's loops.
func (s *Server) untilClosed() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (s *Server) tickLoop() {
	defer s.ticker.Done()
	every := s.cfg.TickInterval
	if every <= 0 {
		every = time.Second
	}
	now := s.now
	ctx, cancel := s.untilClosed()
	defer cancel()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		for range 100 { // while clusters stay due, up to a bound per interval
			if !s.IsLeader() {
				break
			}
			due, ok := s.fsm.NextDue()
			at := now()
			if !ok || at.Before(due) {
				break
			}
			cmd, err := MarshalTick(&Tick{At: at})
			if err != nil {
				s.log.Warn("encode tick", "err", err)
				break
			}
			if _, err := s.Apply(ctx, cmd); err != nil {
				if ctx.Err() == nil {
					s.log.Debug("tick not applied", "err", err)
				}
				break
			}
		}
	}
}
