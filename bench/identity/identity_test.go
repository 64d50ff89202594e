package identity

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"testing"
	"time"

	hid "ucv/hub/identity"
)

func dataDir(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	d := FindDataDir(wd)
	if d == "" {
		tb.Skip("shared/data not found above the repository; skipping")
	}
	return d
}

func TestScore(t *testing.T) {
	entity := map[string]string{"a": "1", "b": "1", "c": "1", "d": "2", "e": "3"}
	assign := [][2]string{{"a", "A"}, {"b", "A"}, {"c", "C"}, {"d", "A"}, {"e", "E"}}
	m := Score(assign, entity, nil)
	// predicted pairs: ab ad bd = 3, true pairs: ab ac bc = 3, correct: ab = 1
	if m.PredictedPairs != 3 || m.TruePairs != 3 || m.CorrectPairs != 1 {
		t.Fatalf("pairs = %d/%d/%d, want 3/3/1", m.CorrectPairs, m.PredictedPairs, m.TruePairs)
	}
	// B-cubed precision: a,b: 2/3 each, d: 1/3, c: 1, e: 1 → (2/3+2/3+1/3+1+1)/5
	if want := (2.0/3 + 2.0/3 + 1.0/3 + 1 + 1) / 5; math.Abs(m.BCubedPrecision-want) > 1e-9 {
		t.Errorf("B-cubed precision = %v, want %v", m.BCubedPrecision, want)
	}
	// exact clusters: only E = {e}
	if m.ClusterPrecision != 1.0/3 || m.ClusterRecall != 1.0/3 {
		t.Errorf("cluster P/R = %v/%v, want 1/3, 1/3", m.ClusterPrecision, m.ClusterRecall)
	}
	perfect := Score([][2]string{{"a", "x"}, {"b", "x"}, {"c", "x"}, {"d", "y"}, {"e", "z"}}, entity, nil)
	if perfect.PairF1 != 1 || perfect.BCubedF1 != 1 || perfect.ClusterF1 != 1 {
		t.Errorf("perfect clustering scored %+v", perfect)
	}
}

func TestLoadUnknown(t *testing.T) {
	if _, err := Load(t.TempDir(), "nope"); err == nil {
		t.Error("Load of an unknown data set succeeded")
	}
	if _, err := Load(t.TempDir(), "febrl1"); !errors.Is(err, ErrNoData) {
		t.Errorf("Load from an empty dir = %v, want ErrNoData", err)
	}
}

// TestFEBRL1Regression is the quick accuracy guard: FEBRL1 (1,000 rows,
// 500 true pairs) resolves in about a second. The floors sit a little
// below the measured values (all 1.0000 when written) so a real
// regression fails while noise-free determinism keeps it stable.
func TestFEBRL1Regression(t *testing.T) {
	ds, err := Load(dataDir(t), "febrl1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(ds, hid.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("febrl1: pair P %.4f R %.4f; B3 F1 %.4f; blocking PC %.4f at %.1f cmp/rec",
		r.PairPrecision, r.PairRecall, r.BCubedF1, r.BlockingCompleteness, r.ComparisonsPerRecord)
	for _, c := range []struct {
		name       string
		got, floor float64
	}{
		{"pair precision", r.PairPrecision, 0.995},
		{"pair recall", r.PairRecall, 0.99},
		{"B-cubed F1", r.BCubedF1, 0.995},
		{"blocking pairs completeness", r.BlockingCompleteness, 0.995},
	} {
		if c.got < c.floor {
			t.Errorf("febrl1 %s = %.4f, below the floor %.3f", c.name, c.got, c.floor)
		}
	}
	if r.ComparisonsPerRecord > 5 {
		t.Errorf("febrl1 comparisons per record = %.1f, want <= 5", r.ComparisonsPerRecord)
	}
}

// BenchmarkScorePairs measures pair scoring (comparison vector and
// weight) over FEBRL4's candidate pairs, single goroutine.
func BenchmarkScorePairs(b *testing.B) {
	ds, err := Load(dataDir(b), "febrl4")
	if err != nil {
		b.Fatal(err)
	}
	_, ix, err := hid.Resolve(ds.Records, hid.DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	set := ix.CandidateSet()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set.Score()
	}
	b.ReportMetric(float64(set.Len())*float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(set.Len()*b.N), "ns/pair")
}

// BenchmarkIncrementalAdd measures Index.Add of a new record against an
// index of N synthetic records (FEBRL-like people with noisy copies), and
// reports p50/p99 latency. Sizes are kept small enough for a laptop; set
// UCV_BENCH_INCREMENTAL_N for a bigger index.
func BenchmarkIncrementalAdd(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if s := os.Getenv("UCV_BENCH_INCREMENTAL_N"); s != "" {
		var n int
		if _, err := fmt.Sscan(s, &n); err == nil && n > 0 {
			sizes = []int{n}
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			g := NewGenerator(1)
			base := g.Records(n)
			m, err := hid.Train(base[:min(n, 50_000)], hid.DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			ix := hid.NewIndex(m)
			if err := ix.Load(base, nil); err != nil {
				b.Fatal(err)
			}
			extra := g.Records(b.N)
			lat := make([]time.Duration, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := ix.Add(extra[i]); err != nil {
					b.Fatal(err)
				}
				lat[i] = time.Since(t0)
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
