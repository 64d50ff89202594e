package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"pgregory.net/rapid"

	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// served is what a lookup of one identifier returned before any damage.
type served struct {
	id      profile.Identifier
	json    []byte
	version string
}

// damageFixture writes a closed store of n profiles (a third of them
// merged from an anonymous and a known profile) and returns its path and
// what each identifier's lookup serves. The last two transactions change
// only meta, so both meta pages describe the same profiles: a damaged
// meta page makes bbolt open the other without changing what is served.
func damageFixture(tb testing.TB, n int, opts ...func(*Options)) (string, []served) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "edge.db")
	o := DefaultOptions(path)
	o.NoSync, o.Populate = true, false
	for _, f := range opts {
		f(&o)
	}
	s, err := Open(o)
	if err != nil {
		tb.Fatal(err)
	}
	var bodies []string
	for i := range n {
		bodies = append(bodies, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"i%d","traits":{"email":"p%d@example.com","plan":"p-%d"}}`, i, i, i, i%7))
		if i%3 == 0 {
			bodies = append(bodies, fmt.Sprintf(`{"type":"track","anonymousId":"a%d","event":"Viewed","messageId":"t%d"}`, i, i),
				fmt.Sprintf(`{"type":"identify","userId":"u%d","anonymousId":"a%d","messageId":"l%d"}`, i, i, i))
		}
	}
	ingest(tb, s, bodies...)
	var want []served
	for i := range n {
		ids := []profile.Identifier{{Type: "user_id", Value: fmt.Sprintf("u%d", i)}, {Type: "email", Value: fmt.Sprintf("p%d@example.com", i)}}
		if i%3 == 0 {
			ids = append(ids, profile.Identifier{Type: "anonymous_id", Value: fmt.Sprintf("a%d", i)})
		}
		for _, id := range ids {
			v, err := s.LookupIdentifier(id)
			if err != nil {
				tb.Fatalf("LookupIdentifier(%s): %v", id.Key(), err)
			}
			want = append(want, served{id, v.JSON, v.Version})
		}
	}
	for i := range 2 {
		if err := s.SetCursor("test", uint64(i)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Check(); err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return path, want
}

// walkFile walks the (closed) bbolt file at path, calling onLeaf for
// every leaf page, and returns the walk (page size, pages in use).
func walkFile(tb testing.TB, path string, onLeaf func(bucket []byte, id uint64, page []byte)) *pageWalk {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	w := &pageWalk{f: f, size: fi.Size(), onLeaf: onLeaf}
	if err := w.run(); err != nil {
		tb.Fatalf("walk %s: %v", path, err)
	}
	return w
}

// recordOffset returns the file offset of the value stored under key in
// bucket (a top-level bucket not stored inline).
func recordOffset(tb testing.TB, path string, bucket, key []byte) int64 {
	tb.Helper()
	ps := int64(walkFile(tb, path, nil).pageSize)
	off := int64(-1)
	walkFile(tb, path, func(b []byte, id uint64, page []byte) {
		if !bytes.Equal(b, bucket) {
			return
		}
		for i := range int(binary.NativeEndian.Uint16(page[10:])) {
			e := pageHeaderSize + i*elemSize
			pos, ksize := int(binary.NativeEndian.Uint32(page[e+4:])), int(binary.NativeEndian.Uint32(page[e+8:]))
			if bytes.Equal(page[e+pos:e+pos+ksize], key) {
				off = int64(id)*ps + int64(e+pos+ksize)
			}
		}
	})
	if off < 0 {
		tb.Fatalf("no %q record %q in %s", bucket, key, path)
	}
	return off
}

// bodilessAt reports whether the view record at offset off of the file
// at path is stored without its JSON.
func bodilessAt(tb testing.TB, path string, off int64) bool {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, sumLen+1)
	if _, err := f.ReadAt(b, off); err != nil {
		tb.Fatal(err)
	}
	return isBodiless(b)
}

// flipAt XORs the n bytes of the file at off with mask.
func flipAt(tb testing.TB, path string, off int64, n int, mask byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		tb.Fatal(err)
	}
	for i := range b {
		b[i] ^= mask
	}
	if _, err := f.WriteAt(b, off); err != nil {
		tb.Fatal(err)
	}
}

// openFile opens the store at path as the damage tests do.
func openFile(path string, opts ...func(*Options)) (*Store, error) {
	o := DefaultOptions(path)
	o.NoSync, o.Populate = true, false
	for _, f := range opts {
		f(&o)
	}
	return Open(o)
}

// settle waits until every request queued before it (repairs asked for
// by reads) has been committed.
func settle(tb testing.TB, s *Store) {
	tb.Helper()
	if err := s.enqueue(context.Background(), &request{repair: []string{}, done: make(chan struct{})}); err != nil {
		tb.Fatal(err)
	}
}

// damagedFileServesNoDamage is the property every damaged file must
// keep, whatever the damage: Verify and Open never panic; Open either
// refuses with an error naming the file, or every lookup serves exactly
// what it served before the damage or an error; and if Verify found the
// file clean, every lookup served exactly what it did before.
func damagedFileServesNoDamage(tb fataler, path string, want []served, after Event) {
	tb.Helper()
	rep, verr := Verify(path)
	if verr != nil {
		tb.Fatalf("Verify: %v", verr)
	}
	s, err := openFile(path)
	if err != nil {
		if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
			tb.Fatalf("Open = %q, want one line naming the file", err)
		}
		if rep.OK() {
			tb.Fatalf("Open refused (%v) a file Verify found clean", err)
		}
		return
	}
	defer s.Close(context.Background())
	for _, w := range want {
		v, err := s.LookupIdentifier(w.id)
		if err != nil {
			if rep.OK() {
				tb.Fatalf("LookupIdentifier(%s) = %v on a file Verify found clean", w.id.Key(), err)
			}
			continue
		}
		if !bytes.Equal(v.JSON, w.json) || v.Version != w.version {
			tb.Fatalf("LookupIdentifier(%s) served changed data:\n%s\nwant\n%s", w.id.Key(), v.JSON, w.json)
		}
	}
	// Writing to a damaged file that opened must not panic either.
	_, _ = s.Ingest(context.Background(), []Event{after})
}

// fataler is what damagedFileServesNoDamage needs of *testing.T and
// *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// afterDamage is the event written to a damaged file that opened.
func afterDamage(tb testing.TB) Event {
	return ev(tb, `{"type":"identify","userId":"u0","messageId":"after-damage","traits":{"plan":"gold"}}`)
}

func TestOpenRefusesTruncatedFile(t *testing.T) {
	path, _ := damageFixture(t, 40)
	w := walkFile(t, path, nil)
	if err := os.Truncate(path, int64(w.pages)*int64(w.pageSize)/2); err != nil {
		t.Fatal(err)
	}
	_, err := openFile(path)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("Open(truncated) = %v, want a FileError naming the file and the truncation", err)
	}
	rep, err := Verify(path)
	if err != nil || rep.OK() {
		t.Fatalf("Verify(truncated) = %+v, %v; want a problem", rep, err)
	}
}

// TestOpenFlip16BytesInTheMiddle is the report: 16 bytes flipped
// in the middle of the file — here the first element header of the page
// in the middle of those in use — panicked bbolt's freelist rebuild.
func TestOpenFlip16BytesInTheMiddle(t *testing.T) {
	path, want := damageFixture(t, 40)
	w := walkFile(t, path, nil)
	flipAt(t, path, int64(w.pages/2)*int64(w.pageSize)+pageHeaderSize, 16, 0xFF)
	damagedFileServesNoDamage(t, path, want, afterDamage(t))
}

func TestOpenRefusesFlippedLeafPage(t *testing.T) {
	for _, bucket := range []string{"views", "profiles", "index"} {
		t.Run(bucket, func(t *testing.T) {
			path, want := damageFixture(t, 60)
			var leaf uint64
			w := walkFile(t, path, func(b []byte, id uint64, _ []byte) {
				if string(b) == bucket && leaf == 0 {
					leaf = id
				}
			})
			if leaf == 0 {
				t.Fatalf("no leaf page of %s", bucket)
			}
			flipAt(t, path, int64(leaf)*int64(w.pageSize), w.pageSize, 0xFF)
			_, err := openFile(path)
			var fe *FileError
			if !errors.As(err, &fe) || !strings.Contains(fe.Reason, fmt.Sprintf("page %d", leaf)) {
				t.Fatalf("Open(leaf page %d flipped) = %v, want a FileError naming the page", leaf, err)
			}
			damagedFileServesNoDamage(t, path, want, afterDamage(t))
		})
	}
}

// TestRandomFlipsNeverServeDamage flips 1–16 bytes at random offsets of
// the pages in use (meta pages included) and checks the damaged-file
// property each time.
func TestRandomFlipsNeverServeDamage(t *testing.T) {
	path, want := damageFixture(t, 40)
	w := walkFile(t, path, nil)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inUse := int(w.pages) * w.pageSize
	dir := t.TempDir()
	after := afterDamage(t)
	rapid.Check(t, func(rt *rapid.T) {
		off := rapid.IntRange(0, inUse-1).Draw(rt, "offset")
		n := rapid.IntRange(1, 16).Draw(rt, "bytes")
		mask := rapid.ByteRange(1, 255).Draw(rt, "mask")
		b := bytes.Clone(orig)
		for i := off; i < min(off+n, len(b)); i++ {
			b[i] ^= mask
		}
		p := filepath.Join(dir, "edge.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			rt.Fatal(err)
		}
		damagedFileServesNoDamage(rt, p, want, after)
	})
}

// withViewBodies makes the store keep each view's JSON in its record:
// a bound on the views memory holds (decision 0109).
func withViewBodies(o *Options) { o.ViewMemoryBytes = 1 << 30 }

// TestFlippedViewIsRebuilt: a byte flipped inside a stored view is not
// served; the read answers ErrDamaged, the store rebuilds the view from
// the profile's state, and the next read serves it again — a record with
// its JSON (flipped inside the JSON) and one without (decision 0109;
// flipped inside its evaluation).
func TestFlippedViewIsRebuilt(t *testing.T) {
	t.Run("with JSON", func(t *testing.T) { flippedViewIsRebuilt(t, 20, withViewBodies) })
	// 200 profiles: the views bucket of evaluation-only records is then
	// too large to be stored inline in its parent page.
	t.Run("evaluation only", func(t *testing.T) { flippedViewIsRebuilt(t, 200, func(*Options) {}) })
}

// viewFixture is damageFixture(t, n, opt) and the file offset of the
// first profile's view record.
func viewFixture(t *testing.T, n int, opt func(*Options)) (path string, want []served, off int64) {
	t.Helper()
	path, want = damageFixture(t, n, opt)
	s, err := openFile(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := s.ResolveIdentifier(want[0].id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return path, want, recordOffset(t, path, bucketViews, []byte(pid))
}

func flippedViewIsRebuilt(t *testing.T, n int, opt func(*Options)) {
	path, want, off := viewFixture(t, n, opt)
	at := off + sumLen + 10 + int64(len(want[0].version)) + 8 // inside the JSON
	bodiless := bodilessAt(t, path, off)
	if bodiless {
		at = off + sumLen + 10 + 4 // inside the evaluation's catalog digest (the record has no version: decision 0119)
	}
	flipAt(t, path, at, 1, 0x04)
	s, err := openFile(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// Flipped inside the evaluation, the view also looks stale to the
	// sweep Open starts, which may re-render it first: the read then
	// serves the rebuilt view. Never the damaged one.
	if v, err := s.LookupIdentifier(want[0].id); !errors.Is(err, ErrDamaged) && (!bodiless || err != nil || !bytes.Equal(v.JSON, want[0].json)) {
		t.Fatalf("LookupIdentifier(damaged view) = %s, %v; want ErrDamaged or the view rebuilt", v.JSON, err)
	}
	settle(t, s)
	v, err := s.LookupIdentifier(want[0].id)
	if err != nil || !bytes.Equal(v.JSON, want[0].json) {
		t.Fatalf("LookupIdentifier after repair = %s, %v; want\n%s", v.JSON, err, want[0].json)
	}
	st, _ := s.Stats()
	if st.ViewMismatches != 1 || st.StateMismatches != 0 || st.Repairing != 0 {
		t.Errorf("Stats = %d view, %d state mismatches, %d repairing; want 1, 0, 0", st.ViewMismatches, st.StateMismatches, st.Repairing)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestFlippedViewFoundBySweep: damage inside a view's evaluation makes
// it look stale to the sweep Open starts, which may re-render it before
// any read asks for its repair. The view is rebuilt either way, and
// counted and logged as damage either way.
func TestFlippedViewFoundBySweep(t *testing.T) {
	path, want, off := viewFixture(t, 200, func(*Options) {})
	if !bodilessAt(t, path, off) {
		t.Fatal("the fixture's view record carries its JSON; want evaluation only")
	}
	flipAt(t, path, off+sumLen+10+4, 1, 0x04) // inside the evaluation's catalog digest
	s, err := openFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// No read first: once sweep returns, the sweep (this one, or Open's
	// if it ran first) has re-rendered every view it found stale.
	if err := s.sweep(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	if st.ViewMismatches != 1 {
		t.Errorf("Stats.ViewMismatches = %d after the sweep re-rendered the damaged view, want 1", st.ViewMismatches)
	}
	if v, err := s.LookupIdentifier(want[0].id); err != nil || !bytes.Equal(v.JSON, want[0].json) {
		t.Fatalf("LookupIdentifier after the sweep = %s, %v; want\n%s", v.JSON, err, want[0].json)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestFlippedStateIsRepairedFromPeer: a byte flipped inside a stored
// profile state is never served or replicated. The profile answers
// ErrDamaged while it waits; its digest bucket now differs from a peer's,
// so anti-entropy (Digest → BucketEntries → ApplyStates, as gossip runs
// it) brings the peer's full state, which repairs it — keeping an event
// ingested meanwhile. A gossip delta does not complete the repair.
//
// Where the view is stored without its JSON (decision 0109) a lookup
// renders it from the state, so the first lookup finds the damage.
func TestFlippedStateIsRepairedFromPeer(t *testing.T) {
	t.Run("with JSON", func(t *testing.T) { flippedStateIsRepairedFromPeer(t, withViewBodies) })
	t.Run("evaluation only", func(t *testing.T) { flippedStateIsRepairedFromPeer(t, func(*Options) {}) })
}

func flippedStateIsRepairedFromPeer(t *testing.T, opt func(*Options)) {
	path, want := damageFixture(t, 20, opt)
	// The peer: an exact replica (a copy of the file with its own node
	// ID does not matter here: replicas of the same state).
	peerPath := filepath.Join(t.TempDir(), "peer.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(peerPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	peer, err := openFile(peerPath, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close(context.Background())

	s, err := openFile(path, opt, func(o *Options) { o.RefetchPositions = []string{"hub-feed"} })
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := s.ResolveIdentifier(want[0].id)
	if err := s.SetPosition("hub-feed", 42); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	flipAt(t, path, recordOffset(t, path, bucketProfiles, []byte(pid))+sumLen+5, 1, 0x10)
	s, err = openFile(path, opt, func(o *Options) { o.RefetchPositions = []string{"hub-feed"} })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if d := s.Digest(); len(d.Diff(ptr(peer.Digest()))) != 0 {
		t.Fatal("digests differ before the damage is found")
	}
	// Hub sync reads its feed position and starts a long-poll… (before
	// any read of the state: without the view's JSON in the file, the
	// lookup below renders it from the state and finds the damage, and
	// the applier may commit the quarantine — which resets the position —
	// before the next line runs.)
	if v, _ := s.Position("hub-feed"); v != 42 {
		t.Fatalf("hub feed position = %d, want 42", v)
	}
	var o Options
	opt(&o)
	if o.ViewMemoryBytes != 0 {
		// The view is intact (it was rendered from the good state): served.
		if v, err := s.LookupIdentifier(want[0].id); err != nil || !bytes.Equal(v.JSON, want[0].json) {
			t.Fatalf("LookupIdentifier = %v before the state is read", err)
		}
	} else if _, err := s.LookupIdentifier(want[0].id); !errors.Is(err, ErrDamaged) {
		// Rendering the view reads the state.
		t.Fatalf("LookupIdentifier = %v, want ErrDamaged (the view is rendered from the state)", err)
	}
	// …meanwhile a read of the state finds the damage.
	if _, err := s.Profile(pid); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Profile(damaged) = %v, want ErrDamaged", err)
	}
	settle(t, s)
	if _, err := s.LookupIdentifier(want[0].id); !errors.Is(err, ErrDamaged) {
		t.Fatalf("LookupIdentifier while repairing = %v, want ErrDamaged", err)
	}
	if _, err := s.Profile(pid); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Profile while repairing = %v, want ErrDamaged", err)
	}
	st, _ := s.Stats()
	if st.StateMismatches != 1 || st.Repairing != 1 {
		t.Fatalf("Stats = %d state mismatches, %d repairing; want 1, 1", st.StateMismatches, st.Repairing)
	}
	// The long-poll's answer must not undo the reset that makes hub
	// sync fetch the hub's copy again.
	if err := s.SetPosition("hub-feed", 50); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Position("hub-feed"); v != 0 {
		t.Errorf("hub feed position = %d after quarantine and a stale SetPosition, want 0 (the hub's copy is fetched again)", v)
	}
	if err := s.SetPosition("hub-feed", 7); err != nil { // read after the reset: moves on
		t.Fatal(err)
	}
	if v, _ := s.Position("hub-feed"); v != 7 {
		t.Errorf("hub feed position = %d, want 7", v)
	}
	// Its stand-in is never offered to peers as a full state.
	var offered []string
	if err := s.BucketEntries(allDigestBuckets(), func(e replication.Entry) error {
		if e.Kind == replication.KindDelta {
			offered = append(offered, e.ProfileID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range offered {
		if id == pid {
			t.Fatal("BucketEntries offers the stand-in of a profile under repair")
		}
	}
	// Ingest goes on meanwhile; the event lands on the stand-in.
	ingest(t, s, `{"type":"track","userId":"u0","event":"Came Back","messageId":"during-repair"}`)
	if _, err := s.LookupIdentifier(want[0].id); !errors.Is(err, ErrDamaged) {
		t.Fatalf("LookupIdentifier after an event while repairing = %v, want ErrDamaged", err)
	}
	// A delta is not the whole profile: still repairing.
	delta := peerState(t, peer, pid)
	if _, err := s.ApplyRemote(context.Background(), []replication.Entry{{Kind: replication.KindDelta, ProfileID: pid, Delta: delta}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupIdentifier(want[0].id); !errors.Is(err, ErrDamaged) {
		t.Fatalf("LookupIdentifier after a delta = %v, want ErrDamaged", err)
	}
	// Anti-entropy, as gossip runs it.
	local, remote := s.Digest(), peer.Digest()
	diff := local.Diff(&remote)
	if len(diff) == 0 {
		t.Fatal("digests equal after the quarantine: anti-entropy would never repair it")
	}
	var states []replication.Entry
	if err := peer.BucketEntries(diff, func(e replication.Entry) error { states = append(states, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyStates(context.Background(), states); err != nil {
		t.Fatal(err)
	}
	v, _ := lookup(t, s, "user_id", "u0")
	if v.ID != pid || !strings.Contains(string(v.JSON), `"p0@example.com"`) {
		t.Errorf("repaired view = %s, want the peer's data back", v.JSON)
	}
	p, err := s.Profile(pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, mid := range []string{"i0", "l0", "during-repair"} {
		if !p.Timeline.Has(mid) {
			t.Errorf("repaired profile's timeline lacks %s", mid)
		}
	}
	st, _ = s.Stats()
	if st.Repairing != 0 || st.Repaired != 1 {
		t.Errorf("Stats after repair = %d repairing, %d repaired; want 0, 1", st.Repairing, st.Repaired)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	rep, err := Verify(path)
	if err == nil {
		t.Errorf("Verify of an open store = %+v, want ErrInUse", rep)
	}
}

func ptr[T any](v T) *T { return &v }

// peerState returns profile id's stored state in st.
func peerState(tb testing.TB, st *Store, id string) []byte {
	tb.Helper()
	var out []byte
	if err := st.BucketEntries([]int{BucketOf(id)}, func(e replication.Entry) error {
		if e.Kind == replication.KindDelta && e.ProfileID == id {
			out = e.Delta
		}
		return nil
	}); err != nil || out == nil {
		tb.Fatalf("no state of %s: %v", id, err)
	}
	return out
}

// TestDamagedStateRepairedByHub: the hub's cluster state (its feed or
// snapshot) completes a repair as a peer's full state does.
func TestDamagedStateRepairedByHub(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snapshot), func(t *testing.T) {
			path, want := damageFixture(t, 10)
			s, err := openFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := s.ResolveIdentifier(want[0].id)
			hubState := peerState(t, s, pid)
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			flipAt(t, path, recordOffset(t, path, bucketProfiles, []byte(pid))+sumLen+3, 2, 0x81)
			if s, err = openFile(path); err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			// Identity resolution reads the state: an event finds the damage.
			ingest(t, s, `{"type":"track","userId":"u0","event":"Came Back","messageId":"during-repair"}`)
			if _, err := s.LookupIdentifier(want[0].id); !errors.Is(err, ErrDamaged) {
				t.Fatalf("LookupIdentifier while repairing = %v, want ErrDamaged", err)
			}
			c := []replication.FeedItem{{ID: pid, Fragments: []string{pid}, State: hubState}}
			if snapshot {
				_, err = s.BootstrapClusters(context.Background(), c, 0)
			} else {
				_, err = s.ApplyClusters(context.Background(), c, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.LookupIdentifier(want[0].id)
			if err != nil || !strings.Contains(string(v.JSON), `"p0@example.com"`) {
				t.Fatalf("LookupIdentifier after the hub's copy = %s, %v", v.JSON, err)
			}
			p, _ := s.Profile(pid)
			if !p.Timeline.Has("during-repair") || !p.Timeline.Has("i0") {
				t.Errorf("repaired timeline lacks the event from before or during the repair")
			}
			if st, _ := s.Stats(); st.Repairing != 0 || st.Repaired != 1 || st.StateMismatches != 1 {
				t.Errorf("Stats = %d repairing, %d repaired, %d mismatches; want 0, 1, 1", st.Repairing, st.Repaired, st.StateMismatches)
			}
			if err := s.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// schema1Fixtures are data files written before checksums, by main at
// the named commits (ec2316e: when this work began; 4491d4d: with the
// exactly-once ledger and alias), with the profile each identifier
// resolved to (testdata/schema1-REV.json).
var schema1Fixtures = []string{"ec2316e", "4491d4d"}

func schema1Golden(tb testing.TB, rev string) map[string]string {
	tb.Helper()
	var golden map[string]string
	b, err := os.ReadFile("testdata/schema1-" + rev + ".json")
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		tb.Fatal(err)
	}
	return golden
}

// TestSchema1FileOpens opens data directories written by earlier builds:
// each is migrated — in one transaction, or one profile per transaction
// — and every identifier still finds its profile; the migrated file
// verifies and opens again.
func TestSchema1FileOpens(t *testing.T) {
	for _, rev := range schema1Fixtures {
		golden := schema1Golden(t, rev)
		for _, batch := range []int{migrateBatchSize, 1} {
			t.Run(fmt.Sprintf("%s/batch=%d", rev, batch), func(t *testing.T) {
				defer func(n int) { migrateBatchSize = n }(migrateBatchSize)
				migrateBatchSize = batch
				path := copyFixture(t, "testdata/schema1-"+rev+".db")
				if rep, err := Verify(path); err != nil || !rep.OK() || rep.Schema != 1 || len(rep.Notes) != 1 {
					t.Fatalf("Verify(schema 1) = %+v, %v; want clean, schema 1, a note", rep, err)
				}
				for round := range 2 {
					s, err := openFile(path)
					if err != nil {
						t.Fatalf("open %d: %v", round, err)
					}
					for key, id := range golden {
						ident, _ := profile.ParseKey(key)
						v, m := lookup(t, s, ident.Type, ident.Value)
						if v.ID != id || m["id"] != id {
							t.Errorf("open %d: %s finds %s, want %s", round, key, v.ID, id)
						}
					}
					if err := s.Check(); err != nil {
						t.Errorf("open %d: %v", round, err)
					}
					if err := s.Close(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				rep, err := Verify(path)
				if err != nil || !rep.OK() || rep.Schema != schemaVersion || rep.Profiles != 3 || rep.Views != 3 {
					t.Fatalf("Verify(migrated) = %+v, %v", rep, err)
				}
			})
		}
	}
}

// TestSchema1UndecodableStateIsQuarantined: a schema 1 state that does
// not decode (schema 1 had no checksum to catch it) is set aside by the
// migration, like damage found at run time.
func TestSchema1UndecodableStateIsQuarantined(t *testing.T) {
	for _, rev := range schema1Fixtures {
		t.Run(rev, func(t *testing.T) {
			golden := schema1Golden(t, rev)
			path := copyFixture(t, "testdata/schema1-"+rev+".db")
			id := golden["user_id:u-3"]
			flipAt(t, path, recordOffset(t, path, bucketProfiles, []byte(id)), 8, 0xFF)
			s, err := openFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			if _, err := s.LookupIdentifier(profile.Identifier{Type: "user_id", Value: "u-3"}); !errors.Is(err, ErrDamaged) {
				t.Fatalf("LookupIdentifier(undecodable schema 1 state) = %v, want ErrDamaged", err)
			}
			if st, _ := s.Stats(); st.Repairing != 1 {
				t.Errorf("Repairing = %d, want 1", st.Repairing)
			}
			lookup(t, s, "user_id", "u-1") // the others are fine
			if err := s.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// copyFixture copies a testdata file into a temporary directory.
func copyFixture(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "edge.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestOpenWaitsForTheLockBeforeChecking: a file another process holds is
// neither checked nor opened (ErrInUse); Open checks it once it is free.
// (Open used to skip the check of a locked file and let bbolt wait for
// the lock: when the holder let go within bbolt's wait, bbolt opened a
// file nobody had checked.)
func TestOpenWaitsForTheLockBeforeChecking(t *testing.T) {
	path, _ := damageFixture(t, 5)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := openFile(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("Open(locked) = %v, want ErrInUse", err)
	}
	if _, err := Verify(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("Verify(locked) = %v, want ErrInUse", err)
	}
	w := walkFile(t, path, nil)
	if err := os.Truncate(path, int64(w.pages-1)*int64(w.pageSize)); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if _, err := openFile(path); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open(truncated, unlocked) = %v, want ErrDamaged", err)
	}
}

// TestStandInMergesWithNobody: while a damaged profile waits for its
// copy, its stand-in knows none of its identifiers, so nothing may merge
// with it: an event naming another person's user ID and the damaged
// person's e-mail lands on the other person without linking the e-mail
// (as for a hub cannot-link), and after the repair the two are still
// two people.
func TestStandInMergesWithNobody(t *testing.T) {
	path, want := damageFixture(t, 10)
	peerPath := copyFile(t, path)
	peer, err := openFile(peerPath)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close(context.Background())
	s, err := openFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := s.ResolveIdentifier(profile.Identifier{Type: "user_id", Value: "u0"})
	y, _ := s.ResolveIdentifier(profile.Identifier{Type: "user_id", Value: "u1"})
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	flipAt(t, path, recordOffset(t, path, bucketProfiles, []byte(y))+sumLen+4, 1, 0x20)
	if s, err = openFile(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := s.Profile(y); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Profile(damaged) = %v", err)
	}
	settle(t, s)
	res := ingest(t, s, `{"type":"identify","userId":"u0","messageId":"glue","traits":{"email":"p1@example.com"}}`)
	if res.ProfileIDs[0] != x {
		t.Fatalf("event landed on %s, want %s (u0's)", res.ProfileIDs[0], x)
	}
	if st, _ := s.Stats(); st.LinksSkipped[SkipApart] != 1 {
		t.Errorf("LinksSkipped[apart] = %d, want 1 (the stand-in's e-mail left out)", st.LinksSkipped[SkipApart])
	}
	local, remote := s.Digest(), peer.Digest()
	var states []replication.Entry
	if err := peer.BucketEntries(local.Diff(&remote), func(e replication.Entry) error { states = append(states, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyStates(context.Background(), states); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   profile.Identifier
		want string
	}{{profile.Identifier{Type: "user_id", Value: "u0"}, x}, {profile.Identifier{Type: "user_id", Value: "u1"}, y}, {profile.Identifier{Type: "email", Value: "p1@example.com"}, y}} {
		if got, err := s.ResolveIdentifier(c.id); err != nil || got != c.want {
			t.Errorf("%s resolves to %s, %v after the repair; want %s", c.id.Key(), got, err, c.want)
		}
	}
	if v, err := s.LookupIdentifier(want[3].id); err != nil || !bytes.Equal(v.JSON, want[3].json) { // u1
		t.Errorf("repaired profile %s = %v\n%s\nwant\n%s", want[3].id.Key(), err, v.JSON, want[3].json)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// copyFile copies the file at path into a new temporary directory.
func copyFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(tb.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestDamagedViewIsNotTheOldEvaluation: flush evaluates a profile's
// view incrementally from its stored view's evaluation (its audiences,
// its due moment). A stored view that fails its checksum is not that:
// an event landing on the profile before any read evaluates it in full,
// serves the audiences its state qualifies for, and counts the damage.
// Here a byte of the stored audience name is flipped ("vip" → "wip"),
// which still parses, and the event (a track) cannot change the
// audience, so an incremental evaluation would keep the flipped name.
func TestDamagedViewIsNotTheOldEvaluation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := openFile(path, withViewBodies)
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.Catalog{}
	if cat, _, err = cat.With("vip", catalog.Audience{Expression: `"plan" in traits && traits.plan == "gold"`}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCatalog(cat); err != nil {
		t.Fatal(err)
	}
	// 100 profiles besides: a views bucket too large to be stored inline
	// in its parent page, where recordOffset finds its records.
	bodies := []string{`{"type":"identify","userId":"u0","messageId":"i0","traits":{"plan":"gold"}}`}
	for i := 1; i <= 100; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"i%d","traits":{"plan":"silver"}}`, i, i))
	}
	ingest(t, s, bodies...)
	u0 := profile.Identifier{Type: profile.UserID, Value: "u0"}
	audiencesOf := func(s *Store) []any {
		t.Helper()
		v, err := s.LookupIdentifier(u0)
		if err != nil {
			t.Fatal(err)
		}
		audiences, _ := comparableView(t, v)["audiences"].([]any)
		return audiences
	}
	if got := audiencesOf(s); len(got) != 1 || got[0] != "vip" {
		t.Fatalf("audiences = %v before the damage, want [vip]", got)
	}
	pid, err := s.ResolveIdentifier(u0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	off := recordOffset(t, path, bucketViews, []byte(pid))
	rec := make([]byte, 256)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadAt(rec, off)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(rec, []byte("vip")) // the evaluation's audiences come before the JSON
	if at < 0 {
		t.Fatal("no audience name in the view record")
	}
	flipAt(t, path, off+int64(at), 1, 'v'^'w')

	s, err = openFile(path, withViewBodies)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ingest(t, s, `{"type":"track","userId":"u0","messageId":"t0","event":"Viewed"}`)
	if got := audiencesOf(s); len(got) != 1 || got[0] != "vip" {
		t.Errorf("audiences = %v after an event on the damaged view, want [vip]", got)
	}
	if st, _ := s.Stats(); st.ViewMismatches != 1 {
		t.Errorf("Stats.ViewMismatches = %d, want 1", st.ViewMismatches)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}
