package hub_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

const day = 24 * time.Hour

// push applies one sync batch of edge e's next entries, one per event.
func (l *log) push(e *hubtest.Edge, evs ...hubtest.Event) *hub.Result {
	l.t.Helper()
	var es []replication.Entry
	for _, ev := range evs {
		es = append(es, e.Delta(ev))
	}
	return l.sync(e.Name, es...)
}

// rlog is the raft entry at index holding cmd, appended at t0.
func rlog(index uint64, cmd []byte) *raft.Log {
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: cmd, AppendedAt: t0}
}

func snapshotOf(t *testing.T, f *hub.FSM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// transitions returns what the FSM recorded, without sequence numbers
// and indexes, as "profile +audience cause" lines.
func transitions(f *hub.FSM, after uint64) []string {
	var out []string
	for _, tr := range f.Transitions(after, 1000) {
		sign := "-"
		if tr.Entered {
			sign = "+"
		}
		out = append(out, fmt.Sprintf("%s %s%s %s", tr.Profile, sign, tr.Audience, tr.Cause))
	}
	return out
}

func lastSeq(f *hub.FSM) uint64 {
	ts := f.Transitions(0, 1<<30)
	if len(ts) == 0 {
		return 0
	}
	return ts[len(ts)-1].Seq
}

func defineAll(t *testing.T, l *log, defs ...[3]string) {
	t.Helper()
	for _, d := range defs {
		if r := l.apply(define(d[0], d[1], d[2])); r.Err != nil {
			t.Fatalf("define %s: %v", d[1], r.Err)
		}
	}
}

var repeatBuyers = [][3]string{
	{catalog.KindComputedTrait, "orders_30d", `{"event":"Order Completed","aggregate":"count","window":"720h"}`},
	{catalog.KindAudience, "buyers", `{"expression":"computed.orders_30d >= 1"}`},
	{catalog.KindAudience, "repeat_buyers", `{"expression":"computed.orders_30d >= 2"}`},
}

// Memberships follow definitions, events and time, and every change is
// one transition with its cause; the audience's size and members agree.
func TestAudienceTransitions(t *testing.T) {
	l := newLog(t)
	l.at = t0
	e := hubtest.NewEdge("e", 1)
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	l.push(e,
		hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 10, IDs: []profile.Identifier{hubtest.Email("a@example.org")}, At: ms(t0.Add(-20 * day))},
		hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 12, At: ms(t0.Add(-2 * day))},
		hubtest.Event{Profile: p2, Name: "Order Completed", Revenue: 5, IDs: []profile.Identifier{hubtest.Email("b@example.org")}, At: ms(t0.Add(-1 * day))},
		hubtest.Event{Profile: p3, Name: "Product Viewed", IDs: []profile.Identifier{hubtest.Email("c@example.org")}, At: ms(t0.Add(-1 * day))},
	)
	defineAll(t, l, repeatBuyers...)
	want := []string{p1 + " +buyers definition", p2 + " +buyers definition", p1 + " +repeat_buyers definition"}
	if got := transitions(l.f, 0); !slices.Equal(got, want) {
		t.Fatalf("transitions after the definitions:\n%q\nwant\n%q", got, want)
	}
	if got := l.f.Audiences(p1); !slices.Equal(got, []string{"buyers", "repeat_buyers"}) {
		t.Errorf("Audiences(p1) = %v", got)
	}
	if n := l.f.AudienceSize("buyers"); n != 2 {
		t.Errorf("size of buyers = %d, want 2", n)
	}
	ids, more := l.f.AudienceMembers("buyers", "", 1)
	if !slices.Equal(ids, []string{p1}) || !more {
		t.Errorf("first page of buyers = %v, %v", ids, more)
	}
	if ids, more = l.f.AudienceMembers("buyers", p1, 1); !slices.Equal(ids, []string{p2}) || more {
		t.Errorf("second page of buyers = %v, %v", ids, more)
	}
	// An event: p3 orders twice.
	seq := lastSeq(l.f)
	l.at = t0.Add(time.Hour)
	l.push(e,
		hubtest.Event{Profile: p3, Name: "Order Completed", Revenue: 1, At: ms(l.at)},
		hubtest.Event{Profile: p3, Name: "Order Completed", Revenue: 2, At: ms(l.at)},
	)
	if got, want := transitions(l.f, seq), []string{p3 + " +buyers event", p3 + " +repeat_buyers event"}; !slices.Equal(got, want) {
		t.Fatalf("transitions after p3's orders: %q, want %q", got, want)
	}
	seq = lastSeq(l.f)
	// Time: p1's older order leaves the window at t0+10d, so p1 leaves
	// repeat_buyers then; nothing is due before.
	due, ok := l.f.NextDue()
	if !ok || !due.Equal(t0.Add(10*day)) {
		t.Fatalf("NextDue = %v, %v; want %v", due, ok, t0.Add(10*day))
	}
	l.at = t0.Add(2 * time.Hour)
	l.apply(hub.MarshalTick(&hub.Tick{At: t0.Add(9 * day)}))
	if got := transitions(l.f, seq); len(got) != 0 {
		t.Fatalf("a tick before anything was due made %q", got)
	}
	l.apply(hub.MarshalTick(&hub.Tick{At: t0.Add(10*day + time.Minute)}))
	if got, want := transitions(l.f, seq), []string{p1 + " -repeat_buyers time"}; !slices.Equal(got, want) {
		t.Fatalf("transitions after ten days: %q, want %q", got, want)
	}
	tr := l.f.Transitions(seq, 1)[0]
	if !tr.At.Equal(t0.Add(10*day+time.Minute)) || tr.Entered {
		t.Errorf("time transition = %+v", tr)
	}
	// The clock never goes back: an entry appended by a leader whose
	// clock is behind is evaluated at the later time.
	seq = lastSeq(l.f)
	l.at = t0
	l.apply(hub.MarshalTick(&hub.Tick{At: t0.Add(40 * day)}))
	got := transitions(l.f, seq)
	want = []string{p1 + " -buyers time", p2 + " -buyers time", p3 + " -buyers time", p3 + " -repeat_buyers time"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("transitions after forty days: %q, want %q", got, want)
	}
	if !l.f.Clock().Equal(t0.Add(40 * day)) {
		t.Errorf("clock = %v", l.f.Clock())
	}
	if _, ok := l.f.NextDue(); ok {
		t.Errorf("something is still due with every order out of the window")
	}
	if n := l.f.AudienceSize("buyers"); n != 0 {
		t.Errorf("size of buyers = %d, want 0", n)
	}
	// Removing an audience ends its memberships.
	seq = lastSeq(l.f)
	l.push(e, hubtest.Event{Profile: p2, Name: "Order Completed", Revenue: 3, At: ms(t0.Add(40 * day))})
	if r := l.apply(undefine(catalog.KindAudience, "repeat_buyers")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := l.apply(undefine(catalog.KindAudience, "buyers")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got, want := transitions(l.f, seq), []string{p2 + " +buyers event", p2 + " -buyers definition"}; !slices.Equal(got, want) {
		t.Fatalf("transitions of the removal: %q, want %q", got, want)
	}
}

// An absorbed cluster's memberships end (cause merge) and the survivor's
// are recomputed; an unmerge recomputes both sides (cause unmerge).
func TestAudienceMergeUnmerge(t *testing.T) {
	l := newLog(t)
	l.at = t0
	e := hubtest.NewEdge("e", 1)
	at := t0.Add(-day).UnixMilli()
	l.push(e,
		hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 10, IDs: []profile.Identifier{hubtest.Email("a@example.org")}, At: at},
		hubtest.Event{Profile: p2, Name: "Order Completed", Revenue: 5, IDs: []profile.Identifier{hubtest.Email("b@example.org")}, At: at},
	)
	defineAll(t, l, repeatBuyers...)
	seq := lastSeq(l.f)
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p1, B: p2, Actor: "steward"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	got, want := transitions(l.f, seq), []string{p1 + " +repeat_buyers merge", p2 + " -buyers merge"}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions of the merge: %q, want %q", got, want)
	}
	if n := l.f.AudienceSize("buyers"); n != 1 {
		t.Errorf("buyers after the merge = %d, want 1", n)
	}
	seq = lastSeq(l.f)
	if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p1, B: p2, Actor: "steward"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	got, want = transitions(l.f, seq), []string{p1 + " -repeat_buyers unmerge", p2 + " +buyers unmerge"}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions of the unmerge: %q, want %q", got, want)
	}
	// An identifier link in a sync batch merges too.
	seq = lastSeq(l.f)
	l.push(e, hubtest.Event{Profile: p3, Name: "Order Completed", Revenue: 1, IDs: []profile.Identifier{hubtest.Email("a@example.org")}, At: at})
	got = transitions(l.f, seq)
	if !slices.Equal(got, []string{p1 + " +repeat_buyers merge"}) {
		t.Fatalf("transitions of an identifier merge: %q", got)
	}
}

// A time-dependent audience enters without an event (days_since), and
// a snapshot with memberships and transitions is golden and restores
// them, its schedule included.
func TestAudienceSnapshotGolden(t *testing.T) {
	l := newLog(t)
	l.at = t0
	e := hubtest.NewEdge("e", 1)
	l.push(e,
		hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 10, IDs: []profile.Identifier{hubtest.Email("a@example.org")}, At: t0.Add(-day).UnixMilli()},
		hubtest.Event{Profile: p2, Name: "Product Viewed", IDs: []profile.Identifier{hubtest.Email("b@example.org")}, At: t0.Add(-25 * day).UnixMilli()},
	)
	defineAll(t, l, append(slices.Clone(repeatBuyers), [3]string{catalog.KindAudience, "lapsed", `{"expression":"days_since(last_seen) > 30"}`})...)
	seq := lastSeq(l.f)
	l.apply(hub.MarshalTick(&hub.Tick{At: t0.Add(6*day + time.Hour)}))
	if got := transitions(l.f, seq); !slices.Equal(got, []string{p2 + " +lapsed time"}) {
		t.Fatalf("after six days: %q, want p2 lapsed", got)
	}
	r := goldenRestore(t, l.snapshot(), "snapshot_audiences.golden", "AudienceSnapshotGolden")
	if d := cmp.Diff(l.f.Transitions(0, 100), r.Transitions(0, 100)); d != "" {
		t.Errorf("restored transitions differ (-want +got):\n%s", d)
	}
	for _, id := range []string{p1, p2} {
		if !slices.Equal(l.f.Audiences(id), r.Audiences(id)) {
			t.Errorf("restored Audiences(%s) = %v, want %v", id, r.Audiences(id), l.f.Audiences(id))
		}
	}
	d1, ok1 := l.f.NextDue()
	d2, ok2 := r.NextDue()
	if !d1.Equal(d2) || ok1 != ok2 || r.AudienceSize("buyers") != 1 || !r.Clock().Equal(l.f.Clock()) {
		t.Errorf("restored schedule %v %v, size %d, clock %v; want %v %v, 1, %v", d2, ok2, r.AudienceSize("buyers"), r.Clock(), d1, ok1, l.f.Clock())
	}
	// The restored FSM goes on as the original does.
	next := must(hub.MarshalTick(&hub.Tick{At: t0.Add(60 * day)}))
	l.at = t0
	l.apply(next, nil)
	r.Apply(rlog(l.index, next))
	if !bytes.Equal(l.snapshot(), snapshotOf(t, r)) {
		t.Error("the restored FSM and the original differ after the same tick")
	}
}
