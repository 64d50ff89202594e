package hub_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// TestShredOnEveryVoter: a 3-node cluster; an erasure made through a
// follower waits for its edge, then every node — followers too — calls
// its Shred and commits a receipt through the leader, and the request
// is done once all three have.
func TestShredOnEveryVoter(t *testing.T) {
	var mu sync.Mutex
	shreds := map[string]int{}
	c := hubtest.NewClusterWith(t, 3, func(cfg *hub.Config) {
		node := cfg.NodeID
		cfg.Shred = func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			shreds[node]++
			return nil
		}
	})
	leader := c.Leader()
	follower := (leader + 1) % 3
	e := hubtest.NewEdge("store-1", 1)
	cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "store-1", Entries: []replication.Entry{
		e.Delta(hubtest.Event{Profile: p1, IDs: []profile.Identifier{hubtest.Email("ann@example.org")}, Traits: map[string]any{"firstName": "Annabel"}}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Apply(leader, cmd)
	if err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(res.Index)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := c.Server(follower)
	st, err := fs.RequestPrivacy(ctx, hub.PrivacyErase, hubtest.Email("ann@example.org"), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != hub.StatusPending || st.Edges["store-1"] != hub.StatusPending || len(st.Profiles) != 1 {
		t.Fatalf("status = %+v", st)
	}
	mu.Lock()
	if len(shreds) != 0 {
		t.Errorf("shredded before the edge confirmed: %v", shreds)
	}
	mu.Unlock()
	d, err := fs.PrivacySync(ctx, "store-1", nil)
	if err != nil || len(d.Directives) != 1 || d.Directives[0].ID != st.ID {
		t.Fatalf("PrivacySync = %+v, %v", d, err)
	}
	if d, err = fs.PrivacySync(ctx, "store-1", []string{st.ID}); err != nil || len(d.Directives) != 0 {
		t.Fatalf("PrivacySync with the receipt = %+v, %v", d, err)
	}
	c.WaitFor("the request done on every node", func() bool {
		for i := range 3 {
			got, err := c.Server(i).FSM().PrivacyRequest(st.ID)
			if err != nil || got.Status != hub.StatusDone {
				return false
			}
		}
		return true
	})
	got, _ := c.Server(leader).FSM().PrivacyRequest(st.ID)
	if len(got.Hub) != 3 {
		t.Errorf("hub receipts = %v, want three", got.Hub)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 3 {
		if id := c.Server(i).ID(); shreds[id] == 0 {
			t.Errorf("node %s never shredded", id)
		}
	}
}

// TestPullOnlyEdgeBlocksErasure: an edge that never pushes (a kiosk that
// only looks customers up) is registered by its first privacy step,
// which runs before its first pull, on every node; an erasure made
// afterwards waits for its receipt too, and its later privacy steps
// commit nothing new. Before, only pushing edges were known, and an
// erasure reported done while the kiosk still held the person.
func TestPullOnlyEdgeBlocksErasure(t *testing.T) {
	c := hubtest.NewCluster(t, 3)
	leader := c.Leader()
	fs := c.Server((leader + 1) % 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := fs.PrivacySync(ctx, "kiosk-1", nil); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("the kiosk known on every node", func() bool {
		for i := range 3 {
			if !slices.Contains(c.Server(i).FSM().Edges(), hub.EdgeState{Edge: "kiosk-1"}) {
				return false
			}
		}
		return true
	})
	idx := c.Server(leader).FSM().Index()
	if _, err := fs.PrivacySync(ctx, "kiosk-1", nil); err != nil {
		t.Fatal(err)
	}
	if got := c.Server(leader).FSM().Index(); got != idx {
		t.Errorf("a known edge's privacy step committed %d entries", got-idx)
	}

	e := hubtest.NewEdge("store-1", 1)
	applyOn(t, c, leader)(hub.MarshalSync(&hub.SyncBatch{Edge: "store-1", Entries: []replication.Entry{
		e.Delta(hubtest.Event{Profile: p1, IDs: []profile.Identifier{hubtest.Email("ann@example.org")}}),
	}}))
	st, err := fs.RequestPrivacy(ctx, hub.PrivacyErase, hubtest.Email("ann@example.org"), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if st.Edges["kiosk-1"] != hub.StatusPending || st.Edges["store-1"] != hub.StatusPending {
		t.Fatalf("the erasure waits for %v; want the kiosk and the store", st.Edges)
	}
	if _, err := fs.PrivacySync(ctx, "store-1", []string{st.ID}); err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(c.Server(leader).FSM().Index())
	if got, _ := c.Server(leader).FSM().PrivacyRequest(st.ID); got.Status != hub.StatusPending || got.Edges["kiosk-1"] != hub.StatusPending {
		t.Fatalf("done before the kiosk confirmed: %+v", got)
	}
	if _, err := fs.PrivacySync(ctx, "kiosk-1", []string{st.ID}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("the request done", func() bool {
		got, err := c.Server(leader).FSM().PrivacyRequest(st.ID)
		return err == nil && got.Status == hub.StatusDone
	})
}

// TestRaftLogHoldsNoIdentifier reads every entry of the Raft log after
// privacy requests: none but the edges' own sync batches holds the
// identifier, and one the hub never saw is nowhere.
func TestRaftLogHoldsNoIdentifier(t *testing.T) {
	c := hubtest.NewCluster(t, 1)
	s := c.Server(0)
	cmd, _ := hub.MarshalSync(&hub.SyncBatch{Edge: "store-1", Entries: []replication.Entry{
		hubtest.Delta(1, 1, hubtest.Event{Profile: p1, IDs: []profile.Identifier{hubtest.Email("ann@example.org")}}),
	}})
	if _, err := c.Apply(0, cmd); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range []struct {
		typ hub.PrivacyType
		id  profile.Identifier
	}{{hub.PrivacyExport, hubtest.Email("ann@example.org")}, {hub.PrivacySuppress, hubtest.Email("zed@example.org")},
		{hub.PrivacyErase, hubtest.Email("ann@example.org")}, {hub.PrivacyErase, hubtest.Email("zed@example.org")}} {
		if _, err := s.RequestPrivacy(ctx, r.typ, r.id, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(ctx, &hub.AuditEntry{Actor: "admin", Action: "POST /v1/admin/privacy/requests", Targets: []string{p1}, Outcome: 202}); err != nil {
		t.Fatal(err)
	}
	logs := c.LogStore(0)
	first, _ := logs.FirstIndex()
	last, _ := logs.LastIndex()
	privacy := 0
	for i := first; i <= last; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil || e.Type != raft.LogCommand {
			continue
		}
		if bytes.Contains(e.Data, []byte("zed@example.org")) {
			t.Errorf("entry %d holds an identifier the hub never saw", i)
		}
		if hub.CmdType(e.Data[0]) == hub.CmdSync {
			continue
		}
		if hub.CmdType(e.Data[0]) == hub.CmdPrivacy {
			privacy++
		}
		for _, raw := range []string{"ann@example.org", "zed@example.org", "example.org"} {
			if bytes.Contains(e.Data, []byte(raw)) {
				t.Errorf("entry %d (command %d) holds %q", i, e.Data[0], raw)
			}
		}
	}
	if privacy != 4 {
		t.Errorf("%d privacy commands in the log, want 4", privacy)
	}
}

// TestEdgeRegistrationApply: CmdEdgeRegister makes an edge known at
// sequence 0, once (a repeat changes nothing, and a push later applies
// whole); a decommissioned edge stays retired; a snapshot keeps both.
func TestEdgeRegistrationApply(t *testing.T) {
	f := newFSM(t)
	reg := func(i uint64, edge string) {
		t.Helper()
		cmd, err := hub.MarshalEdgeRegister(&hub.EdgeRegister{Edge: edge})
		if err != nil {
			t.Fatal(err)
		}
		if res, ok := f.Apply(rlog(i, cmd)).(*hub.Result); !ok || res.Err != nil {
			t.Fatalf("apply registration of %s: %+v", edge, res)
		}
	}
	dc, err := hub.MarshalDecommission(&hub.Decommission{Edge: "old-till", Actor: "ops", At: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.Apply(rlog(1, dc))
	reg(2, "kiosk-1")
	reg(3, "kiosk-1")
	reg(4, "old-till")
	want := []hub.EdgeState{{Edge: "kiosk-1"}, {Edge: "old-till", Decommissioned: true}}
	if got := f.Edges(); !slices.Equal(got, want) {
		t.Fatalf("edges = %+v, want %+v", got, want)
	}
	cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "kiosk-1", Entries: []replication.Entry{
		hubtest.NewEdge("kiosk-1", 1).Delta(hubtest.Event{Profile: p1, IDs: []profile.Identifier{hubtest.Email("ann@example.org")}}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res := f.Apply(rlog(5, cmd)).(*hub.Result); res.Err != nil || res.Applied != 1 {
		t.Fatalf("the registered edge's first push: %+v", res)
	}
	g := newFSM(t)
	if err := g.Restore(nopCloser{bytes.NewReader(snapshotOf(t, f))}); err != nil {
		t.Fatal(err)
	}
	if got, want := g.Edges(), f.Edges(); !slices.Equal(got, want) || len(got) != 2 || got[0].Seq != 1 {
		t.Fatalf("restored edges = %+v, want %+v", got, want)
	}
}
