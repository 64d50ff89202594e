package hub_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// BenchmarkRelated measures FSM.Related on an FSM of 100,000 people,
// two at each postal address (lodgers: different surnames; today's
// engine merges each pair, so a person is a cluster of two), each with
// an e-mail, a phone and an anonymousId, every tenth of whom also had
// the cashier's "noemail@noemail.com" typed in (10,000 holders: a busy
// value; the default identity rules block it, so the engine does not
// link on it — a busy value the engine does link on costs the engine,
// not Related, time quadratic in its holders: see
// docs/decisions/0046-relationships.md). "person" is the graph view of a
// cluster without the busy e-mail (seven values read, no other holder),
// "busy" of one with it (its 9,999 other holders counted). The build
// reports the FSM's apply cost per fragment as build-µs/fragment.
//
//	go test -run '^$' -bench Related -benchmem ./hub
func BenchmarkRelated(b *testing.B) {
	const people, batch = 100_000, 1000
	f, err := hub.NewFSM()
	if err != nil {
		b.Fatal(err)
	}
	var es []replication.Entry
	var seq, index uint64
	var applying time.Duration
	flush := func() {
		cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "edge-1", Entries: es})
		if err != nil {
			b.Fatal(err)
		}
		index++
		t0 := time.Now()
		if r := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: cmd}).(*hub.Result); r.Err != nil {
			b.Fatal(r.Err)
		}
		applying += time.Since(t0)
		es = es[:0]
	}
	store := hubtest.Email("noemail@noemail.com") // blocked by the default rules: no link
	for i := range people {
		ids := []profile.Identifier{hubtest.Email(fmt.Sprintf("u%d@example.org", i)), hubtest.Anon(fmt.Sprint("anon-", i)),
			{Type: profile.Phone, Value: fmt.Sprintf("+1555%07d", i)}}
		if i%10 == 1 {
			ids = append(ids, store)
		}
		seq++
		es = append(es, hubtest.Delta(1, seq, hubtest.Event{Profile: fmt.Sprintf("p%06d", i), Kind: profile.Identify, IDs: ids,
			Traits: map[string]any{"firstName": word(i, 1), "lastName": word(i, 2), "address": map[string]any{
				"street": fmt.Sprintf("%d %s Street", i/2%997+1, word(i/2, 3)), "postalCode": fmt.Sprint(10000 + i/2%89999)}}}))
		if len(es) == batch {
			flush()
		}
	}
	if len(es) > 0 {
		flush()
	}
	b.Logf("built %d people in %v: %.1f build-µs/fragment; %d merged clusters", people, applying,
		float64(applying.Microseconds())/people, len(f.Clusters()))
	for _, c := range []struct {
		name, id string
		busy     bool
	}{{"person", "p000102", false}, {"busy", "p000101", true}} {
		r, err := f.Related(c.id)
		if err != nil {
			b.Fatal(err)
		}
		busy := false
		for _, s := range r.Shared {
			busy = busy || s.Busy
		}
		if busy != c.busy {
			b.Fatalf("Related(%s) = %+v, busy %v", c.id, r, busy)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Related(c.id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
