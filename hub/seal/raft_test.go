package seal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// The person of these tests: an identifier and a trait value.
const (
	markEmail = "ann@example.com"
	markTrait = "Zuzanna-Quixotic-Trait"
)

// kv is a small FSM: "set KEY VALUE" and "del KEY".
type kv struct {
	mu sync.Mutex
	m  map[string]string
}

func (f *kv) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	op, rest, _ := strings.Cut(string(l.Data), " ")
	k, v, _ := strings.Cut(rest, " ")
	switch op {
	case "set":
		f.m[k] = v
	case "del":
		delete(f.m, k)
	}
	return nil
}

func (f *kv) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.m)
	return kvSnap(b), err
}

func (f *kv) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	m := map[string]string{}
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return err
	}
	f.mu.Lock()
	f.m = m
	f.mu.Unlock()
	return nil
}

func (f *kv) get(k string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[k]
	return v, ok
}

type kvSnap []byte

func (s kvSnap) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (kvSnap) Release() {}

// node is a Raft node on real files in dir: raft.db (raft-boltdb) and a
// file snapshot store, sealed unless plain.
type node struct {
	t      *testing.T
	id     string
	dir    string
	kek    []byte
	plain  bool
	r      *raft.Raft
	bolt   *raftboltdb.BoltStore
	stores *Stores // nil when plain
	fsm    *kv
	trans  *raft.InmemTransport
}

func testRaftConfig(id string) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	c.HeartbeatTimeout = 250 * time.Millisecond
	c.ElectionTimeout = 250 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 1 << 20
	c.SnapshotInterval = time.Hour
	c.LogOutput = io.Discard
	return c
}

func (n *node) start(bootstrap []raft.Server) {
	t := n.t
	t.Helper()
	var k *Keyring
	if !n.plain {
		k = openKeyring(t, n.dir, n.kek)
		if _, err := MigrateBolt(filepath.Join(n.dir, "raft.db"), k); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	n.bolt, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(n.dir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	fss, err := raft.NewFileSnapshotStore(n.dir, 3, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs raft.LogStore = n.bolt
	var snaps raft.SnapshotStore = fss
	if !n.plain {
		n.stores, err = NewStores(k, n.bolt, fss, FileRemover(n.dir))
		if err != nil {
			t.Fatal(err)
		}
		logs, snaps = n.stores.Logs, n.stores.Snapshots
	}
	_, n.trans = raft.NewInmemTransport(raft.ServerAddress(n.id))
	cfg := testRaftConfig(n.id)
	if bootstrap != nil {
		if has, _ := raft.HasExistingState(logs, n.bolt, snaps); !has {
			if err := raft.BootstrapCluster(cfg, logs, n.bolt, snaps, n.trans, raft.Configuration{Servers: bootstrap}); err != nil {
				t.Fatal(err)
			}
		}
	}
	n.fsm = &kv{m: map[string]string{}}
	n.r, err = raft.NewRaft(cfg, n.fsm, logs, n.bolt, snaps, n.trans)
	if err != nil {
		t.Fatal(err)
	}
}

func (n *node) stop() {
	if n.r == nil {
		return
	}
	if err := n.r.Shutdown().Error(); err != nil {
		n.t.Error(err)
	}
	n.bolt.Close()
	n.r = nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func apply(t *testing.T, r *raft.Raft, cmds ...string) {
	t.Helper()
	var last raft.ApplyFuture
	for _, c := range cmds {
		last = r.Apply([]byte(c), 10*time.Second)
	}
	if err := last.Error(); err != nil {
		t.Fatal(err)
	}
}

func filler(from, to int) []string {
	var cmds []string
	for i := from; i < to; i++ {
		cmds = append(cmds, fmt.Sprintf("set k%d value-%d-%s", i, i, strings.Repeat("f", 200)))
	}
	return cmds
}

// person writes the marked person, snapshots with them in it, writes
// more, erases them from the FSM and writes more again: afterwards the
// FSM holds nothing of them, but the files do (log entries, the first
// snapshot, free pages).
func person(t *testing.T, r *raft.Raft) {
	t.Helper()
	apply(t, r, filler(0, 50)...)
	apply(t, r, "set ann "+markEmail, "set ann-name "+markTrait)
	apply(t, r, filler(50, 100)...)
	if err := r.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	apply(t, r, filler(100, 150)...)
	apply(t, r, "del ann", "del ann-name")
	apply(t, r, filler(150, 200)...)
}

func grepBoth(t *testing.T, dir string, want bool) {
	t.Helper()
	grepDir(t, dir, markEmail, want)
	grepDir(t, dir, markTrait, want)
}

// readable returns every plaintext the node's keyring can still open:
// every log entry and every snapshot.
func readable(t *testing.T, n *node) []byte {
	t.Helper()
	var all []byte
	first, _ := n.stores.Logs.FirstIndex()
	last, _ := n.stores.Logs.LastIndex()
	for i := first; i <= last && first > 0; i++ {
		var l raft.Log
		if err := n.stores.Logs.GetLog(i, &l); err != nil && !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("entry %d unreadable after shred: %v", i, err)
		}
		all = append(all, l.Data...)
	}
	metas, err := n.stores.Snapshots.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		_, rc, err := n.stores.Snapshots.Open(m.ID)
		if err != nil {
			t.Fatalf("snapshot %s unreadable after shred: %v", m.ID, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestShredLeavesNoTrace is the proof of issue 12 for the hub's files,
// on one real Raft node: after the FSM forgot the person and Shred ran,
// no file under the data directory holds their identifier or trait
// value, the keys still held open nothing of them, the entries sealed
// before Shred no longer open at all, and the node restarts with its
// state. The control — the same steps on plain stores, compacted alike
// — finds the person in the files, so the grep can see them.
func TestShredLeavesNoTrace(t *testing.T) {
	servers := []raft.Server{{ID: "n1", Address: "n1"}}
	t.Run("control: unsealed files keep the person", func(t *testing.T) {
		n := &node{t: t, id: "n1", dir: t.TempDir(), plain: true}
		n.start(servers)
		defer n.stop()
		waitFor(t, "leader", func() bool { return n.r.State() == raft.Leader })
		person(t, n.r)
		rc := n.r.ReloadableConfig()
		rc.TrailingLogs = 0
		n.r.ReloadConfig(rc)
		if err := n.r.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
		n.stop()
		grepBoth(t, n.dir, true)
	})

	n := &node{t: t, id: "n1", dir: t.TempDir(), kek: newKEK(t)}
	n.start(servers)
	defer n.stop()
	waitFor(t, "leader", func() bool { return n.r.State() == raft.Leader })
	person(t, n.r)
	grepBoth(t, n.dir, false) // sealed from the start: never in clear
	if !bytes.Contains(readable(t, n), []byte(markEmail)) {
		t.Fatal("before Shred the keys should still open the person's entries")
	}
	// The sealed bytes of every entry as they are now, to try again later.
	var before []raft.Log
	first, _ := n.bolt.FirstIndex()
	last, _ := n.bolt.LastIndex()
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := n.bolt.GetLog(i, &l); err == nil {
			before = append(before, l)
		}
	}
	trailing := n.r.ReloadableConfig().TrailingLogs

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.stores.Shred(ctx, n.r); err != nil {
		t.Fatal(err)
	}
	if got := n.r.ReloadableConfig().TrailingLogs; got != trailing {
		t.Errorf("TrailingLogs %d after Shred, want %d back", got, trailing)
	}
	if ep := n.stores.Keyring.Epochs(); len(ep) != 1 || ep[0] != n.stores.Keyring.Current() {
		t.Fatalf("epochs after Shred %v, want only the current one", ep)
	}
	if held, err := n.stores.Logs.HoldsRetired(); err != nil || held {
		t.Fatalf("log holds retired entries after Shred: %v %v", held, err)
	}
	if all := readable(t, n); bytes.Contains(all, []byte(markEmail)) || bytes.Contains(all, []byte(markTrait)) {
		t.Fatal("the keys left after Shred still open the person")
	}
	for _, l := range before {
		c := l
		if err := n.stores.Logs.openEntry(&c); !errors.Is(err, ErrUnknownEpoch) {
			t.Fatalf("entry %d sealed before Shred: %v, want ErrUnknownEpoch", l.Index, err)
		}
	}
	// Writes go on, the node restarts and reads its state.
	apply(t, n.r, "set after shred")
	n.stop()
	grepBoth(t, n.dir, false)

	n.start(nil)
	waitFor(t, "leader after restart", func() bool { return n.r.State() == raft.Leader })
	apply(t, n.r, "set restarted yes")
	for k, want := range map[string]string{"k3": "value-3-" + strings.Repeat("f", 200), "k199": "value-199-" + strings.Repeat("f", 200), "after": "shred", "restarted": "yes"} {
		if v, ok := n.fsm.get(k); !ok || v != want {
			t.Errorf("after restart %s = %q, %v", k, v, ok)
		}
	}
	if _, ok := n.fsm.get("ann"); ok {
		t.Error("the erased person came back")
	}
}

// TestLegacyDataDirectory: a data directory written before sealing (no
// key file, plaintext entries and snapshot) opens sealed with its state,
// and its plaintext is gone after the first Shred.
func TestLegacyDataDirectory(t *testing.T) {
	servers := []raft.Server{{ID: "n1", Address: "n1"}}
	n := &node{t: t, id: "n1", dir: t.TempDir(), plain: true}
	n.start(servers)
	waitFor(t, "leader", func() bool { return n.r.State() == raft.Leader })
	person(t, n.r)
	n.stop()
	grepBoth(t, n.dir, true)

	n.plain, n.kek = false, newKEK(t)
	n.start(nil)
	defer n.stop()
	if held, err := n.stores.Logs.HoldsRetired(); err != nil || held {
		t.Fatalf("after migration the log holds plaintext: %v %v", held, err)
	}
	waitFor(t, "leader", func() bool { return n.r.State() == raft.Leader })
	apply(t, n.r, "set sealed yes") // committed: everything before is applied
	if v, ok := n.fsm.get("k150"); !ok || !strings.HasPrefix(v, "value-150") {
		t.Fatalf("legacy state not read: k150 = %q %v", v, ok)
	}
	apply(t, n.r, filler(200, 220)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.stores.Shred(ctx, n.r); err != nil {
		t.Fatal(err)
	}
	n.stop()
	grepBoth(t, n.dir, false)
	n.start(nil)
	waitFor(t, "leader", func() bool { return n.r.State() == raft.Leader })
	apply(t, n.r, "set restarted yes")
	if v, ok := n.fsm.get("k210"); !ok || !strings.HasPrefix(v, "value-210") {
		t.Fatalf("after shred and restart k210 = %q %v", v, ok)
	}
}

// TestShredCluster: three sealed nodes on real files; every node shreds
// its own files (as 0040 has each voter do); afterwards no data
// directory holds the person and the cluster keeps replicating.
func TestShredCluster(t *testing.T) {
	var nodes []*node
	var servers []raft.Server
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		nodes = append(nodes, &node{t: t, id: id, dir: t.TempDir(), kek: newKEK(t)})
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
	}
	for _, n := range nodes {
		n.start(servers)
		defer n.stop()
	}
	connect := func() {
		for _, a := range nodes {
			for _, b := range nodes {
				if a != b {
					a.trans.Connect(b.trans.LocalAddr(), b.trans)
				}
			}
		}
	}
	connect()
	leader := func() *node {
		var l *node
		waitFor(t, "leader", func() bool {
			for _, n := range nodes {
				if n.r.State() == raft.Leader {
					l = n
					return true
				}
			}
			return false
		})
		return l
	}
	person(t, leader().r)
	applied := func(want string) {
		waitFor(t, "every node to apply "+want, func() bool {
			for _, n := range nodes {
				if _, ok := n.fsm.get(want); !ok {
					return false
				}
			}
			return true
		})
	}
	applied("k199")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.stores.Shred(ctx, n.r)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shred on %s: %v", nodes[i].id, err)
		}
	}
	apply(t, leader().r, "set after shred")
	applied("after")
	for _, n := range nodes {
		n.stop()
		grepBoth(t, n.dir, false)
	}
	// The whole cluster restarts from its shredded files.
	for _, n := range nodes {
		n.start(nil)
	}
	connect()
	apply(t, leader().r, "set again yes")
	applied("again")
	for _, n := range nodes {
		if _, ok := n.fsm.get("ann"); ok {
			t.Errorf("%s: the erased person came back", n.id)
		}
	}
}

// TestMigrateBolt: a plaintext raft.db is rewritten sealed with its
// entries and raft's stable-store values; a second run leaves it alone.
func TestMigrateBolt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "raft.db")
	src, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := range 600 {
		logs = append(logs, &raft.Log{Index: uint64(i + 10), Term: 3, Data: []byte(fmt.Sprintf("set k%d %s", i, markEmail)), Extensions: []byte("e")})
	}
	src.StoreLogs(logs)
	src.SetUint64([]byte("CurrentTerm"), 7)
	src.SetUint64([]byte("LastVoteTerm"), 6)
	src.Set([]byte("LastVoteCand"), []byte("n2"))
	src.Close()

	k := openKeyring(t, dir, newKEK(t))
	if done, err := MigrateBolt(path, k); err != nil || !done {
		t.Fatalf("migrate: %v %v", done, err)
	}
	grepDir(t, dir, markEmail, false)
	if done, err := MigrateBolt(path, k); err != nil || done {
		t.Fatalf("second migrate: %v %v", done, err)
	}
	db, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := NewLogStore(db, k)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 10 {
		t.Errorf("first index %d, want 10", first)
	}
	for _, want := range logs {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil || !bytes.Equal(got.Data, want.Data) || string(got.Extensions) != "e" || got.Term != 3 {
			t.Fatalf("entry %d: %v %q", want.Index, err, got.Data)
		}
	}
	if v, err := db.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Errorf("CurrentTerm %d %v", v, err)
	}
	if v, err := db.GetUint64([]byte("LastVoteTerm")); err != nil || v != 6 {
		t.Errorf("LastVoteTerm %d %v", v, err)
	}
	if v, err := db.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
		t.Errorf("LastVoteCand %q %v", v, err)
	}
}

// TestShredUnderWrites: Shred completes while commands keep arriving,
// and leaves no entry of a retired epoch and one key.
func TestShredUnderWrites(t *testing.T) {
	n := &node{t: t, id: "n1", dir: t.TempDir(), kek: newKEK(t)}
	n.start([]raft.Server{{ID: "n1", Address: "n1"}})
	defer n.stop()
	waitFor(t, "leader", func() bool { return n.r.State() == raft.Leader })
	apply(t, n.r, filler(0, 100)...)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		i := 1000
		for {
			select {
			case <-stop:
				done <- i
				return
			default:
			}
			if err := n.r.Apply([]byte(fmt.Sprintf("set w%d x", i)), 10*time.Second).Error(); err != nil {
				t.Error(err)
			}
			i++
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 3 {
		if err := n.stores.Shred(ctx, n.r); err != nil {
			t.Fatal(err)
		}
		if ep := n.stores.Keyring.Epochs(); len(ep) != 1 {
			t.Fatalf("epochs after Shred %v", ep)
		}
	}
	close(stop)
	last := <-done
	if held, err := n.stores.Logs.HoldsRetired(); err != nil || held {
		t.Fatalf("retired entries after Shred: %v %v", held, err)
	}
	n.stop()
	n.start(nil)
	waitFor(t, "leader after restart", func() bool { return n.r.State() == raft.Leader })
	apply(t, n.r, "set restarted yes")
	if _, ok := n.fsm.get(fmt.Sprintf("w%d", last-1)); !ok {
		t.Errorf("the last write before the restart (w%d) is missing", last-1)
	}
}
