package hub_test

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"ucv/crdt"
	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// syncBatches builds n sync commands of batch entries each, the workload
// of cmd/ucv BenchmarkHubSyncPush: edges push order deltas round-robin,
// each over its own 2,000 profiles (each with an anonymousId), so a
// profile gets a delta every 2,000 entries of its edge and the first one
// creates its fragment.
func syncBatches(tb testing.TB, n, batch int) [][]byte {
	tb.Helper()
	const edges, profiles = 6, 2000
	eds := make([]*hubtest.Edge, edges)
	for e := range eds {
		eds[e] = hubtest.NewEdge(fmt.Sprint("edge-", e), crdt.ReplicaID(1000+e))
	}
	cmds := make([][]byte, 0, n)
	for i := range n {
		e := i % edges
		ed := eds[e]
		es := make([]replication.Entry, batch)
		for j := range es {
			k := int(ed.Seq()) % profiles
			es[j] = ed.Delta(hubtest.Event{Profile: fmt.Sprintf("e%d-p%d", e, k), Name: "Order Completed", Revenue: 1.25,
				IDs: []profile.Identifier{hubtest.Anon(fmt.Sprintf("e%d-a%d", e, k))}})
		}
		cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: ed.Name, Entries: es})
		if err != nil {
			tb.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// BenchmarkFSMApplySync measures FSM.Apply of sync batches of 500 order
// deltas (the hub's apply path without Raft and HTTP): one op is one
// batch; deltas/s is the FSM's throughput on one core. cpu-µs/delta is
// the process's CPU time (garbage collection included) per delta, which
// other processes on a shared machine disturb less than wall time.
//
//	go test -run '^$' -bench FSMApplySync -benchmem ./hub
func BenchmarkFSMApplySync(b *testing.B) {
	const batch = 500
	cmds := syncBatches(b, b.N, batch)
	f, err := hub.NewFSM()
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC() // the garbage of building cmds is not the FSM's
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i, cmd := range cmds {
		r := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: cmd}).(*hub.Result)
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deltas/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*batch), "cpu-µs/delta")
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProfileByIdentifier measures the admin API's type:value
// lookup on an FSM of 100,000 clusters (110,000 fragments, each with an
// e-mail and an anonymousId; every tenth person has a second fragment
// sharing the e-mail, so it is a merged cluster of two): "index" is
// FSM.ProfileByIdentifier, the identifier index; "scan" is what the
// admin API did before it, rendering every cluster (Feed from 0) and
// taking the first whose identities hold the key.
//
//	go test -run '^$' -bench ProfileByIdentifier -benchmem ./hub
func BenchmarkProfileByIdentifier(b *testing.B) {
	const people, batch = 100_000, 1000
	f, err := hub.NewFSM()
	if err != nil {
		b.Fatal(err)
	}
	var es []replication.Entry
	var seq, index uint64
	flush := func() {
		cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "edge-1", Entries: es})
		if err != nil {
			b.Fatal(err)
		}
		index++
		if r := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: cmd}).(*hub.Result); r.Err != nil {
			b.Fatal(r.Err)
		}
		es = es[:0]
	}
	add := func(id, email string) {
		seq++
		es = append(es, hubtest.Delta(1, seq, hubtest.Event{Profile: id, Kind: profile.Identify,
			IDs: []profile.Identifier{hubtest.Email(email), hubtest.Anon("anon-" + id)}}))
		if len(es) == batch {
			flush()
		}
	}
	for i := range people {
		add(fmt.Sprintf("p%06d", i), fmt.Sprintf("u%d@example.org", i))
		if i%10 == 0 {
			add(fmt.Sprintf("q%06d", i), fmt.Sprintf("u%d@example.org", i))
		}
	}
	if len(es) > 0 {
		flush()
	}
	if n := len(f.Clusters()); n != people/10 {
		b.Fatalf("%d merged clusters, want %d", n, people/10)
	}
	key := func(i int) string { return hubtest.Email(fmt.Sprintf("u%d@example.org", i*7919%people)).Key() }
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := f.ProfileByIdentifier(key(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := key(i)
			all, _ := f.Feed(0, math.MaxInt)
			if !slices.ContainsFunc(all, func(v hub.View) bool { return v.Profile.Identities.Has(k) }) {
				b.Fatal("not found")
			}
		}
	})
}
