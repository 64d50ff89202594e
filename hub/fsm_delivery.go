package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/btree"

	"ucv/crdt"
	"ucv/crdt/codec"
	"ucv/hub/webhook"
	"ucv/profile"
	"ucv/profile/catalog"
)

// The webhook delivery queue (docs/decisions/0036-webhooks.md).
//
// When Apply records a transition, a merge of two known profiles or a
// split, it enqueues one delivery for every destination that wants it
// (event type, audience filter, consent), in destination-name order: a
// pure function of the log, so every node holds the same queue and a
// delivery has the same ID everywhere. The leader's deliverer
// (deliver.go) sends the heads of the queue and records what became of
// each attempt with CmdDelivered; a new leader finds in the queue every
// delivery not yet acknowledged and sends it again, under the same ID.
//
// The queue is ordered by (destination, profile, position): a delivery
// is sent only when it heads its (destination, profile) chain, so a
// receiver never gets a profile's exit before its entry. A delivery that
// fails for good (4xx, or max_attempts attempts) moves to the
// destination's dead-letter list, which releases the chain; CmdReplay
// puts dead letters back at the end of their chains.

// Limits of the delivery queue.
const (
	// MaxPendingPerDestination bounds one destination's queue: beyond
	// it new deliveries are dropped (counted in its "dropped").
	MaxPendingPerDestination = 250_000
	// MaxDeadLetters bounds one destination's dead-letter list: beyond
	// it the oldest are dropped (counted in its "dropped").
	MaxDeadLetters = 100_000
	// MaxIdentities bounds the identities a delivery's body carries.
	MaxIdentities = 100
)

// delivery is one queued (or dead) delivery. Immutable: a change
// replaces it, so snapshots share it.
type delivery struct {
	q        uint64 // position: orders a chain; new on a replay
	id       uint64 // the delivery's ID, stable
	dest     string
	profile  string
	typ      string
	audience string
	at       int64 // ms: when it happened
	enq      int64 // ms: when it was queued
	body     []byte
	attempts int
	next     int64 // ms: not before
	lastErr  string
	failedAt int64 // ms: when it became a dead letter
}

// destEntry is one destination and its counters. Immutable.
type destEntry struct {
	name      string
	def       Destination
	version   uint64
	delivered uint64
	failed    uint64 // dead-lettered, in all
	dropped   uint64
	lastErr   string
	lastErrAt int64
}

type headKey struct {
	dest string
	next int64
	q    uint64
}

type destQ struct {
	dest string
	q    uint64
}

// deliveries is the delivery state (state.dlv).
type deliveries struct {
	dests  map[string]*destEntry
	queue  *btree.BTreeG[*delivery] // (dest, profile, q)
	dead   *btree.BTreeG[*delivery] // (dest, q)
	lastID uint64
	lastQ  uint64

	// Derived, rebuilt by Restore.
	byQ   map[uint64]*delivery
	heads *btree.BTreeG[headKey] // chain heads by (dest, next, q)
	pend  *btree.BTreeG[destQ]   // pending by (dest, q)
	pendN map[string]int
	deadN map[string]int
}

func lessQueue(a, b *delivery) bool {
	if a.dest != b.dest {
		return a.dest < b.dest
	}
	if a.profile != b.profile {
		return a.profile < b.profile
	}
	return a.q < b.q
}

func lessDead(a, b *delivery) bool {
	return a.dest < b.dest || a.dest == b.dest && a.q < b.q
}

func newDeliveries() *deliveries {
	return &deliveries{
		dests: map[string]*destEntry{},
		queue: btree.NewG(degree, lessQueue),
		dead:  btree.NewG(degree, lessDead),
		byQ:   map[uint64]*delivery{},
		heads: btree.NewG(degree, func(a, b headKey) bool {
			if a.dest != b.dest {
				return a.dest < b.dest
			}
			return a.next < b.next || a.next == b.next && a.q < b.q
		}),
		pend:  btree.NewG(degree, func(a, b destQ) bool { return a.dest < b.dest || a.dest == b.dest && a.q < b.q }),
		pendN: map[string]int{},
		deadN: map[string]int{},
	}
}

// active reports whether the delivery state holds anything a snapshot
// must carry.
func (dv *deliveries) active() bool { return len(dv.dests) > 0 || dv.lastQ > 0 }

// chainHead returns the first delivery of d's chain.
func (dv *deliveries) chainHead(dest, prof string) (*delivery, bool) {
	var h *delivery
	dv.queue.AscendGreaterOrEqual(&delivery{dest: dest, profile: prof}, func(x *delivery) bool {
		if x.dest == dest && x.profile == prof {
			h = x
		}
		return false
	})
	return h, h != nil
}

// add queues d (its q is the largest of its chain).
func (dv *deliveries) add(d *delivery) {
	dv.queue.ReplaceOrInsert(d)
	dv.byQ[d.q] = d
	dv.pend.ReplaceOrInsert(destQ{d.dest, d.q})
	dv.pendN[d.dest]++
	if h, _ := dv.chainHead(d.dest, d.profile); h == d {
		dv.heads.ReplaceOrInsert(headKey{d.dest, d.next, d.q})
	}
}

// remove takes d out of the queue and makes the next of its chain a
// head.
func (dv *deliveries) remove(d *delivery) {
	dv.queue.Delete(d)
	delete(dv.byQ, d.q)
	dv.pend.Delete(destQ{d.dest, d.q})
	if dv.pendN[d.dest]--; dv.pendN[d.dest] <= 0 {
		delete(dv.pendN, d.dest)
	}
	if _, was := dv.heads.Delete(headKey{d.dest, d.next, d.q}); was {
		if h, ok := dv.chainHead(d.dest, d.profile); ok {
			dv.heads.ReplaceOrInsert(headKey{h.dest, h.next, h.q})
		}
	}
}

// replace puts n in the place of o (same q).
func (dv *deliveries) replace(o, n *delivery) {
	dv.queue.ReplaceOrInsert(n)
	dv.byQ[n.q] = n
	if _, was := dv.heads.Delete(headKey{o.dest, o.next, o.q}); was {
		dv.heads.ReplaceOrInsert(headKey{n.dest, n.next, n.q})
	}
}

// rebuild derives the indexes from the queue and the dead letters.
func (dv *deliveries) rebuild() {
	var prev *delivery
	dv.queue.Ascend(func(d *delivery) bool {
		dv.byQ[d.q] = d
		dv.pend.ReplaceOrInsert(destQ{d.dest, d.q})
		dv.pendN[d.dest]++
		if prev == nil || prev.dest != d.dest || prev.profile != d.profile {
			dv.heads.ReplaceOrInsert(headKey{d.dest, d.next, d.q})
		}
		prev = d
		return true
	})
	dv.dead.Ascend(func(d *delivery) bool {
		dv.deadN[d.dest]++
		return true
	})
}

// clone returns a copy for a snapshot: the trees copy-on-write, the
// destination map shallow (entries are immutable).
func (dv *deliveries) clone() *deliveries {
	return &deliveries{dests: maps.Clone(dv.dests), queue: dv.queue.Clone(), dead: dv.dead.Clone(), lastID: dv.lastID, lastQ: dv.lastQ}
}

// DeliveryID renders a delivery's ID as the Ucv-Delivery-Id header and
// the body's "id" carry it.
func DeliveryID(id uint64) string { return "dlv_" + strconv.FormatUint(id, 10) }

// ParseDeliveryID reads what DeliveryID wrote.
func ParseDeliveryID(s string) (uint64, bool) {
	n, ok := strings.CutPrefix(s, "dlv_")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(n, 10, 64)
	return id, err == nil && id > 0
}

// WebhookEvent is the JSON body of a webhook request.
type WebhookEvent struct {
	// ID is the delivery's ID (also the Ucv-Delivery-Id header).
	ID   string `json:"id"`
	Type string `json:"type"`
	// At is when it happened: the hub's clock at the transition, merge
	// or split.
	At time.Time `json:"at"`
	// Audience is the audience entered or left (audience events).
	Audience string `json:"audience,omitempty"`
	// Cause is why a transition happened ("event", "definition",
	// "merge", "unmerge", "time").
	Cause   string         `json:"cause,omitempty"`
	Profile WebhookProfile `json:"profile"`
	// MergedFrom are the profile IDs that became Profile.ID
	// (profile.merged); SplitInto the profiles Profile.ID was split
	// into (profile.unmerged).
	MergedFrom []string `json:"merged_from,omitempty"`
	SplitInto  []string `json:"split_into,omitempty"`
	// ProfileIDs are every profile ID of the person erased and Request
	// the privacy request (profile.erased; the body names nothing else).
	ProfileIDs []string `json:"profile_ids,omitempty"`
	Request    string   `json:"request,omitempty"`
}

// WebhookProfile is the person a webhook event is about: the profile ID
// (the hub cluster's) and its identifiers when the event was queued, at
// most MaxIdentities of them (sorted by type, then value).
type WebhookProfile struct {
	ID         string               `json:"id"`
	Identities []profile.Identifier `json:"identities"`
	Truncated  bool                 `json:"identities_truncated,omitempty"`
}

// person returns what a delivery about profile (cluster or fragment) id
// says of it — the identities of the person it belongs to now — and
// whether that person granted a consent category.
func (st *state) person(id string) (WebhookProfile, func(category string) bool) {
	cid := id
	if fr, ok := st.frags.Get(&fragment{id: id}); ok {
		cid = fr.cluster
	}
	out := WebhookProfile{ID: id, Identities: []profile.Identifier{}}
	p := st.clusterProfile(cid)
	if p == nil {
		return out, func(string) bool { return false }
	}
	ids := p.IdentityList()
	if len(ids) > MaxIdentities {
		ids, out.Truncated = ids[:MaxIdentities], true
	}
	for i := range ids {
		// The queued event outlives p, whose strings may share a cold
		// fragment's decoded buffer (0056): copy them out.
		ids[i] = profile.Identifier{Type: profile.IDType(strings.Clone(string(ids[i].Type))), Value: strings.Clone(ids[i].Value)}
	}
	out.Identities = ids
	return out, func(cat string) bool {
		granted, _ := p.ConsentState(cat) // ignoring case; no statement: not granted
		return granted
	}
}

// queue adds event ev for destination name to the delivery queue, with
// the next delivery ID, or counts it dropped when the destination's
// queue is full.
func (a *applier) queue(name string, ev *WebhookEvent, at int64) {
	dv := a.st.dlv
	if dv.pendN[name] >= MaxPendingPerDestination {
		n := *dv.dests[name]
		n.dropped++
		dv.dests[name] = &n
		return
	}
	dv.lastID++
	dv.lastQ++
	ev.ID = DeliveryID(dv.lastID)
	body, err := json.Marshal(ev)
	if err != nil {
		panic(fmt.Sprintf("hub: encode webhook event: %v", err))
	}
	dv.add(&delivery{q: dv.lastQ, id: dv.lastID, dest: name, profile: ev.Profile.ID, typ: ev.Type,
		audience: ev.Audience, at: at, enq: a.now, body: body})
}

// enqueue queues one event for every destination that wants it.
func (a *applier) enqueue(ev WebhookEvent, at int64) {
	dv := a.st.dlv
	if len(dv.dests) == 0 {
		return
	}
	var who *WebhookProfile
	var consented func(string) bool
	for _, name := range crdt.SortedKeys(dv.dests) {
		e := dv.dests[name]
		if !e.def.wants(ev.Type, ev.Audience) {
			continue
		}
		if who == nil {
			p, c := a.st.person(ev.Profile.ID)
			who, consented = &p, c
		}
		if e.def.Consent != "" && !consented(e.def.Consent) {
			continue
		}
		// The consent purposes of the catalog that list the destination
		// (decision 0041): every one must be granted.
		if slices.ContainsFunc(a.st.defs.comp.DestinationPurposes(name), func(c string) bool { return !consented(c) }) {
			continue
		}
		ev.Profile = *who
		a.queue(name, &ev, at)
	}
}

// deliverTransition queues a transition's deliveries.
func (a *applier) deliverTransition(t *Transition) {
	if len(a.st.dlv.dests) == 0 {
		return
	}
	typ := EventExited
	if t.Entered {
		typ = EventEntered
	}
	a.enqueue(WebhookEvent{Type: typ, At: t.At, Audience: t.Audience, Cause: t.Cause, Profile: WebhookProfile{ID: t.Profile}}, t.At.UnixMilli())
}

// graphNote is a merge of known profiles or a split, noted by regroup
// and queued once the command's clusters are final.
type graphNote struct {
	typ     string
	cluster string
	others  []string
}

// noteMerge notes that clusters from (known before this command) became
// cluster.
func (a *applier) noteMerge(cluster string, from ...string) {
	if len(a.st.dlv.dests) == 0 {
		return
	}
	var known []string
	for _, f := range from {
		if f != "" && f != cluster {
			known = append(known, f)
		}
	}
	if len(known) == 0 {
		return
	}
	a.graph = append(a.graph, graphNote{typ: EventMerged, cluster: cluster, others: known})
}

// noteSplit notes that cluster was split into into.
func (a *applier) noteSplit(cluster string, into []string) {
	if len(a.st.dlv.dests) == 0 {
		return
	}
	a.graph = append(a.graph, graphNote{typ: EventUnmerged, cluster: cluster, others: slices.Clone(into)})
}

// deliverGraph queues the merges and splits this command made.
func (a *applier) deliverGraph() {
	at := max(a.st.clock, a.now)
	for _, g := range a.graph {
		ev := WebhookEvent{Type: g.typ, At: time.UnixMilli(at).UTC(), Profile: WebhookProfile{ID: g.cluster}}
		if g.typ == EventMerged {
			ev.MergedFrom = g.others
		} else {
			ev.SplitInto = g.others
		}
		a.enqueue(ev, at)
	}
}

// defineDest applies CmdDefine of a destination.
func (a *applier) defineDest(d *Define) error {
	dest, err := ParseDestination(d.Name, d.Definition)
	if err != nil {
		return definitionErr(err)
	}
	if err := a.st.checkDest(d.Name, &dest); err != nil {
		return definitionErr(err)
	}
	dv := a.st.dlv
	e := &destEntry{name: d.Name}
	if old, ok := dv.dests[d.Name]; ok {
		cp := *old
		e = &cp
	}
	e.def, e.version = dest, a.index
	dv.dests[d.Name] = e
	return nil
}

// checkDest checks d against the state: its audiences exist, the secret
// is given or kept, the number of destinations. It fills in the current
// secret when d has none.
func (st *state) checkDest(name string, d *Destination) error {
	old, exists := st.dlv.dests[name]
	if d.Secret == "" {
		if !exists {
			return destErr(name, "secret", fmt.Sprintf("is required (at least %d bytes)", minSecretBytes))
		}
		d.Secret = old.def.Secret
	}
	for i, aud := range d.Audiences {
		if _, ok := st.defs.cat.Audiences[aud]; !ok {
			return destErr(name, fmt.Sprintf("audiences[%d]", i), fmt.Sprintf("no audience named %q", aud))
		}
	}
	if !exists && len(st.dlv.dests) >= MaxDestinations {
		return &catalog.Error{Kind: KindDestination, Name: name, Field: "name", Message: fmt.Sprintf("the hub holds %d destinations already", MaxDestinations), Conflict: true}
	}
	return nil
}

// undefineDest applies CmdUndefine of a destination: its queue and dead
// letters go with it (Result.Dropped counts the deliveries pending).
func (a *applier) undefineDest(name string) error {
	dv := a.st.dlv
	if _, ok := dv.dests[name]; !ok {
		return definitionErr(catalog.ErrNotFound)
	}
	pending := ofDest(dv.queue, name)
	for _, d := range pending {
		dv.remove(d)
	}
	dead := ofDest(dv.dead, name)
	for _, d := range dead {
		dv.dead.Delete(d)
	}
	delete(dv.deadN, name)
	delete(dv.dests, name)
	a.res.Dropped = len(pending)
	return nil
}

// destsReading returns the destinations whose audience filter names
// audience aud, sorted.
func (st *state) destsReading(aud string) []string {
	var out []string
	for _, name := range crdt.SortedKeys(st.dlv.dests) {
		if slices.Contains(st.dlv.dests[name].def.Audiences, aud) {
			out = append(out, name)
		}
	}
	return out
}

// delivered applies CmdDelivered. Results for deliveries no longer
// queued (a destination deleted meanwhile, a result an old leader
// proposed twice) are skipped.
func (a *applier) delivered(dl *Delivered) {
	dv := a.st.dlv
	for _, r := range dl.Results {
		d, ok := dv.byQ[r.Q]
		if !ok {
			continue
		}
		ent, ok := dv.dests[d.dest]
		if !ok { // cannot happen: removing a destination empties its queue
			continue
		}
		e := *ent
		switch r.Outcome {
		case webhook.Delivered:
			dv.remove(d)
			e.delivered++
		case webhook.Retry:
			e.lastErr, e.lastErrAt = r.Err, a.now
			if d.attempts+1 >= e.def.MaxAttempts {
				a.toDead(&e, d, "gave up after "+strconv.Itoa(d.attempts+1)+" attempts: "+r.Err)
				break
			}
			n := *d
			n.attempts++
			n.next, n.lastErr = r.Next, r.Err
			dv.replace(d, &n)
		case webhook.Failed:
			e.lastErr, e.lastErrAt = r.Err, a.now
			a.toDead(&e, d, r.Err)
		}
		dv.dests[d.dest] = &e
	}
}

// toDead moves d to its destination's dead-letter list.
func (a *applier) toDead(e *destEntry, d *delivery, why string) {
	dv := a.st.dlv
	dv.remove(d)
	n := *d
	n.attempts++
	n.lastErr, n.failedAt, n.next = why, a.now, 0
	if len(n.lastErr) > maxErrBytes {
		n.lastErr = n.lastErr[:maxErrBytes]
	}
	dv.dead.ReplaceOrInsert(&n)
	dv.deadN[d.dest]++
	e.failed++
	if dv.deadN[d.dest] > MaxDeadLetters {
		if old, ok := firstDead(dv, d.dest); ok {
			dv.dead.Delete(old)
			dv.deadN[d.dest]--
			e.dropped++
		}
	}
}

// ofDest returns t's deliveries of destination dest, in t's order (both
// trees sort by destination first).
func ofDest(t *btree.BTreeG[*delivery], dest string) []*delivery {
	var out []*delivery
	t.AscendGreaterOrEqual(&delivery{dest: dest}, func(d *delivery) bool {
		if d.dest != dest {
			return false
		}
		out = append(out, d)
		return true
	})
	return out
}

func firstDead(dv *deliveries, dest string) (*delivery, bool) {
	var out *delivery
	dv.dead.AscendGreaterOrEqual(&delivery{dest: dest}, func(d *delivery) bool {
		if d.dest == dest {
			out = d
		}
		return false
	})
	return out, out != nil
}

// replay applies CmdReplay.
func (a *applier) replay(r *Replay) error {
	dv := a.st.dlv
	if _, ok := dv.dests[r.Dest]; !ok {
		return definitionErr(catalog.ErrNotFound)
	}
	want := map[uint64]bool{}
	for _, id := range r.IDs {
		want[id] = true
	}
	picked := slices.DeleteFunc(ofDest(dv.dead, r.Dest), func(d *delivery) bool { return len(want) > 0 && !want[d.id] })
	for _, d := range picked {
		dv.dead.Delete(d)
		if dv.deadN[d.dest]--; dv.deadN[d.dest] <= 0 {
			delete(dv.deadN, d.dest)
		}
		dv.lastQ++
		n := *d
		n.q, n.attempts, n.next, n.lastErr, n.failedAt = dv.lastQ, 0, 0, "", 0
		dv.add(&n)
	}
	a.res.Replayed = len(picked)
	return nil
}

// Pending is a delivery due to be sent: what the deliverer needs.
type Pending struct {
	// Q is the delivery's position in the queue: DeliveryResult.Q.
	Q uint64
	// ID is the delivery's ID (DeliveryID renders it).
	ID          uint64
	Dest, Type  string
	URL         string
	Secret      []byte
	Body        []byte
	Attempts    int // made so far
	MaxAttempts int
}

// DueDeliveries returns deliveries that head their (destination,
// profile) chain and are due by now, oldest first within a destination,
// at most free(dest) of each destination, leaving out those inflight
// reports (the deliverer's own; free and inflight run under the FSM's
// read lock and must not call the FSM), and the next moment a head not
// yet due becomes due (zero when none). The walk of a destination skips
// only its in-flight heads, so its cost is bounded by what it returns
// plus what is in flight. Body and Secret are shared: do not modify
// them. Safe for concurrent use.
func (f *FSM) DueDeliveries(now time.Time, free func(dest string) int, inflight func(q uint64) bool) (due []Pending, next time.Time) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	dv := f.st.dlv
	ms := now.UnixMilli()
	for name, e := range dv.dests {
		room := free(name)
		if room <= 0 {
			continue
		}
		dv.heads.AscendGreaterOrEqual(headKey{dest: name, next: math.MinInt64}, func(k headKey) bool {
			if k.dest != name {
				return false
			}
			if k.next > ms {
				if t := time.UnixMilli(k.next); next.IsZero() || t.Before(next) {
					next = t
				}
				return false
			}
			if inflight(k.q) {
				return true
			}
			d := dv.byQ[k.q]
			due = append(due, Pending{Q: d.q, ID: d.id, Dest: d.dest, Type: d.typ, URL: e.def.URL, Secret: []byte(e.def.Secret),
				Body: d.body, Attempts: d.attempts, MaxAttempts: e.def.MaxAttempts})
			room--
			return room > 0
		})
	}
	return due, next
}

// PendingDeliveries returns the number of deliveries queued, for every
// destination. Safe for concurrent use.
func (f *FSM) PendingDeliveries() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.st.dlv.byQ)
}

// DestinationStatus is a destination (without its secret) and its
// counters.
type DestinationStatus struct {
	Name string
	// Definition has an empty Secret.
	Definition Destination
	// Version is the Raft index of its last change.
	Version uint64
	// Delivered counts deliveries acknowledged by the receiver; Failed
	// those that went to the dead-letter list (in all); Dropped those
	// dropped for a full queue or list.
	Delivered, Failed, Dropped uint64
	// Pending is the number queued now; DeadLetters the number in the
	// dead-letter list now.
	Pending, DeadLetters int
	// LastError is the last failed attempt's error, at LastErrorAt.
	LastError   string
	LastErrorAt time.Time
	// OldestPending is when the oldest queued delivery was queued (zero
	// when none is).
	OldestPending time.Time
}

func (st *state) destStatus(e *destEntry) DestinationStatus {
	dv := st.dlv
	s := DestinationStatus{Name: e.name, Definition: e.def, Version: e.version, Delivered: e.delivered, Failed: e.failed,
		Dropped: e.dropped, Pending: dv.pendN[e.name], DeadLetters: dv.deadN[e.name], LastError: e.lastErr}
	s.Definition.Secret = ""
	if e.lastErrAt != 0 {
		s.LastErrorAt = time.UnixMilli(e.lastErrAt).UTC()
	}
	dv.pend.AscendGreaterOrEqual(destQ{dest: e.name}, func(k destQ) bool {
		if k.dest == e.name {
			s.OldestPending = time.UnixMilli(dv.byQ[k.q].enq).UTC()
		}
		return false
	})
	return s
}

// Destination returns destination name's status, and false when there
// is none. Safe for concurrent use.
func (f *FSM) Destination(name string) (DestinationStatus, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.dlv.dests[name]
	if !ok {
		return DestinationStatus{}, false
	}
	return f.st.destStatus(e), true
}

// Destinations returns every destination's status, by name. Safe for
// concurrent use.
func (f *FSM) Destinations() []DestinationStatus {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := []DestinationStatus{}
	for _, name := range crdt.SortedKeys(f.st.dlv.dests) {
		out = append(out, f.st.destStatus(f.st.dlv.dests[name]))
	}
	return out
}

// CheckDestination checks d (parsed by ParseDestination) against the
// state this node holds, as the state machine will: the audiences it
// names exist, a secret is given or kept, the limit on destinations. It
// returns a *catalog.Error naming the field. Safe for concurrent use.
func (f *FSM) CheckDestination(name string, d Destination) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.checkDest(name, &d)
}

// DestinationsReading returns the destinations whose audience filter
// names audience aud, sorted. Safe for concurrent use.
func (f *FSM) DestinationsReading(aud string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.destsReading(aud)
}

// DeadLetter is a delivery that failed for good, without its body.
type DeadLetter struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Profile  string    `json:"profile"`
	Audience string    `json:"audience,omitempty"`
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"last_error"`
	FailedAt time.Time `json:"failed_at"`
	// Q is the cursor of the listing.
	Q uint64 `json:"-"`
}

// DeadLetters returns up to limit dead letters of destination name with
// a position after cursor, oldest first, and whether more follow. Safe
// for concurrent use.
func (f *FSM) DeadLetters(name string, cursor uint64, limit int) (out []DeadLetter, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out = []DeadLetter{}
	f.st.dlv.dead.AscendGreaterOrEqual(&delivery{dest: name, q: cursor + 1}, func(d *delivery) bool {
		if d.dest != name {
			return false
		}
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, DeadLetter{ID: DeliveryID(d.id), Type: d.typ, Profile: d.profile, Audience: d.audience,
			At: time.UnixMilli(d.at).UTC(), Attempts: d.attempts, Error: d.lastErr, FailedAt: time.UnixMilli(d.failedAt).UTC(), Q: d.q})
		return true
	})
	return out, more
}

// Snapshot records of the delivery state: one header (last ID and
// position), the destinations by name, the queue by (destination,
// profile, position), the dead letters by (destination, position).

func encodeDelivery(enc *codec.Encoder, d *delivery) error {
	return first(enc.EncodeArrayLen(13), enc.EncodeUint(d.q), enc.EncodeUint(d.id), enc.EncodeString(d.dest),
		enc.EncodeString(d.profile), enc.EncodeString(d.typ), enc.EncodeString(d.audience), enc.EncodeInt(d.at),
		enc.EncodeInt(d.enq), enc.EncodeBytes(d.body), enc.EncodeInt(int64(d.attempts)), enc.EncodeInt(d.next),
		enc.EncodeString(d.lastErr), enc.EncodeInt(d.failedAt))
}

func decodeDelivery(dec *codec.Decoder) (*delivery, error) {
	if err := dec.ExpectArray(13); err != nil {
		return nil, err
	}
	d := &delivery{}
	var errs [13]error
	var attempts int64
	d.q, errs[0] = dec.Uint()
	d.id, errs[1] = dec.Uint()
	d.dest, errs[2] = dec.String()
	d.profile, errs[3] = dec.String()
	d.typ, errs[4] = dec.String()
	d.audience, errs[5] = dec.String()
	d.at, errs[6] = dec.Int()
	d.enq, errs[7] = dec.Int()
	d.body, errs[8] = dec.Bytes()
	attempts, errs[9] = dec.Int()
	d.next, errs[10] = dec.Int()
	d.lastErr, errs[11] = dec.String()
	d.failedAt, errs[12] = dec.Int()
	d.attempts = int(attempts)
	return d, first(errs[:]...)
}

func encodeDest(enc *codec.Encoder, e *destEntry) error {
	def, err := json.Marshal(&e.def)
	if err != nil {
		return err
	}
	return first(enc.EncodeArrayLen(8), enc.EncodeString(e.name), enc.EncodeBytes(def), enc.EncodeUint(e.version),
		enc.EncodeUint(e.delivered), enc.EncodeUint(e.failed), enc.EncodeUint(e.dropped), enc.EncodeString(e.lastErr),
		enc.EncodeInt(e.lastErrAt))
}

func decodeDest(dec *codec.Decoder) (*destEntry, error) {
	if err := dec.ExpectArray(8); err != nil {
		return nil, err
	}
	e := &destEntry{}
	var errs [8]error
	var def []byte
	e.name, errs[0] = dec.String()
	def, errs[1] = dec.Bytes()
	e.version, errs[2] = dec.Uint()
	e.delivered, errs[3] = dec.Uint()
	e.failed, errs[4] = dec.Uint()
	e.dropped, errs[5] = dec.Uint()
	e.lastErr, errs[6] = dec.String()
	e.lastErrAt, errs[7] = dec.Int()
	if err := first(errs[:]...); err != nil {
		return nil, err
	}
	d, err := ParseDestination(e.name, def)
	if err != nil {
		return nil, err
	}
	if d.Secret == "" {
		return nil, errors.New("destination without a secret")
	}
	e.def = d
	return e, nil
}

// writeDeliveries writes the delivery records and returns their counts
// (headers, destinations, queued, dead).
func (s *snapshot) writeDeliveries(enc *codec.Encoder, put func(byte, func() error) bool) (counts [4]int) {
	dv := s.dlv
	if !dv.active() {
		return counts
	}
	counts[0] = 1
	if !put(recDlvState, func() error {
		return first(enc.EncodeArrayLen(2), enc.EncodeUint(dv.lastID), enc.EncodeUint(dv.lastQ))
	}) {
		return counts
	}
	for _, name := range crdt.SortedKeys(dv.dests) {
		counts[1]++
		if !put(recDest, func() error { return encodeDest(enc, dv.dests[name]) }) {
			return counts
		}
	}
	ok := true
	dv.queue.Ascend(func(d *delivery) bool {
		counts[2]++
		ok = put(recDelivery, func() error { return encodeDelivery(enc, d) })
		return ok
	})
	if !ok {
		return counts
	}
	dv.dead.Ascend(func(d *delivery) bool {
		counts[3]++
		return put(recDead, func() error { return encodeDelivery(enc, d) })
	})
	return counts
}
