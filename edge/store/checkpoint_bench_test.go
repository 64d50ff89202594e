package store

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
)

// BenchmarkCheckpointWrite measures what writing dirty profiles back to
// bbolt costs per profile when they are written together, as the
// in-memory applier's checkpoint would (docs/decisions/0090): a file of
// 100,000 profiles (state record and view, the sizes one event gives),
// then transactions that each rewrite `dirty` of them, picked at random,
// in key order, committed with the store's options and fsyncs. The
// applier today writes each profile in the commit of its event's batch
// (~1,000–2,000 events); a checkpoint every few seconds writes each
// dirty profile once however many events it took.
func BenchmarkCheckpointWrite(b *testing.B) {
	const population = 100000
	s := open(b)
	cat := s.Catalog()
	m := ev(b, `{"type":"track","userId":"u1","messageId":"c-1","event":"Product Viewed","properties":{"sku":"sku-1","price":19.99}}`).Msg
	p := profile.New("01KBPROFILE000000000000000")
	p.Apply(m, m.Identifiers, profile.Source{Node: s.node, Name: "pos", Capture: cat.Capture}, s.clock.Now())
	state, err := p.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	json, evl, err := renderViewAfter(p, cat, time.Now().UnixMilli(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, population)
	for i := range ids {
		ids[i] = fmt.Sprintf("01KB%022d", uint64(i)*2654435761%1e15)
	}
	slices.Sort(ids)
	db, err := bolt.Open(filepath.Join(b.TempDir(), "ckpt.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	put := func(tx *bolt.Tx, id string) error {
		if err := tx.Bucket(bucketProfiles).Put([]byte(id), sealProfile(id, state)); err != nil {
			return err
		}
		return tx.Bucket(bucketViews).Put([]byte(id), encodeViewRecord(id, 0, 0, p.Version.String(), evl, json))
	}
	for lo := 0; lo < population; lo += 10000 {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, bk := range [][]byte{bucketProfiles, bucketViews} {
				if _, err := tx.CreateBucketIfNotExists(bk); err != nil {
					return err
				}
			}
			for _, id := range ids[lo:min(lo+10000, population)] {
				if err := put(tx, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("state %d B, view record %d B", len(sealProfile(ids[0], state)), len(encodeViewRecord(ids[0], 0, 0, p.Version.String(), evl, json)))
	for _, dirty := range []int{100, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("dirty=%d", dirty), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(dirty)))
			var pick []string
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				pick = pick[:0]
				if dirty == population {
					pick = append(pick, ids...)
				} else {
					for range dirty {
						pick = append(pick, ids[rng.IntN(population)])
					}
					slices.Sort(pick)
					pick = slices.Compact(pick)
				}
				b.StartTimer()
				err := db.Update(func(tx *bolt.Tx) error {
					for _, id := range pick {
						if err := put(tx, id); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pick))/1e3, "µs/profile")
		})
	}
}
