package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/edge/hubsync"
	"ucv/edge/store"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

func openTestEdge(t testing.TB, path, name string) *store.Store {
	t.Helper()
	o := store.DefaultOptions(path)
	o.NodeName = name
	st, err := store.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// syncEdge starts a hub sync client for st; cfg tweaks the defaults.
func syncEdge(t testing.TB, st *store.Store, urls []string, cfg func(*hubsync.Config)) *hubsync.Client {
	t.Helper()
	hc := hubsync.DefaultConfig()
	hc.URLs, hc.Edge = urls, fmt.Sprintf("%016x", uint64(st.Node()))
	hc.FeedWait = 2 * time.Second
	if cfg != nil {
		cfg(&hc)
	}
	c, err := hubsync.New(st, hc)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	return c
}

func ingestJSON(t testing.TB, st *store.Store, body string) {
	t.Helper()
	m, err := profile.ParseMessage([]byte(body), "", time.Now(), profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(context.Background(), []store.Event{{Msg: m}}); err != nil {
		t.Fatal(err)
	}
}

func cursorOf(st *store.Store, name string) uint64 {
	v, _ := st.Cursor(name)
	return v
}

// feedOf returns the edge's hub feed position.
func feedOf(st *store.Store) uint64 {
	v, _ := st.Position(hubsync.FeedCursor)
	return v
}

// TestHubSnapshotBootstrap: a new edge starts from the hub's streamed
// snapshot (one stream, not the feed from 0), ends with the same people
// as the edge that wrote them (same canonical IDs, same rendered views),
// then follows the feed from the snapshot's index; an edge that was away
// for more than BootstrapLag Raft indexes bootstraps again.
func TestHubSnapshotBootstrap(t *testing.T) {
	dir := t.TempDir()
	h, err := startHubNode(hubConfig{dataDir: filepath.Join(dir, "hub"), httpAddr: "127.0.0.1:0", raftAddr: "127.0.0.1:0",
		nodeID: "hub-1", bootstrap: true, shutdownTimeout: 10 * time.Second, peerInterval: time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	urls := []string{h.url}
	waitFor(t, 20*time.Second, "the hub to lead", func() bool { l, _ := hubStatusURL(h.url); return l == "hub-1" })

	a := openTestEdge(t, filepath.Join(dir, "a.db"), "store-a")
	t.Cleanup(func() { a.Close(context.Background()) })
	ac := syncEdge(t, a, urls, nil)
	t.Cleanup(func() { ac.Close(context.Background()) })
	const users = 40
	var anons []string
	for u := range users {
		for d := range 2 { // two devices per person, joined by the e-mail
			anon := fmt.Sprintf("u%d-d%d", u, d)
			anons = append(anons, anon)
			ingestJSON(t, a, fmt.Sprintf(`{"type":"identify","anonymousId":%q,"messageId":"id-%s","traits":{"email":"user%d@example.com","plan":"gold"}}`, anon, anon, u))
		}
		ingestJSON(t, a, fmt.Sprintf(`{"type":"track","anonymousId":"u%d-d1","messageId":"o-%d","event":"Order Completed","properties":{"total":%d.5,"currency":"EUR"}}`, u, u, u+1))
	}
	synced := func(st *store.Store) func() bool {
		return func() bool {
			last, _ := st.LastSeq()
			idx := h.node.FSM().Index()
			return cursorOf(st, hubsync.PushCursor) >= last && idx > 0 && feedOf(st) >= idx
		}
	}
	waitFor(t, 30*time.Second, "edge A to push everything and read the feed", synced(a))

	same := func(b *store.Store) error {
		for _, anon := range anons {
			id := profile.Identifier{Type: profile.AnonymousID, Value: anon}
			va, err1 := a.LookupIdentifier(id)
			vb, err2 := b.LookupIdentifier(id)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("%s: %v / %v", anon, err1, err2)
			}
			if va.ID != vb.ID || !bytes.Equal(va.JSON, vb.JSON) {
				return fmt.Errorf("%s: edge A has %s %s\nthe new edge has %s %s", anon, va.ID, va.JSON, vb.ID, vb.JSON)
			}
		}
		return nil
	}

	bPath := filepath.Join(dir, "b.db")
	b := openTestEdge(t, bPath, "store-b")
	bc := syncEdge(t, b, urls, nil)
	waitFor(t, 30*time.Second, "the new edge to bootstrap", func() bool { return bc.Stats().Bootstraps == 1 && synced(b)() })
	if err := same(b); err != nil {
		t.Fatal(err)
	}
	// After the snapshot the feed goes on from its index.
	ingestJSON(t, a, `{"type":"identify","anonymousId":"late","messageId":"late-1","traits":{"email":"user3@example.com"}}`)
	waitFor(t, 20*time.Second, "an event after the snapshot to reach the new edge", func() bool {
		v, err := b.LookupIdentifier(profile.Identifier{Type: profile.AnonymousID, Value: "late"})
		return err == nil && v.ID != ""
	})
	if n := bc.Stats().Bootstraps; n != 1 {
		t.Fatalf("%d bootstraps for one new edge", n)
	}

	// Away for more than BootstrapLag indexes: a second bootstrap.
	if err := bc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		ingestJSON(t, a, fmt.Sprintf(`{"type":"track","anonymousId":"u%d-d0","messageId":"away-%d","event":"Page Viewed"}`, i, i))
		waitFor(t, 10*time.Second, "a push", func() bool { last, _ := a.LastSeq(); return cursorOf(a, hubsync.PushCursor) >= last })
	}
	waitFor(t, 30*time.Second, "edge A to catch up", synced(a))
	bc = syncEdge(t, b, urls, func(c *hubsync.Config) { c.BootstrapLag = 5 })
	t.Cleanup(func() { bc.Close(context.Background()) })
	waitFor(t, 30*time.Second, "the returning edge to bootstrap again", func() bool { return bc.Stats().Bootstraps == 1 && synced(b)() })
	if err := same(b); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(); err != nil {
		t.Fatalf("store invariants after two bootstraps: %v", err)
	}
	b.Close(context.Background())
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err == nil && v > 0 {
		return v
	}
	return def
}

// postPush posts a sync push to a hub node's /v1/sync/push, retrying
// while the hub has no leader (503); any other answer but 200 is an
// error.
func postPush(client *http.Client, url string, body []byte) error {
	for {
		resp, err := client.Post(url+"/v1/sync/push", "application/msgpack", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusServiceUnavailable:
			time.Sleep(10 * time.Millisecond)
			continue
		}
		return fmt.Errorf("push: status %d", resp.StatusCode)
	}
}

// loadHub pushes events outbox entries from four simulated edges (each
// its own profiles; every profile's first event an identify with an
// e-mail, the rest orders) through the hub nodes, 1,000 per push, and
// returns when all are committed.
func loadHub(b *testing.B, hubs []*hubNode, events, profiles int) {
	const edges, batch = 4, 1000
	client := &http.Client{Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, edges)
	for e := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprint("load-", e)
			ed := hubtest.NewEdge(name, crdt.ReplicaID(5000+e))
			per, perProfiles := events/edges, max(profiles/edges, 1)
			url := hubs[e%len(hubs)].url
			for done := 0; done < per; {
				var es []replication.Entry
				for ; len(es) < batch && done < per; done++ {
					p := done % perProfiles
					ev := hubtest.Event{Profile: fmt.Sprintf("L%d-%07d", e, p), Name: "Order Completed", Revenue: 10}
					if done < perProfiles {
						ev = hubtest.Event{Profile: ev.Profile, Kind: profile.Identify,
							IDs:    []profile.Identifier{hubtest.Email(fmt.Sprintf("c%d-%d@example.com", e, p))},
							Traits: map[string]any{"plan": "gold"}}
					}
					es = append(es, ed.Delta(ev))
				}
				body, err := replication.MarshalSyncPush(&replication.SyncPush{Edge: name, First: es[0].Seq, Entries: es})
				if err != nil {
					errs <- err
					return
				}
				if err := postPush(client, url, body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkHubCatchUp measures how long an edge that was offline while
// UCV_CATCHUP_EVENTS events (default 1,000,000) happened elsewhere, on
// UCV_CATCHUP_PROFILES people (default 100,000), takes to catch up with
// a 3-node hub on loopback: until its feed cursor reaches the hub's
// index and every person is in its store. "snapshot" is a new edge (it
// streams the hub's snapshot); "feed" is an edge that had synced before
// and pages the state-based change feed. Loading the hub is not timed.
// Run: go test -run '^$' -bench HubCatchUp -benchtime 1x -timeout 60m ./cmd/ucv
func BenchmarkHubCatchUp(b *testing.B) {
	events, profiles := envInt("UCV_CATCHUP_EVENTS", 1_000_000), envInt("UCV_CATCHUP_PROFILES", 100_000)
	hubs := startBenchHubs(b)
	urls := []string{hubs[1].url, hubs[2].url, hubs[0].url}
	dir := b.TempDir()
	// The returning edge syncs once with the empty hub, then goes away.
	away := openTestEdge(b, filepath.Join(dir, "away.db"), "away")
	defer away.Close(context.Background())
	c := syncEdge(b, away, urls, nil)
	for deadline := time.Now().Add(20 * time.Second); c.Stats().Bootstraps == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the edge did not sync with the empty hub")
		}
	}
	c.Close(context.Background())

	start := time.Now()
	loadHub(b, hubs, events, profiles)
	b.Logf("loaded %d events on %d profiles in %s (%.0f events/s)", events, profiles, time.Since(start).Round(time.Millisecond),
		float64(events)/time.Since(start).Seconds())
	head := hubs[0].node.FSM().Index()
	for _, h := range hubs {
		for h.node.FSM().Index() < head {
			time.Sleep(10 * time.Millisecond)
		}
	}

	run := func(b *testing.B, st *store.Store, cfg func(*hubsync.Config)) {
		b.ResetTimer()
		start := time.Now()
		c := syncEdge(b, st, urls, cfg)
		defer c.Close(context.Background())
		for feedOf(st) < head {
			if time.Since(start) > 30*time.Minute {
				b.Fatal("no catch-up in 30 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		s, err := st.Stats()
		if err != nil {
			b.Fatal(err)
		}
		if s.Profiles != profiles {
			var missing []string
			for e := range 4 {
				for p := range profiles / 4 {
					id := fmt.Sprintf("L%d-%07d", e, p)
					if _, err := st.Profile(id); err != nil {
						missing = append(missing, id)
					}
				}
			}
			if len(missing) > 6 {
				missing = append(missing[:3], missing[len(missing)-3:]...)
			}
			b.Fatalf("caught up with %d profiles, want %d; missing e.g. %v; stats %+v", s.Profiles, profiles, missing, c.Stats())
		}
		b.ReportMetric(took.Seconds(), "catchup_s")
		b.ReportMetric(float64(events)/took.Seconds(), "events/s")
		b.ReportMetric(float64(c.Stats().Bootstraps), "bootstraps")
	}
	b.Run("snapshot", func(b *testing.B) {
		st := openTestEdge(b, filepath.Join(b.TempDir(), "new.db"), "new")
		defer st.Close(context.Background())
		run(b, st, nil)
	})
	b.Run("feed", func(b *testing.B) {
		run(b, away, func(c *hubsync.Config) { c.Bootstrap, c.BootstrapLag = false, 0 })
	})
}

// startTestHub runs a single-node hub in this process.
func startTestHub(t *testing.T, dir, id string) *hubNode {
	t.Helper()
	h, err := startHubNode(hubConfig{dataDir: filepath.Join(dir, id), httpAddr: "127.0.0.1:0", raftAddr: "127.0.0.1:0",
		nodeID: id, bootstrap: true, shutdownTimeout: 10 * time.Second, peerInterval: time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	waitFor(t, 20*time.Second, id+" to lead", func() bool { l, _ := hubStatusURL(h.url); return l == id })
	return h
}

// pushDirect commits n pushes of one entry each, from `parallel`
// simulated edges at once (so Raft commits them in groups).
func pushDirect(t *testing.T, url, edge string, node crdt.ReplicaID, n, parallel int, prefix string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for g := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("%s-%d", edge, g)
			ed := hubtest.NewEdge(name, node+crdt.ReplicaID(g))
			for i := g; i < n; i += parallel {
				e := ed.Delta(hubtest.Event{Profile: fmt.Sprintf("%s%05d", prefix, i%50), Name: "Page Viewed"})
				body, err := replication.MarshalSyncPush(&replication.SyncPush{Edge: name, First: e.Seq, Entries: []replication.Entry{e}})
				if err != nil {
					errs <- err
					return
				}
				if err := postPush(http.DefaultClient, url, body); err != nil {
					errs <- fmt.Errorf("push %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestHubRebuiltBootstrap: an edge whose feed cursor lies far beyond the
// index of the hub it now talks to (the hub cluster was rebuilt from
// scratch) takes the hub's snapshot instead of waiting for positions it
// has already passed, and then follows that hub's feed.
func TestHubRebuiltBootstrap(t *testing.T) {
	dir := t.TempDir()
	old := startTestHub(t, dir, "old-hub")
	pushDirect(t, old.url, "other-edge", 7001, hubsync.RebuiltSlack+100, 16, "O")
	st := openTestEdge(t, filepath.Join(dir, "e.db"), "e")
	defer st.Close(context.Background())
	c := syncEdge(t, st, []string{old.url}, nil)
	waitFor(t, 30*time.Second, "the edge to read the old hub", func() bool { return feedOf(st) > hubsync.RebuiltSlack })
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	fresh := startTestHub(t, dir, "new-hub")
	pushDirect(t, fresh.url, "third-edge", 7100, 3, 1, "N")
	c = syncEdge(t, st, []string{fresh.url}, nil)
	defer c.Close(context.Background())
	waitFor(t, 30*time.Second, "the edge to bootstrap from the rebuilt hub", func() bool {
		_, err := st.Profile("N00002")
		return c.Stats().Bootstraps == 1 && err == nil && feedOf(st) <= fresh.node.FSM().Index()
	})
	pushDirect(t, fresh.url, "fourth-edge", 7200, 1, 1, "F")
	waitFor(t, 20*time.Second, "the rebuilt hub's feed to reach the edge", func() bool { _, err := st.Profile("F00000"); return err == nil })
}
