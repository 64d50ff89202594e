package hub_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// BenchmarkHubScale loads people into one FSM through its apply path —
// sync batches of 1,000 new people, each an identify with an e-mail, a
// phone, a name, a birth date and a postal address (a real fragment the
// identity engine resolves), every entry also appended to a raft-boltdb
// log on disk as a Raft node does — and at each size of
// UCV_HUBSCALE_SIZES (default "20000"; e.g. "100000,300000,1000000")
// reports, per person: heap in use after GC, RSS, Raft log bytes and
// snapshot bytes; the p50/p99 of resolving one new person (FSM.Apply of
// a one-entry sync batch), of a returning person whose address changed
// (re-resolution of an existing fragment) and of the type:value lookup
// the admin API serves (ProfileByIdentifier); and the time to take a
// snapshot (Snapshot + Persist to a file snapshot store) and to restore
// it into a new FSM, which then takes the rest of the load. UCV_HUBSCALE_HEAPPROFILE
// names a file for an -inuse_space heap profile at the largest size;
// UCV_HUBSCALE_HOT sets the FSM's hot fragments (FSM.SetHotFragments; 0
// keeps every fragment encoded, the per-person cost of a large hub).
// UCV_HUBSCALE_RESTOREPROFILE names a file for a CPU profile of the
// restore at the largest size.
// The FSM keeps cold fragments' encodings in an arena off the heap, as a
// server does (FSM.UseArena); UCV_HUBSCALE_ARENA=0 keeps them on the
// heap. UCV_HUBSCALE_PROGRESS=K prints a progress line to stderr every
// K people. One iteration runs everything; run it with -benchtime 1x.
//
//	UCV_HUBSCALE_SIZES=100000,300000,1000000 go test -run '^$' -bench HubScale -benchtime 1x -timeout 120m ./hub
func BenchmarkHubScale(b *testing.B) {
	sizes := []int{20_000}
	if s := os.Getenv("UCV_HUBSCALE_SIZES"); s != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("UCV_HUBSCALE_SIZES: %q", s)
			}
			sizes = append(sizes, n)
		}
		slices.Sort(sizes)
	}
	for range b.N {
		runHubScale(b, sizes)
	}
}

// scalePerson returns the identify event of synthetic person i: a
// deterministic mix of 64 first names, ~65k last names (three syllables
// and a suffix), birth dates over 80 years, 500 cities with 10,000 post
// codes, and a unique e-mail and phone. Every 20th person is a near-copy
// of person i-7 (same name, birth date and address, another e-mail), so
// the engine merges some records probabilistically.
func scalePerson(i int) hubtest.Event {
	j := i
	if i%20 == 19 {
		j = i - 7
	}
	// g draws from the person's own seed (the copied person's, for a
	// near-copy).
	g := func(salt, m int) int {
		z := uint64(j)*0x9e3779b97f4a7c15 + uint64(salt)*0xbf58476d1ce4e5b9
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return int((z ^ (z >> 31)) % uint64(m))
	}
	syll := []string{"an", "ber", "cas", "dor", "el", "fin", "gar", "hol", "ing", "jor", "kel", "lan", "mor", "nor", "ost", "par"}
	first := []string{"james", "mary", "robert", "linda", "david", "susan", "omar", "wei", "priya", "mateo", "sofia", "lena",
		"john", "patricia", "michael", "jennifer", "william", "elizabeth", "richard", "barbara", "joseph", "jessica", "thomas", "sarah",
		"charles", "karen", "daniel", "nancy", "matthew", "lisa", "anthony", "betty", "mark", "margaret", "donald", "sandra",
		"steven", "ashley", "paul", "kimberly", "andrew", "emily", "joshua", "donna", "kenneth", "michelle", "kevin", "carol",
		"brian", "amanda", "george", "dorothy", "timothy", "melissa", "ronald", "deborah", "edward", "stephanie", "jason", "rebecca",
		"jeffrey", "sharon", "ryan", "laura"}
	last := syll[g(1, 16)] + syll[g(2, 16)] + syll[g(3, 16)] + syll[g(4, 16)][:1+g(5, 2)]
	return hubtest.Event{
		Profile: fmt.Sprintf("s%08d", i),
		Kind:    profile.Identify,
		IDs: []profile.Identifier{
			hubtest.Email(fmt.Sprintf("person%d@example.com", i)),
			{Type: profile.Phone, Value: scalePhone(i)},
		},
		Traits: map[string]any{
			"first_name": first[g(6, len(first))],
			"last_name":  last,
			"birthday":   fmt.Sprintf("%04d-%02d-%02d", 1930+g(7, 80), 1+g(8, 12), 1+g(9, 28)),
			"address": map[string]any{
				"street":     fmt.Sprintf("%d %s%s street", 1+g(10, 400), syll[g(11, 16)], syll[g(12, 16)]),
				"city":       fmt.Sprintf("city%d", g(13, 500)),
				"postalCode": fmt.Sprintf("%05d", 10000+g(14, 10000)),
			},
		},
	}
}

// scalePhone returns person i's phone: a valid US number (area code,
// then an exchange starting 2–9), unique for the first 40M people. Until
// 2026-12-04 the benchmark used area code 555, which no region assigns:
// every phone failed validation, so the engine held no phone identifier
// and every restore paid libphonenumber's slowest path (all of +1's
// regions tried) — bench/README.md, "Valid phones in the scale
// benchmark".
func scalePhone(i int) string {
	areas := [...]string{"212", "646", "718", "917", "347"}
	return fmt.Sprintf("+1%s%07d", areas[i/8_000_000%len(areas)], 2_000_000+i%8_000_000)
}

// scaleLoader applies sync batches to an FSM and appends them to a Raft
// log on disk.
type scaleLoader struct {
	tb    testing.TB
	f     *hub.FSM
	logs  *raftboltdb.BoltStore
	path  string
	seq   uint64
	index uint64
	data  int64 // bytes of command data appended
}

// apply commits one sync batch of es: appended to the log, then applied.
// It returns the time Apply took.
func (l *scaleLoader) apply(es []replication.Entry) time.Duration {
	cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "edge-scale", Entries: es})
	if err != nil {
		l.tb.Fatal(err)
	}
	l.index++
	lg := &raft.Log{Index: l.index, Term: 1, Type: raft.LogCommand, Data: cmd, AppendedAt: time.UnixMilli(1_700_000_000_000 + int64(l.index))}
	if err := l.logs.StoreLog(lg); err != nil {
		l.tb.Fatal(err)
	}
	l.data += int64(len(cmd))
	start := time.Now()
	r := l.f.Apply(lg).(*hub.Result)
	took := time.Since(start)
	if r.Err != nil {
		l.tb.Fatal(r.Err)
	}
	return took
}

// next returns the next outbox entry, the delta of ev.
func (l *scaleLoader) next(ev hubtest.Event) replication.Entry {
	l.seq++
	return hubtest.Delta(1, l.seq, ev)
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func rssBytes() int64 { return statusKB("VmRSS:") }

// statusKB reads a "kB" line of /proc/self/status, in bytes.
func statusKB(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peakDuring runs f and returns the largest live heap (the heap marked
// live by the last collection, sampled every 50 ms and at the end) and
// the process's peak resident set (VmHWM, reset before f where the
// kernel allows) while it ran.
func peakDuring(f func()) (liveHeap, rss int64) {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	read := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	stop, done := make(chan struct{}), make(chan int64)
	go func() {
		var peak int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	liveHeap = max(<-done, read())
	return liveHeap, statusKB("VmHWM:")
}

func heapInUse() (inuse, alloc uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.HeapAlloc
}

// totalAlloc is the bytes the heap has allocated since the process
// started (runtime.MemStats.TotalAlloc): the difference across a phase
// is what the phase allocated, garbage included.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func runHubScale(b *testing.B, sizes []int) {
	dir := b.TempDir()
	path := filepath.Join(dir, "raft.db")
	logs, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	f, err := hub.NewFSM()
	if err != nil {
		b.Fatal(err)
	}
	offHeap := os.Getenv("UCV_HUBSCALE_ARENA") != "0"
	if offHeap {
		if err := f.UseArena(dir, 0); err != nil {
			b.Fatal(err)
		}
	}
	hot := -1
	if v := os.Getenv("UCV_HUBSCALE_HOT"); v != "" {
		if hot, err = strconv.Atoi(v); err != nil {
			b.Fatalf("UCV_HUBSCALE_HOT: %q", v)
		}
		f.SetHotFragments(hot)
	}
	l := &scaleLoader{tb: b, f: f, logs: logs, path: path}
	heap0, _ := heapInUse()
	rss0 := rssBytes()
	people := 0
	const batch = 1000
	// UCV_HUBSCALE_PROGRESS=K prints a line to stderr every K people
	// loaded (heap and RSS without forcing a collection), so a run that
	// dies part-way (out of memory) still shows how far it got.
	progress, _ := strconv.Atoi(os.Getenv("UCV_HUBSCALE_PROGRESS"))
	// With progress lines on, results go to stderr as soon as they are
	// known too (b.Logf prints when the benchmark ends).
	logf := func(format string, args ...any) {
		b.Helper()
		b.Logf(format, args...)
		if progress > 0 {
			fmt.Fprintf(os.Stderr, "hubscale: "+format+"\n", args...)
		}
	}
	begin, lastMark, lastPeople := time.Now(), time.Now(), 0
	for si, n := range sizes {
		start := time.Now()
		es := make([]replication.Entry, 0, batch)
		for people < n {
			es = es[:0]
			for len(es) < batch && people < n {
				es = append(es, l.next(scalePerson(people)))
				people++
			}
			l.apply(es)
			if progress > 0 && people%progress == 0 {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				fmt.Fprintf(os.Stderr, "hubscale: %d people at %s (%.0f people/s since the last line); heap alloc %.2f GiB, in use %.2f GiB, sys %.2f GiB; RSS %.2f GiB; GCs %d, GC CPU %.0f %%\n",
					people, time.Since(begin).Round(time.Second), float64(people-lastPeople)/time.Since(lastMark).Seconds(),
					float64(ms.HeapAlloc)/(1<<30), float64(ms.HeapInuse)/(1<<30), float64(ms.Sys)/(1<<30), float64(rssBytes())/(1<<30),
					ms.NumGC, 100*ms.GCCPUFraction)
				lastMark, lastPeople = time.Now(), people
			}
		}
		load := time.Since(start)
		inuse, alloc := heapInUse()
		rss := rssBytes()
		st, _ := os.Stat(path)
		per := func(v int64) float64 { return float64(v) / float64(n) }
		logf("N=%d loaded in %s; heap in use %.0f MiB (%.0f B/person, alloc %.0f B/person); RSS %.0f MiB (%.0f B/person); raft log %.0f MiB (%.0f B/person, command data %.0f B/person); clusters %d",
			n, load.Round(time.Millisecond), float64(inuse)/(1<<20), per(int64(inuse-heap0)), per(int64(alloc)),
			float64(rss)/(1<<20), per(rss-rss0), float64(st.Size())/(1<<20), per(st.Size()), per(l.data), len(f.Clusters()))

		// Latencies: new people, returning people, lookups.
		const samples = 2000
		var fresh, back, look []time.Duration
		for k := range samples {
			fresh = append(fresh, l.apply([]replication.Entry{l.next(scalePerson(people))}))
			people++
			// A returning person (an earlier one, spread over the
			// population) moved: a new address re-resolves the fragment.
			old := scalePerson((k * 7919) % n)
			addr := old.Traits["address"].(map[string]any)
			old.IDs = nil
			old.Traits = map[string]any{"address": map[string]any{"street": fmt.Sprintf("%d moved street", k), "city": addr["city"], "postalCode": addr["postalCode"]}}
			back = append(back, l.apply([]replication.Entry{l.next(old)}))
		}
		for k := range 20 * samples {
			key := hubtest.Email(fmt.Sprintf("person%d@example.com", (k*104729)%n)).Key()
			start := time.Now()
			if _, _, err := f.ProfileByIdentifier(key); err != nil {
				b.Fatal(err)
			}
			look = append(look, time.Since(start))
		}
		logf("N=%d resolve new person p50 %s p99 %s max %s; returning person p50 %s p99 %s max %s; lookup by e-mail p50 %s p99 %s",
			n, quantile(fresh, .5), quantile(fresh, .99), quantile(fresh, 1), quantile(back, .5), quantile(back, .99), quantile(back, 1),
			quantile(look, .5), quantile(look, .99))
		tag := fmt.Sprintf("N%d_", n)
		b.ReportMetric(per(int64(inuse-heap0)), tag+"heapB/person")
		if offHeap {
			as := f.ArenaStats()
			logf("N=%d arena: %.0f MiB mapped, %.0f B/person live, %.0f B/person garbage, %d passes, %d copies on the heap",
				n, float64(as.Mapped)/(1<<20), per(as.Live), per(as.Garbage), as.Passes, as.Heap)
			b.ReportMetric(per(as.Mapped), tag+"arenaB/person")
		}
		b.ReportMetric(per(rss-rss0), tag+"rssB/person")
		b.ReportMetric(per(st.Size()), tag+"raftlogB/person")
		b.ReportMetric(float64(quantile(fresh, .99).Microseconds())/1000, tag+"new_p99_ms")
		b.ReportMetric(float64(quantile(back, .99).Microseconds())/1000, tag+"returning_p99_ms")
		b.ReportMetric(float64(n)/load.Seconds(), tag+"load_people/s")
		if p := os.Getenv("UCV_HUBSCALE_HEAPPROFILE"); p != "" && si == len(sizes)-1 {
			out, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			// The heap profile is as of the last completed cycle but
			// one: two collections make it show only what is live.
			runtime.GC()
			runtime.GC()
			if err := pprof.Lookup("heap").WriteTo(out, 0); err != nil {
				b.Fatal(err)
			}
			out.Close()
		}
		// Snapshot and restore; loading goes on into the restored FSM.
		snaps, err := raft.NewFileSnapshotStore(filepath.Join(dir, tag), 1, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if progress > 0 {
			fmt.Fprintf(os.Stderr, "hubscale: N=%d snapshot started at %s\n", n, time.Since(begin).Round(time.Second))
		}
		alloc0 := totalAlloc()
		start = time.Now()
		s, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		sink, err := snaps.Create(raft.SnapshotVersionMax, l.index, 1, raft.Configuration{}, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Persist(sink); err != nil {
			b.Fatal(err)
		}
		s.Release()
		persist := time.Since(start)
		snapAlloc := totalAlloc() - alloc0
		metas, err := snaps.List()
		if err != nil || len(metas) != 1 {
			b.Fatalf("snapshots %v: %v", metas, err)
		}
		snapBytes := metas[0].Size
		clusters := len(f.Clusters())
		f, l.f = nil, nil // let the loaded state go before restoring
		debug.FreeOSMemory()
		g, err := hub.NewFSM()
		if err != nil {
			b.Fatal(err)
		}
		if offHeap {
			if err := g.UseArena(dir, 0); err != nil {
				b.Fatal(err)
			}
		}
		if hot >= 0 {
			g.SetHotFragments(hot)
		}
		if progress > 0 {
			fmt.Fprintf(os.Stderr, "hubscale: N=%d snapshot %s, %.0f MiB, RSS after %.2f GiB; restore started at %s\n", n, persist.Round(time.Millisecond), float64(snapBytes)/(1<<20), float64(rssBytes())/(1<<30), time.Since(begin).Round(time.Second))
		}
		_, rc, err := snaps.Open(metas[0].ID)
		if err != nil {
			b.Fatal(err)
		}
		var cpuProf *os.File
		if p := os.Getenv("UCV_HUBSCALE_RESTOREPROFILE"); p != "" && si == len(sizes)-1 {
			if cpuProf, err = os.Create(p); err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(cpuProf); err != nil {
				b.Fatal(err)
			}
		}
		alloc0 = totalAlloc()
		start = time.Now()
		cpu0 := cpuTime()
		var rerr error
		peakHeap, peakRSS := peakDuring(func() { rerr = g.Restore(rc) })
		if rerr != nil {
			b.Fatal(rerr)
		}
		restore, restoreCPU := time.Since(start), cpuTime()-cpu0
		if cpuProf != nil {
			pprof.StopCPUProfile()
			cpuProf.Close()
		}
		restoreAlloc := totalAlloc() - alloc0
		if got := len(g.Clusters()); got != clusters {
			b.Fatalf("restored %d clusters, want %d", got, clusters)
		}
		rinuse, _ := heapInUse()
		logf("N=%d snapshot (Snapshot+Persist) %s, %.0f MiB (%.0f B/person), allocating %.0f B/person; restore %s (process CPU %s), allocating %.0f B/person, peak live heap %.0f MiB, peak RSS %.0f MiB; heap after restore %.0f MiB (%.0f B/person)",
			n, persist.Round(time.Millisecond), float64(snapBytes)/(1<<20), per(snapBytes), per(int64(snapAlloc)),
			restore.Round(time.Millisecond), restoreCPU.Round(time.Millisecond), per(int64(restoreAlloc)), float64(peakHeap)/(1<<20), float64(peakRSS)/(1<<20),
			float64(rinuse)/(1<<20), per(int64(rinuse-heap0)))
		b.ReportMetric(persist.Seconds(), tag+"snapshot_s")
		b.ReportMetric(restore.Seconds(), tag+"restore_s")
		b.ReportMetric(restoreCPU.Seconds(), tag+"restore_cpu_s")
		b.ReportMetric(per(snapBytes), tag+"snapshotB/person")
		b.ReportMetric(per(int64(snapAlloc)), tag+"snapshot_allocB/person")
		b.ReportMetric(per(int64(restoreAlloc)), tag+"restore_allocB/person")
		b.ReportMetric(per(peakHeap), tag+"restore_peakheapB/person")
		f, l.f = g, g
		if err := os.RemoveAll(filepath.Join(dir, tag)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFSMApplyNewPeople measures FSM.Apply of sync batches of 1,000
// new people (no Raft, no HTTP): "email" is the catch-up benchmark's
// person (an identify with an e-mail and one trait), "pii" the scale
// benchmark's (e-mail, phone, name, birth date, address). One op is one
// person; cpu-µs/person is process CPU time, GC included.
//
//	go test -run '^$' -bench FSMApplyNewPeople -benchtime 50000x ./hub
func BenchmarkFSMApplyNewPeople(b *testing.B) {
	b.Run("email", func(b *testing.B) {
		benchNewPeople(b, func(i int) hubtest.Event {
			return hubtest.Event{Profile: fmt.Sprintf("L-%08d", i), Kind: profile.Identify,
				IDs: []profile.Identifier{hubtest.Email(fmt.Sprintf("c%d@example.com", i))}, Traits: map[string]any{"plan": "gold"}}
		})
	})
	b.Run("pii", func(b *testing.B) { benchNewPeople(b, scalePerson) })
}

func benchNewPeople(b *testing.B, person func(int) hubtest.Event) {
	const batch = 1000
	var cmds [][]byte
	var seq uint64
	for i := 0; i < b.N; i += batch {
		var es []replication.Entry
		for j := i; j < min(i+batch, b.N); j++ {
			seq++
			es = append(es, hubtest.Delta(1, seq, person(j)))
		}
		cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "edge-1", Entries: es})
		if err != nil {
			b.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	f, err := hub.NewFSM()
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i, cmd := range cmds {
		if r := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: cmd}).(*hub.Result); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "people/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/person")
}

// BenchmarkFSMApplyReturning measures the sync apply of returning people
// — every event a track (an order every tenth) for one of 20,000 people
// the FSM already holds (the "pii" person) — in batches of 1,000, as
// edges push steady-state traffic. "hot": the default number of
// fragments kept decoded holds them all; "cold": none is kept, so each
// touched fragment is decoded, joined and encoded again
// (docs/decisions/0056-hub-encoded-fragments.md).
//
//	go test -run '^$' -bench FSMApplyReturning -benchtime 50000x ./hub
func BenchmarkFSMApplyReturning(b *testing.B) {
	b.Run("hot", func(b *testing.B) { benchReturning(b, hub.DefaultHotFragments) })
	b.Run("cold", func(b *testing.B) { benchReturning(b, 0) })
}

func benchReturning(b *testing.B, hot int) {
	const people, batch = 20000, 1000
	var seq uint64
	marshal := func(es []replication.Entry) []byte {
		cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "edge-1", Entries: es})
		if err != nil {
			b.Fatal(err)
		}
		return cmd
	}
	var load, cmds [][]byte
	for i := 0; i < people; i += batch {
		var es []replication.Entry
		for j := i; j < i+batch; j++ {
			seq++
			es = append(es, hubtest.Delta(1, seq, scalePerson(j)))
		}
		load = append(load, marshal(es))
	}
	for i := 0; i < b.N; i += batch {
		var es []replication.Entry
		for j := i; j < min(i+batch, b.N); j++ {
			seq++
			ev := hubtest.Event{Profile: fmt.Sprintf("s%08d", (j*7919)%people), Name: "Product Viewed"}
			if j%10 == 0 {
				ev.Name, ev.Revenue = "Order Completed", 20
			}
			es = append(es, hubtest.Delta(1, seq, ev))
		}
		cmds = append(cmds, marshal(es))
	}
	f, err := hub.NewFSM()
	if err != nil {
		b.Fatal(err)
	}
	f.SetHotFragments(hot)
	index := uint64(0)
	apply := func(cmd []byte) {
		index++
		if r := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: cmd}).(*hub.Result); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	for _, cmd := range load {
		apply(cmd)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for _, cmd := range cmds {
		apply(cmd)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
}

// BenchmarkArenaChurn measures the fragment arena's compaction
// (docs/decisions/0066-hub-fragments-off-the-heap.md) under returning
// people: UCV_ARENACHURN_PEOPLE (default 100,000) people are loaded cold
// (no hot set), then UCV_ARENACHURN_RETURNS (default twice as many) returning
// people whose address changed arrive in one-person sync entries — each
// re-encodes its fragment and leaves its old encoding as garbage. Every
// third person never returns, so the chunks they were loaded into are
// left two thirds garbage, which only a compaction pass frees. It
// reports the arena's mapped and live bytes per person at the end, the
// passes and bytes moved, and the Apply latency p50/p99/max of the
// returning entries, with the arena's default 8 MiB chunks.
//
//	go test -run '^$' -bench ArenaChurn -benchtime 1x ./hub
func BenchmarkArenaChurn(b *testing.B) {
	people, returns := 100_000, 0
	if v := os.Getenv("UCV_ARENACHURN_PEOPLE"); v != "" {
		people, _ = strconv.Atoi(v)
	}
	returns = 2 * people
	if v := os.Getenv("UCV_ARENACHURN_RETURNS"); v != "" {
		returns, _ = strconv.Atoi(v)
	}
	for range b.N {
		dir := b.TempDir()
		path := filepath.Join(dir, "raft.db")
		logs, err := raftboltdb.New(raftboltdb.Options{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		f, err := hub.NewFSM()
		if err != nil {
			b.Fatal(err)
		}
		if err := f.UseArena(dir, 0); err != nil {
			b.Fatal(err)
		}
		f.SetHotFragments(0)
		l := &scaleLoader{tb: b, f: f, logs: logs, path: path}
		es := make([]replication.Entry, 0, 1000)
		for i := 0; i < people; {
			es = es[:0]
			for ; len(es) < cap(es) && i < people; i++ {
				es = append(es, l.next(scalePerson(i)))
			}
			l.apply(es)
		}
		loaded := f.ArenaStats()
		lat := make([]time.Duration, 0, returns)
		for k := range returns {
			p := (k * 7919) % people
			if p%3 == 0 {
				p = (p + 1) % people // every third person stays away
			}
			old := scalePerson(p)
			addr := old.Traits["address"].(map[string]any)
			old.IDs = nil
			old.Traits = map[string]any{"address": map[string]any{"street": fmt.Sprintf("%d churn street", k), "city": addr["city"], "postalCode": addr["postalCode"]}}
			lat = append(lat, l.apply([]replication.Entry{l.next(old)}))
		}
		s := f.ArenaStats()
		per := func(v int64) float64 { return float64(v) / float64(people) }
		b.Logf("%d people: arena after loading %.0f MiB mapped (%.0f B/person); after %d returns %.0f MiB mapped (%.0f B/person), live %.0f B/person, garbage %.0f B/person; %d passes moved %.0f MiB; %d chunks unmapped; return Apply p50 %s p99 %s max %s",
			people, float64(loaded.Mapped)/(1<<20), per(loaded.Mapped), returns, float64(s.Mapped)/(1<<20), per(s.Mapped), per(s.Live), per(s.Garbage),
			s.Passes, float64(s.Moved)/(1<<20), s.Unmapped, quantile(lat, .5), quantile(lat, .99), quantile(lat, 1))
		b.ReportMetric(per(s.Mapped), "mappedB/person")
		b.ReportMetric(per(s.Live), "liveB/person")
		b.ReportMetric(float64(s.Passes), "passes")
		b.ReportMetric(float64(quantile(lat, .99).Microseconds())/1000, "return_p99_ms")
		logs.Close()
	}
}

// The scale benchmark's people carry phones the engine accepts as
// identifiers, distinct across the sizes it runs.
func TestScalePhonesValid(t *testing.T) {
	seen := map[string]int{}
	for _, i := range []int{0, 1, 7_999_999, 8_000_000, 9_999_999, 10_000_000, 16_000_000, 24_000_000, 32_000_000, 39_999_999} {
		p := scalePhone(i)
		v, err := profile.NormalizePhone(p, "US")
		if err != nil || v != p {
			t.Errorf("person %d: phone %q normalizes to %q, %v", i, p, v, err)
		}
		if j, ok := seen[p]; ok {
			t.Errorf("persons %d and %d share phone %q", j, i, p)
		}
		seen[p] = i
	}
}
