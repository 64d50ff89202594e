package store

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"ucv/crdt"
	"ucv/profile"
)

// The change stream: what committed transactions did to the profiles
// this edge holds, for live subscribers (the API's /v1/stream). It is in
// memory and bounded — a subscriber that falls further behind than the
// buffer, or reconnects after a restart, is told to start over (Reset)
// — and recording starts with the first subscriber, so an edge nobody
// watches pays nothing (docs/decisions/0035-edge-stream.md).

// Change types.
const (
	ChangeUpdated        = "profile.updated"
	ChangeAudienceEnter  = "audience.entered"
	ChangeAudienceExited = "audience.exited"
)

// Change is one entry of the change stream.
type Change struct {
	// Seq orders the stream; sequences of one process increase by one
	// and start above any earlier process's (they begin at the opening
	// time in ms × 2^20).
	Seq  uint64
	Type string
	// ProfileID is the canonical profile; Version its version after the
	// change.
	ProfileID string
	Version   string
	// Traits are the trait keys the change set or removed
	// (profile.updated), sorted.
	Traits []string
	// Audience is the audience entered or exited.
	Audience string
	// At is when the edge committed the change.
	At time.Time
}

// changeLog is the bounded buffer of recent changes.
type changeLog struct {
	mu     sync.Mutex
	buf    []Change // ring, len == capacity once full
	start  int      // index of the oldest in buf
	next   uint64   // Seq of the next change
	wake   chan struct{}
	active bool // recording (someone subscribed)
}

func newChangeLog(openMs int64) *changeLog {
	return &changeLog{next: uint64(openMs) << 20, wake: make(chan struct{})}
}

func (l *changeLog) recording() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

// add appends changes (Seq set here) and wakes waiters.
func (l *changeLog) add(capacity int, cs []Change) {
	if len(cs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cs {
		c.Seq = l.next
		l.next++
		if len(l.buf) < capacity {
			l.buf = append(l.buf, c)
			continue
		}
		l.buf[l.start] = c
		l.start = (l.start + 1) % len(l.buf)
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

// Changes returns the changes after seq (at most limit), the sequence
// to ask from next time, and a channel closed when more arrive. reset
// is true when seq is not in the buffer any more (or is from another
// process): changes were missed and the caller should re-read what it
// shows, then continue from next. after == 0 means "from now on".
// The first call starts the recording.
func (s *Store) Changes(after uint64, limit int) (cs []Change, next uint64, reset bool, wake <-chan struct{}) {
	l := s.changes
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active = true
	newest := l.next - 1
	if after == 0 {
		return nil, newest, false, l.wake
	}
	oldest := l.next - uint64(len(l.buf))
	if after > newest || after+1 < oldest {
		return nil, newest, true, l.wake
	}
	for i := after + 1 - oldest; i < uint64(len(l.buf)) && len(cs) < limit; i++ {
		cs = append(cs, l.buf[(l.start+int(i))%len(l.buf)])
	}
	next = after + uint64(len(cs))
	return cs, next, false, l.wake
}

// storedAs is what the writer remembers of a profile as it was stored,
// taken when it is loaded (storedAsOf) and recorded by noteLoaded.
type storedAs struct {
	erased bool     // the erased mark (wasErased)
	idents []string // its identifier keys (before: flush updates holders by difference)
	// traits are its trait registers, to tell later which keys a
	// transaction changed; nil unless the change stream records.
	traits map[string]crdt.Register
}

// storedAsOf takes what noteLoaded records of p, as stored; traits
// only with keepTraits (the change stream records: w.stream != nil). It
// reads only p: settle calls it for distinct profiles at once.
func storedAsOf(p *profile.Profile, keepTraits bool) storedAs {
	st := storedAs{erased: p.Erased.Set, idents: p.Identities.Elems()}
	if keepTraits {
		st.traits = make(map[string]crdt.Register, len(p.Traits.M))
		for k, r := range p.Traits.M {
			st.traits[k] = r
		}
	}
	return st
}

// noteLoaded records profile id, loaded as p, in the writer's cache,
// with what it was as stored (storedAsOf).
func (w *writer) noteLoaded(id string, p *profile.Profile, st storedAs) {
	w.cache[id] = p
	if st.erased {
		mark(&w.wasErased, id)
	}
	if w.stream != nil {
		if _, ok := w.stream[id]; !ok {
			w.stream[id] = st.traits
		}
	}
	if _, ok := w.before[id]; !ok {
		w.before[id] = st.idents
	}
}

// streamChanges derives the change stream's entries of the views this
// transaction wrote: profile.updated for profiles whose state changed,
// with the trait keys that changed, and audience.entered/exited from the
// old and new memberships.
func (w *writer) streamChanges(ids []string, oldAud map[string][]byte, newAud map[string][]byte) []Change {
	at := time.UnixMilli(w.nowMs).UTC()
	var out []Change
	for _, id := range ids {
		p := w.cache[id]
		if p == nil {
			continue
		}
		if w.dirty[id] {
			before := w.stream[id]
			var keys []string
			for k, r := range p.Traits.M {
				if o, ok := before[k]; !ok || o.TS != r.TS || !bytes.Equal(o.Val, r.Val) {
					keys = append(keys, k)
				}
			}
			for k := range before {
				if _, ok := p.Traits.M[k]; !ok {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			out = append(out, Change{Type: ChangeUpdated, ProfileID: id, Version: p.Version.String(), Traits: keys, At: at})
		}
		if bytes.Equal(oldAud[id], newAud[id]) {
			continue
		}
		was, now := decodeNames(oldAud[id]), decodeNames(newAud[id])
		for _, a := range was {
			if !slices.Contains(now, a) {
				out = append(out, Change{Type: ChangeAudienceExited, ProfileID: id, Version: p.Version.String(), Audience: a, At: at})
			}
		}
		for _, a := range now {
			if !slices.Contains(was, a) {
				out = append(out, Change{Type: ChangeAudienceEnter, ProfileID: id, Version: p.Version.String(), Audience: a, At: at})
			}
		}
	}
	return out
}
