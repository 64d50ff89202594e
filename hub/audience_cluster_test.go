package hub_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// Every change of a membership is recorded exactly once, system-wide:
// the three nodes of a cluster hold identical transition lists through
// a leader failover, and time-driven exits come from the leader's tick
// (its clock moved thirty days on, not slept through) once.
func TestTransitionsOnceAcrossNodes(t *testing.T) {
	c := hubtest.NewCluster(t, 3)
	apply := func(i int, cmd []byte) *hub.Result {
		t.Helper()
		r, err := c.Apply(i, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	leader := c.Leader()
	for _, d := range repeatBuyers {
		apply(leader, must(define(d[0], d[1], d[2])))
	}
	e := hubtest.NewEdge("e", 1)
	batch := func(evs ...hubtest.Event) ([]byte, error) {
		var es []replication.Entry
		for _, ev := range evs {
			es = append(es, e.Delta(ev))
		}
		return hub.MarshalSync(&hub.SyncBatch{Edge: e.Name, Entries: es})
	}
	now := time.Now().UnixMilli()
	follower := (leader + 1) % 3
	apply(follower, must(batch(
		hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 1, IDs: []profile.Identifier{hubtest.Email("a@example.org")}, At: now},
		hubtest.Event{Profile: p1, Name: "Order Completed", Revenue: 2, At: now},
	)))
	c.Kill(leader)
	nl := c.Leader()
	r := apply(nl, must(batch(hubtest.Event{Profile: p2, Name: "Order Completed", Revenue: 3, IDs: []profile.Identifier{hubtest.Email("b@example.org")}, At: now})))
	c.Restart(leader)
	c.WaitApplied(r.Index)
	want := []string{p1 + " +buyers event", p1 + " +repeat_buyers event", p2 + " +buyers event"}
	same := func(want []string) []hub.Transition {
		t.Helper()
		var first []hub.Transition
		c.WaitFor("every node to hold the transitions", func() bool {
			for i := range c.Len() {
				if got := transitions(c.Server(i).FSM(), 0); !slices.Equal(got, want) {
					return false
				}
			}
			return true
		})
		for i := range c.Len() {
			ts := c.Server(i).FSM().Transitions(0, 1000)
			if i == 0 {
				first = ts
			} else if d := cmp.Diff(first, ts); d != "" {
				t.Fatalf("node %d's transitions differ from node 0's (-0 +%d):\n%s", i, i, d)
			}
		}
		return first
	}
	same(want)

	// Thirty-one days later, by the leaders' clock: every order has left
	// the window. The leader ticks; each exit is recorded once.
	c.Clock().Advance(31 * day)
	want = append(want, p1+" -buyers time", p1+" -repeat_buyers time", p2+" -buyers time")
	ts := same(want)
	for _, tr := range ts[3:] {
		if tr.At.Before(time.Now().Add(30 * day)) {
			t.Errorf("time transition at %v, want the leader's clock (+31 days)", tr.At)
		}
	}
	for i := range c.Len() {
		if _, ok := c.Server(i).FSM().NextDue(); ok {
			t.Errorf("node %d still has clusters due", i)
		}
		if n := c.Server(i).FSM().AudienceSize("buyers"); n != 0 {
			t.Errorf("node %d: buyers has %d members", i, n)
		}
	}
	// Later commands find nothing more to record.
	r = apply(c.Leader(), must(batch(hubtest.Event{Profile: p3, Name: "Product Viewed", IDs: []profile.Identifier{hubtest.Email("c@example.org")}})))
	c.WaitApplied(r.Index)
	for i := range c.Len() {
		if got := transitions(c.Server(i).FSM(), 0); !slices.Equal(got, want) {
			t.Errorf("node %d after a later command: %s", i, fmt.Sprint(got))
		}
	}
}
