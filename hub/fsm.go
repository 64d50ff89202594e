package hub

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	"github.com/hashicorp/raft"

	"ucv/crdt"
	"ucv/hub/arena"
	"ucv/hub/identity"
	"ucv/parallel"
	"ucv/profile"
	"ucv/replication"
)

// FSM is the hub's replicated state machine: profile fragments (one CRDT
// state per source profile ID, the join of every delta edges pushed for
// it), the identity graph over them (clusters, steward decisions, the
// history of merges and splits with their reasons), each edge's last
// applied sync sequence, and the change feed.
//
// Raft calls Apply, Snapshot and Restore from one goroutine; reads
// (Profile, Cluster, Feed, History, EdgeSeq) may run concurrently with
// them from any goroutine.
//
// Determinism: Apply depends only on the current state and the log entry
// (its Data and Index). Every iteration that decides something walks
// sorted keys; the identity engine is order-independent by contract.
type FSM struct {
	mu sync.RWMutex
	st *state
	// advanced is closed, and replaced, whenever the applied index moves
	// (Apply, Restore); see Watch. Guarded by mu.
	advanced chan struct{}
	// hotMax bounds the fragments kept decoded after their Apply
	// (SetHotFragments).
	hotMax int
	// arena holds cold fragments' encodings off the heap (UseArena); nil:
	// on the heap. passOn and passFrom are its compaction pass in
	// progress: the ID of the next fragment to visit (compact).
	arena    *arena.Arena
	passOn   bool
	passFrom string
	// log receives Restore's progress (SetLogger); never nil.
	log *slog.Logger
}

// SetLogger makes Restore log its start, its progress every
// restoreLogEvery and its end to l — counts and times only. A restore
// re-resolves every record (27 minutes at 10M people on 2 cores:
// bench/README.md, "Restore at 10M"); without this a restarting hub is
// silent for that long. Call it before the FSM is used.
func (f *FSM) SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	f.mu.Lock()
	f.log = l
	f.mu.Unlock()
}

// restoreLogEvery is how often Restore logs its progress.
const restoreLogEvery = 10 * time.Second

// UseArena keeps the encodings of cold fragments in a memory-mapped
// scratch file in dir instead of the Go heap, with chunks of chunk bytes
// (0: arena.DefaultChunk): the kernel pages them in and out, the
// collector never scans them (docs/decisions/0066-hub-fragments-off-the-heap.md).
// The file is unlinked at once and freed when the FSM, its snapshots and
// bootstrap copies are all gone. Any setting gives the same state. Call
// it before the FSM is used.
func (f *FSM) UseArena(dir string, chunk int) error {
	ar, err := arena.Open(dir, chunk)
	if err != nil {
		return fmt.Errorf("hub: fragment arena: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st.frags.Len() != 0 || f.arena != nil {
		ar.Close()
		return fmt.Errorf("hub: fragment arena: the FSM is already in use")
	}
	f.arena, f.st.arena = ar, ar
	// Nothing reads a chunk once the arena is unreachable: fragments'
	// encodings point into it, but every holder of fragments (the state,
	// a snapshot, a bootstrap copy) holds the arena or a pin on it.
	runtime.AddCleanup(f, func(ar *arena.Arena) { _ = ar.Close() }, ar)
	return nil
}

// ArenaStats returns the counters of the fragment arena (UseArena);
// zero without one.
func (f *FSM) ArenaStats() arena.Stats { return f.arena.Stats() }

// DefaultHotFragments is how many of the most recently changed fragments
// an FSM keeps decoded (docs/decisions/0056-hub-encoded-fragments.md):
// ~2.8 KB each for a typical person, so ~180 MB at most.
const DefaultHotFragments = 1 << 16

// SetHotFragments sets how many of the most recently changed fragments
// stay decoded between Applies (at least 0; 0 encodes every fragment
// when its Apply ends). Memory against CPU: a returning person whose
// fragment is hot is joined in place; a cold one is decoded and encoded
// again. Any value gives the same state. Call it before the FSM is used.
func (f *FSM) SetHotFragments(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hotMax = max(n, 0)
}

var _ raft.FSM = (*FSM)(nil)

// fragment is one source profile as the hub knows it. Values in the tree
// are immutable: Apply replaces a fragment instead of changing it, so a
// snapshot can hold the old tree without copying.
type fragment struct {
	id string
	// enc is the fragment's state (ID == id), encoded by profile.Marshal
	// — or, when adopt is set, the first delta the fragment was created
	// from, whose profile.Adopt is the state. A person's state encoded
	// takes ~350 bytes of pointer-free memory, decoded ~2.8 KB of maps
	// the collector has to scan (docs/decisions/0056-hub-encoded-fragments.md);
	// readers decode it (profile) when they need more than erased.
	enc   []byte
	adopt bool
	// erased is the state's Erased.Set.
	erased bool
	// state is the decoded state while the fragment is hot — an Apply
	// owns it (applier.owned), or it is among the most recently changed
	// (state.hot) — and then enc is not its encoding; nil once cool. It
	// is never modified in place: Apply replaces it with a Join, which
	// shares the parts a delta leaves unchanged with the old state.
	state *profile.Profile
	// first and firstDelta: the state owning adopted from a new
	// fragment's first delta, and a copy of that delta's encoding; while
	// state is still first, those bytes are the encoding (adopt).
	first      *profile.Profile
	firstDelta []byte
	cluster    string // the cluster's ID: its smallest fragment ID
	changed    uint64 // Raft index of the last change to it or its cluster
}

// profile returns fr's state: the decoded one while fr is hot, else a
// fresh decoding of enc. Read it, never change it (a hot state is
// shared); ownProfile gives one to change.
func (fr *fragment) profile() *profile.Profile { return fr.decoded(profile.Unmarshal) }

// identityProfile is profile() decoded only as far as recordOf reads:
// identities, traits and the erasure mark (profile.UnmarshalIdentity).
// Restore reads every fragment this way. Only for recordOf.
func (fr *fragment) identityProfile() *profile.Profile {
	return fr.decoded(profile.UnmarshalIdentity)
}

// decoded is fr's hot state, or enc decoded with unmarshal (adopted when
// enc is a first delta).
func (fr *fragment) decoded(unmarshal func([]byte) (*profile.Profile, error)) *profile.Profile {
	if fr.state != nil {
		return fr.state
	}
	p, err := unmarshal(arena.Plain(fr.enc))
	if err != nil {
		// enc is what cool or Restore stored after decoding it once.
		panic(fmt.Sprintf("hub: fragment %s: stored state does not decode: %v", fr.id, err))
	}
	if fr.adopt {
		p = profile.Adopt(p)
	}
	return p
}

// ownProfile is profile as a value the caller may change.
func (fr *fragment) ownProfile() *profile.Profile {
	if fr.state != nil {
		return fr.state.Clone()
	}
	return fr.profile()
}

// isErased reports whether fr's state is erased.
func (fr *fragment) isErased() bool {
	if fr.state != nil {
		return fr.state.Erased.Set
	}
	return fr.erased
}

// cooled returns a copy of hot fragment fr with its state encoded and
// the decoded state dropped (fr itself may be held by a snapshot and is
// not changed). A state that is still the adoption of the fragment's
// first delta keeps that delta's bytes instead of being encoded again.
func (fr *fragment) cooled(ar *arena.Arena) *fragment {
	cp := *fr
	if fr.state == fr.first && fr.firstDelta != nil {
		cp.enc, cp.adopt = ar.Copy(fr.firstDelta), true
	} else {
		b, err := fr.state.Marshal()
		if err != nil {
			panic(fmt.Sprintf("hub: fragment %s: state does not encode: %v", fr.id, err))
		}
		cp.enc, cp.adopt = ar.Copy(b), false
	}
	cp.erased = fr.state.Erased.Set
	cp.state, cp.first, cp.firstDelta = nil, nil, nil
	return &cp
}

// hotRef names a fragment that was put hot at a Raft index.
type hotRef struct {
	index uint64
	id    string
}

// cool encodes the hot fragments beyond the max most recently changed
// (on all cores) and puts their cooled copies in the tree. A fragment is
// hot exactly when the tree's copy has a state, and every put of such a
// copy queued (index, id) in st.hot; a queued reference whose fragment
// changed since (a later reference exists) or is cool is skipped.
func (st *state) cool(maxHot int) {
	var victims []*fragment
	for len(st.hot)-st.hotHead > maxHot {
		ref := st.hot[st.hotHead]
		st.hot[st.hotHead] = hotRef{}
		st.hotHead++
		if fr, ok := st.frags.Get(&fragment{id: ref.id}); ok && fr.changed == ref.index && fr.state != nil {
			victims = append(victims, fr)
		}
	}
	if st.hotHead > len(st.hot)/2 { // the queue's dead front, reclaimed
		st.hot = append(st.hot[:0:0], st.hot[st.hotHead:]...)
		st.hotHead = 0
	}
	cooled := make([]*fragment, len(victims))
	parallelDo(len(victims), func(i int) { cooled[i] = victims[i].cooled(st.arena) })
	for _, fr := range cooled {
		st.replace(fr) // same changed index: the feed stays
	}
}

// replace puts fr in the tree in place of the fragment with its ID and
// returns the one replaced. That one's encoding goes back to the arena
// unless fr shares it (a hot copy keeps its cold original's until it
// cools again): every put of a fragment goes through here, so the arena
// knows exactly which encodings the tree still holds.
func (st *state) replace(fr *fragment) (*fragment, bool) {
	old, ok := st.frags.ReplaceOrInsert(fr)
	if ok && !sameBytes(old.enc, fr.enc) {
		st.arena.Release(old.enc)
	}
	return old, ok
}

// sameBytes reports whether a and b are the same bytes in memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// passBudget is how many fragments one Apply's compaction step visits,
// and passMoves how many of them it copies at most (~2 µs each: decrypt,
// encrypt, replace in the tree): a pass over 10M fragments takes ~2,500
// Applies or more, each step about a millisecond at most.
const (
	passBudget = 4096
	passMoves  = 512
)

// compact runs a step of the arena's compaction: when the arena has
// enough garbage it starts a pass (arena.BeginPass), and each step walks
// the next passBudget fragments in ID order (fewer once passMoves are to
// move), giving each whose encoding lies in a chunk being emptied a
// fresh copy (a new fragment value: the tree's are immutable; its changed
// index and so the feed stay). A pass ends when the walk reaches the
// last fragment: every fragment in the tree was visited once, and any
// put since the pass began copied into chunks it does not empty. Caller
// holds f.mu.
func (f *FSM) compact() {
	ar := f.arena
	if ar == nil {
		return
	}
	if !f.passOn {
		if !ar.ShouldCompact() || !ar.BeginPass() {
			return
		}
		f.passOn, f.passFrom = true, ""
	}
	var moves []*fragment
	budget, done := passBudget, true
	f.st.frags.AscendGreaterOrEqual(&fragment{id: f.passFrom}, func(fr *fragment) bool {
		if budget == 0 || len(moves) == passMoves {
			f.passFrom, done = fr.id, false
			return false
		}
		budget--
		if ar.Evacuating(fr.enc) {
			moves = append(moves, fr)
		}
		return true
	})
	for _, fr := range moves {
		cp := *fr
		cp.enc = ar.Move(fr.enc)
		f.st.replace(&cp)
	}
	if done {
		f.endPass()
	}
}

// endPass ends the compaction pass in progress, if any.
func (f *FSM) endPass() {
	if f.passOn {
		f.arena.EndPass()
		f.passOn, f.passFrom = false, ""
	}
}

type feedKey struct {
	index uint64
	id    string
}

type edgeSeq struct {
	edge string
	seq  uint64
}

// decision is a steward's (or an edge's) ruling on a pair, latest wins.
type decision struct {
	a, b   string // a < b
	same   bool
	index  uint64
	actor  string
	reason string
}

// Event is one entry of the identity graph's history: a merge of
// clusters through one link, or a split of a cluster.
type Event struct {
	Index uint64 `json:"index"` // Raft index of the command: the event's time
	N     int    `json:"n"`     // order within the index
	// Kind is "merge" or "split".
	Kind string `json:"kind"`
	// Cluster is the resulting cluster (merge) or the cluster split.
	Cluster string `json:"cluster"`
	// A and B are the fragments of the link that joined two clusters
	// (merge).
	A string `json:"a,omitempty"`
	B string `json:"b,omitempty"`
	// Clusters are the clusters the split produced.
	Clusters []string `json:"clusters,omitempty"`
	// Rule is the link's rule: "identifier", "probabilistic", "steward"
	// (a steward's merge) or "edge" (a merge an edge decided); for a
	// split, "steward" (a steward's unmerge or decision), "edge" (the
	// engine re-clustered around an edge's merge) or "identity" (the
	// engine re-clustered after new data).
	Rule string `json:"rule"`
	// Identifiers are the shared identifier keys of an identifier link.
	// They are personal data: show them to stewards, never log them.
	Identifiers []string `json:"identifiers,omitempty"`
	Weight      float64  `json:"weight"`
	Actor       string   `json:"actor,omitempty"`
	Reason      string   `json:"reason,omitempty"`
}

type state struct {
	frags *btree.BTreeG[*fragment]
	// hot queues the fragments put decoded, oldest first, from hotHead
	// (FSM.cool).
	hot       []hotRef
	hotHead   int
	feed      *btree.BTreeG[feedKey]
	edges     *btree.BTreeG[edgeSeq]
	decisions *btree.BTreeG[*decision]
	history   *btree.BTreeG[*Event]
	// applied is the Raft index of the last command applied.
	applied uint64
	// model is the installed identity model (CmdModel), nil until one
	// is: the engine then scores with the untrained default.
	model *installedModel
	// defs is the catalog of definitions (fsm_catalog.go).
	defs *defs
	// clock is the state machine's time, ms since the epoch: the latest
	// of the log entries' AppendedAt and the ticks' times since the
	// first definition (0 before), never moving backwards. Audiences are
	// evaluated at it (fsm_audience.go).
	clock int64
	// lastTransition is the sequence number of the last transition
	// recorded (fsm_audience.go).
	lastTransition uint64
	// members are the clusters' audience memberships and transits the
	// transitions kept (fsm_audience.go).
	members  *btree.BTreeG[*membership]
	transits *btree.BTreeG[*Transition]

	// arena holds the cold fragments' encodings (FSM.UseArena); nil: the
	// heap. Shared by the states an FSM restores.
	arena *arena.Arena

	// Derived, rebuilt by Restore, never snapshotted.
	ix       *identity.Index
	recs     map[string]string          // fragment ID → fields last given to ix, packed (recfields.go)
	clusters map[string][]string        // cluster ID → sorted fragment IDs
	apart    *btree.BTreeG[apartPair]   // cannot-link pairs, both ways (fsm_apart.go)
	idents   *btree.BTreeG[identEntry]  // identifier → fragments holding it (fsm_ident.go)
	places   *btree.BTreeG[identEntry]  // postal address → fragments at it (fsm_related.go)
	linked   *btree.BTreeG[linkedEntry] // fragment → the last merge event linking it (fsm_merges.go)
	audIx    *audIndex                  // audience → members, sizes, due clusters (fsm_audience.go)

	// dlv are the destinations and the webhook delivery queue
	// (fsm_delivery.go): replicated, with derived indexes of its own.
	dlv *deliveries
	// priv is the privacy state (fsm_privacy.go): replicated, with
	// derived indexes of its own.
	priv *privacy
	// fits are the newest self-training fits, oldest first
	// (fsm_modelfit.go); never changed in place.
	fits []ModelFit
}

const degree = 32

func newState() (*state, error) {
	m, err := model()
	if err != nil {
		return nil, err
	}
	return &state{
		frags:     btree.NewG(degree, func(a, b *fragment) bool { return a.id < b.id }),
		feed:      btree.NewG(degree, func(a, b feedKey) bool { return a.index < b.index || a.index == b.index && a.id < b.id }),
		edges:     btree.NewG(degree, func(a, b edgeSeq) bool { return a.edge < b.edge }),
		decisions: btree.NewG(degree, func(a, b *decision) bool { return a.a < b.a || a.a == b.a && a.b < b.b }),
		history:   btree.NewG(degree, func(a, b *Event) bool { return a.Index < b.Index || a.Index == b.Index && a.N < b.N }),
		ix:        identity.NewIndex(m),
		recs:      map[string]string{},
		clusters:  map[string][]string{},
		linked:    btree.NewG(degree, func(a, b linkedEntry) bool { return a.frag < b.frag }),
		apart:     newApart(),
		idents:    newIdents(),
		places:    newIdents(),
		defs:      emptyDefs(),
		members:   newMembers(),
		transits:  newTransitions(),
		audIx:     newAudIndex(),
		dlv:       newDeliveries(),
		priv:      newPrivacy(),
	}, nil
}

// NewFSM returns an empty state machine.
func NewFSM() (*FSM, error) {
	st, err := newState()
	if err != nil {
		return nil, err
	}
	return &FSM{st: st, advanced: make(chan struct{}), hotMax: DefaultHotFragments, log: slog.New(slog.DiscardHandler)}, nil
}

// Watch returns the Raft index of the last command applied and a channel
// that is closed as soon as the state moves past it: a later command is
// applied or Restore replaces the state. A reader waiting for news (the
// feed's long-poll) takes the channel before it reads, so no change is
// missed, and selects on it with its own deadline or context; after a
// wake-up it calls Watch again for the next one. Each channel is closed
// once and never sent on, so any number of readers may wait on it, and
// Apply never blocks on them (closing is all it does). Safe for
// concurrent use.
func (f *FSM) Watch() (index uint64, advanced <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.applied, f.advanced
}

// wake tells the readers waiting in Watch that the state moved. Caller
// holds f.mu for writing.
func (f *FSM) wake() {
	close(f.advanced)
	f.advanced = make(chan struct{})
}

// Result is what Apply returns for every command (raft hands it back
// from ApplyFuture.Response). Err holds a domain error: the command was
// committed but changed nothing, identically on every node.
type Result struct {
	// Index is the command's Raft index: its position in the change feed.
	Index uint64
	Err   error
	// Applied and Skipped count the entries of a sync batch applied and
	// skipped as already seen.
	Applied, Skipped int
	// Duplicate is set when a sync batch held nothing new: a retry.
	Duplicate bool
	// LastSeq is the edge's last applied sequence after a sync batch.
	LastSeq uint64
	// Clusters lists the clusters the command changed, sorted.
	Clusters []string
	// Dropped counts the deliveries a destination's removal dropped;
	// Replayed the dead letters a replay queued again.
	Dropped, Replayed int
}

// Apply applies one committed log entry. It panics only when the entry
// cannot be decoded: replicas that skipped it would diverge.
func (f *FSM) Apply(l *raft.Log) any {
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("hub: empty log entry at index %d", l.Index))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := &applier{st: f.st, index: l.Index, owned: map[string]*fragment{}, touched: map[string]bool{}, causes: map[string]string{}}
	var err error
	at := l.AppendedAt.UnixMilli() // the leader's clock, replicated in the entry
	if l.AppendedAt.IsZero() {
		at = 0
	}
	a.now = at
	t := CmdType(l.Data[0])
	switch t {
	case CmdSync:
		b := decoded(l, "sync", UnmarshalSync)
		err = a.sync(b)
	case CmdImport:
		im := decoded(l, "import", UnmarshalImport)
		err = a.importBatch(im) // fsm_import.go
	case CmdMerge:
		m := decoded(l, "merge", UnmarshalMerge)
		err = a.steward(m.A, m.B, true, m.Actor, m.Reason)
	case CmdUnmerge:
		u := decoded(l, "unmerge", UnmarshalUnmerge)
		err = a.steward(u.A, u.B, false, u.Actor, u.Reason)
	case CmdReviewAccept, CmdReviewReject:
		r := decoded(l, "review", UnmarshalReview)
		err = a.review(r)
	case CmdModel:
		sm, m, derr := UnmarshalSetModel(l.Data)
		if derr != nil {
			panic(fmt.Sprintf("hub: undecodable model entry at index %d: %v", l.Index, derr))
		}
		a.setModel(sm, m)
	case CmdModelFit:
		e, m, derr := UnmarshalModelFit(l.Data)
		if derr != nil {
			panic(fmt.Sprintf("hub: undecodable model fit entry at index %d: %v", l.Index, derr))
		}
		a.modelFit(e, m) // fsm_modelfit.go
	case CmdDefine:
		d := decoded(l, "define", UnmarshalDefine)
		if d.Kind == KindDestination {
			err = a.defineDest(d)
		} else {
			err = a.define(d)
		}
	case CmdUndefine:
		u := decoded(l, "undefine", UnmarshalUndefine)
		if u.Kind == KindDestination {
			err = a.undefineDest(u.Name)
		} else {
			err = a.undefine(u)
		}
	case CmdDelivered:
		dl := decoded(l, "delivered", UnmarshalDelivered)
		a.delivered(dl)
	case CmdReplay:
		r := decoded(l, "replay", UnmarshalReplay)
		err = a.replay(r)
	case CmdPrivacy:
		p := decoded(l, "privacy", UnmarshalPrivacy)
		err = a.privacyRequest(p)
	case CmdPrivacyDone:
		r := decoded(l, "privacy receipts", UnmarshalEdgeReceipts)
		a.privacyDone(r)
	case CmdShredDone:
		r := decoded(l, "shred receipt", UnmarshalShredReceipt)
		a.shredDone(r)
	case CmdDecommission:
		x := decoded(l, "decommission", UnmarshalDecommission)
		a.decommission(x)
	case CmdAudit:
		e := decoded(l, "audit", UnmarshalAudit)
		a.appendAudit(e)
	case CmdEdgeRegister:
		x := decoded(l, "edge registration", UnmarshalEdgeRegister)
		a.registerEdge(x.Edge)
	case CmdTick:
		tk := decoded(l, "tick", UnmarshalTick)
		at = max(at, tk.At.UnixMilli())
		a.now = at
	default:
		panic(fmt.Sprintf("hub: unknown command type %d at index %d", t, l.Index))
	}
	if err == nil {
		a.advanceClock(at)
		a.deliverGraph()
		a.evaluateAudiences(t)
	}
	f.st.cool(f.hotMax)
	f.compact()
	a.flushFeed()
	a.res.Index = l.Index
	f.st.applied = l.Index
	f.wake()
	a.res.Err = err
	if err == nil {
		a.res.Clusters = a.changedClusters()
	}
	return &a.res
}

// applier carries one Apply's working set.
type applier struct {
	st      *state
	index   uint64
	owned   map[string]*fragment // fragments already replaced by this Apply
	touched map[string]bool      // clusters changed by this Apply
	events  int
	// catalogChanged is set when the command changed the catalog.
	catalogChanged bool
	// causes are the transition causes of clusters a merge or split of
	// this Apply made ("merge", "unmerge").
	causes map[string]string
	res    Result
	probe  fragment // the key of frag's lookups, reused
	// now is the entry's time (AppendedAt, or a tick's), ms; 0 when
	// the entry has none.
	now int64
	// graph are the merges and splits to deliver (fsm_delivery.go).
	graph []graphNote
	// fed are the fragments put by this Apply, whose feed entries
	// flushFeed inserts.
	fed []string
}

func (a *applier) frag(id string) (*fragment, bool) {
	a.probe.id = id
	return a.st.frags.Get(&a.probe)
}

// own returns a private copy of fragment id (creating an empty one) that
// this Apply may change; it is put back in the tree by put. The copy
// shares the old state: replace fr.state (Join), never change it.
func (a *applier) own(id string) *fragment {
	fr, _ := a.owning(id, nil, nil, nil, false)
	return fr
}

// owning is own for a fragment about to take delta d (with d.ID == id),
// encoded as raw: a fragment it creates starts as profile.Adopt(d) —
// New(id).Join(d), sharing d, which must not be changed afterwards —
// instead of empty (d nil), and created reports that it did so. cur,
// when not nil, is the fragment's state as the caller already read it
// in this Apply (fragment.profile), so a cold one is not decoded twice.
// absent says the caller found no fragment id in the tree in this Apply
// (and nothing put one there since), so it is not looked up again.
func (a *applier) owning(id string, cur, d *profile.Profile, raw []byte, absent bool) (fr *fragment, created bool) {
	if fr, ok := a.owned[id]; ok {
		return fr, false
	}
	var old *fragment
	ok := false
	if !absent {
		old, ok = a.frag(id)
	}
	if ok {
		cp := *old
		if cp.state = cur; cur == nil {
			cp.state = old.profile()
		}
		fr = &cp
	} else if d != nil {
		st := profile.Adopt(d)
		fr = &fragment{id: id, state: st, first: st, firstDelta: bytes.Clone(raw), cluster: id}
		created = true
	} else {
		fr = &fragment{id: id, state: profile.New(id), cluster: id}
	}
	a.owned[id] = fr
	a.put(fr)
	return fr, created
}

// put stores fr and moves its feed position to this index. The feed's
// new entries are inserted by flushFeed at the end of the Apply.
func (a *applier) put(fr *fragment) {
	fr.changed = a.index
	if fr.state != nil {
		a.st.hot = append(a.st.hot, hotRef{a.index, fr.id})
	}
	if old, ok := a.st.replace(fr); ok && old.changed != 0 && old.changed != a.index {
		a.st.feed.Delete(feedKey{old.changed, old.id})
	}
	a.fed = append(a.fed, fr.id)
}

// flushFeed inserts the feed entries of the fragments this Apply put,
// (index, ID), in ID order: they all sort after every entry already in
// the feed (an earlier index), so in order each insert walks the
// rightmost path, already in cache — put by put, an import's were a
// descent with string comparisons each, twice per record that joined a
// cluster. Nothing in an Apply reads the feed; it is flushed before the
// Apply returns.
func (a *applier) flushFeed() {
	slices.Sort(a.fed)
	for _, id := range slices.Compact(a.fed) {
		a.st.feed.ReplaceOrInsert(feedKey{a.index, id})
	}
	a.fed = nil
}

// touch moves a fragment's feed position without changing its state
// (its cluster changed).
func (a *applier) touch(id, cluster string) {
	if fr, ok := a.owned[id]; ok {
		fr.cluster = cluster
		return
	}
	old, ok := a.frag(id)
	if !ok {
		return
	}
	cp := *old // the state pointer is shared: it is immutable
	cp.cluster = cluster
	a.put(&cp)
}

func (a *applier) sync(b *SyncBatch) error {
	if b.Edge == "" {
		return fmt.Errorf("%w: sync batch without an edge ID", ErrInvalid)
	}
	deltas := make([]*profile.Profile, len(b.Entries))
	var prev uint64
	for i, e := range b.Entries {
		if e.Seq == 0 || e.Seq <= prev {
			return fmt.Errorf("%w: entry %d: sequence %d after %d; sequences must increase", ErrInvalid, i, e.Seq, prev)
		}
		prev = e.Seq
		switch e.Kind {
		case replication.KindDelta:
			if e.ProfileID == "" {
				return fmt.Errorf("%w: entry %d (seq %d): delta without a profile ID", ErrInvalid, i, e.Seq)
			}
			d, err := profile.Unmarshal(e.Delta)
			if err != nil {
				return fmt.Errorf("%w: entry %d (seq %d): delta: %w", ErrInvalid, i, e.Seq, err)
			}
			if d.ID != e.ProfileID {
				return fmt.Errorf("%w: entry %d (seq %d): delta of profile %s in an entry for %s", ErrInvalid, i, e.Seq, d.ID, e.ProfileID)
			}
			deltas[i] = d
		case replication.KindMerge:
			if e.ProfileID == "" || e.From == "" || e.ProfileID == e.From {
				return fmt.Errorf("%w: entry %d (seq %d): merge needs two different profile IDs", ErrInvalid, i, e.Seq)
			}
		default:
			return fmt.Errorf("%w: entry %d (seq %d): kind %d", ErrInvalid, i, e.Seq, e.Kind)
		}
	}
	if a.st.decommissioned(b.Edge) {
		return fmt.Errorf("%w: edge %s is decommissioned", ErrInvalid, b.Edge)
	}
	last, _ := a.st.edges.Get(edgeSeq{edge: b.Edge})
	start := 0
	for start < len(b.Entries) && b.Entries[start].Seq <= last.seq {
		start++
	}
	a.res.Skipped = start
	if start == len(b.Entries) {
		a.res.Duplicate = true
		a.res.LastSeq = last.seq
		return nil
	}
	// Every edge starts at sequence 1, including one the hub has never
	// seen: a stranger cannot join mid-stream (and an edge whose early
	// entries were lost is told to resend them). A resync may jump
	// ahead: its entries start with the edge's full states, which cover
	// the sequences skipped, and those count as applied from now on.
	if next := b.Entries[start].Seq; next != last.seq+1 && !b.Resync {
		return fmt.Errorf("%w: edge %s sent sequence %d, expected %d", ErrSequenceGap, b.Edge, next, last.seq+1)
	}
	if n := len(b.Entries) - start; len(a.owned) == 0 && len(a.touched) == 0 {
		// Sized for a fragment and a cluster per entry: a batch of new
		// people does not grow them entry by entry.
		a.owned = make(map[string]*fragment, n)
		a.touched = make(map[string]bool, n)
	}
	var changed, arrivals []string
	for i := start; i < len(b.Entries); i++ {
		e := b.Entries[i]
		switch e.Kind {
		case replication.KindDelta:
			if a.st.suppressedDelta(deltas[i]) {
				continue // a suppressed identifier's data is dropped (0040)
			}
			// A new fragment takes the delta's maps as its state's:
			// deltas[i] is this Apply's own decoding and nothing
			// changes it in place.
			fr, created := a.owning(e.ProfileID, nil, deltas[i], e.Delta, false)
			if !created {
				fr.state = fr.state.Join(deltas[i])
			}
			if at, old := a.st.erasedAt(deltas[i], fr.state); old && !fr.state.Erased.Set {
				// A fragment of an erased person, from a replica that
				// had not heard of the erasure: erased on arrival (0040).
				p := fr.state.Clone()
				p.Erase(a.st.priv.salt, crdt.Timestamp{Wall: at, Node: hubReplica})
				fr.state = p
				arrivals = append(arrivals, e.ProfileID)
			}
			a.retain(fr) // fsm_retention.go
			a.touched[fr.cluster] = true
			if _, known := a.st.recs[e.ProfileID]; !known || feedsRecord(deltas[i]) {
				changed = append(changed, e.ProfileID)
			}
		case replication.KindMerge:
			a.reindex(changed)
			changed = changed[:0]
			if a.apart(e.From, e.ProfileID) || a.erasedFrag(e.From) || a.erasedFrag(e.ProfileID) {
				// An erased profile joins nobody: its cluster's view
				// would be cleared.
				// A steward's unmerge stands
				// (docs/decisions/0022-hub-unmerge-on-edges.md).
				continue
			}
			a.decide(e.From, e.ProfileID, true, "edge:"+b.Edge, "edge merge")
		}
	}
	a.reindex(changed)
	if len(arrivals) > 0 {
		arrivals = sortedSet(arrivals)
		a.detach(arrivals)
		a.scrub(arrivals)
	}
	a.st.edges.ReplaceOrInsert(edgeSeq{b.Edge, b.Seq()})
	a.res.Applied = len(b.Entries) - start
	a.res.LastSeq = b.Seq()
	return nil
}

// feedsRecord reports whether joining delta d into a fragment can change
// the fragment's identity record (recordOf reads only identities and
// traits; an erasure clears both). Most deltas are events that carry
// neither, and their fragments skip re-deriving a record that cannot
// have changed.
func feedsRecord(d *profile.Profile) bool {
	return len(d.Traits.M) > 0 || len(d.Identities.Entries) > 0 ||
		len(d.Identities.Ctx.VV) > 0 || len(d.Identities.Ctx.Cloud) > 0 || d.Erased.Set
}

// reindex gives the identity engine the new records of the changed
// fragments (in ID order) whose identity fields changed.
// applySerially makes Apply do on one goroutine what it spreads over
// cores — reindex calls Index.Add record by record, parallelDo loops —
// as it did before: tests compare the two.
var applySerially = false

func (a *applier) reindex(ids []string) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// The records to resolve, in ID order. Resolving one changes no
	// fragment's state nor another's stored fields, so they can all be
	// read first; AddBatch then adds them exactly as Add would one by
	// one (scoring their pairs on all cores), and each is regrouped
	// right after its own Add, as before.
	recs := make([]identity.Record, 0, len(ids))
	packs := make([]string, 0, len(ids))
	olds := make([]string, 0, len(ids))
	knowns := make([]bool, 0, len(ids))
	all := make([]identity.Record, len(ids))
	allPacked := make([]string, len(ids))
	parallelDo(len(ids), func(i int) {
		fr := a.owned[ids[i]]
		all[i], allPacked[i] = recordOf(fr.id, fr.state)
	})
	for i, id := range ids {
		old, known := a.st.recs[id]
		if known && old == allPacked[i] {
			continue
		}
		recs = append(recs, all[i])
		packs = append(packs, allPacked[i])
		olds = append(olds, old)
		knowns = append(knowns, known)
	}
	// The identifier and address indexes follow the records given to the
	// engine; nothing below reads them (Apply never does), so they are
	// updated beside the engine's serial pass, not in it, and done before
	// reindex returns.
	notes := func() {
		ns := make([]identNote, len(recs))
		for i := range recs {
			ns[i] = identNote{recs[i].ID, unpackFields(olds[i]), recs[i].Fields}
		}
		a.st.noteIdentsBatch(ns)
	}
	if applySerially || len(recs) < 64 {
		notes()
	} else {
		defer parallel.Start(1, 1, func(int) { notes() })()
	}
	each := func(i int, d identity.Decision) {
		id := recs[i].ID
		if !knowns[i] && len(d.Moved) == 0 {
			a.st.recs[id] = packs[i]
			a.regroupNew(id)
			return
		}
		// Regrouping an earlier record may have moved this fragment:
		// its cluster is read now, as before its own Add (which does
		// not change it).
		oldCluster := map[string]string{id: ""}
		if knowns[i] {
			oldCluster[id] = a.owned[id].cluster
		}
		a.st.recs[id] = packs[i]
		moved := []string{id}
		for _, m := range d.Moved {
			moved = append(moved, m.RecordID)
		}
		a.regroup(moved, oldCluster, "", "")
	}
	var err error
	if applySerially {
		for i, r := range recs {
			var d identity.Decision
			if d, err = a.st.ix.Add(r); err != nil {
				break
			}
			each(i, d)
		}
	} else {
		_, err = a.st.ix.AddBatch(recs, each)
	}
	if err != nil {
		// recordOf only builds valid records with the fragment's ID.
		panic(fmt.Sprintf("hub: identity engine refused a fragment: %v", err))
	}
}

// ensure makes fragment id exist (empty) in the state and the engine.
func (a *applier) ensure(id string) {
	if _, ok := a.st.recs[id]; ok {
		return
	}
	a.own(id)
	a.reindex([]string{id})
}

// decide records a ruling on (x, y) and re-clusters.
func (a *applier) decide(x, y string, same bool, actor, reason string) {
	a.ensure(x)
	a.ensure(y)
	if y < x {
		x, y = y, x
	}
	flipped := a.setDecision(&decision{a: x, b: y, same: same, index: a.index, actor: actor, reason: reason})
	var moves []identity.Move
	var err error
	if same {
		moves, err = a.st.ix.Accept(x, y)
	} else {
		moves, err = a.st.ix.Reject(x, y)
	}
	if err != nil {
		panic(fmt.Sprintf("hub: identity engine lost fragment %s or %s: %v", x, y, err))
	}
	ids := []string{x, y}
	for _, m := range moves {
		ids = append(ids, m.RecordID)
	}
	a.regroup(ids, nil, actor, reason)
	if flipped {
		a.touchApart(x, y)
	}
}

func (a *applier) steward(x, y string, same bool, actor, reason string) error {
	if x == "" || y == "" || x == y {
		return fmt.Errorf("%w: merge and unmerge need two different profile IDs", ErrInvalid)
	}
	fx, okx := a.frag(x)
	fy, oky := a.frag(y)
	switch {
	case !okx:
		return fmt.Errorf("%w: %s", ErrNotFound, x)
	case !oky:
		return fmt.Errorf("%w: %s", ErrNotFound, y)
	case !same && fx.cluster != fy.cluster:
		return fmt.Errorf("%w: %s and %s", ErrNotMerged, x, y)
	}
	a.decide(x, y, same, actor, reason)
	return nil
}

// review applies a steward's ruling on a pending review pair. The pair
// must be in the engine's review queue now (a pure function of the
// state, so every replica agrees); the check scans the queue, which is
// fine for a steward's command.
func (a *applier) review(r *Review) error {
	if r.A == "" || r.B == "" || r.A == r.B {
		return fmt.Errorf("%w: a review needs two different profile IDs", ErrInvalid)
	}
	x, y := min(r.A, r.B), max(r.A, r.B)
	pending := slices.ContainsFunc(a.st.ix.Reviews(), func(rv identity.Review) bool {
		return min(rv.A, rv.B) == x && max(rv.A, rv.B) == y
	})
	if !pending {
		return fmt.Errorf("%w: no pending review for %s and %s", ErrNotFound, x, y)
	}
	a.decide(x, y, r.Accept, r.Actor, r.Reason)
	return nil
}

// regroup brings the stored cluster assignments up to date with the
// engine after a change that moved the fragments ids, records merge and
// split events and touches every fragment of every changed cluster (so
// the feed carries the recomputed profiles). override gives the previous
// cluster of fragments the state does not know yet ("" = new).
func (a *applier) regroup(ids []string, override map[string]string, actor, reason string) {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	oldOf := func(id string) string {
		if c, ok := override[id]; ok {
			return c
		}
		if fr, ok := a.owned[id]; ok {
			return fr.cluster
		}
		if fr, ok := a.frag(id); ok {
			return fr.cluster
		}
		return ""
	}
	olds := map[string]bool{}
	news := map[string]identity.Cluster{}
	for _, id := range ids {
		if o := oldOf(id); o != "" {
			olds[o] = true
		}
		c, err := a.st.ix.ClusterOf(id)
		if err != nil {
			panic(fmt.Sprintf("hub: identity engine lost fragment %s: %v", id, err))
		}
		news[c.ID] = c
	}
	// Members of old clusters that did not move are in new clusters too.
	for _, o := range crdt.SortedKeys(olds) {
		for _, m := range a.st.clusters[o] {
			if c, err := a.st.ix.ClusterOf(m); err == nil {
				news[c.ID] = c
			}
		}
	}
	newOf := map[string]string{}
	for _, c := range news {
		for _, m := range c.Records {
			newOf[m] = c.ID
		}
	}
	unchanged := true
	for _, cid := range crdt.SortedKeys(news) {
		c := news[cid]
		if !slices.Equal(a.st.clusters[cid], c.Records) {
			unchanged = false
			break
		}
		for _, m := range c.Records {
			if oldOf(m) != cid {
				unchanged = false
			}
		}
	}
	for o := range olds {
		if _, ok := news[o]; !ok {
			unchanged = false
		}
	}
	if unchanged {
		return
	}
	// Merges: links of a new cluster that join members of different old
	// clusters (a new fragment counts as its own old cluster).
	for _, cid := range crdt.SortedKeys(news) {
		c := news[cid]
		group := func(id string) string {
			if o := oldOf(id); o != "" {
				return o
			}
			return "new:" + id
		}
		for _, l := range c.Links {
			if group(l.A) == group(l.B) {
				continue
			}
			ev := &Event{Kind: "merge", Cluster: cid, A: l.A, B: l.B, Rule: l.Rule, Weight: l.Weight}
			for _, id := range l.Identifiers {
				ev.Identifiers = append(ev.Identifiers, id.Key())
			}
			if l.Rule == "steward" {
				if d, ok := a.st.decisions.Get(&decision{a: l.A, b: l.B}); ok {
					ev.Actor, ev.Reason = d.actor, d.reason
					if strings.HasPrefix(d.actor, "edge:") {
						ev.Rule = "edge"
					}
				}
			}
			a.event(ev)
			a.noteMerge(cid, oldOf(l.A), oldOf(l.B))
		}
	}
	// Splits: old clusters whose members now sit in several clusters.
	for _, o := range crdt.SortedKeys(olds) {
		var into []string
		for _, m := range a.st.clusters[o] {
			if n, ok := newOf[m]; ok && !slices.Contains(into, n) {
				into = append(into, n)
			}
		}
		if len(into) < 2 {
			continue
		}
		slices.Sort(into)
		rule := "identity"
		switch {
		case strings.HasPrefix(actor, "edge:"): // an edge's merge re-clustered it
			rule = "edge"
		case actor != "":
			rule = "steward"
		}
		a.event(&Event{Kind: "split", Cluster: o, Clusters: into, Rule: rule, Actor: actor, Reason: reason})
		a.noteSplit(o, into)
	}
	for o := range olds {
		delete(a.st.clusters, o)
		a.touched[o] = true
	}
	for _, cid := range crdt.SortedKeys(news) {
		c := news[cid]
		a.st.clusters[cid] = c.Records
		a.touched[cid] = true
		for _, m := range c.Records {
			a.touch(m, cid)
		}
	}
}

// regroupNew is regroup([id], {id: ""}, "", "") after the engine added
// record id, new to it, and moved no other record: the common case of a
// new person. When id is alone in its cluster no merge or split
// happened, and all regroup would do is store the cluster and touch it;
// otherwise it regroups.
func (a *applier) regroupNew(id string) {
	c, err := a.st.ix.ClusterOf(id)
	if err != nil {
		panic(fmt.Sprintf("hub: identity engine lost fragment %s: %v", id, err))
	}
	if len(c.Records) != 1 || c.Records[0] != id || c.ID != id || len(c.Links) != 0 {
		a.regroup([]string{id}, map[string]string{id: ""}, "", "")
		return
	}
	a.st.clusters[id] = c.Records
	a.touched[id] = true
	a.touch(id, id)
}

func (a *applier) event(ev *Event) {
	ev.Index, ev.N = a.index, a.events
	a.events++
	switch ev.Kind {
	case "merge":
		if a.causes[ev.Cluster] == "" {
			a.causes[ev.Cluster] = CauseMerge
		}
	case "split":
		for _, c := range ev.Clusters {
			a.causes[c] = CauseUnmerge
		}
	}
	a.st.history.ReplaceOrInsert(ev)
	a.st.noteLinked(ev)
}

func (a *applier) changedClusters() []string {
	var out []string
	for c := range a.touched {
		if _, ok := a.st.clusters[c]; ok {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// Snapshot captures the state in O(1): the trees are cloned lazily
// (copy-on-write) and fragments are immutable, so Persist can stream the
// captured state while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock() // Clone writes the trees' copy-on-write marks
	defer f.mu.Unlock()
	st := f.st
	return &snapshot{
		unpin:     f.arena.Pin(),
		frags:     st.frags.Clone(),
		edges:     st.edges.Clone(),
		decisions: st.decisions.Clone(),
		history:   st.history.Clone(),
		applied:   st.applied,
		model:     st.model, // immutable
		defs:      st.defs,  // immutable
		clock:     st.clock,
		lastTrans: st.lastTransition,
		members:   st.members.Clone(),
		transits:  st.transits.Clone(),
		dlv:       st.dlv.clone(),
		priv:      st.priv.clone(),
		fits:      st.fits, // never changed in place
	}, nil
}

// Restore replaces the state with the one rc holds, which Persist wrote.
// It builds the new state completely (identity engine included) and
// checks it before swapping it in; on error the old state stays.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.mu.RLock()
	log := f.log
	f.mu.RUnlock()
	start := time.Now()
	log.Info("hub: restoring a snapshot")
	last := start
	progress := func(done, total int) {
		if now := time.Now(); now.Sub(last) >= restoreLogEvery || done == total {
			last = now
			el := now.Sub(start)
			rate := float64(done) / max(el.Seconds(), 1e-9)
			eta := time.Duration(float64(total-done) / max(rate, 1e-9) * float64(time.Second))
			log.Info("hub: restore resolving fragments", "done", done, "total", total,
				"per_second", int(rate), "elapsed", el.Round(time.Second), "eta", eta.Round(time.Second))
		}
	}
	st, err := readSnapshot(rc, f.arena, progress)
	if err != nil {
		log.Error("hub: snapshot refused", "err", err, "elapsed", time.Since(start).Round(time.Millisecond))
		return err
	}
	log.Info("hub: snapshot restored", "fragments", st.frags.Len(), "applied", st.applied, "elapsed", time.Since(start).Round(time.Millisecond))
	f.mu.Lock()
	old := f.st
	f.st = st
	// A pass in progress walked the old tree; the new one's encodings
	// are all in chunks the pass does not empty.
	f.endPass()
	f.wake()
	f.mu.Unlock()
	old.releaseAll() // readers of the old tree hold pins (snapshots, bootstraps) or are done
	return nil
}

// releaseAll gives the encodings of every fragment in st back to the
// arena: st is being dropped (replaced by Restore, or a restore failed).
func (st *state) releaseAll() {
	if st.arena == nil {
		return
	}
	st.frags.Ascend(func(fr *fragment) bool {
		st.arena.Release(fr.enc)
		return true
	})
}

// decoded decodes the data of log entry l with dec. An entry the hub
// wrote and Raft committed that does not decode is corruption or a
// binary older than the log: applying it differently on some replicas
// would fork the state, so it panics, naming the command (what).
func decoded[T any](l *raft.Log, what string, dec func([]byte) (T, error)) T {
	v, err := dec(l.Data)
	if err != nil {
		panic(fmt.Sprintf("hub: undecodable %s entry at index %d: %v", what, l.Index, err))
	}
	return v
}
