package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"ucv/profile"
)

// gate holds the committer at the start of its next write transaction
// (Options.FailWrites runs inside it) until released.
type gate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) hold() error {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return nil
}

// waitUntil yields until cond holds.
func waitUntil(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

// race is a store whose committer is inside the transaction of request
// A (u-a) while request B (u-b) waits in the queue, with u-0 committed
// before (the outbox then ended at seq).
type race struct {
	s          *Store
	g          *gate
	seq        uint64
	errA, errB chan error
}

func closeRace(t *testing.T) race {
	t.Helper()
	r := race{g: newGate(), errA: make(chan error, 1), errB: make(chan error, 1)}
	r.s = open(t, func(o *Options) { o.FailWrites = r.g.hold })
	ingest(t, r.s, `{"type":"identify","userId":"u-0","messageId":"m0"}`)
	var err error
	if r.seq, err = r.s.LastSeq(); err != nil {
		t.Fatal(err)
	}
	a := []Event{ev(t, `{"type":"identify","userId":"u-a","messageId":"ma"}`)}
	b := []Event{ev(t, `{"type":"identify","userId":"u-b","messageId":"mb"}`)}
	r.g.armed.Store(true)
	go func() {
		_, err := r.s.Ingest(context.Background(), a)
		r.errA <- err
	}()
	<-r.g.entered
	go func() {
		_, err := r.s.Ingest(context.Background(), b)
		r.errB <- err
	}()
	waitUntil(func() bool { return len(r.s.walQ) == 1 }) // the appender holds A (FailWrites), B waits for it
	return r
}

// TestCloseGivesUpWhenCtxEnds: a Close whose ctx ends while a
// transaction is being built and another request is queued returns ctx's
// error; neither request is committed (both callers get ErrClosed), and
// the file is closed and consistent: it opens again at once, with the
// earlier commit and nothing of the two.
func TestCloseGivesUpWhenCtxEnds(t *testing.T) {
	r := closeRace(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	closed := make(chan error, 1)
	go func() { closed <- r.s.Close(ctx) }()
	waitUntil(r.s.abort.Load)
	close(r.g.release)
	if err := <-closed; !errors.Is(err, context.Canceled) {
		t.Fatalf("Close(ended ctx) = %v, want context.Canceled", err)
	}
	for name, ch := range map[string]chan error{"in the transaction": r.errA, "queued": r.errB} {
		if err := <-ch; !errors.Is(err, ErrClosed) {
			t.Errorf("Ingest %s when Close gave up = %v, want ErrClosed", name, err)
		}
	}
	s2 := reopenClosed(t, r.s)
	lookup(t, s2, profile.UserID, "u-0")
	for _, u := range []string{"u-a", "u-b"} {
		if _, err := s2.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: u}); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s after Close gave up: %v, want ErrNotFound (it was refused)", u, err)
		}
	}
	if n, err := s2.LastSeq(); err != nil || n != r.seq {
		t.Errorf("LastSeq = %d, %v; want %d (the first commit's entries only)", n, err, r.seq)
	}
	if err := s2.Check(); err != nil {
		t.Error(err)
	}
}

// TestCloseCommitsWhatIsQueued: a Close whose ctx lasts commits the
// transaction in progress and the queued request before it returns.
func TestCloseCommitsWhatIsQueued(t *testing.T) {
	r := closeRace(t)
	closed := make(chan error, 1)
	go func() { closed <- r.s.Close(context.Background()) }()
	waitUntil(func() bool { r.s.mu.RLock(); defer r.s.mu.RUnlock(); return r.s.closed })
	close(r.g.release)
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
	for name, ch := range map[string]chan error{"in the transaction": r.errA, "queued": r.errB} {
		if err := <-ch; err != nil {
			t.Errorf("Ingest %s when Close waited = %v, want nil", name, err)
		}
	}
	s2 := reopenClosed(t, r.s)
	for _, u := range []string{"u-0", "u-a", "u-b"} {
		lookup(t, s2, profile.UserID, u)
	}
}

// reopenClosed opens the file of a closed store again.
func reopenClosed(t *testing.T, s *Store) *Store {
	t.Helper()
	s2, err := Open(s.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close(context.Background()) })
	return s2
}

// TestOpenDefaultsOnlyTheDocumentedFields: Open fills in the defaults
// of the fields the Options doc names, and takes Populate as given.
func TestOpenDefaultsOnlyTheDocumentedFields(t *testing.T) {
	path := t.TempDir() + "/edge.db"
	s, err := Open(Options{Path: path, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	def, got := DefaultOptions(path), s.opts
	if got.NodeName != def.NodeName || got.Rules == nil || got.Now == nil || got.MaxClockDrift != def.MaxClockDrift ||
		got.DedupeWindow != def.DedupeWindow || got.MaxBatchEvents != def.MaxBatchEvents || got.QueueLen != def.QueueLen {
		t.Errorf("Open(zero options) kept %+v; want the defaults of %+v", got, def)
	}
	if got.Populate || !def.Populate {
		t.Errorf("Populate = %v (DefaultOptions: %v); want a zero Populate kept off", got.Populate, def.Populate)
	}
}

// TestViewJSONIsTheCallersCopy: a view's JSON stays as it was read while
// the profile is rewritten, and changing it changes nothing stored.
func TestViewJSONIsTheCallersCopy(t *testing.T) {
	s := open(t)
	others := make([]string, 20) // views beyond an inline bucket: read from the file's memory map
	for i := range others {
		others[i] = fmt.Sprintf(`{"type":"identify","userId":"o-%d","messageId":"o%d"}`, i, i)
	}
	ingest(t, s, others...)
	ingest(t, s, `{"type":"identify","userId":"u-1","traits":{"plan":"free"},"messageId":"m1"}`)
	v, err := s.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	read := bytes.Clone(v.JSON)
	for i := range 50 { // rewrite the profile's records, and their pages, many times
		ingest(t, s, fmt.Sprintf(`{"type":"identify","userId":"u-1","traits":{"plan":"pro-%d"},"messageId":"n%d"}`, i, i))
	}
	if !bytes.Equal(v.JSON, read) {
		t.Fatalf("View.JSON changed under the caller: %q, read as %q", v.JSON, read)
	}
	now, _ := lookup(t, s, profile.UserID, "u-1")
	stored := bytes.Clone(now.JSON)
	for i := range now.JSON {
		now.JSON[i] = 'x'
	}
	if again, _ := lookup(t, s, profile.UserID, "u-1"); !bytes.Equal(again.JSON, stored) {
		t.Fatalf("changing View.JSON changed the stored view: %q, want %q", again.JSON, stored)
	}
}
