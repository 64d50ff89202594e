package hub_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

var update = flag.Bool("update", false, "rewrite golden files")

// log applies commands to an FSM with consecutive Raft indexes, as Raft
// would, and returns each Result.
type log struct {
	t     tb
	f     *hub.FSM
	index uint64
	// at is the AppendedAt of the entries applied (the leader's clock);
	// zero leaves it unset.
	at time.Time
}

// tb is what log needs of testing.TB and rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
}

func newLog(t tb) *log {
	t.Helper()
	f, err := hub.NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	return &log{t: t, f: f}
}

func (l *log) apply(data []byte, err error) *hub.Result {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
	l.index++
	return l.f.Apply(&raft.Log{Index: l.index, Type: raft.LogCommand, Data: data, AppendedAt: l.at}).(*hub.Result)
}

func (l *log) sync(edge string, es ...replication.Entry) *hub.Result {
	l.t.Helper()
	return l.apply(hub.MarshalSync(&hub.SyncBatch{Edge: edge, Entries: es}))
}

// state returns the snapshot without its applied index: the state.
func (l *log) state() []byte {
	l.t.Helper()
	b := l.snapshot()
	_, n := binary.Uvarint(b[7:])
	return b[7+n:]
}

func (l *log) snapshot() []byte {
	l.t.Helper()
	var b bytes.Buffer
	if err := l.f.WriteSnapshot(&b); err != nil {
		l.t.Fatal(err)
	}
	return b.Bytes()
}

const (
	p1 = "01P1"
	p2 = "01P2"
	p3 = "01P3"
)

// twoStores is the journey: an identify with an e-mail at one
// store, a purchase with the same e-mail under another anonymousId at
// another store.
func twoStores(l *log) {
	l.t.Helper()
	if r := l.sync("edge-a",
		hubtest.Delta(1, 1, hubtest.Event{Profile: p1, Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Anon("anon-1"), hubtest.Email("ann@example.org")},
			Traits: map[string]any{"firstName": "Ann", "plan": "gold"}}),
		hubtest.Delta(1, 2, hubtest.Event{Profile: p1, Name: "Product Viewed"}),
	); r.Err != nil {
		l.t.Fatal(r.Err)
	}
	if r := l.sync("edge-b",
		hubtest.Delta(2, 1, hubtest.Event{Profile: p2, IDs: []profile.Identifier{hubtest.Anon("anon-2"), hubtest.Email("ann@example.org")},
			Name: "Order Completed", Revenue: 20, Traits: map[string]any{"city": "Lyon"}}),
	); r.Err != nil {
		l.t.Fatal(r.Err)
	}
}

func TestSyncMergesBySharedIdentifier(t *testing.T) {
	l := newLog(t)
	twoStores(l)
	v, err := l.f.Profile(p2)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != p1 || !slices.Equal(v.Fragments, []string{p1, p2}) {
		t.Fatalf("Profile(p2) = %s %v, want %s [p1 p2]", v.ID, v.Fragments, p1)
	}
	if got := len(v.Profile.Events()); got != 3 {
		t.Errorf("merged timeline has %d events, want 3", got)
	}
	h := l.f.History(p1)
	if len(h) != 1 || h[0].Kind != "merge" || h[0].Rule != "identifier" || h[0].Index != 2 ||
		!slices.Equal(h[0].Identifiers, []string{"email:ann@example.org"}) {
		t.Fatalf("History = %+v, want one identifier merge at index 2 on the e-mail", h)
	}
}

func TestSyncIdempotentAndStrict(t *testing.T) {
	l := newLog(t)
	edge := hubtest.NewEdge("e", 1)
	e1 := edge.Delta(hubtest.Event{Profile: p1, IDs: []profile.Identifier{hubtest.Anon("a")}, Name: "Order Completed", Revenue: 5})
	e2 := edge.Delta(hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 7})
	if r := l.sync("e", e1, e2); r.Err != nil || r.Applied != 2 || r.LastSeq != 2 {
		t.Fatalf("first push = %+v", r)
	}
	before := l.state()
	cases := []struct {
		name    string
		entries []replication.Entry
		dup     bool
		err     error
	}{
		{"replay", []replication.Entry{e1, e2}, true, nil},
		{"older", []replication.Entry{e1}, true, nil},
		{"gap", []replication.Entry{hubtest.Delta(1, 4, hubtest.Event{Profile: p1})}, false, hub.ErrSequenceGap},
		{"out of order", []replication.Entry{hubtest.Delta(1, 4, hubtest.Event{Profile: p1}), hubtest.Delta(1, 3, hubtest.Event{Profile: p1})}, false, hub.ErrInvalid},
		{"bad delta", []replication.Entry{{Seq: 3, Kind: replication.KindDelta, ProfileID: p1, Delta: []byte{1, 64, 0}}}, false, hub.ErrInvalid},
		{"wrong profile", []replication.Entry{func() replication.Entry {
			e := hubtest.Delta(1, 3, hubtest.Event{Profile: p2})
			e.ProfileID = p1
			return e
		}()}, false, hub.ErrInvalid},
		{"self merge", []replication.Entry{hubtest.MergeEntry(3, p1, p1)}, false, hub.ErrInvalid},
		// An edge the hub has never seen must start at 1.
		{"unknown edge mid-stream", []replication.Entry{hubtest.Delta(2, 5, hubtest.Event{Profile: p2})}, false, hub.ErrSequenceGap},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			edgeID := "e"
			if strings.HasPrefix(c.name, "unknown edge") {
				edgeID = "stranger"
			}
			r := l.sync(edgeID, c.entries...)
			if !errors.Is(r.Err, c.err) || r.Duplicate != c.dup {
				t.Fatalf("push = %+v (err %v), want duplicate %v err %v", r, r.Err, c.dup, c.err)
			}
			if got := l.state(); !bytes.Equal(got, before) {
				t.Fatal("a rejected or replayed batch changed the state")
			}
		})
	}
	if r := l.sync("stranger", hubtest.Delta(2, 5, hubtest.Event{Profile: p2})); !strings.Contains(fmt.Sprint(r.Err), "expected 1") {
		t.Fatalf("unknown edge at 5: %v, want a gap expecting 1", r.Err)
	}
	// A retry that overlaps: the old entry is skipped, the new applied.
	e3 := edge.Delta(hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 11})
	if r := l.sync("e", e2, e3); r.Err != nil || r.Applied != 1 || r.Skipped != 1 {
		t.Fatalf("overlapping push = %+v", r)
	}
	v, _ := l.f.Profile(p1)
	if got := v.Profile.Count("revenue:USD"); got != 2300 {
		t.Errorf("revenue = %d minor units, want 2300 (each order once)", got)
	}
}

func TestUnmergeRestoresBothSides(t *testing.T) {
	l := newLog(t)
	twoStores(l)
	f1, _ := l.f.Fragment(p1)
	f2, _ := l.f.Fragment(p2)
	if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p2, B: p1, Actor: "steward", Reason: "shared family e-mail"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, want := range []*profile.Profile{f1, f2} {
		v, err := l.f.Profile(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.ID != want.ID || len(v.Fragments) != 1 {
			t.Fatalf("after unmerge %s is in %s %v, want alone", want.ID, v.ID, v.Fragments)
		}
		if !v.Profile.Equal(want) {
			t.Errorf("after unmerge %s differs from its fragment: traits %v, counters %v, timeline %d",
				want.ID, v.Profile.Traits.Keys(), v.Profile.Count("orders"), len(v.Profile.Events()))
		}
	}
	h := l.f.History(p1)
	if last := h[len(h)-1]; last.Kind != "split" || last.Rule != "steward" || !slices.Equal(last.Clusters, []string{p1, p2}) {
		t.Fatalf("last event = %+v, want a steward split into p1 and p2", last)
	}
	// More events for p2 stay apart, and a second unmerge is an error.
	l.sync("edge-b", hubtest.Delta(2, 2, hubtest.Event{Profile: p2, IDs: []profile.Identifier{hubtest.Email("ann@example.org")}}))
	if v, _ := l.f.Profile(p2); v.ID != p2 {
		t.Fatalf("p2 merged again into %s after an unmerge", v.ID)
	}
	if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p1, B: p2})); !errors.Is(r.Err, hub.ErrNotMerged) {
		t.Fatalf("second unmerge: %v, want ErrNotMerged", r.Err)
	}
	// A steward merge joins them again.
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p1, B: p2, Actor: "steward"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _ := l.f.Profile(p2); v.ID != p1 {
		t.Fatalf("after a steward merge p2 is in %s, want %s", v.ID, p1)
	}
}

func TestManualMergeAndFeed(t *testing.T) {
	l := newLog(t)
	twoStores(l)                                                                                                         // indexes 1, 2
	l.sync("edge-c", hubtest.Delta(3, 1, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Anon("anon-3")}})) // 3
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p3, B: p2, Actor: "steward", Reason: "same loyalty card"})); r.Err != nil || !slices.Equal(r.Clusters, []string{p1}) {
		t.Fatalf("merge = %+v (%v)", r, r.Err)
	}
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p3, B: "nope"})); !errors.Is(r.Err, hub.ErrNotFound) {
		t.Fatalf("merge with an unknown profile: %v", r.Err)
	}
	items, next := l.f.Feed(0, 100)
	if next != 4 || len(items) != 1 || items[0].ID != p1 || len(items[0].Fragments) != 3 {
		t.Fatalf("Feed(0) = %d items, next %d: %+v", len(items), next, items)
	}
	if items, next2 := l.f.Feed(next, 100); len(items) != 0 || next2 != next {
		t.Fatalf("Feed(%d) = %d items, next %d; want nothing new", next, len(items), next2)
	}
	h := l.f.History(p3)
	if len(h) != 1 || h[0].Rule != "steward" || h[0].Actor != "steward" || h[0].Reason != "same loyalty card" {
		t.Fatalf("History(p3) = %+v", h)
	}
	// The feed explains every fragment merged in (issue 9 §6): p2 by the
	// hub's rules, p3 by the steward, so edges can show who decided.
	by := map[string]string{}
	for _, r := range items[0].Profile.MergeRecords() {
		by[r.From] = r.DecidedBy + "|" + r.Reason
	}
	if by[p2] != "hub:rules|shared identifier" || by[p3] != "steward:steward|same loyalty card" {
		t.Fatalf("merge records in the feed = %v", by)
	}
	if v, _ := l.f.Profile(p1); v.Profile.Merges.Len() != 0 {
		t.Fatalf("the FSM's state view carries %d derived records; they belong to the feed only", v.Profile.Merges.Len())
	}
}

func TestEdgeMergeIsRecorded(t *testing.T) {
	l := newLog(t)
	l.sync("e",
		hubtest.Delta(1, 1, hubtest.Event{Profile: p1, IDs: []profile.Identifier{hubtest.Anon("x")}}),
		hubtest.Delta(1, 2, hubtest.Event{Profile: p2, IDs: []profile.Identifier{hubtest.Anon("y")}}),
		hubtest.MergeEntry(3, p2, p1))
	h := l.f.History(p1)
	if len(h) != 1 || h[0].Rule != "edge" || h[0].Actor != "edge:e" {
		t.Fatalf("History = %+v, want one edge merge", h)
	}
}

func TestSnapshotGoldenAndRestore(t *testing.T) {
	l := newLog(t)
	twoStores(l)
	l.sync("edge-c", hubtest.Delta(3, 1, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Anon("anon-3")}}))
	l.apply(hub.MarshalMerge(&hub.Merge{A: p3, B: p1, Actor: "steward", Reason: "r"}))
	l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p3, B: p1, Actor: "steward", Reason: "undo"}))
	got := l.snapshot()
	r := goldenRestore(t, got, "snapshot.golden", "Golden")
	for _, id := range []string{p1, p2, p3} {
		a, _ := l.f.Profile(id)
		b, _ := r.Profile(id)
		if a.ID != b.ID || !a.Profile.Equal(b.Profile) || !slices.Equal(a.Fragments, b.Fragments) {
			t.Errorf("restored view of %s differs", id)
		}
	}
	// Corrupt or truncated snapshots are refused and keep the old state.
	for _, bad := range [][]byte{nil, got[:len(got)-3], append(slices.Clone(got), 0)} {
		if err := r.Restore(nopCloser{bytes.NewReader(bad)}); !errors.Is(err, hub.ErrMalformed) {
			t.Errorf("Restore(%d bytes) = %v, want ErrMalformed", len(bad), err)
		}
	}
	if v, err := r.Profile(p2); err != nil || v.ID != p1 {
		t.Errorf("a refused restore changed the state: %v %v", v.ID, err)
	}
}

// A snapshot written before profiles carried a ledger (their counters
// per replica) still restores, with the same counts as today's.
// TestHotFragmentsSameSnapshot: however many fragments stay decoded
// between Applies (docs/decisions/0056-hub-encoded-fragments.md), the
// golden scenario's snapshot is byte for byte the golden one, and every
// view the same.
func TestHotFragmentsSameSnapshot(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "snapshot.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var views []hub.View
	for _, hot := range []int{0, 1, 2, hub.DefaultHotFragments} {
		l := newLog(t)
		l.f.SetHotFragments(hot)
		twoStores(l)
		l.sync("edge-c", hubtest.Delta(3, 1, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Anon("anon-3")}}))
		l.apply(hub.MarshalMerge(&hub.Merge{A: p3, B: p1, Actor: "steward", Reason: "r"}))
		l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: p3, B: p1, Actor: "steward", Reason: "undo"}))
		if got := l.snapshot(); !bytes.Equal(got, want) {
			t.Errorf("%d hot fragments: the snapshot differs from snapshot.golden", hot)
		}
		for i, id := range []string{p1, p2, p3} {
			v, err := l.f.Profile(id)
			if err != nil {
				t.Fatal(err)
			}
			if len(views) < 3 {
				views = append(views, v)
				continue
			}
			if w := views[i]; v.ID != w.ID || !slices.Equal(v.Fragments, w.Fragments) || !v.Profile.Equal(w.Profile) {
				t.Errorf("%d hot fragments: the view of %s differs", hot, id)
			}
		}
	}
}

// A restore decodes and resolves the fragments a batch at a time; the
// batch boundaries change nothing: the restored state snapshots to the
// same bytes whatever the batch size, merged clusters split across
// batches included.
func TestRestoreInBatches(t *testing.T) {
	l := newLog(t)
	twoStores(l)
	l.sync("edge-c", hubtest.Delta(3, 1, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Anon("anon-3"), hubtest.Email("ann@example.org")}}))
	want := l.snapshot()
	for _, n := range []int{1, 2, 3, 5000} {
		restore := hub.SetRebuildBatch(n)
		r, err := hub.NewFSM()
		if err != nil {
			t.Fatal(err)
		}
		err = r.Restore(nopCloser{bytes.NewReader(want)})
		restore()
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		var got bytes.Buffer
		if err := r.WriteSnapshot(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("batch %d: the restored state snapshots to other bytes", n)
		}
		if v, err := r.Profile(p3); err != nil || v.ID != p1 || len(v.Fragments) != 3 {
			t.Errorf("batch %d: Profile(p3) = %s %v, %v; want the three fragments under %s", n, v.ID, v.Fragments, err, p1)
		}
	}
}

// Restore logs its start, its progress and its end — counts and times,
// never a profile's values.
func TestRestoreLogsProgress(t *testing.T) {
	l := newLog(t)
	twoStores(l)
	snap := l.snapshot()
	var buf bytes.Buffer
	r, err := hub.NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	r.SetLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	if err := r.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"msg":"hub: restoring a snapshot"`, `"msg":"hub: restore resolving fragments","done":2,"total":2`, `"msg":"hub: snapshot restored","fragments":2`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ann@") || strings.Contains(out, "Ann") {
		t.Errorf("log names the person:\n%s", out)
	}
	buf.Reset()
	if err := r.Restore(nopCloser{bytes.NewReader(snap[:len(snap)-3])}); err == nil {
		t.Fatal("a truncated snapshot restored")
	}
	if !strings.Contains(buf.String(), `"msg":"hub: snapshot refused"`) {
		t.Errorf("a refused snapshot is not logged:\n%s", buf.String())
	}
}

// A snapshot written before fragments still in their first delta's
// state were written as that delta (decision 0070) restores to the same
// profiles and clusters as today's.
func TestSnapshotBeforeAdoptRestores(t *testing.T) {
	a, b, old, cur := restoreGoldens(t, "snapshot_before_adopt.golden")
	if bytes.Equal(old, cur) {
		t.Fatal("the two goldens are equal: the test would not tell the formats apart")
	}
	for _, id := range []string{p1, p2, p3} {
		va, err1 := a.Profile(id)
		vb, err2 := b.Profile(id)
		if err1 != nil || err2 != nil {
			t.Fatalf("Profile(%s): %v, %v", id, err1, err2)
		}
		if va.ID != vb.ID || !slices.Equal(va.Fragments, vb.Fragments) || !va.Profile.Equal(vb.Profile) {
			t.Errorf("%s: the old snapshot restores to another view", id)
		}
	}
	if ca, cb := a.Clusters(), b.Clusters(); !maps.EqualFunc(ca, cb, slices.Equal[[]string]) {
		t.Errorf("clusters differ: %v vs %v", ca, cb)
	}
}

func TestSnapshotBeforeLedgerRestores(t *testing.T) {
	a, b, _, _ := restoreGoldens(t, "snapshot_before_ledger.golden")
	for _, id := range []string{p1, p2, p3} {
		va, err1 := a.Profile(id)
		vb, err2 := b.Profile(id)
		if err1 != nil || err2 != nil {
			t.Fatalf("Profile(%s): %v, %v", id, err1, err2)
		}
		if got, want := va.Profile.Totals(), vb.Profile.Totals(); !maps.Equal(got, want) {
			t.Errorf("%s: counts from the old snapshot %v, want %v", id, got, want)
		}
	}
}

// restoreGoldens restores testdata/old into a and today's
// snapshot.golden into b, and returns both FSMs and both files' bytes.
func restoreGoldens(t *testing.T, old string) (a, b *hub.FSM, oldBytes, cur []byte) {
	t.Helper()
	oldBytes, err := os.ReadFile(filepath.Join("testdata", old))
	if err != nil {
		t.Fatal(err)
	}
	cur, err = os.ReadFile(filepath.Join("testdata", "snapshot.golden"))
	if err != nil {
		t.Fatal(err)
	}
	a, b = newFSM(t), newFSM(t)
	if err := a.Restore(nopCloser{bytes.NewReader(oldBytes)}); err != nil {
		t.Fatalf("Restore(%s): %v", old, err)
	}
	if err := b.Restore(nopCloser{bytes.NewReader(cur)}); err != nil {
		t.Fatal(err)
	}
	return a, b, oldBytes, cur
}

func newFSM(t *testing.T) *hub.FSM {
	t.Helper()
	f, err := hub.NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// goldenRestore compares snapshot bytes got with testdata/name (rewritten
// under -update), restores them into a new FSM, checks that a snapshot of
// the restored FSM has the same bytes, and returns that FSM.
func goldenRestore(t *testing.T, got []byte, name, run string) *hub.FSM {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./hub -run %s -update)", err, run)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("snapshot differs from %s (%d vs %d bytes); if the format changed on purpose, -update", golden, len(got), len(want))
	}
	r, err := hub.NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(nopCloser{bytes.NewReader(want)}); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := r.WriteSnapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), want) {
		t.Fatal("restore then snapshot changed the bytes")
	}
	return r
}

// A snapshot written before profiles kept survivorship candidates (0045)
// restores, re-snapshots to the same bytes, and holds the same profiles
// as today's but for the candidates.
func TestSnapshotBeforeCandidatesRestores(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "snapshot_before_candidates.golden"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(filepath.Join("testdata", "snapshot.golden"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := newFSM(t), newFSM(t)
	if err := a.Restore(nopCloser{bytes.NewReader(old)}); err != nil {
		t.Fatalf("Restore(pre-candidates snapshot): %v", err)
	}
	var again bytes.Buffer
	if err := a.WriteSnapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), old) {
		t.Fatal("the pre-candidates snapshot does not re-encode unchanged")
	}
	if err := b.Restore(nopCloser{bytes.NewReader(cur)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{p1, p2, p3} {
		va, err1 := a.Profile(id)
		vb, err2 := b.Profile(id)
		if err1 != nil || err2 != nil {
			t.Fatalf("Profile(%s): %v, %v", id, err1, err2)
		}
		pa, pb := va.Profile.Clone(), vb.Profile.Clone()
		if pa.Candidates.Len() != 0 {
			t.Errorf("%s: candidates from an old snapshot", id)
		}
		pb.Candidates = pa.Candidates
		if !pa.Equal(pb) {
			t.Errorf("%s: the old snapshot's profile differs from today's beyond the candidates", id)
		}
	}
}
