package recommend

import (
	"compress/gzip"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// onlineRetail reads ../shared/data/online_retail (found above the
// working directory) as `ucv bench recommend` does: known customers,
// positive quantities, an item once per invoice. It skips when the file
// is absent.
func onlineRetail(tb testing.TB) []Purchase {
	tb.Helper()
	dir, _ := os.Getwd()
	var path string
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "data", "online_retail", "online_retail.csv.gz")
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
		if filepath.Dir(d) == d {
			tb.Skip("shared/data/online_retail/online_retail.csv.gz not found above the repository")
		}
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	r := csv.NewReader(gz)
	if _, err := r.Read(); err != nil {
		tb.Fatal(err)
	}
	seen := map[[2]string]bool{}
	var out []Purchase
	for {
		row, err := r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		q, _ := strconv.ParseFloat(row[3], 64)
		if q <= 0 || row[6] == "" || seen[[2]string{row[0], row[1]}] {
			continue
		}
		seen[[2]string{row[0], row[1]}] = true
		t, err := time.Parse(time.DateTime, row[4])
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, Purchase{Customer: row[6], Item: row[1], Time: t.UnixMilli()})
	}
}

// BenchmarkTrainOnlineRetail trains on the whole online_retail data set
// (4,339 customers' baskets, 3,665 items): issue 11's target is ≤ 10 s.
func BenchmarkTrainOnlineRetail(b *testing.B) {
	baskets, _ := CustomerBaskets(onlineRetail(b), 1<<62)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Train(baskets, DefaultOptions); err != nil {
			b.Fatal(err)
		}
	}
}
