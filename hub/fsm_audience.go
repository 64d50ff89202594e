package hub

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/btree"

	"ucv/crdt"
	"ucv/crdt/codec"
	"ucv/profile"
)

// Audience membership and transitions at the hub
// (docs/decisions/0033-hub-catalog-and-transitions.md).
//
// The FSM keeps, for every cluster, the audiences it is in and the next
// moment its answer can change without a new event, as last evaluated.
// It re-evaluates a cluster whenever a command changes it (sync, merge,
// unmerge, review, model), every cluster when the catalog changes, and
// the clusters due by a tick (CmdTick, proposed by the leader when the
// earliest due moment has passed). Every entry into or exit from an
// audience is recorded once, as a Transition numbered in log order, so
// every node holds the same list and a failover neither repeats nor
// loses one.
//
// Evaluation time is the state machine's clock (state.clock): the latest
// of the entries' AppendedAt (the leader's clock when it appended the
// entry, replicated in the log; hashicorp/raft v1.8 carries it in
// AppendEntries and raft-boltdb stores it) and the ticks' times, never
// moving backwards. It is part of the state, so evaluation stays a
// function of the log.

// Transition causes.
const (
	CauseEvent      = "event"
	CauseDefinition = "definition"
	CauseMerge      = "merge"
	CauseUnmerge    = "unmerge"
	CauseTime       = "time"
)

// Limits of the audience state.
const (
	// MaxTransitions is how many transitions the FSM keeps: beyond it
	// the oldest are dropped, in order. A reader (the activation issue's
	// deliverer) that falls that far behind sees a gap: the first
	// transition it reads has a larger sequence than the one it asked
	// after.
	MaxTransitions = 1_000_000
	// MaxTickClusters bounds the clusters one tick re-evaluates, so one
	// Apply stays short; the rest stay due and the leader ticks again.
	MaxTickClusters = 10_000
)

// Transition is one entry into or exit from an audience.
type Transition struct {
	// Seq numbers transitions from 1 in log order: the cursor of
	// GET /v1/admin/transitions.
	Seq uint64 `json:"seq"`
	// Index is the Raft index of the command that caused it.
	Index uint64 `json:"index"`
	// Profile is the cluster's canonical profile ID.
	Profile  string `json:"profile"`
	Audience string `json:"audience"`
	// Entered is true for an entry, false for an exit.
	Entered bool `json:"entered"`
	// At is the state machine's clock when it happened.
	At time.Time `json:"at"`
	// Cause is one of "event", "definition", "merge", "unmerge", "time".
	Cause string `json:"cause"`
}

// membership is one cluster's audiences as last evaluated. Immutable:
// a change replaces it, so snapshots share it.
type membership struct {
	cluster string
	auds    []string // sorted
	next    int64    // ms; 0: no change without a new event
}

type audMember struct{ audience, cluster string }

type dueKey struct {
	next    int64
	cluster string
}

// audiences is the derived index of the memberships: rebuilt by
// Restore, never snapshotted.
type audIndex struct {
	byAud *btree.BTreeG[audMember] // (audience, cluster)
	sizes map[string]int
	due   *btree.BTreeG[dueKey] // (next, cluster) of memberships with a next
}

func newMembers() *btree.BTreeG[*membership] {
	return btree.NewG(degree, func(a, b *membership) bool { return a.cluster < b.cluster })
}

func newTransitions() *btree.BTreeG[*Transition] {
	return btree.NewG(degree, func(a, b *Transition) bool { return a.Seq < b.Seq })
}

func newAudIndex() *audIndex {
	return &audIndex{
		byAud: btree.NewG(degree, func(a, b audMember) bool {
			return a.audience < b.audience || a.audience == b.audience && a.cluster < b.cluster
		}),
		sizes: map[string]int{},
		due: btree.NewG(degree, func(a, b dueKey) bool {
			return a.next < b.next || a.next == b.next && a.cluster < b.cluster
		}),
	}
}

func (ix *audIndex) add(m *membership) {
	for _, a := range m.auds {
		ix.byAud.ReplaceOrInsert(audMember{a, m.cluster})
		ix.sizes[a]++
	}
	if m.next != 0 {
		ix.due.ReplaceOrInsert(dueKey{m.next, m.cluster})
	}
}

func (ix *audIndex) remove(m *membership) {
	for _, a := range m.auds {
		ix.byAud.Delete(audMember{a, m.cluster})
		if ix.sizes[a]--; ix.sizes[a] <= 0 {
			delete(ix.sizes, a)
		}
	}
	if m.next != 0 {
		ix.due.Delete(dueKey{m.next, m.cluster})
	}
}

// rebuildAudiences derives the index from the memberships.
func (st *state) rebuildAudiences() {
	st.audIx = newAudIndex()
	st.members.Ascend(func(m *membership) bool {
		st.audIx.add(m)
		return true
	})
}

// commandCause is the cause of the transitions a command makes in the
// clusters it changes, unless a merge or split made them.
func commandCause(t CmdType) string {
	switch t {
	case CmdMerge, CmdReviewAccept:
		return CauseMerge
	case CmdUnmerge, CmdReviewReject:
		return CauseUnmerge
	case CmdDefine, CmdUndefine:
		return CauseDefinition
	case CmdTick:
		return CauseTime
	}
	return CauseEvent
}

// advanceClock moves the state machine's clock to ms if that is later.
// The clock starts with the first definition: before it nothing reads
// it, and a snapshot without a catalog has the old format.
func (a *applier) advanceClock(ms int64) {
	if a.st.defs.encoded != nil && ms > a.st.clock {
		a.st.clock = ms
	}
}

// evaluateAudiences brings memberships up to date after a command that
// succeeded: every cluster after a catalog change, the clusters the
// command changed, and on a tick the clusters due by the clock.
func (a *applier) evaluateAudiences(t CmdType) {
	st := a.st
	hasAuds := len(st.defs.cat.Audiences) > 0
	if a.catalogChanged {
		if hasAuds {
			st.frags.Ascend(func(fr *fragment) bool {
				if fr.id == fr.cluster {
					a.reevaluate(fr.id, CauseDefinition)
				}
				return true
			})
		} else {
			var all []string
			st.members.Ascend(func(m *membership) bool {
				all = append(all, m.cluster)
				return true
			})
			for _, c := range all {
				a.setMembership(c, nil, 0, CauseDefinition)
			}
		}
		return
	}
	if !hasAuds {
		return
	}
	def := commandCause(t)
	for _, c := range crdt.SortedKeys(a.touched) {
		if _, ok := st.clusters[c]; !ok {
			// Absorbed by a merge: its memberships end.
			a.setMembership(c, nil, 0, CauseMerge)
			continue
		}
		cause := def
		if cc, ok := a.causes[c]; ok {
			cause = cc
		}
		a.reevaluate(c, cause)
	}
	if t == CmdTick {
		var due []string
		st.audIx.due.Ascend(func(k dueKey) bool {
			if k.next > st.clock || len(due) >= MaxTickClusters {
				return false
			}
			due = append(due, k.cluster)
			return true
		})
		for _, c := range due {
			a.reevaluate(c, CauseTime)
		}
	}
}

// reevaluate evaluates cluster cid at the clock and records what
// changed.
func (a *applier) reevaluate(cid string, cause string) {
	st := a.st
	p := st.clusterProfile(cid)
	if p == nil {
		a.setMembership(cid, nil, 0, CauseMerge)
		return
	}
	r := st.defs.comp.Evaluate(p, time.UnixMilli(st.clock).UTC())
	var next int64
	if !r.Next.IsZero() {
		next = r.Next.UnixMilli()
	}
	a.setMembership(cid, r.Audiences, next, cause)
}

// clusterProfile returns the joined profile of cluster cid (nil when
// there is no such cluster). A single fragment's state is returned as
// is: read it, never change it.
func (st *state) clusterProfile(cid string) *profile.Profile {
	members, ok := st.clusters[cid]
	if !ok {
		return nil
	}
	if len(members) == 1 {
		if fr, ok := st.frags.Get(&fragment{id: cid}); ok {
			return fr.profile()
		}
		return nil
	}
	v, _ := st.view(cid)
	return v.Profile
}

// setMembership makes auds (sorted) and next cluster cid's membership,
// recording a transition for every audience entered or left.
func (a *applier) setMembership(cid string, auds []string, next int64, cause string) {
	st := a.st
	old, had := st.members.Get(&membership{cluster: cid})
	var before []string
	if had {
		before = old.auds
		if slices.Equal(before, auds) && old.next == next {
			return
		}
	} else if len(auds) == 0 && next == 0 {
		return
	}
	at := time.UnixMilli(st.clock).UTC()
	i, j := 0, 0
	for i < len(before) || j < len(auds) {
		switch {
		case j == len(auds) || i < len(before) && before[i] < auds[j]:
			a.transition(cid, before[i], false, at, cause)
			i++
		case i == len(before) || auds[j] < before[i]:
			a.transition(cid, auds[j], true, at, cause)
			j++
		default:
			i++
			j++
		}
	}
	if had {
		st.audIx.remove(old)
		st.members.Delete(old)
	}
	if len(auds) > 0 || next != 0 {
		m := &membership{cluster: cid, auds: slices.Clone(auds), next: next}
		st.members.ReplaceOrInsert(m)
		st.audIx.add(m)
	}
}

func (a *applier) transition(cid, audience string, entered bool, at time.Time, cause string) {
	st := a.st
	st.lastTransition++
	t := &Transition{Seq: st.lastTransition, Index: a.index, Profile: cid, Audience: audience,
		Entered: entered, At: at, Cause: cause}
	st.transits.ReplaceOrInsert(t)
	a.deliverTransition(t)
	for st.transits.Len() > MaxTransitions {
		st.transits.DeleteMin()
	}
}

// Audiences returns the audiences cluster (profile) id is in, sorted, as
// the hub last evaluated them; id may be any fragment of the cluster.
// Safe for concurrent use.
func (f *FSM) Audiences(id string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	cid := id
	if fr, ok := f.st.frags.Get(&fragment{id: id}); ok {
		cid = fr.cluster
	}
	if m, ok := f.st.members.Get(&membership{cluster: cid}); ok {
		return slices.Clone(m.auds)
	}
	return []string{}
}

// AudienceSize returns the number of clusters in audience name (0 for
// an unknown audience), in O(1). Safe for concurrent use.
func (f *FSM) AudienceSize(name string) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.audIx.sizes[name]
}

// AudienceMembers returns up to limit members (cluster IDs) of audience
// name after cursor (a cluster ID; "" for the first page), sorted, and
// whether more follow. Safe for concurrent use.
func (f *FSM) AudienceMembers(name, cursor string, limit int) (ids []string, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ids = []string{}
	f.st.audIx.byAud.AscendGreaterOrEqual(audMember{name, cursor}, func(m audMember) bool {
		if m.audience != name {
			return false
		}
		if m.cluster == cursor {
			return true
		}
		if len(ids) == limit {
			more = true
			return false
		}
		ids = append(ids, m.cluster)
		return true
	})
	return ids, more
}

// Transitions returns up to limit transitions with a sequence after
// after, oldest first. Safe for concurrent use.
func (f *FSM) Transitions(after uint64, limit int) []Transition {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := []Transition{}
	f.st.transits.AscendGreaterOrEqual(&Transition{Seq: after + 1}, func(t *Transition) bool {
		if len(out) == limit {
			return false
		}
		out = append(out, *t)
		return true
	})
	return out
}

// NextDue returns the earliest moment some cluster's membership can
// change without a new event, and false when none can. The leader
// proposes a tick once its clock passes it. Safe for concurrent use.
func (f *FSM) NextDue() (time.Time, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	k, ok := f.st.audIx.due.Min()
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(k.next).UTC(), true
}

// Clock returns the state machine's clock: the time audiences were last
// evaluated at (zero before the first definition). Safe for concurrent
// use.
func (f *FSM) Clock() time.Time {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.clock == 0 {
		return time.Time{}
	}
	return time.UnixMilli(f.st.clock).UTC()
}

// writeAudiences writes the membership and transition records of the
// snapshot and returns their counts.
func (s *snapshot) writeAudiences(enc *codec.Encoder, put func(byte, func() error) bool) (members, transits int) {
	ok := true
	s.members.Ascend(func(m *membership) bool {
		members++
		ok = put(recMember, func() error {
			if err := first(enc.EncodeArrayLen(3), enc.EncodeString(m.cluster), enc.EncodeInt(m.next)); err != nil {
				return err
			}
			return encodeStrings(enc, m.auds)
		})
		return ok
	})
	if !ok {
		return members, transits
	}
	s.transits.Ascend(func(t *Transition) bool {
		transits++
		return put(recTransit, func() error {
			return first(enc.EncodeArrayLen(7), enc.EncodeUint(t.Seq), enc.EncodeUint(t.Index), enc.EncodeString(t.Profile),
				enc.EncodeString(t.Audience), enc.EncodeBool(t.Entered), enc.EncodeInt(t.At.UnixMilli()), enc.EncodeString(t.Cause))
		})
	})
	return members, transits
}

// readMembership decodes a recMember body.
func readMembership(d *codec.Decoder) (*membership, error) {
	if err := d.ExpectArray(3); err != nil {
		return nil, err
	}
	m := &membership{}
	var err1, err2, err3 error
	m.cluster, err1 = d.String()
	m.next, err2 = d.Int()
	m.auds, err3 = decodeStrings(d)
	if err := first(err1, err2, err3); err != nil {
		return nil, err
	}
	if !slices.IsSorted(m.auds) || len(slices.Compact(slices.Clone(m.auds))) != len(m.auds) {
		return nil, fmt.Errorf("membership of %s: audiences not sorted", m.cluster)
	}
	return m, nil
}

// readTransition decodes a recTransit body.
func readTransition(d *codec.Decoder) (*Transition, error) {
	if err := d.ExpectArray(7); err != nil {
		return nil, err
	}
	t := &Transition{}
	var errs [7]error
	var at int64
	t.Seq, errs[0] = d.Uint()
	t.Index, errs[1] = d.Uint()
	t.Profile, errs[2] = d.String()
	t.Audience, errs[3] = d.String()
	t.Entered, errs[4] = d.Bool()
	at, errs[5] = d.Int()
	t.Cause, errs[6] = d.String()
	if err := first(errs[:]...); err != nil {
		return nil, err
	}
	t.At = time.UnixMilli(at).UTC()
	return t, nil
}
