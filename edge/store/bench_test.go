package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/crdt"
	"ucv/profile"
)

// BenchmarkIngestCommit compares the store's group committer with bbolt's
// own db.Batch (default 10 ms MaxBatchDelay) for single-event requests at
// several concurrencies, with real fsyncs. It is the measurement behind
// the choice of committer (docs/decisions/0006-edge-store.md).
func BenchmarkIngestCommit(b *testing.B) {
	for _, clients := range []int{1, 8, 64} {
		for _, mode := range []string{"committer", "bolt-batch"} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				s := open(b)
				evs := make([]Event, 1024)
				for i := range evs {
					evs[i] = ev(b, fmt.Sprintf(`{"type":"track","userId":"u%d","event":"Product Viewed","properties":{"sku":"s%d"}}`, i%100, i))
				}
				do := func(e Event) error {
					if mode == "committer" {
						_, err := s.Ingest(context.Background(), []Event{e})
						return err
					}
					return s.db.Batch(func(tx *bolt.Tx) error {
						w := newWriter(s, tx)
						if _, _, err := w.ingest(e, crdt.Timestamp{}); err != nil {
							return err
						}
						return w.flush()
					})
				}
				ingestConcurrently(b, clients, evs, "bench", do)
			})
		}
	}
}

// BenchmarkIngestCPU isolates the committer's CPU cost per event (no
// fsync: NoSync) on the `ucv bench ingest` workload — Product Viewed
// tracks — from 64 concurrent single-event callers, as the HTTP layer
// calls it: spread over 100,000 users (mostly first events, as in the
// benchmark) and over 1,000 (returning users). Profile it with
// -cpuprofile.
func BenchmarkIngestCPU(b *testing.B) {
	for _, users := range []uint64{100000, 1000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			s := open(b, func(o *Options) { o.NoSync = true })
			evs := make([]Event, 4096)
			for i := range evs {
				evs[i] = ev(b, fmt.Sprintf(`{"type":"track","userId":"u%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}`,
					(uint64(i)*2654435761+12345)%users, i%500))
			}
			ingestConcurrently(b, 64, evs, "cpu", func(e Event) error {
				_, err := s.Ingest(context.Background(), []Event{e})
				return err
			})
		})
	}
}

// ingestConcurrently runs b.N events from clients goroutines through do,
// event i being evs[i mod len] with messageId prefix-i, and reports
// events/s.
func ingestConcurrently(b *testing.B, clients int, evs []Event, prefix string, do func(Event) error) {
	var n atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				m := *evs[i%int64(len(evs))].Msg
				m.MessageID = fmt.Sprintf("%s-%d", prefix, i)
				if err := do(Event{Msg: &m}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendBatches is the store's half of `ucv bench ingest`'s
// batch phase: 8 callers each appending batches of 100 Product Viewed
// tracks through the write-ahead log (real fsyncs), the applier
// committing behind them. Event i is user i·φ mod 100,000, so a run of
// 100,000 events meets most users for the first time, as the batch
// phase does. The figure is events/s applied (the timer stops once
// everything acknowledged is applied).
func BenchmarkAppendBatches(b *testing.B) {
	const users = 100000
	s := open(b)
	evs := make([]Event, b.N)
	for i := range evs {
		evs[i] = ev(b, fmt.Sprintf(`{"type":"track","userId":"u%d","messageId":"b-%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}`,
			(uint64(i)*2654435761+12345)%users, i, i%500))
	}
	b.ResetTimer()
	appendAll(b, s, evs) // 8 callers, batches of 100 (retail_bench_test.go)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkApplyInMemory measures the floor of an applier that keeps
// every profile decoded in memory (issue 16's write path, decision 0090):
// the event stream of BenchmarkAppendBatches, each event found by one
// map probe on its identifier, applied to its profile as the writer
// applies it (Profile.Apply with the store's source and a clock stamp)
// and its view rendered as flush renders it — no bbolt, no log, no
// encoding. With encode=true each event also pays Profile.Marshal, what
// writing that profile's state back would cost if nothing coalesced.
// Compare with AppendBatches' events/s in the same run.
func BenchmarkApplyInMemory(b *testing.B) {
	for _, encode := range []bool{false, true} {
		b.Run(fmt.Sprintf("encode=%v", encode), func(b *testing.B) {
			const users = 100000
			s := open(b)
			cat := s.Catalog()
			evs := make([]Event, b.N)
			for i := range evs {
				evs[i] = ev(b, fmt.Sprintf(`{"type":"track","userId":"u%d","messageId":"b-%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}`,
					(uint64(i)*2654435761+12345)%users, i, i%500))
			}
			byKey := make(map[string]*profile.Profile, users)
			src := profile.Source{Node: s.node, Name: "pos", Capture: cat.Capture}
			nowMs := time.Now().UnixMilli()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range evs {
				m := evs[i].Msg
				key := m.Identifiers[0].Key()
				p := byKey[key]
				if p == nil {
					p = profile.New(fmt.Sprintf("p%d", i))
					byKey[key] = p
				}
				p.Apply(m, m.Identifiers, src, s.clock.Now())
				if _, _, err := renderViewAfter(p, cat, nowMs, nil); err != nil {
					b.Fatal(err)
				}
				if encode {
					if _, err := p.Marshal(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			// What holding them costs: the live heap per profile kept.
			evs = nil
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc)/float64(len(byKey)), "heap-B/profile")
			runtime.KeepAlive(byKey)
		})
	}
}
