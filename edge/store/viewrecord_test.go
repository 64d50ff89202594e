package store

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
)

// viewRecordOf returns a copy of profile id's stored view record.
func viewRecordOf(tb testing.TB, s *Store, id string) []byte {
	tb.Helper()
	var b []byte
	if err := s.view(func(tx *bolt.Tx) error {
		b = bytes.Clone(tx.Bucket(bucketViews).Get([]byte(id)))
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	if b == nil {
		tb.Fatalf("no view record of %s", id)
	}
	return b
}

// viewsRoot returns the page the views bucket's root is on (0: inline).
func viewsRoot(tb testing.TB, s *Store) uint64 {
	tb.Helper()
	var root uint64
	if err := s.view(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(bucketViews).Root())
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return root
}

// servesState checks that a read of identifier ann from the file and one
// from memory both serve the stored state's version and last-seen
// moment, and a view that holds event.
func servesState(tb testing.TB, s *Store, pid string, ann profile.Identifier, event string) {
	tb.Helper()
	p, err := s.Profile(pid)
	if err != nil {
		tb.Fatal(err)
	}
	file, err := s.lookupIdentifierFile(ann.Key())
	if err != nil {
		tb.Fatal(err)
	}
	mem, err := s.LookupIdentifier(ann)
	if err != nil {
		tb.Fatal(err)
	}
	for _, v := range []struct {
		path string
		v    View
	}{{"file", file}, {"memory", mem}} {
		if v.v.Version != p.Version.String() || !p.LastSeen.Set || v.v.LastSeenMs != p.LastSeen.V {
			tb.Errorf("%s path: version %q, last seen %d; the state's are %q, %d", v.path, v.v.Version, v.v.LastSeenMs, p.Version, p.LastSeen.V)
		}
		if !strings.Contains(string(v.v.JSON), event) {
			tb.Errorf("%s path: view %s does not hold %q", v.path, v.v.JSON, event)
		}
	}
}

// TestViewRecordKeptWhileItsEvaluationIs (decision 0119): with every
// view held in memory (records without their JSON, the default), a
// profile's view record changes only with its evaluation. A later event
// leaves the record's bytes as they were — the commit rewrites no views
// leaf for it — and reads from the file and from memory still serve the
// version and last-seen moment of the state the event wrote.
func TestViewRecordKeptWhileItsEvaluationIs(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	pid := ingest(t, s, `{"type":"identify","userId":"ann","messageId":"a1","timestamp":"2026-01-01T10:00:00Z","traits":{"email":"ann@example.com"}}`).ProfileIDs[0]
	ann := profile.Identifier{Type: profile.UserID, Value: "ann"}
	// Enough other profiles that the views bucket has pages of its own
	// (a small one is stored inline in its parent's page).
	var others []string
	for i := range 300 {
		others = append(others, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"u%d"}`, i, i))
	}
	ingest(t, s, others...)
	before, root := viewRecordOf(t, s, pid), viewsRoot(t, s)
	if root == 0 {
		t.Fatal("the views bucket is still inline")
	}
	ingest(t, s, `{"type":"track","userId":"ann","messageId":"a2","timestamp":"2026-01-02T10:00:00Z","event":"Basket Viewed"}`)
	if after := viewRecordOf(t, s, pid); !bytes.Equal(after, before) {
		t.Errorf("view record rewritten by an event that left its evaluation alone:\n%x\n%x", before, after)
	}
	if r := viewsRoot(t, s); r != root {
		t.Errorf("the views bucket's root moved from page %d to %d: the commit copied its pages", root, r)
	}
	servesState(t, s, pid, ann, "Basket Viewed")
	if err := s.Check(); err != nil {
		t.Error(err)
	}

	// Under a bound the record keeps its JSON, and with it the version.
	b := open(t, func(o *Options) { o.NoSync = true; o.ViewMemoryBytes = 1 << 20 })
	pid = ingest(t, b, `{"type":"identify","userId":"ann","messageId":"a1","timestamp":"2026-01-01T10:00:00Z"}`).ProfileIDs[0]
	before = viewRecordOf(t, b, pid)
	ingest(t, b, `{"type":"track","userId":"ann","messageId":"a2","timestamp":"2026-01-02T10:00:00Z","event":"Basket Viewed"}`)
	if after := viewRecordOf(t, b, pid); bytes.Equal(after, before) || isBodiless(after) {
		t.Errorf("view record with its JSON not rewritten by a new event (bodiless %v)", isBodiless(after))
	}
	servesState(t, b, pid, ann, "Basket Viewed")
}

// TestSchema6FileReadAsIs: a version 6 file — its view records without
// JSON carrying the version and last-seen moment — opens as version 7
// unchanged and serves the same views; the next event on a profile
// writes its record without them, and reads still serve the state's.
func TestSchema6FileReadAsIs(t *testing.T) {
	s := open(t, func(o *Options) { o.NoSync = true })
	pid := ingest(t, s, `{"type":"identify","userId":"ann","messageId":"a1","timestamp":"2026-01-01T10:00:00Z","traits":{"email":"ann@example.com"}}`).ProfileIDs[0]
	ann := profile.Identifier{Type: profile.UserID, Value: "ann"}
	want, err := s.lookupIdentifierFile(ann.Key())
	if err != nil {
		t.Fatal(err)
	}
	// Write it back as schema 6 wrote it: the record with the version.
	opts := rewriteAs(t, s, 6, func(tx *bolt.Tx) error {
		views := tx.Bucket(bucketViews)
		ev := viewEvalOf(views.Get([]byte(pid)))
		return views.Put([]byte(pid), encodeViewRecord(pid, viewBodiless, want.LastSeenMs, want.Version, ev, nil))
	})
	s = reopenUpgraded(t, opts)
	if got := viewRecordOf(t, s, pid); !bytes.Contains(got, []byte(want.Version)) {
		t.Fatalf("the upgrade rewrote the view record: %x", got)
	}
	got, err := s.lookupIdentifierFile(ann.Key())
	if err != nil || got.Version != want.Version || got.LastSeenMs != want.LastSeenMs || !bytes.Equal(got.JSON, want.JSON) {
		t.Fatalf("file read after the upgrade = %q %d %s, %v; want %q %d %s", got.Version, got.LastSeenMs, got.JSON, err, want.Version, want.LastSeenMs, want.JSON)
	}
	ingest(t, s, `{"type":"track","userId":"ann","messageId":"a2","timestamp":"2026-01-02T10:00:00Z","event":"Basket Viewed"}`)
	if rec := viewRecordOf(t, s, pid); bytes.Contains(rec, []byte(want.Version)) {
		t.Errorf("the record written after the upgrade still carries a version: %x", rec)
	}
	servesState(t, s, pid, ann, "Basket Viewed")
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}
