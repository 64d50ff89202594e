package clv_test

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ucv/profile/clv"
)

// cdnowSample finds ../shared/data/cdnow/CDNOW_sample.txt above the
// working directory (the repository sits next to shared/).
func cdnowSample(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data", "cdnow", "CDNOW_sample.txt")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/data/cdnow/CDNOW_sample.txt not found above the repository; skipping the paper's CDNOW check")
		}
		dir = parent
	}
}

func day(t time.Time) int { return int(t.Unix() / 86400) }

// readCDNOW reads the paper's sample: `id id2 YYYYMMDD count amount`.
func readCDNOW(t *testing.T) []clv.Transaction {
	t.Helper()
	f, err := os.Open(cdnowSample(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var txs []clv.Transaction
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue
		}
		d, err := time.Parse("20060102", fs[2])
		if err != nil {
			t.Fatal(err)
		}
		amt, err := strconv.ParseFloat(fs[4], 64)
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, clv.Transaction{Customer: fs[0], Day: day(d), Amount: amt})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return txs
}

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %.4f ± %g", name, got, want, tol)
	}
}

// TestCDNOWPaperEstimates fits the paper's 2,357-customer sample,
// calibrated on its first 39 weeks, and finds Fader, Hardie & Lee's
// published estimates to their rounding.
func TestCDNOWPaperEstimates(t *testing.T) {
	txs := readCDNOW(t)
	end := day(time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC))
	cs, err := clv.Summarize(txs, end, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2357 {
		t.Fatalf("%d customers, want 2357", len(cs))
	}
	sums := make([]clv.Summary, len(cs))
	repeat := 0
	for i, c := range cs {
		sums[i] = c.Summary
		if c.Frequency > 0 {
			repeat++
		}
	}
	bg, err := clv.FitBGNBD(sums)
	if err != nil {
		t.Fatal(err)
	}
	m := bg.Model
	t.Logf("BG/NBD r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.2f", m.R, m.Alpha, m.A, m.B, bg.LogLikelihood)
	near(t, "r", m.R, 0.243, 0.005)
	near(t, "alpha", m.Alpha, 4.414, 0.005)
	near(t, "a", m.A, 0.793, 0.005)
	near(t, "b", m.B, 2.426, 0.005)
	near(t, "log-likelihood", bg.LogLikelihood, -9582.4, 0.05)

	gg, err := clv.FitGammaGamma(sums)
	if err != nil {
		t.Fatal(err)
	}
	g := gg.Model
	t.Logf("Gamma-Gamma p=%.4f q=%.4f v=%.4f on %d repeat customers (of %d)", g.P, g.Q, g.V, gg.Customers, repeat)
	if gg.Customers != repeat {
		t.Errorf("Gamma-Gamma fitted on %d customers, want the %d repeat customers", gg.Customers, repeat)
	}
	near(t, "p", g.P, 6.25, 0.005)
	near(t, "q", g.Q, 3.74, 0.005)
	near(t, "v", g.V, 15.44, 0.015)
}
