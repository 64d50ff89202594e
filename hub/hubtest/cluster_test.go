package hubtest_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

func snapshotOf(t *testing.T, s *hub.Server) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.FSM().WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// converged waits for every live node to apply the leader's last index
// and checks that all hold byte-identical state.
func converged(t *testing.T, c *hubtest.Cluster) {
	t.Helper()
	l := c.Server(c.Leader())
	if err := l.Barrier(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(l.FSM().Index())
	want := snapshotOf(t, l)
	for i := range c.Len() {
		if s := c.Server(i); s != nil {
			if got := snapshotOf(t, s); !bytes.Equal(got, want) {
				for j := range c.Len() {
					if s := c.Server(j); s != nil {
						p := s.Progress()
						t.Logf("node %d applied %d last %d a %d b %d", j, p.AppliedIndex, p.LastIndex, s.FSM().EdgeSeq("store-a"), s.FSM().EdgeSeq("store-b"))
					}
				}
				t.Fatalf("node %d snapshot differs from the leader's (%d vs %d bytes)", i, len(got), len(want))
			}
		}
	}
}

func push(t *testing.T, c *hubtest.Cluster, via int, edge string, es ...replication.Entry) *hub.Result {
	t.Helper()
	cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: edge, Entries: es})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Apply(via, cmd)
	if err != nil {
		t.Fatalf("push via node %d: %v", via, err)
	}
	return res
}

func TestDeterministicReplicas(t *testing.T) {
	c := hubtest.NewCluster(t, 3)
	a, b := hubtest.NewEdge("store-a", 1), hubtest.NewEdge("store-b", 2)
	for i := range 20 {
		email := hubtest.Email(fmt.Sprintf("p%d@example.org", i%7))
		push(t, c, i%3, a.Name, a.Delta(hubtest.Event{Profile: fmt.Sprintf("A%02d", i), IDs: []profile.Identifier{email}, Name: "Order Completed", Revenue: float64(i)}))
		push(t, c, (i+1)%3, b.Name, b.Delta(hubtest.Event{Profile: fmt.Sprintf("B%02d", i), IDs: []profile.Identifier{email, hubtest.Anon(fmt.Sprint(i))}}))
	}
	cmd, _ := hub.MarshalUnmerge(&hub.Unmerge{A: "A00", B: "A07", Actor: "steward"})
	if _, err := c.Apply(2, cmd); err != nil {
		t.Fatal(err)
	}
	// Review decisions through followers: two pending pairs (same name
	// and state, different e-mails), one accepted, one rejected.
	r := hubtest.NewEdge("store-r", 3)
	emails := [2][2]string{{"ann@alpha.org", "zed@omega.net"}, {"bob@alpha.org", "yan@omega.net"}}
	for i, who := range []map[string]any{{"firstName": "Ann", "lastName": "Lee", "address": map[string]any{"state": "IL"}}, {"firstName": "Bob", "lastName": "Ray", "address": map[string]any{"state": "OR"}}} {
		for j := range 2 {
			push(t, c, 0, r.Name, r.Delta(hubtest.Event{Profile: fmt.Sprintf("R%d%d", i, j), Kind: profile.Identify,
				IDs: []profile.Identifier{hubtest.Email(emails[i][j])}, Traits: who}))
		}
	}
	for i, accept := range []bool{true, false} {
		cmd, _ := hub.MarshalReview(&hub.Review{A: fmt.Sprintf("R%d0", i), B: fmt.Sprintf("R%d1", i), Accept: accept, Actor: "steward"})
		if _, err := c.Apply(1+i, cmd); err != nil {
			t.Fatalf("review %d: %v", i, err)
		}
	}
	converged(t, c)
	v, err := c.Server(1).FSM().Profile("B14")
	if err != nil || v.ID != "A00" {
		t.Fatalf("B14 resolved to %q (%v), want A00", v.ID, err)
	}
	for i := range 3 {
		f := c.Server(i).FSM()
		if v, _ := f.Profile("R01"); v.ID != "R00" {
			t.Errorf("node %d: accepted R01 resolves to %q, want R00", i, v.ID)
		}
		if v, _ := f.Profile("R11"); v.ID != "R11" {
			t.Errorf("node %d: rejected R11 resolves to %q, want itself", i, v.ID)
		}
		for _, rv := range f.Reviews() {
			if strings.HasPrefix(rv.A, "R") {
				t.Errorf("node %d: decided pair %s/%s still pending", i, rv.A, rv.B)
			}
		}
	}
}

func TestLeaderKillLosesNoAcknowledgedBatch(t *testing.T) {
	c := hubtest.NewCluster(t, 3)
	edges := []*hubtest.Edge{hubtest.NewEdge("store-a", 1), hubtest.NewEdge("store-b", 2)}
	acked := map[string]uint64{}
	orders := 0
	killed := -1
	for i := range 60 {
		e := edges[i%2]
		entry := e.Delta(hubtest.Event{Profile: fmt.Sprintf("%s-%d", e.Name, i%5), Name: "Order Completed", Revenue: 1})
		orders++
		if i == 30 {
			killed = c.Leader()
			c.Kill(killed)
		}
		cmd, _ := hub.MarshalSync(&hub.SyncBatch{Edge: e.Name, Entries: []replication.Entry{entry}})
		// Retry through any live node until acknowledged, as an edge does.
		for attempt := 0; ; attempt++ {
			via := (i + attempt) % 3
			if via == killed {
				continue
			}
			res, err := c.Apply(via, cmd)
			if err == nil {
				acked[e.Name] = res.LastSeq
				break
			}
			if attempt > 200 {
				t.Fatalf("batch %d never acknowledged: %v", i, err)
			}
			if !errors.Is(err, hub.ErrNotLeader) {
				t.Logf("batch %d attempt %d: %v", i, attempt, err)
			}
			c.WaitFor("a leader", func() bool { return c.Leader() >= 0 })
		}
	}
	converged(t, c)
	check := func(s *hub.Server) {
		t.Helper()
		total := int64(0)
		for _, e := range edges {
			if got := s.FSM().EdgeSeq(e.Name); got != acked[e.Name] {
				t.Errorf("%s: edge %s at seq %d, acknowledged %d", s.ID(), e.Name, got, acked[e.Name])
			}
			for p := range 5 {
				v, err := s.FSM().Profile(fmt.Sprintf("%s-%d", e.Name, p))
				if err != nil {
					t.Fatal(err)
				}
				total += v.Profile.Count("orders")
			}
		}
		if total != int64(orders) {
			t.Errorf("%s: %d orders counted, %d acknowledged (each exactly once)", s.ID(), total, orders)
		}
	}
	for i := range c.Len() {
		if s := c.Server(i); s != nil {
			check(s)
		}
	}
	c.Restart(killed)
	converged(t, c)
	check(c.Server(killed))
}

func TestPartitionAndHeal(t *testing.T) {
	c := hubtest.NewCluster(t, 3)
	e := hubtest.NewEdge("store-a", 1)
	push(t, c, 0, e.Name, e.Delta(hubtest.Event{Profile: "P1", IDs: []profile.Identifier{hubtest.Email("x@example.org")}}))
	old := c.Leader()
	c.Partition(old)
	// The majority elects a new leader and keeps committing.
	var leader int
	c.WaitFor("a new leader in the majority", func() bool {
		for i := range c.Len() {
			if i != old && c.Server(i).IsLeader() {
				leader = i
				return true
			}
		}
		return false
	})
	push(t, c, leader, e.Name, e.Delta(hubtest.Event{Profile: "P2", IDs: []profile.Identifier{hubtest.Email("x@example.org")}}))
	// The cut-off node cannot commit anything.
	cmd, _ := hub.MarshalSync(&hub.SyncBatch{Edge: "store-z", Entries: []replication.Entry{hubtest.Delta(9, 1, hubtest.Event{Profile: "Z"})}})
	if _, err := c.TryApply(old, cmd); err == nil {
		t.Fatal("a partitioned node acknowledged a write")
	}
	c.Heal()
	converged(t, c)
	if v, err := c.Server(old).FSM().Profile("P2"); err != nil || v.ID != "P1" {
		t.Fatalf("after heal the old leader has P2 in %q (%v), want P1", v.ID, err)
	}
	if _, err := c.Server(old).FSM().Profile("Z"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("the partitioned write surfaced: %v", err)
	}
}
