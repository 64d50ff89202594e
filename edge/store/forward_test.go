package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
)

// fwdEvent is a track event of user u with messageId mid, carrying its
// upstream form for the forward outbox.
func fwdEvent(tb testing.TB, u, mid string) Event {
	tb.Helper()
	return fwdBody(tb, fmt.Sprintf(`{"type":"track","userId":%q,"event":"Viewed","messageId":%q,"writeKey":"secret-of-ours"}`, u, mid))
}

// fwdBody is the event of body with its upstream form.
func fwdBody(tb testing.TB, body string) Event {
	tb.Helper()
	e := ev(tb, body)
	b, err := e.Msg.Upstream()
	if err != nil {
		tb.Fatal(err)
	}
	e.Forward = b
	return e
}

func pendingIDs(tb testing.TB, s *Store) []string {
	tb.Helper()
	es, err := s.PendingForward(0, 1<<20, 1<<30)
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		var m struct {
			MessageID string `json:"messageId"`
		}
		if e.Damaged || json.Unmarshal(e.JSON, &m) != nil {
			tb.Fatalf("entry %d does not decode: %+v", e.Seq, e)
		}
		ids = append(ids, m.MessageID)
	}
	return ids
}

// The forward outbox gets each stored event once, in order, in the
// ingest transaction; duplicates and events without Forward add nothing;
// it survives a restart; deletes keep the gauges (Check verifies them).
func TestForwardOutbox(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Ingest(ctx, []Event{fwdEvent(t, "u1", "m1"), fwdEvent(t, "u2", "m2"), fwdEvent(t, "u1", "m1")}); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, `{"type":"track","userId":"u3","event":"Viewed","messageId":"m3"}`) // no Forward
	if _, err := s.Ingest(ctx, []Event{fwdEvent(t, "u1", "m1"), fwdEvent(t, "u4", "m4")}); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(pendingIDs(t, s)), "[m1 m2 m4]"; got != want {
		t.Fatalf("pending = %s, want %s", got, want)
	}
	es, _ := s.PendingForward(0, 10, 1<<20)
	if p, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "u1"}); err != nil || es[0].ProfileID != p {
		t.Errorf("entry profile = %q, want %q (%v)", es[0].ProfileID, p, err)
	}
	var m map[string]any
	if err := json.Unmarshal(es[0].JSON, &m); err != nil {
		t.Fatal(err)
	}
	if _, has := m["writeKey"]; has {
		t.Errorf("upstream form keeps the client's write key: %s", es[0].JSON)
	}
	st, err := s.ForwardStats()
	if err != nil || st.Len != 3 || st.Bytes <= 0 || st.Oldest.IsZero() {
		t.Fatalf("stats = %+v, %v", st, err)
	}

	s = reopen(t, s)
	if n, err := s.DeleteForward([]uint64{es[0].Seq, es[0].Seq, 999}); err != nil || n != 1 {
		t.Fatalf("DeleteForward = %d, %v; want 1", n, err)
	}
	if got, want := fmt.Sprint(pendingIDs(t, s)), "[m2 m4]"; got != want {
		t.Fatalf("after delete and restart pending = %s, want %s", got, want)
	}
	if es, _ := s.PendingForward(es[1].Seq, 10, 1<<20); len(es) != 1 {
		t.Errorf("PendingForward(after) = %d entries, want 1", len(es))
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// PendingForward returns at least one entry, then stops before maxBytes.
func TestPendingForwardBytes(t *testing.T) {
	s := open(t)
	var evs []Event
	for i := range 10 {
		evs = append(evs, fwdEvent(t, fmt.Sprintf("u%d", i), fmt.Sprintf("m%d", i)))
	}
	if _, err := s.Ingest(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	one := len(evs[0].Forward)
	if es, _ := s.PendingForward(0, 100, 1); len(es) != 1 {
		t.Errorf("PendingForward(maxBytes 1) = %d entries, want 1", len(es))
	}
	if es, _ := s.PendingForward(0, 100, 3*one+1); len(es) != 3 {
		t.Errorf("PendingForward(3 events' bytes) = %d entries, want 3", len(es))
	}
	if es, _ := s.PendingForward(0, 4, 1<<20); len(es) != 4 {
		t.Errorf("PendingForward(limit 4) = %d entries, want 4", len(es))
	}
}

// Past MaxForwardBytes each commit evicts the oldest entries and counts
// them; the newest stay, and the gauges stay exact.
func TestForwardCapEvictsOldest(t *testing.T) {
	probe := fwdEvent(t, "u0", "m0")
	rec := int64(len(sealForward(u64(1), 0, "01ARZ3NDEKTSV4RRFFQ69G5FAV", probe.Forward)))
	s := open(t, func(o *Options) { o.MaxForwardBytes = 5*rec + rec/2 })
	for i := range 12 {
		if _, err := s.Ingest(context.Background(), []Event{fwdEvent(t, fmt.Sprintf("u%d", i), fmt.Sprintf("m%02d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := fmt.Sprint(pendingIDs(t, s)), "[m07 m08 m09 m10 m11]"; got != want {
		t.Fatalf("pending = %s, want %s", got, want)
	}
	st, err := s.ForwardStats()
	if err != nil || st.Evicted != 7 || st.Len != 5 {
		t.Fatalf("stats = %+v, %v; want 7 evicted, 5 left", st, err)
	}
}

// PurgeForward removes the events of the profiles it is told to, found
// through redirects (the person merged since), and damaged entries.
func TestPurgeForward(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	anon := fwdBody(t, `{"type":"page","anonymousId":"a1","messageId":"m3"}`)
	both := fwdBody(t, `{"type":"identify","userId":"u1","anonymousId":"a1","messageId":"m4"}`)
	if _, err := s.Ingest(ctx, []Event{fwdEvent(t, "u1", "m1"), fwdEvent(t, "u2", "m2"), anon}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, []Event{both}); err != nil { // merges a1's profile with u1's
		t.Fatal(err)
	}
	victim, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	// Damage one record's JSON in place.
	es, _ := s.PendingForward(0, 10, 1<<20)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketForward)
		v := append([]byte(nil), b.Get(u64(es[1].Seq))...)
		v[len(v)-2] ^= 0xff
		return b.Put(u64(es[1].Seq), v)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err == nil {
		t.Error("Check passed a damaged forward record")
	}
	es, _ = s.PendingForward(0, 10, 1<<20)
	if !es[1].Damaged || es[1].JSON != nil {
		t.Errorf("damaged entry read as %+v", es[1])
	}
	n, err := s.PurgeForward(func(pid string) bool { return pid == victim })
	if err != nil || n != 4 {
		t.Fatalf("PurgeForward = %d, %v; want 4 (three of the victim's, one damaged)", n, err)
	}
	if st, _ := s.ForwardStats(); st.Len != 0 || st.Bytes != 0 {
		t.Errorf("stats after purge = %+v", st)
	}
}
