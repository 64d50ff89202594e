package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"ucv/replication"
)

// Resync appends the full state of every profile and redirect after a
// reserved sequence, in several transactions, records the range, and a
// replica that gets only those entries ends with the same state.
func TestResync(t *testing.T) {
	ctx := context.Background()
	s := open(t, func(o *Options) { o.NoSync = true })
	var evs []Event
	for i := range resyncPage + 100 { // more than one page
		evs = append(evs, ev(t, fmt.Sprintf(`{"type":"track","event":"Viewed","userId":"u%d","messageId":"m%d"}`, i, i)))
	}
	if _, err := s.Ingest(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// Two profiles, then an event linking them: a redirect.
	ingest(t, s, `{"type":"track","event":"Viewed","anonymousId":"a1","messageId":"x1"}`,
		`{"type":"track","event":"Viewed","anonymousId":"a2","messageId":"x2"}`)
	ingest(t, s, `{"type":"identify","anonymousId":"a1","userId":"u0","messageId":"x3","traits":{"plan":"gold"}}`)
	ingest(t, s, `{"type":"identify","anonymousId":"a2","userId":"u0","messageId":"x4"}`)
	// Everything was acknowledged and trimmed.
	last, err := s.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("hub", last); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TrimOutbox(last); err != nil {
		t.Fatal(err)
	}

	rr, err := s.Resync(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Start != last+1 {
		t.Fatalf("Resync started at %d, want %d (just after the outbox)", rr.Start, last+1)
	}
	if got, err := s.LastResync(); err != nil || got != rr {
		t.Fatalf("LastResync = %+v (%v), want %+v", got, err, rr)
	}
	es, err := s.Outbox(rr.Start-1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	redirects := 0
	for _, e := range es {
		if e.Kind == replication.KindMerge {
			redirects++
		}
	}
	if len(es) != st.Profiles+redirects || redirects == 0 || st.OutboxLen != len(es) {
		t.Fatalf("resync wrote %d entries (%d redirects, gauge %d), store has %d profiles", len(es), redirects, st.OutboxLen, st.Profiles)
	}
	if es[0].Seq != rr.Start+1 || es[len(es)-1].Seq != rr.End {
		t.Fatalf("resync entries %d..%d, range %+v", es[0].Seq, es[len(es)-1].Seq, rr)
	}
	b := open(t, func(o *Options) { o.NodeName = "till-2"; o.NoSync = true })
	if _, err := b.ApplyRemote(ctx, es); err != nil {
		t.Fatal(err)
	}
	da, db := s.Digest(), b.Digest()
	if d := da.Diff(&db); len(d) != 0 {
		t.Fatalf("a replica fed only the resync differs in %d digest buckets", len(d))
	}

	// A hub that holds sequences this store never wrote: the outbox
	// sequence moves past them.
	rr2, err := s.Resync(ctx, rr.End+1000)
	if err != nil || rr2.Start != rr.End+1001 {
		t.Fatalf("Resync(after %d) = %+v (%v), want a start at %d", rr.End+1000, rr2, err, rr.End+1001)
	}
	res := ingest(t, s, `{"type":"track","event":"Viewed","userId":"u1","messageId":"y1"}`)
	if res.Stored != 1 {
		t.Fatal("ingest after resync stored nothing")
	}
	if seq, _ := s.LastSeq(); seq <= rr2.End {
		t.Fatalf("entry after the resync has sequence %d, within the range %+v", seq, rr2)
	}

	// Cut short after its first page: that page stays in the outbox,
	// nothing is recorded, and the record survives a reopen.
	before, _ := s.LastSeq()
	if _, err := s.Resync(&cancelAfter{Context: ctx, n: 2}, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Resync cancelled after a page: %v", err)
	}
	if got, _ := s.LastSeq(); got != before+1+resyncPage {
		t.Fatalf("cancelled resync left the outbox at %d, want %d (a reserved sequence and one page)", got, before+1+resyncPage)
	}
	if got, err := s.LastResync(); err != nil || got != rr2 {
		t.Fatalf("LastResync after a cancelled resync = %+v (%v), want %+v", got, err, rr2)
	}
	s = reopen(t, s)
	if got, err := s.LastResync(); err != nil || got != rr2 {
		t.Fatalf("LastResync after reopen = %+v (%v), want %+v", got, err, rr2)
	}
}

// cancelAfter is a context whose Err turns to Canceled after n calls.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}
