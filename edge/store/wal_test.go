package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
)

// walEvents parses n track events of user u.
func walEvents(tb testing.TB, from, n int) []Event {
	tb.Helper()
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = ev(tb, fmt.Sprintf(`{"type":"track","userId":"u%d","messageId":"w%d","event":"Order Completed","properties":{"total":12.50,"sku":"s-%d","n":[1,"1",true,null]},"context":{"traits":{"email":"p%d@example.com"}}}`, (from+i)%7, from+i, from+i, from+i))
	}
	return evs
}

// appendRecords appends one record per slice of evs to w, one sync.
func appendRecords(tb testing.TB, w *wal, evs ...[]Event) {
	tb.Helper()
	var buf []byte
	for i, e := range evs {
		b, err := encodeWALEvents(e)
		if err != nil {
			tb.Fatal(err)
		}
		buf = appendWALRecord(buf, appendWALPayload(nil, w.next+uint64(i), b))
	}
	if err := w.append(buf, len(evs)); err != nil {
		tb.Fatal(err)
	}
}

// crash closes w's file without emptying the log, as a killed process
// leaves it.
func crash(w *wal) { w.f.Close() }

func messageIDs(recs []walRecord) []string {
	var out []string
	for _, r := range recs {
		for _, e := range r.evs {
			out = append(out, e.Msg.MessageID)
		}
	}
	return out
}

// TestWALRecordRoundTrip: a record decodes to the events encoded, field
// for field; JSON numbers stay json.Number, strings stay strings.
func TestWALRecordRoundTrip(t *testing.T) {
	evs := walEvents(t, 0, 3)
	evs[1].Forward = []byte(`{"x":1}`)
	evs[2].Msg.SentAt = time.Time{}
	evs[2].Msg.Consent = map[string]bool{"ads": true, "analytics": false}
	b, err := encodeWALEvents(evs)
	if err != nil {
		t.Fatal(err)
	}
	lsn, got, err := decodeWALRecord(appendWALPayload(nil, 42, b))
	if err != nil || lsn != 42 || len(got) != len(evs) {
		t.Fatalf("decode = %d, %d events, %v", lsn, len(got), err)
	}
	for i := range evs {
		w, g := *evs[i].Msg, *got[i].Msg
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(g)
		if !bytes.Equal(wj, gj) || !w.Timestamp.Equal(g.Timestamp) || !w.ReceivedAt.Equal(g.ReceivedAt) || w.SentAt.IsZero() != g.SentAt.IsZero() {
			t.Errorf("event %d:\n got %s\nwant %s", i, gj, wj)
		}
		if got[i].Source != evs[i].Source || !bytes.Equal(got[i].Forward, evs[i].Forward) {
			t.Errorf("event %d: source/forward %q %q", i, got[i].Source, got[i].Forward)
		}
		if _, ok := g.Properties["total"].(json.Number); !ok {
			t.Errorf("event %d: total is %T, want json.Number", i, g.Properties["total"])
		}
		if s, ok := g.Properties["sku"].(string); !ok || s != fmt.Sprintf("s-%d", i) {
			t.Errorf("event %d: sku = %#v", i, g.Properties["sku"])
		}
	}
	// Encoding what was decoded gives the same bytes.
	b2, err := encodeWALEvents(got)
	if err != nil || !bytes.Equal(b, b2) {
		t.Errorf("re-encoding differs (%v)", err)
	}
}

// TestWALAppendReopen: records appended and synced come back, in order,
// when the log is opened again after a crash; those at or below the
// applied position are not returned.
func TestWALAppendReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x.wal")
	w, pending, err := openWAL(dir, 7, 0, false)
	if err != nil || len(pending) != 0 {
		t.Fatalf("open = %d pending, %v", len(pending), err)
	}
	appendRecords(t, w, walEvents(t, 0, 2), walEvents(t, 2, 1))
	appendRecords(t, w, walEvents(t, 3, 3))
	crash(w)
	for applied, want := range map[uint64][]string{
		0: {"w0", "w1", "w2", "w3", "w4", "w5"},
		1: {"w2", "w3", "w4", "w5"},
		2: {"w3", "w4", "w5"},
		3: nil,
	} {
		w, pending, err := openWAL(dir, 7, applied, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := messageIDs(pending); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("past %d: %v, want %v", applied, got, want)
		}
		if len(pending) > 0 && pending[0].lsn != applied+1 {
			t.Errorf("past %d: first position %d", applied, pending[0].lsn)
		}
		if w.next != 4 {
			t.Errorf("next = %d, want 4", w.next)
		}
		crash(w)
	}
	// A log written beside another store is not replayed.
	w, pending, err = openWAL(dir, 8, 0, false)
	if err != nil || len(pending) != 0 {
		t.Fatalf("foreign log: %d pending, %v", len(pending), err)
	}
	crash(w)
	// A data file ahead of its log (the log's records gone) is refused.
	w, _, err = openWAL(dir, 8, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	appendRecords(t, w, walEvents(t, 0, 1), walEvents(t, 1, 1))
	crash(w)
	if _, _, err := openWAL(dir, 8, 5, false); err != nil {
		t.Errorf("log behind the data file: %v, want a fresh log", err)
	}
}

// segPath returns the single segment of dir.
func segPath(tb testing.TB, dir string) string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+walExt))
	if err != nil || len(m) != 1 {
		tb.Fatalf("segments %v, %v", m, err)
	}
	return m[0]
}

// TestWALTornTailIsTruncated: a crash mid-write leaves a partial record
// (never acknowledged); open cuts it off and appends after the last
// valid record.
func TestWALTornTailIsTruncated(t *testing.T) {
	for _, cut := range []int{1, 4, 8, 12, 40} {
		dir := filepath.Join(t.TempDir(), "x.wal")
		w, _, err := openWAL(dir, 7, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		appendRecords(t, w, walEvents(t, 0, 1), walEvents(t, 1, 1))
		good := w.size
		// A third record, torn after cut bytes.
		b, _ := encodeWALEvents(walEvents(t, 2, 1))
		rec := appendWALRecord(nil, appendWALPayload(nil, 3, b))
		if _, err := w.f.WriteAt(rec[:cut], w.size); err != nil {
			t.Fatal(err)
		}
		crash(w)
		w, pending, err := openWAL(dir, 7, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := messageIDs(pending); fmt.Sprint(got) != "[w0 w1]" {
			t.Errorf("cut %d: %v", cut, got)
		}
		if st, _ := os.Stat(segPath(t, dir)); st.Size() != good {
			t.Errorf("cut %d: size %d, want %d", cut, st.Size(), good)
		}
		appendRecords(t, w, walEvents(t, 9, 1))
		crash(w)
		_, pending, err = openWAL(dir, 7, 0, false)
		if err != nil || fmt.Sprint(messageIDs(pending)) != "[w0 w1 w9]" || pending[2].lsn != 3 {
			t.Errorf("cut %d: after append %v, %v", cut, messageIDs(pending), err)
		}
	}
}

// TestWALWritesAhead (decision 0106): appends within a chunk written
// ahead leave the file's length alone; a reopened log appends into the
// zeros it left; the zeros after the last record of an earlier segment
// are room, not damage; and a record larger than a chunk still gets
// zeros after it.
func TestWALWritesAhead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x.wal")
	w, _, err := openWAL(dir, 7, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	appendRecords(t, w, walEvents(t, 0, 1))
	seg := segPath(t, dir)
	size := func() int64 {
		st, err := os.Stat(seg)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	if got := size(); got != walChunk || w.alloc != walChunk {
		t.Fatalf("after one record: file %d, alloc %d, want %d", got, w.alloc, walChunk)
	}
	appendRecords(t, w, walEvents(t, 1, 3), walEvents(t, 4, 1))
	if got := size(); got != walChunk {
		t.Errorf("appends within the chunk changed the length to %d", got)
	}
	at := w.size
	crash(w)
	w, pending, err := openWAL(dir, 7, 0, false)
	if err != nil || fmt.Sprint(messageIDs(pending)) != "[w0 w1 w2 w3 w4]" {
		t.Fatalf("reopen: %v, %v", messageIDs(pending), err)
	}
	if w.size != at || w.alloc != walChunk || size() != walChunk {
		t.Errorf("reopen: size %d alloc %d file %d, want %d, %d, %d", w.size, w.alloc, size(), at, walChunk, walChunk)
	}
	appendRecords(t, w, walEvents(t, 5, 1))
	if err := w.newSegment(); err != nil {
		t.Fatal(err)
	}
	// A record longer than a chunk: zeros still follow it.
	big := walEvents(t, 6, 1)
	big[0].Msg.Properties = map[string]any{"blob": strings.Repeat("x", walChunk+100)}
	appendRecords(t, w, big)
	if w.alloc <= w.size || w.alloc%walChunk != 0 {
		t.Errorf("after a record of a chunk and more: size %d alloc %d", w.size, w.alloc)
	}
	crash(w)
	w, pending, err = openWAL(dir, 7, 0, false)
	if err != nil || fmt.Sprint(messageIDs(pending)) != "[w0 w1 w2 w3 w4 w5 w6]" {
		t.Fatalf("two segments, zeros after each: %v, %v", messageIDs(pending), err)
	}
	crash(w)
}

// TestWALUnwrittenHeader: a power loss can leave the segment a roll
// created with its header unwritten (zeros). As the last segment it
// holds nothing: it is removed and the records before it are replayed
// (moving the whole log aside as another store's would drop them); as
// an earlier segment it is damage.
func TestWALUnwrittenHeader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x.wal")
	w, _, err := openWAL(dir, 7, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	appendRecords(t, w, walEvents(t, 0, 1), walEvents(t, 1, 1))
	if err := w.newSegment(); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, walSegName(w.next))
	crash(w)
	if err := os.WriteFile(torn, make([]byte, walHeaderLen), 0o600); err != nil {
		t.Fatal(err)
	}
	w, pending, err := openWAL(dir, 7, 0, false)
	if err != nil || fmt.Sprint(messageIDs(pending)) != "[w0 w1]" {
		t.Fatalf("a last segment without its header: %v, %v; want [w0 w1] replayed", messageIDs(pending), err)
	}
	if aside, _ := filepath.Glob(dir + ".orphan-*"); len(aside) != 0 {
		t.Errorf("the log was moved aside: %v", aside)
	}
	if err := w.newSegment(); err != nil { // the roll again, written whole this time
		t.Fatal(err)
	}
	appendRecords(t, w, walEvents(t, 2, 1))
	crash(w)
	_, pending, err = openWAL(dir, 7, 0, false)
	if err != nil || fmt.Sprint(messageIDs(pending)) != "[w0 w1 w2]" || pending[2].lsn != 3 {
		t.Fatalf("appended after: %v, %v", messageIDs(pending), err)
	}
	// The same zeros in the first of two segments: damage.
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+walExt))
	if len(segs) != 2 {
		t.Fatalf("segments %v, want 2", segs)
	}
	b, _ := os.ReadFile(segs[0])
	copy(b, make([]byte, walHeaderLen))
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openWAL(dir, 7, 0, false); !errors.Is(err, ErrDamaged) {
		t.Errorf("an earlier segment without its header: %v, want ErrDamaged", err)
	}
}

// TestWALOpenDecodesOnlyPending: at open, a record the data file has
// applied is read for its position only — one whose events do not decode
// under a good checksum does not end the log there, and the records
// after it are returned — while such a record past the applied position
// still ends the valid log (and is cut off with what follows it).
func TestWALOpenDecodesOnlyPending(t *testing.T) {
	for _, tc := range []struct {
		applied uint64
		want    string
	}{
		{applied: 2, want: "[w2]"}, // record 2 applied: only its position is read
		{applied: 1, want: "[]"},   // record 2 pending: it does not decode, the log ends before it
	} {
		dir := filepath.Join(t.TempDir(), "x.wal")
		w, _, err := openWAL(dir, 7, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		appendRecords(t, w, walEvents(t, 0, 1))
		// Record 2: a good position and checksum, and a string where
		// its events belong.
		if err := w.append(appendWALRecord(nil, appendWALPayload(nil, 2, []byte{0xa1, 'x'})), 1); err != nil {
			t.Fatal(err)
		}
		appendRecords(t, w, walEvents(t, 2, 1))
		crash(w)
		w, pending, err := openWAL(dir, 7, tc.applied, false)
		if err != nil {
			t.Fatalf("applied %d: %v", tc.applied, err)
		}
		if got := fmt.Sprint(messageIDs(pending)); got != tc.want {
			t.Errorf("applied %d: pending %s, want %s", tc.applied, got, tc.want)
		}
		crash(w)
	}
}

// TestWALCorruptRecord: a record failing its CRC ends the valid log in
// the last segment (truncated there); in an earlier segment it is
// damage open refuses, since later records were acknowledged.
func TestWALCorruptRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x.wal")
	w, _, err := openWAL(dir, 7, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	appendRecords(t, w, walEvents(t, 0, 1), walEvents(t, 1, 1), walEvents(t, 2, 1))
	crash(w)
	seg := segPath(t, dir)
	b, _ := os.ReadFile(seg)
	_, valid := scanWALSegment(b, 0)
	if int64(valid) != w.size || !allZero(b[valid:]) {
		t.Fatalf("valid prefix %d of %d, want %d and zeros after it", valid, len(b), w.size)
	}
	// Flip a byte in the second record's payload.
	n0 := int(binary.LittleEndian.Uint32(b[walHeaderLen:]))
	off := walHeaderLen + walRecHeader + n0 + walRecHeader + 5
	b[off] ^= 0x10
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w, pending, err := openWAL(dir, 7, 0, false)
	if err != nil || fmt.Sprint(messageIDs(pending)) != "[w0]" {
		t.Fatalf("corrupt second record: %v, %v", messageIDs(pending), err)
	}
	// Roll to a second segment, then damage the first.
	appendRecords(t, w, walEvents(t, 5, 1))
	if err := w.newSegment(); err != nil {
		t.Fatal(err)
	}
	appendRecords(t, w, walEvents(t, 6, 1))
	crash(w)
	b, _ = os.ReadFile(seg)
	_, valid = scanWALSegment(b, 0)
	b[valid-3] ^= 1 // in the first segment's last record
	os.WriteFile(seg, b, 0o600)
	if _, _, err := openWAL(dir, 7, 0, false); !errors.Is(err, ErrDamaged) {
		t.Errorf("damage before a later segment: %v, want ErrDamaged", err)
	}
}

// TestRecoveryReplaysPastAppliedPosition: events acknowledged while the
// applier is held are in the log only; a copy of the data file and log
// taken then (a crash between the log's fsync and the bbolt commit)
// opens with every event applied, the ones applied before the hold not
// replayed (no duplicates counted), and the applied position advanced.
func TestRecoveryReplaysPastAppliedPosition(t *testing.T) {
	var held sync.Mutex
	hold := make(chan struct{})
	var holding bool
	s := open(t, func(o *Options) {
		o.applyHook = func() {
			held.Lock()
			h := holding
			held.Unlock()
			if h {
				<-hold
			}
		}
	})
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.Ingest(ctx, walEvents(t, i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	applied := s.appliedPos.Load()
	held.Lock()
	holding = true
	held.Unlock()
	for i := 5; i < 12; i++ {
		if err := s.Append(ctx, walEvents(t, i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: copy the data file (bbolt's consistent copy) and the log.
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "edge.db")
	if err := s.view(func(tx *bolt.Tx) error { return tx.CopyFile(copyPath, 0o600) }); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(copyPath+".wal", 0o700); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(s.opts.Path+".wal", "*"+walExt))
	for _, p := range segs {
		copyTo(t, p, filepath.Join(copyPath+".wal", filepath.Base(p)))
	}
	close(hold)
	o := s.opts
	o.Path, o.applyHook = copyPath, nil
	s2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(ctx)
	if got := s2.appliedPos.Load(); got != applied+7 {
		t.Errorf("applied position after replay %d, want %d", got, applied+7)
	}
	st, err := s2.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Duplicates != 0 || st.Ingested[profile.Track] != 7 {
		t.Errorf("replay: %d duplicates, %d stored; want 0, 7", st.Duplicates, st.Ingested[profile.Track])
	}
	for u := range 7 {
		_, m := lookup(t, s2, profile.UserID, fmt.Sprintf("u%d", u))
		if n := m["computed"].(map[string]any)["order_count"]; n == float64(0) {
			t.Errorf("u%d: no orders", u)
		}
	}
	if err := s2.Check(); err != nil {
		t.Error(err)
	}
	// A clean close leaves an empty log.
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(copyPath+".wal", "*"+walExt)); len(m) != 0 {
		t.Errorf("segments after a clean close: %v", m)
	}
}

func copyTo(tb testing.TB, from, to string) {
	tb.Helper()
	in, err := os.Open(from)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
}

// TestReadYourWrites: with the applier slowed down, every lookup that
// starts after Append returned finds the event, under concurrent
// writers — from memory, and from the file when memory holds no views.
func TestReadYourWrites(t *testing.T) {
	for _, c := range []struct {
		name string
		mem  int64
	}{{"views in memory", 0}, {"views in the file", -1}} {
		t.Run(c.name, func(t *testing.T) { testReadYourWrites(t, c.mem) })
	}
}

func testReadYourWrites(t *testing.T, viewMemory int64) {
	s := openSlowApplier(t, 200*time.Microsecond, func(o *Options) { o.ViewMemoryBytes = viewMemory })
	ctx := context.Background()
	concurrently(4, func(w int) {
		for i := range 40 {
			user := fmt.Sprintf("ryw-%d-%d", w, i)
			e := ev(t, fmt.Sprintf(`{"type":"identify","userId":%q,"messageId":"m-%s","traits":{"plan":"p%d"}}`, user, user, i))
			if err := s.Append(ctx, []Event{e}); err != nil {
				t.Error(err)
				return
			}
			id := profile.Identifier{Type: profile.UserID, Value: user}
			if _, err := s.LookupIdentifier(id); err != nil {
				t.Errorf("lookup after Append: %v", err)
			}
			if _, err := s.ResolveIdentifier(id); err != nil {
				t.Errorf("resolve after Append: %v", err)
			}
		}
	})
	st, _ := s.Stats()
	if st.Ingested[profile.Identify] != 160 {
		t.Errorf("%d identifies applied, want 160", st.Ingested[profile.Identify])
	}
}

// FuzzWALRecord: the record decoder and the segment scanner never panic
// on arbitrary bytes, and what decodes encodes again.
func FuzzWALRecord(f *testing.F) {
	b, err := encodeWALEvents(walEvents(f, 0, 2))
	if err != nil {
		f.Fatal(err)
	}
	p := appendWALPayload(nil, 1, b)
	f.Add(p)
	f.Add(append([]byte(walMagic+"\x07\x00\x00\x00\x00\x00\x00\x00"), appendWALRecord(nil, p)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		scanWALSegment(b, 0)
		scanWALSegment(b, 1)
		_, evs, err := decodeWALRecord(b)
		if err != nil {
			return
		}
		if _, err := encodeWALEvents(evs); err != nil {
			t.Errorf("decoded record does not encode: %v", err)
		}
	})
}

// TestBackpressureBoundsTheLag: with the applier held, the appender
// acknowledges at most the hard lag bound's events (plus one group) and
// then waits; Append answers its ctx error meanwhile. Once the applier
// runs again everything acknowledged is applied. (A bound of 4,096
// rather than maxApplyLag: the same code, an eighth of the events to
// log under the race detector.)
func TestBackpressureBoundsTheLag(t *testing.T) {
	const bound = 4096
	hold := make(chan struct{})
	var once sync.Once
	s := open(t, func(o *Options) {
		o.NoSync = true
		o.lagBound = bound
		o.applyHook = func() { <-hold }
	})
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
	acked := 0
	var err error
	for i := 0; acked <= 2*bound; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err = s.Append(ctx, walEvents(t, i*500, 500))
		cancel()
		if err != nil {
			break
		}
		acked += 500
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after %d acknowledged events: %v, want the deadline (the appender waits)", acked, err)
	}
	if acked > bound+500 {
		t.Errorf("%d events acknowledged with the applier held, bound %d", acked, bound)
	}
	once.Do(func() { close(hold) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.waitPos(ctx, s.ackedPos.Load()); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got := int(st.Ingested[profile.Track] + st.Duplicates); got < acked {
		t.Errorf("%d events applied, %d acknowledged", got, acked)
	}
}

// TestStatsShowTheWritePath: Stats reports what was acknowledged and not
// yet applied as it was when called (then waits for it, as every read
// does), the applier's time and the appender's log writes.
func TestStatsShowTheWritePath(t *testing.T) {
	hold := make(chan struct{})
	var once sync.Once
	s := open(t, func(o *Options) { o.applyHook = func() { <-hold } })
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
	for i := range 3 {
		if err := s.Append(context.Background(), walEvents(t, i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan Stats, 1)
	go func() {
		st, err := s.Stats()
		if err != nil {
			t.Error(err)
		}
		got <- st
	}()
	time.Sleep(20 * time.Millisecond) // Stats is waiting for the held applier
	once.Do(func() { close(hold) })
	st := <-got
	// The hook holds the applier before it commits its first batch: all
	// 30 events were acknowledged and waiting.
	if st.ApplyLagEvents != 30 {
		t.Errorf("ApplyLagEvents = %d, want the 30 events acknowledged and held", st.ApplyLagEvents)
	}
	if st.LogSyncs != 3 || st.LogSyncSeconds <= 0 {
		t.Errorf("log writes %d in %v s, want 3 (one per Append, each waited for)", st.LogSyncs, st.LogSyncSeconds)
	}
	if st.ApplySeconds <= 0 {
		t.Errorf("ApplySeconds = %v after three commits", st.ApplySeconds)
	}
	if st2, _ := s.Stats(); st2.ApplyLagEvents != 0 {
		t.Errorf("ApplyLagEvents after everything applied = %d", st2.ApplyLagEvents)
	}
}

// TestWALJSONMatchesEncodingJSON: the log's JSON writer gives the bytes
// encoding/json gives for the values a parsed message holds (sorted
// keys, the same escapes), so records read back the same as before it.
func TestWALJSONMatchesEncodingJSON(t *testing.T) {
	values := []map[string]any{
		{},
		{"b": json.Number("1.50"), "a": "x", "c": true, "d": nil, "e": false},
		{"html": "<a href=\"x\">&</a>", "ctl": "tab\there\nnl\x01\x1f", "uni": "Müller \u2028\u2029 😀", "bad": "\xff\xfe"},
		{"products": []any{map[string]any{"product_id": "85123A", "quantity": json.Number("6"), "price": json.Number("2.55")}, []any{}, []any{nil, "x"}}},
		{"nested": map[string]any{"z": map[string]any{"y": []any{json.Number("-1e-7"), json.Number("0")}}}, "": "empty key"},
		{"other": 12.5, "int": 3, "strs": []string{"a", "b"}}, // not what parsing makes: encoding/json writes them
	}
	for _, body := range []string{
		`{"type":"track","event":"Order Completed","userId":"u","properties":{"order_id":"o1","revenue":42.5,"products":[{"sku":"a","price":10}]},"context":{"ip":"1.2.3.4","library":{"name":"analytics.js","version":"4.0"},"traits":{"email":"a@b.c"}}}`,
		`{"type":"identify","userId":"u","traits":{"name":"Ann \"Lee\"","age":37,"tags":["x","y"],"address":{"city":"Köln"}}}`,
	} {
		m := ev(t, body).Msg
		values = append(values, m.Traits, m.Properties, m.Context)
	}
	for i, v := range values {
		if v == nil {
			continue
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jsonOrNil(nil, v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("value %d:\n got %s (%v)\nwant %s", i, got, err, want)
		}
	}
	for _, n := range []json.Number{"Inf", " 1", "1 ", `"1"`, "{}", "-", "1e", "01"} {
		if _, err := jsonOrNil(nil, map[string]any{"n": n}); err == nil {
			t.Errorf("the invalid number literal %q was written", n)
		}
	}
}

// FuzzWALJSON: for any JSON object decoded as the parser decodes one
// (json.Number numbers), the log's JSON writer gives encoding/json's
// bytes.
func FuzzWALJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,"x",null,true,{"b":-0.5e3}]}`, `{"<&>":"\u2028\ud800","z":{"":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil || m == nil {
			return
		}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jsonOrNil(nil, m)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %s (%v)\nwant %s", got, err, want)
		}
	})
}
