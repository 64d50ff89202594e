package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"ucv/profile/recommend"
)

// recommendConfig is what `ucv recommend` was asked to do.
type recommendConfig struct {
	inputs     []string
	customer   string
	item       string
	date       string
	order      string
	quantity   string
	dateFormat string
	until      time.Time
	k          int
	output     string
}

const recommendUsage = `Usage: ucv recommend --input FILE [--input FILE…] --customer COL --item COL --date COL [--order COL] [--quantity COL] [--date-format LAYOUT] --until DATE --k N --output FILE

Trains the item-to-item co-purchase model the hub ships to edges
(docs/decisions/0038-recommendations.md) on the purchases of CSV files (with
header rows; .gz files are read compressed) dated before --until, and writes
the top --k recommendations of every customer who bought before --until:

  customer,item,rank

Items a customer bought before --until are never recommended. Rows without a
customer (guest orders) are left out; with --quantity, so are rows whose
quantity is not positive (returns, cancellations). With --order, rows that
repeat an item within one order count once. Prints one JSON object of counts
on stdout.
`

func recommendFlagGroups() []flagGroup {
	return []flagGroup{
		{title: "Input", flags: []string{"input", "customer", "item", "date", "order", "quantity", "date-format"},
			example: "ucv recommend --input online_retail.csv.gz --customer CustomerID --item StockCode --date InvoiceDate --order InvoiceNo --quantity Quantity --date-format '2006-01-02 15:04:05' --until 2011-09-01 --k 10 --output recs.csv"},
		{title: "Model", flags: []string{"until", "k"}, example: "--until 2011-09-01 --k 10"},
		{title: "Output", flags: []string{"output"}, example: "--output recs.csv"},
	}
}

// runRecommend implements `ucv recommend`.
func runRecommend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseRecommendFlags(args, stderr)
	if err != nil {
		return err
	}
	ps, err := readPurchases(cfg)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	baskets, hist := recommend.CustomerBaskets(ps, cfg.until.UnixMilli())
	if len(baskets) == 0 {
		return fmt.Errorf("no purchases before --until %s", cfg.until.Format(time.DateOnly))
	}
	m, err := recommend.Train(baskets, recommend.DefaultOptions)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	custs := make([]string, 0, len(hist))
	for c := range hist {
		custs = append(custs, c)
	}
	slices.Sort(custs)
	rows := 0
	err = writeFile(cfg.output, func(bw *bufio.Writer) error {
		w := csv.NewWriter(bw)
		_ = w.Write([]string{"customer", "item", "rank"})
		for _, c := range custs {
			for i, r := range m.Recommend(hist[c], cfg.until.UnixMilli(), cfg.k) {
				_ = w.Write([]string{c, r.ID, strconv.Itoa(i + 1)})
				rows++
			}
		}
		w.Flush()
		return w.Error()
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "{\"customers\":%d,\"items\":%d,\"items_with_neighbours\":%d,\"rows\":%d}\n", len(custs), m.Items, len(m.Neighbours), rows)
	return err
}

func parseRecommendFlags(args []string, stderr io.Writer) (recommendConfig, error) {
	fs := flag.NewFlagSet("recommend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), recommendUsage)
		printFlagGroups(fs.Output(), fs, recommendFlagGroups())
	}
	var inputs stringList
	fs.Var(&inputs, "input", "CSV `FILE` with a header row, .gz for compressed (repeatable); default: the comma-separated files of UCV_RECOMMEND_INPUT [UCV_RECOMMEND_INPUT]")
	customer := fs.String("customer", envOr("UCV_RECOMMEND_CUSTOMER", ""), "customer id `COLUMN` (required) [UCV_RECOMMEND_CUSTOMER]")
	item := fs.String("item", envOr("UCV_RECOMMEND_ITEM", ""), "item (product id) `COLUMN` (required) [UCV_RECOMMEND_ITEM]")
	date := fs.String("date", envOr("UCV_RECOMMEND_DATE", ""), "purchase date `COLUMN` (required) [UCV_RECOMMEND_DATE]")
	order := fs.String("order", envOr("UCV_RECOMMEND_ORDER", ""), "optional order id `COLUMN`: an item repeated within an order counts once [UCV_RECOMMEND_ORDER]")
	quantity := fs.String("quantity", envOr("UCV_RECOMMEND_QUANTITY", ""), "optional quantity `COLUMN`: rows whose quantity is not a positive number are left out [UCV_RECOMMEND_QUANTITY]")
	dateFormat := fs.String("date-format", envOr("UCV_RECOMMEND_DATE_FORMAT", time.DateOnly), "Go time `LAYOUT` of the date column (read as UTC) [UCV_RECOMMEND_DATE_FORMAT]")
	until := fs.String("until", envOr("UCV_RECOMMEND_UNTIL", ""), "train on rows dated before this `DATE`, YYYY-MM-DD or in --date-format (required) [UCV_RECOMMEND_UNTIL]")
	k := fs.Int("k", recommendEnvInt("UCV_RECOMMEND_K", 10), "recommendations per customer, `N` in 1..1000 [UCV_RECOMMEND_K]")
	output := fs.String("output", envOr("UCV_RECOMMEND_OUTPUT", ""), "recommendations CSV `FILE` to write (required) [UCV_RECOMMEND_OUTPUT]")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return recommendConfig{}, err
		}
		return recommendConfig{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return recommendConfig{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if len(inputs) == 0 {
		for p := range strings.SplitSeq(os.Getenv("UCV_RECOMMEND_INPUT"), ",") {
			if p = strings.TrimSpace(p); p != "" {
				inputs = append(inputs, p)
			}
		}
	}
	cfg := recommendConfig{inputs: inputs, customer: *customer, item: *item, date: *date, order: *order, quantity: *quantity,
		dateFormat: *dateFormat, k: *k, output: *output}
	switch {
	case len(cfg.inputs) == 0:
		return cfg, fmt.Errorf("%w: --input is required", errUsage)
	case cfg.customer == "":
		return cfg, fmt.Errorf("%w: --customer is required", errUsage)
	case cfg.item == "":
		return cfg, fmt.Errorf("%w: --item is required", errUsage)
	case cfg.date == "":
		return cfg, fmt.Errorf("%w: --date is required", errUsage)
	case *until == "":
		return cfg, fmt.Errorf("%w: --until is required", errUsage)
	case cfg.output == "":
		return cfg, fmt.Errorf("%w: --output is required", errUsage)
	case cfg.k < 1 || cfg.k > 1000:
		return cfg, fmt.Errorf("%w: --k must be 1..1000, not %d", errUsage, cfg.k)
	}
	t, err := time.Parse(time.DateOnly, *until)
	if err != nil {
		if t, err = time.Parse(cfg.dateFormat, *until); err != nil {
			return cfg, fmt.Errorf("%w: --until: %q is neither YYYY-MM-DD nor in --date-format %q", errUsage, *until, cfg.dateFormat)
		}
	}
	cfg.until = t
	return cfg, nil
}

// recommendEnvInt is envOr for an integer; a value that is not one is kept as
// the default, and flag parsing reports nothing (the flag's own value
// wins when given).
func recommendEnvInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

// readPurchases reads every input file row by row (streaming: the
// online_retail file is half a million rows).
func readPurchases(cfg recommendConfig) ([]recommend.Purchase, error) {
	var out []recommend.Purchase
	for _, p := range cfg.inputs {
		var err error
		if out, err = readPurchaseFile(cfg, p, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readPurchaseFile(cfg recommendConfig, path string, out []recommend.Purchase) ([]recommend.Purchase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<16)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file (a header row is required)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, csvErr(err))
	}
	header := map[string]int{}
	for i, h := range head {
		header[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	col := func(flag, name string) (int, error) {
		if name == "" {
			return -1, nil
		}
		i, ok := header[name]
		if !ok {
			return 0, fmt.Errorf("%s: no column %q (%s)", path, name, flag)
		}
		return i, nil
	}
	var idx [5]int
	for i, c := range []struct{ flag, name string }{{"--customer", cfg.customer}, {"--item", cfg.item}, {"--date", cfg.date}, {"--order", cfg.order}, {"--quantity", cfg.quantity}} {
		if idx[i], err = col(c.flag, c.name); err != nil {
			return nil, err
		}
	}
	seen := map[[2]string]bool{} // (order, item) pairs, with --order
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, csvErr(err))
		}
		line, _ := cr.FieldPos(0)
		get := func(i int) string {
			if i >= 0 && i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		if idx[4] >= 0 {
			q, err := strconv.ParseFloat(get(idx[4]), 64)
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: quantity column %q is not a number", path, line, cfg.quantity)
			}
			if !(q > 0) {
				continue
			}
		}
		cust := get(idx[0])
		if cust == "" {
			continue // a guest order
		}
		item := get(idx[1])
		if item == "" {
			return nil, fmt.Errorf("%s: line %d: empty item column %q", path, line, cfg.item)
		}
		d, err := time.Parse(cfg.dateFormat, get(idx[2]))
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: date column %q does not match --date-format %q", path, line, cfg.date, cfg.dateFormat)
		}
		if idx[3] >= 0 {
			k := [2]string{get(idx[3]), item}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, recommend.Purchase{Customer: cust, Item: item, Time: d.UnixMilli()})
	}
}
