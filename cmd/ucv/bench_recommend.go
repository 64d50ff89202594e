package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	benchid "ucv/bench/identity"
	"ucv/profile/recommend"
)

// runBenchRecommend implements `ucv bench recommend`: the model against
// the popularity baseline on online_retail, trained before each split
// and scored on the new items customers bought after it, and the
// training time on the whole data set.
func runBenchRecommend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench recommend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := recommend.DefaultOptions
	file := fs.String("file", "", "online_retail.csv.gz (default: shared/data/online_retail/ found above the working directory)")
	splits := fs.String("splits", "2011-09-01,2011-10-01", "comma-separated split dates")
	k := fs.Int("k", 10, "recommendations per customer")
	neighbours := fs.Int("neighbours", d.Neighbours, "neighbours kept per item")
	alpha := fs.Float64("alpha", d.Alpha, "asymmetric cosine exponent (0.5: cosine)")
	shrink := fs.Float64("shrink", d.Shrink, "shrinkage λ (0: none)")
	maxBasket := fs.Int("max-basket", d.MaxBasket, "items kept of one customer's basket")
	halfLife := fs.Float64("half-life", d.HalfLifeDays, "history half-life in days (0: no decay)")
	bweight := fs.Bool("basket-weight", d.BasketWeight, "weigh baskets by 1/log2(1+size)")
	normalize := fs.Bool("normalize", d.Normalize, "scale each item's neighbour scores to a best of 1")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *file == "" {
		wd, _ := os.Getwd()
		dir := benchid.FindDataDir(wd)
		if dir == "" {
			return fmt.Errorf("%w: no data directory found; pass --file", errUsage)
		}
		*file = filepath.Join(dir, "online_retail", "online_retail.csv.gz")
	}
	cfg := recommendConfig{inputs: []string{*file}, customer: "CustomerID", item: "StockCode", date: "InvoiceDate",
		order: "InvoiceNo", quantity: "Quantity", dateFormat: time.DateTime}
	ps, err := readPurchases(cfg)
	if err != nil {
		return err
	}
	opt := recommend.Options{Neighbours: *neighbours, Alpha: *alpha, Shrink: *shrink, MaxBasket: *maxBasket, HalfLifeDays: *halfLife, BasketWeight: *bweight, Normalize: *normalize}
	fmt.Fprintf(stdout, "data: %s (%d purchase lines of known customers, cancellations left out)\noptions: %+v\n\n", *file, len(ps), opt)
	fmt.Fprintf(stdout, "%-10s %9s %6s %10s %10s %10s %10s %7s %9s\n", "split", "customers", "items", "recall@k", "hit@k", "pop rec@k", "pop hit@k", "ratio", "train")
	for s := range strings.SplitSeq(*splits, ",") {
		if err := ctx.Err(); err != nil {
			return err
		}
		at, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%w: --splits: %q is not YYYY-MM-DD", errUsage, s)
		}
		r, err := recommend.Evaluate(ps, at, *k, opt)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-10s %9d %6d %10.4f %10.4f %10.4f %10.4f %6.2fx %9s\n", s, r.Customers, r.Items, r.Recall, r.HitRate,
			r.BaselineRecall, r.BaselineHitRate, r.Recall/r.BaselineRecall, r.TrainTime.Round(time.Millisecond))
	}
	baskets, _ := recommend.CustomerBaskets(ps, 1<<62)
	start := time.Now()
	m, err := recommend.Train(baskets, opt)
	if err != nil {
		return err
	}
	el := time.Since(start)
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwhole data set: %d baskets, %d items, trained in %s, model %d bytes\n", m.Baskets, m.Items, el.Round(time.Millisecond), len(b))
	return nil
}
