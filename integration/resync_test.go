package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ucv/edge/hubsync"
	"ucv/edge/store"
	"ucv/hub"
	"ucv/hub/api"
	"ucv/hub/hubtest"
	"ucv/profile"
)

const syncToken = "sync-secret"

// newHub runs a new, empty single-node hub (raft's in-memory transport,
// the HTTP API with the product's server settings on 127.0.0.1) and
// returns it with its URL.
func newHub(t testing.TB, id string) (*hub.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ac := api.DefaultConfig()
	ac.NodeID, ac.HTTPURL, ac.SyncToken, ac.AdminToken = id, "http://"+ln.Addr().String(), syncToken, "admin-secret"
	return serveHub(t, ln, ac), ac.HTTPURL
}

// serveHub starts a bootstrapped single-node hub (ID ac.NodeID) and
// serves its API, configured by ac, on ln until the test ends.
func serveHub(t testing.TB, ln net.Listener, ac api.Config) *hub.Server {
	t.Helper()
	peers, err := api.NewPeers(ac)
	if err != nil {
		t.Fatal(err)
	}
	hc := new(hubtest.Network).Config(ac.NodeID, true)
	hc.Forward = peers.Forward
	n, err := hub.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	as, err := api.New(ac, n, peers)
	if err != nil {
		t.Fatal(err)
	}
	base, endRequests := context.WithCancel(context.Background())
	srv := as.HTTPServer(base)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		endRequests()
		srv.Close()
		<-served
		n.Close(context.Background())
	})
	waitFor(t, "a leader", n.IsLeader)
	return n
}

// waitFor polls cond every 10 ms for up to 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer collects the client's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type edge struct {
	t    testing.TB
	path string
	st   *store.Store
	id   string
	logs *logBuffer
}

func openEdge(t testing.TB, path string) *edge {
	t.Helper()
	o := store.DefaultOptions(path)
	o.NodeName, o.NoSync, o.Populate = "till-1", true, false
	st, err := store.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	return &edge{t: t, path: path, st: st, id: fmt.Sprintf("%016x", uint64(st.Node())), logs: &logBuffer{}}
}

// sync runs a client against url, its config edited by edits, until
// the test (or stop) ends it.
func (e *edge) sync(url string, edits ...func(*hubsync.Config)) (stop func()) {
	e.t.Helper()
	hc := hubsync.DefaultConfig()
	hc.URLs, hc.Token, hc.Edge = []string{url}, syncToken, e.id
	hc.BatchEntries = 64 // several pushes per resync
	hc.FeedWait = 50 * time.Millisecond
	hc.MinBackoff, hc.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	hc.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	for _, edit := range edits {
		edit(&hc)
	}
	c, err := hubsync.New(e.st, hc)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Start()
	stop = func() {
		if err := c.Close(context.Background()); err != nil {
			e.t.Error(err)
		}
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *edge) ingest(bodies ...string) {
	e.t.Helper()
	evs := make([]store.Event, len(bodies))
	for i, b := range bodies {
		m, err := profile.ParseMessage([]byte(b), "", time.Now(), profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
		if err != nil {
			e.t.Fatal(err)
		}
		evs[i] = store.Event{Msg: m, Source: "pos"}
	}
	if _, err := e.st.Ingest(context.Background(), evs); err != nil {
		e.t.Fatal(err)
	}
}

// orders ingests n orders, one per user u<from>…u<from+n-1>, and links
// every tenth user's anonymous browsing profile to it (a redirect).
func (e *edge) orders(from, n int) {
	e.t.Helper()
	var bodies []string
	for i := from; i < from+n; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":"u%d","messageId":"o%d","properties":{"revenue":%d,"currency":"USD"}}`, i, i, 10+i))
		if i%10 == 0 {
			bodies = append(bodies,
				fmt.Sprintf(`{"type":"page","anonymousId":"a%d","messageId":"p%d"}`, i, i),
				fmt.Sprintf(`{"type":"identify","anonymousId":"a%d","userId":"u%d","messageId":"i%d","traits":{"plan":"gold"}}`, i, i, i))
		}
	}
	e.ingest(bodies...)
}

// settled reports whether the hub acknowledged every outbox entry and
// the edge has read the hub's feed up to the hub's last change (a page
// read before an acknowledgement may briefly hold an older state): the
// feed has nothing after the edge's cursor. (Not the hub's Raft index:
// commands that change no cluster — an edge's registration, receipts,
// audit entries — move the index and not the feed.)
func (e *edge) settled(h *hub.Server) bool {
	last, err1 := e.st.LastSeq()
	cur, err2 := e.st.Cursor(hubsync.PushCursor)
	feed, err3 := e.st.Position(hubsync.FeedCursor)
	if err1 != nil || err2 != nil || err3 != nil || cur != last || h.FSM().EdgeSeq(e.id) != last {
		return false
	}
	p := h.FSM().FeedPage(feed, 1)
	return len(p.Items) == 0 && p.Catalog == nil && p.Next <= feed
}

// holds checks that hub h holds users u<from>… as this edge does: the
// same canonical profile, state included.
func (e *edge) holds(h *hub.Server, from, n int) error {
	for i := from; i < from+n; i++ {
		id, err := e.st.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: fmt.Sprint("u", i)})
		if err != nil {
			return err
		}
		want, err := e.st.Profile(id)
		if err != nil {
			return err
		}
		v, err := h.FSM().Profile(id)
		if err != nil {
			return fmt.Errorf("u%d (%s): %w", i, id, err)
		}
		if v.ID != id || !v.Profile.Equal(want) {
			return fmt.Errorf("u%d: hub holds %s %v, edge %s (equal states: %v)", i, v.ID, v.Fragments, id, v.Profile.Equal(want))
		}
	}
	return nil
}

func (e *edge) noBehind() {
	e.t.Helper()
	if logs := e.logs.String(); strings.Contains(logs, hubsync.ErrBehind.Error()) {
		e.t.Fatalf("the client hit ErrBehind:\n%s", logs)
	}
}

// An edge synced with hub A is pointed at a brand-new hub B: its first
// push is a gap expecting 1, far below its trimmed outbox; it resyncs
// its full state, B ends holding every profile, and sync goes on.
func TestResyncToNewHub(t *testing.T) {
	a, urlA := newHub(t, "hub-a")
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	e.orders(0, 300)
	stopA := e.sync(urlA)
	waitFor(t, "sync with hub A", func() bool { return e.settled(a) })
	stopA()
	if err := e.holds(a, 0, 300); err != nil {
		t.Fatal(err)
	}
	// Acknowledged entries were trimmed (how far depends on every
	// reader's cursor; the first ones are gone for sure).
	if es, err := e.st.Outbox(0, 1); err != nil || len(es) > 0 && es[0].Seq == 1 {
		t.Fatalf("outbox still starts at 1 (%v) after hub A acknowledged everything", err)
	}
	acked, _ := e.st.LastSeq()

	b, urlB := newHub(t, "hub-b")
	e.sync(urlB)
	e.orders(300, 5) // the next write finds out
	waitFor(t, "resync with hub B", func() bool { return e.settled(b) })
	rr, err := e.st.LastResync()
	if err != nil || rr.Start <= acked {
		t.Fatalf("LastResync = %+v (%v), want a resync above %d", rr, err, acked)
	}
	if err := e.holds(b, 0, 305); err != nil {
		t.Fatal(err)
	}

	// Normal sync again: new entries are contiguous, no second resync.
	e.orders(305, 20)
	e.ingest(`{"type":"track","event":"Order Completed","userId":"u3","messageId":"again-3","properties":{"revenue":5,"currency":"USD"}}`)
	waitFor(t, "sync after the resync", func() bool { return e.settled(b) })
	if err := e.holds(b, 0, 325); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.st.LastResync(); again != rr {
		t.Fatalf("a second resync ran: %+v after %+v", again, rr)
	}
	e.noBehind()
}

// A new hub that expects entries the edge still holds (another reader's
// cursor kept them from being trimmed) gets them resent: no resync.
func TestNewHubResendsHeldEntries(t *testing.T) {
	a, urlA := newHub(t, "hub-a")
	e := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	if err := e.st.SetCursor("gossip", 0); err != nil { // a reader that never moves
		t.Fatal(err)
	}
	e.orders(0, 50)
	stop := e.sync(urlA)
	waitFor(t, "sync with hub A", func() bool { return e.settled(a) })
	stop()

	b, urlB := newHub(t, "hub-b")
	e.sync(urlB)
	e.orders(50, 1)
	waitFor(t, "sync with hub B", func() bool { return e.settled(b) })
	if err := e.holds(b, 0, 51); err != nil {
		t.Fatal(err)
	}
	if rr, _ := e.st.LastResync(); rr != (store.ResyncRange{}) {
		t.Fatalf("resynced (%+v) although the outbox held every entry", rr)
	}
	e.noBehind()
}

// An edge whose data directory is restored from an older copy reuses
// sequences the hub already holds: the hub answers them as duplicates.
// The edge notices that the hub holds more than it ever wrote and
// resyncs above the hub's sequence, so nothing written since is lost.
func TestResyncAfterRestoredCopy(t *testing.T) {
	h, url := newHub(t, "hub-a")
	path := filepath.Join(t.TempDir(), "edge.db")
	e := openEdge(t, path)
	e.orders(0, 20)
	stop := e.sync(url)
	waitFor(t, "first sync", func() bool { return e.settled(h) })
	stop()
	// Copy the data directory, write and sync more, then restore.
	if err := e.st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	backup := path + ".bak"
	copyFile(t, path, backup)
	e = openEdge(t, path)
	e.orders(20, 40)
	stop = e.sync(url)
	waitFor(t, "second sync", func() bool { return e.settled(h) })
	stop()
	hubSeq := h.FSM().EdgeSeq(e.id)
	if err := e.st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	copyFile(t, backup, path)

	e = openEdge(t, path)
	e.orders(1000, 3) // new users after the restore, under reused sequences
	if last, _ := e.st.LastSeq(); last >= hubSeq {
		t.Fatalf("restored edge at sequence %d, hub at %d: the test needs reused sequences", last, hubSeq)
	}
	e.sync(url)
	waitFor(t, "sync after the restore", func() bool { return e.settled(h) })
	if rr, _ := e.st.LastResync(); rr.Start <= hubSeq {
		t.Fatalf("LastResync = %+v, want a resync above the hub's %d", rr, hubSeq)
	}
	if err := e.holds(h, 1000, 3); err != nil {
		t.Fatal(err)
	}
	e.noBehind()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
