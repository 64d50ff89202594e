package hubsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/edge/store"
	"ucv/profile"
	"ucv/replication"
)

// privacyHub is a test double of the hub's sync endpoints, speaking the
// real replication messages over a real socket: the hub side of POST
// /v1/sync/privacy is built in parallel (docs/decisions/0040-privacy.md);
// the end-to-end test against the real hub belongs to the integration.
// It answers the privacy call with the directives the edge has not
// confirmed, an empty feed at index 7, acks every push, and serves an
// empty snapshot at index 7.
type privacyHub struct {
	t    *testing.T
	salt []byte
	srv  *httptest.Server
	// onDone runs when a privacy call confirms request IDs, before the
	// hub commits them (the edge's file must then be clean).
	onDone func(done []string)

	mu         sync.Mutex
	directives []replication.Directive
	confirmed  map[string]bool
	calls      []string // the paths requested, in order
	edges      []string // PrivacySync.Edge of each privacy call
	noPrivacy  bool     // answer 404 to privacy calls (an older hub)
}

func newPrivacyHub(t *testing.T, ds ...replication.Directive) *privacyHub {
	h := &privacyHub{t: t, salt: bytes.Repeat([]byte{9}, replication.SaltBytes), directives: ds, confirmed: map[string]bool{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *privacyHub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.calls = append(h.calls, r.URL.Path)
	noPrivacy := h.noPrivacy
	h.mu.Unlock()
	reply := func(b []byte, err error) {
		if err != nil {
			h.t.Errorf("hub double: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Hub-Index", "7")
		w.Write(b)
	}
	switch r.URL.Path {
	case "/v1/sync/privacy":
		if noPrivacy {
			http.NotFound(w, r)
			return
		}
		p, err := replication.UnmarshalPrivacySync(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(p.Done) > 0 && h.onDone != nil {
			h.onDone(p.Done)
		}
		h.mu.Lock()
		h.edges = append(h.edges, p.Edge)
		for _, id := range p.Done {
			h.confirmed[id] = true
		}
		ans := &replication.PrivacyDirectives{Salt: h.salt}
		for _, d := range h.directives {
			if !h.confirmed[d.ID] {
				ans.Directives = append(ans.Directives, d)
			}
		}
		h.mu.Unlock()
		reply(replication.MarshalPrivacyDirectives(ans))
	case "/v1/sync/feed":
		reply(replication.MarshalFeedResponse(&replication.FeedResponse{Next: 7}))
	case "/v1/sync/push":
		p, err := replication.UnmarshalSyncPush(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reply(replication.MarshalSyncAck(&replication.SyncAck{Status: replication.AckApplied, Seq: p.Entries[len(p.Entries)-1].Seq, Index: 7}))
	case "/v1/sync/snapshot":
		sw, err := replication.NewSnapshotWriter(w, &replication.SnapshotHeader{Index: 7})
		if err == nil {
			err = sw.Close()
		}
		if err != nil {
			h.t.Errorf("hub double: snapshot: %v", err)
		}
	default:
		http.NotFound(w, r)
	}
}

func (h *privacyHub) snapshot() (calls, edges []string, confirmed map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := make(map[string]bool, len(h.confirmed))
	for k, v := range h.confirmed {
		c[k] = v
	}
	return slices.Clone(h.calls), slices.Clone(h.edges), c
}

const (
	pEmail = "zebediah.quux@example.com"
	pName  = "Zebediah Quixotefield"
	pUser  = "u-zebediah-7731"
)

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	o := store.DefaultOptions(path)
	o.CompactDelay = time.Hour // only the privacy step compacts
	st, err := store.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	return st
}

func ingestPerson(t *testing.T, st *store.Store) string {
	t.Helper()
	var evs []store.Event
	for i := range 4 {
		m, err := profile.ParseMessage([]byte(fmt.Sprintf(`{"type":"identify","userId":%q,"messageId":"m%d","traits":{"email":%q,"name":%q,"n":%d}}`,
			pUser, i, pEmail, pName, i)), "", time.Now(), profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, store.Event{Msg: m})
	}
	for _, e := range evs { // one commit each, so old pages are freed
		if _, err := st.Ingest(context.Background(), []store.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := st.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: pUser})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func fileHolds(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(pEmail)) || bytes.Contains(b, []byte(pName)) || bytes.Contains(b, []byte(pUser))
}

func privacyClient(t *testing.T, st Store, url string, bootstrap bool) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URLs, cfg.Edge = []string{url}, "edge-7"
	cfg.Bootstrap = bootstrap
	cfg.FeedWait = 0
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	c, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The privacy step carries the hub's directives out in Index order,
// compacts before it confirms (the double checks the edge's file when a
// confirmation arrives), and confirms on its next call.
func TestSyncPrivacy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	st := openStore(t, path)
	pid := ingestPerson(t, st)
	if !fileHolds(t, path) {
		t.Fatal("control: the file does not hold the person before erasure")
	}
	var h *privacyHub
	salt := bytes.Repeat([]byte{9}, replication.SaltBytes)
	key := crdt.TombstoneKey(salt, "email:"+pEmail)
	h = newPrivacyHub(t,
		// Out of Index order on purpose: suppress (3) must follow erase (2).
		replication.Directive{ID: "r-sup", Type: replication.DirectiveSuppress, Index: 3, Keys: []string{key}},
		replication.Directive{ID: "r-erase", Type: replication.DirectiveErase, Index: 2, At: time.Now().UnixMilli(), ProfileIDs: []string{pid}, Keys: []string{key}},
	)
	h.onDone = func(done []string) {
		if slices.Contains(done, "r-erase") && fileHolds(t, path) {
			t.Errorf("the edge confirmed the erasure while its file still holds the person")
		}
	}
	c := privacyClient(t, st, h.srv.URL, false)
	n, err := c.SyncPrivacy(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("SyncPrivacy = %d, %v; want 2 directives", n, err)
	}
	calls, edges, confirmed := h.snapshot()
	if len(calls) != 2 || !confirmed["r-erase"] || !confirmed["r-sup"] {
		t.Fatalf("calls %v, confirmed %v: want a second call confirming both", calls, confirmed)
	}
	if edges[0] != "edge-7" {
		t.Errorf("PrivacySync.Edge = %q, want the push edge ID", edges[0])
	}
	if done, _ := st.PrivacyDone(); len(done) != 0 {
		t.Errorf("PrivacyDone after confirmation = %v", done)
	}
	if !bytes.Equal(st.Salt(), salt) {
		t.Error("the hub's salt was not stored")
	}
	if _, err := st.LookupIdentifier(profile.Identifier{Type: profile.Email, Value: pEmail}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lookup after erasure: %v", err)
	}
	if fileHolds(t, path) {
		t.Error("the file still holds the person")
	}
	// The suppression came after the erasure and holds.
	m, _ := profile.ParseMessage([]byte(fmt.Sprintf(`{"type":"identify","userId":"x","messageId":"mx","traits":{"email":%q}}`, pEmail)),
		"", time.Now(), profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
	if res, err := st.Ingest(context.Background(), []store.Event{{Msg: m}}); err != nil || res.Suppressed != 1 {
		t.Errorf("an event of the suppressed e-mail: %+v, %v", res, err)
	}
}

// A crash after carrying a directive out and before confirming it: on
// restart the step compacts first, then confirms it.
func TestSyncPrivacyAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	st := openStore(t, path)
	pid := ingestPerson(t, st)
	d := replication.Directive{ID: "r-1", Type: replication.DirectiveErase, Index: 5, At: time.Now().UnixMilli(), ProfileIDs: []string{pid}}
	if err := st.ApplyDirective(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(context.Background()); err != nil { // the "crash": no compaction, no confirmation
		t.Fatal(err)
	}
	st = openStore(t, path)
	if !st.CompactPending() {
		t.Fatal("the pending compaction did not survive the restart")
	}
	h := newPrivacyHub(t, d)
	var first []string
	h.onDone = func(done []string) {
		if first == nil {
			first = done
		}
		if fileHolds(t, path) {
			t.Errorf("confirmed %v while the file holds the person", done)
		}
	}
	c := privacyClient(t, st, h.srv.URL, false)
	if n, err := c.SyncPrivacy(context.Background()); err != nil || n != 0 {
		t.Fatalf("SyncPrivacy = %d, %v; want nothing new to carry out", n, err)
	}
	if !slices.Equal(first, []string{"r-1"}) {
		t.Errorf("the first call confirmed %v, want [r-1]", first)
	}
	if _, _, confirmed := h.snapshot(); !confirmed["r-1"] {
		t.Error("r-1 not confirmed")
	}
}

// The pull loop runs the step before the snapshot bootstrap and before
// each feed pull; a hub without the endpoint (404) does not stop it.
func TestPullRunsPrivacyFirst(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bootstrap bool
		noPrivacy bool
	}{{"bootstrap", true, false}, {"feed", false, false}, {"hub without privacy", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edge.db")
			st := openStore(t, path)
			pid := ingestPerson(t, st)
			h := newPrivacyHub(t, replication.Directive{ID: "r-b", Type: replication.DirectiveErase, Index: 1,
				At: time.Now().UnixMilli(), ProfileIDs: []string{pid}})
			h.noPrivacy = tc.noPrivacy
			c := privacyClient(t, st, h.srv.URL, tc.bootstrap)
			c.Start()
			t.Cleanup(func() { c.Close(context.Background()) })
			deadline := time.Now().Add(30 * time.Second)
			for {
				pos, err := st.Position(FeedCursor)
				if err != nil {
					t.Fatal(err)
				}
				if pos == 7 {
					break
				}
				if time.Now().After(deadline) {
					calls, _, _ := h.snapshot()
					t.Fatalf("feed cursor %d after 30 s; calls %v", pos, calls)
				}
				time.Sleep(10 * time.Millisecond)
			}
			calls, _, _ := h.snapshot()
			var pulls []string
			for _, p := range calls {
				if p != "/v1/sync/push" {
					pulls = append(pulls, p)
				}
			}
			want := "/v1/sync/feed"
			if tc.bootstrap {
				want = "/v1/sync/snapshot"
			}
			if len(pulls) < 2 || pulls[0] != "/v1/sync/privacy" || !slices.Contains(pulls, want) {
				t.Fatalf("requests %v: want the privacy call first, then %s", pulls, want)
			}
			_, err := st.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: pUser})
			if tc.noPrivacy != (err == nil) {
				t.Errorf("lookup after sync: %v (hub without privacy: %v)", err, tc.noPrivacy)
			}
		})
	}
}
