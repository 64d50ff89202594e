package store

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"ucv/crdt"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// Plain events applied later, on every core (decision 0121).
//
// The applier is ingest's one serial stage, and under /v1/batch it
// bounds throughput while the machine has idle processor time: its
// thread is on a core ~90 % of the time, and the rate is that share
// over its time an event. About a third of that time was the work of
// the profile an event lands on: decoding its stored state, applying
// the event, encoding the event's delta for the outbox — work that
// needs nothing the applier owns once identity resolution has chosen
// the profile.
//
// So a plain event (a track, page or screen) that lands on a stored
// profile is not applied at once — whether or not the writer loaded
// the profile earlier in the transaction (then its state is settled
// where it is, in the cache: a regular's events after their first one
// move off the applier too) — and the writer
// resolves it, links its identifiers, records its messageId, and keeps
// it with the profile's other deferred events (writer.later). Once
// settleAt profiles wait (between the applier's batches), and at the
// commit, they are applied — settled — on every core, each profile's
// decoding, events and deltas on one goroutine (so no core reads
// states another decoded: decoding ahead of the applier, tried four
// times, paid for itself in the applier's cache misses), and the
// results are written back serially in the order the profiles were
// first deferred: the state to the writer's cache, the changes the
// views' evaluation needs, the deltas to the outbox.
//
// Nothing outside the transaction can tell: what it changes is
// published when it commits, and flush settles first. Inside it, every
// reader of a state sees it settled:
//
//   - load settles the profile it is asked for (resolve's limit checks
//     of an event with several identifiers, merges, a peer's delta);
//   - an event that cannot be deferred, and every request of another
//     kind (a peer's changes, the hub's clusters, privacy directives,
//     repairs, refreshes, writes behind such as an outbox trim),
//     settles everything first;
//   - flush settles everything before it writes.
//
// The outbox's order changes only across profiles: a profile's deltas
// keep their order, and any merge is written after the deltas of the
// events before it (the merging event settled them first). Deltas of
// distinct profiles commute (they are CRDT states).

// settleAt is how many profiles with deferred events the applier lets
// wait between its batches: enough to keep both cores busy settling
// them, few enough that a commit does not hold acknowledgements back
// while it settles a whole transaction's.
const settleAt = 4096

// laterEv is an event as ingest applies it (applyTo), kept for its
// profile's settling when it is deferred.
type laterEv struct {
	m     *profile.Message
	link  []profile.Identifier
	src   profile.Source
	stamp crdt.Timestamp
}

// eventOf is ev, linking link, acknowledged at stamp, as applyTo takes it.
func (w *writer) eventOf(ev Event, link []profile.Identifier, stamp crdt.Timestamp) laterEv {
	return laterEv{m: ev.Msg, link: link, stamp: stamp,
		src: profile.Source{Node: w.s.node, Name: ev.Source, Capture: w.cat.Capture}}
}

// applyTo applies e to p with its acknowledgement's stamp while that is
// after everything p holds (else a fresh one: stampFor), and returns
// the delta and what it changed for the views' evaluation. It touches
// only p (and the store's clock): settle runs it for distinct profiles
// at once.
func (w *writer) applyTo(p *profile.Profile, e laterEv) (*profile.Profile, catalog.Change) {
	ts := stampFor(p, e.stamp)
	if ts.IsZero() {
		ts = w.s.clock.Now()
	}
	first, last := p.FirstSeen, p.LastSeen
	d := p.Apply(e.m, e.link, e.src, ts)
	return d, catalog.ChangeOf(d, first, last)
}

// deferrable reports whether m may be deferred once resolve has chosen
// a stored profile for it: a plain event, which changes no profile
// but the one it lands on.
func deferrable(m *profile.Message) bool {
	switch m.Kind {
	case profile.Track, profile.Page, profile.Screen:
		return len(m.Previous) == 0
	}
	return false
}

// deferTo keeps m for profile target's settling (see deferrable; the
// caller checked that target is stored or cached, and not merged away).
func (w *writer) deferTo(target string, e laterEv) {
	if w.later == nil {
		w.later = make(map[string][]laterEv, w.s.sized.profiles)
	}
	evs, ok := w.later[target]
	if !ok {
		w.laterIDs = append(w.laterIDs, target)
	}
	w.later[target] = append(evs, e)
	w.s.deferred.Add(1)
}

// settled is one profile's settling: its stored record, its state
// decoded and with its deferred events applied, and what the writer
// records of it.
type settled struct {
	id     string
	rec    []byte // nil for a profile the writer holds (cached)
	cached bool
	p      *profile.Profile
	stored storedAs
	// changes and deltas are each event's, in order (a nil delta: the
	// event changed nothing).
	changes []catalog.Change
	deltas  [][]byte
	damaged bool
	err     error
}

// settle applies every deferred event (see the top of this file).
func (w *writer) settle() error {
	if len(w.later) == 0 {
		w.laterIDs = w.laterIDs[:0]
		return nil
	}
	ids := make([]string, 0, len(w.later))
	// A profile settled alone (settleOne) and deferred to again is
	// listed twice: once is enough.
	var listed map[string]bool
	if len(w.laterIDs) > len(w.later) {
		listed = make(map[string]bool, len(w.later))
	}
	for _, id := range w.laterIDs {
		if _, ok := w.later[id]; !ok { // settled alone since (settleOne)
			continue
		}
		if listed != nil {
			if listed[id] {
				continue
			}
			listed[id] = true
		}
		ids = append(ids, id)
	}
	w.laterIDs = w.laterIDs[:0]
	return w.settleIDs(ids)
}

// settleOne applies profile id's deferred events, if it has any.
func (w *writer) settleOne(id string) error {
	if _, ok := w.later[id]; !ok {
		return nil
	}
	return w.settleIDs([]string{id})
}

func (w *writer) settleIDs(ids []string) error {
	jobs := make([]settled, len(ids))
	for i, id := range ids {
		j := &jobs[i]
		j.id = id
		if j.p, j.cached = w.cache[id]; j.cached {
			continue // loaded earlier in this transaction: its state is here
		}
		j.rec = w.profiles.Get([]byte(id))
		if j.rec == nil {
			return fmt.Errorf("store: index points to missing profile %s", id)
		}
	}
	keepTraits := w.stream != nil
	work := func(i int) {
		j := &jobs[i]
		if j.cached {
			w.applyLater(j)
			return
		}
		state, err := openProfile([]byte(j.id), j.rec)
		if err != nil {
			j.damaged = true // load's way, on the applier: quarantined
			return
		}
		if j.p, j.err = profile.Unmarshal(state); j.err != nil {
			j.err = fmt.Errorf("store: decode profile %s: %w", j.id, j.err)
			return
		}
		j.stored = storedAsOf(j.p, keepTraits)
		w.applyLater(j)
	}
	spread(len(jobs), work)
	for i := range jobs {
		j := &jobs[i]
		if j.err != nil {
			return j.err
		}
		if j.damaged {
			p, err := w.quarantine(j.id, j.rec)
			if err != nil {
				return err
			}
			j.p = p
			w.applyLater(j)
			if j.err != nil {
				return j.err
			}
		} else if !j.cached {
			w.noteLoaded(j.id, j.p, j.stored) // load's bookkeeping, as stored
		}
		w.dirty[j.id] = true
		for k, ch := range j.changes {
			w.noteChange(j.id, ch)
			if err := w.outboxEncoded(replication.Entry{Kind: replication.KindDelta, ProfileID: j.id, Delta: j.deltas[k]}); err != nil {
				return err
			}
		}
		delete(w.later, j.id)
	}
	return nil
}

// applyLater applies j's deferred events to j.p (applyTo), recording
// each one's change and encoded delta (deltaBytes). It touches only j
// (and the store's clock): settle runs it for distinct profiles at once.
func (w *writer) applyLater(j *settled) {
	evs := w.later[j.id]
	j.changes = make([]catalog.Change, len(evs))
	j.deltas = make([][]byte, len(evs))
	for k, e := range evs {
		var d *profile.Profile
		d, j.changes[k] = w.applyTo(j.p, e)
		if d != nil {
			if j.deltas[k], j.err = w.deltaBytes(d); j.err != nil {
				return
			}
		}
	}
}

// spread runs fn(0) … fn(n-1) on every core, the caller's goroutine
// taking part: each goroutine takes the next chunk of indexes as it is
// free, so none waits on a share fixed in advance while the cores are
// busy elsewhere. It returns when every call has.
func spread(n int, fn func(i int)) {
	const chunk = 16
	var next atomic.Int64
	run := func() {
		for {
			lo := int(next.Add(chunk)) - chunk
			if lo >= n {
				return
			}
			for i := lo; i < min(lo+chunk, n); i++ {
				fn(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n/8+1) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}
