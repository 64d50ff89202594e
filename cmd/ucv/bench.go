package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	benchid "ucv/bench/identity"
	hid "ucv/hub/identity"
)

// benchScenario is one `ucv bench <name>` scenario. Later scenarios add a
// line to benchScenarios.
type benchScenario struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func benchScenarios() []benchScenario {
	return []benchScenario{
		{"identity", "identity-resolution accuracy and speed on FEBRL, historical_50k and generated customer records", runBenchIdentity},
		{"lookup", "edge lookups vs redis-server GET, same generator (1M profiles)", runBenchLookup},
		{"ingest", "edge durable ingest: single events from 64 clients, and batches", runBenchIngest},
		{"compare", "edge under wrk vs redis-server under redis-benchmark, side by side: ingest, batch, lookup, one-connection p99", runBenchCompare},
		{"recommend", "recommendations vs popularity on online_retail (recall@k, hit rate@k, train time)", runBenchRecommend},
	}
}

// runBench dispatches `ucv bench <scenario> [flags]`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	scs := benchScenarios()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, "Usage: ucv bench <scenario> [flags]\n\nScenarios:\n")
		for _, s := range scs {
			fmt.Fprintf(stderr, "  %-10s %s\n", s.name, s.summary)
		}
		if len(args) == 0 {
			return fmt.Errorf("%w: missing scenario", errUsage)
		}
		return flag.ErrHelp
	}
	for _, s := range scs {
		if s.name == args[0] {
			return s.run(ctx, args[1:], stdout, stderr)
		}
	}
	names := make([]string, len(scs))
	for i, s := range scs {
		names[i] = s.name
	}
	return fmt.Errorf("%w: unknown scenario %q (known: %s)", errUsage, args[0], strings.Join(names, ", "))
}

func runBenchIdentity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench identity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := hid.DefaultConfig()
	dataDir := fs.String("data", os.Getenv("UCV_BENCH_DATA"), "directory holding febrl/ and historical_50k/ (default: shared/data found above the working directory; env UCV_BENCH_DATA)")
	sets := fs.String("sets", strings.Join(benchid.Names(), ","), "comma-separated data sets")
	match := fs.Float64("match-weight", def.MatchWeight, "auto-merge match weight")
	review := fs.Float64("review-weight", def.ReviewWeight, "lower end of the review band")
	clusterP := fs.Float64("cluster-min-probability", def.ClusterMinProbability, "mean cross-cluster probability a merge needs")
	veto := fs.Float64("veto-weight", def.VetoWeight, "a non-matching cross pair whose disagreements sum below this refuses a probabilistic merge")
	blockCap := fs.Int("block-cap", def.BlockCap, "largest block compared")
	households := fs.Int("customers-households", benchid.CustomersHouseholds, "households of the generated customers set")
	seed := fs.Uint64("customers-seed", benchid.CustomersSeed, "seed of the generated customers set")
	namePools := fs.String("customers-names", "dense", "name pools of --write-customers: dense (the customers set) or realistic (customers-realistic)")
	writeDir := fs.String("write-customers", "", "write the generated customers set as CSV (one file per source, and truth.csv) into this directory and exit")
	breakdown := fs.Bool("breakdown", true, "after the table, print the customers set's statistics and its errors by phenomenon")
	modelKind := fs.String("model", "trained", "trained (EM on each set, as ucv resolve), untrained (the prior model the hub scores with until one is installed) or both")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *households < 1 {
		return fmt.Errorf("%w: --customers-households must be at least 1", errUsage)
	}
	pools, err := benchid.ParseNamePools(*namePools)
	if err != nil {
		return fmt.Errorf("%w: --customers-names: %v", errUsage, err)
	}
	if *writeDir != "" {
		paths, err := benchid.GenerateCustomersWith(*seed, *households, pools).WriteCSV(*writeDir)
		if err != nil {
			return err
		}
		for _, p := range paths {
			fmt.Fprintln(stdout, p)
		}
		return nil
	}
	generatedOnly := true
	for _, n := range strings.Split(*sets, ",") {
		generatedOnly = generatedOnly && benchid.Generated(n)
	}
	if *dataDir == "" && !generatedOnly {
		wd, _ := os.Getwd()
		*dataDir = benchid.FindDataDir(wd)
		if *dataDir == "" {
			return fmt.Errorf("%w: no data directory found; pass --data", errUsage)
		}
	}
	cfg := def
	cfg.MatchWeight, cfg.ReviewWeight, cfg.ClusterMinProbability, cfg.BlockCap = *match, *review, *clusterP, *blockCap
	cfg.VetoWeight = *veto
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	runs := map[string][]func(benchid.Dataset, hid.Config, func(int, int)) (benchid.Result, error){
		"trained":   {benchid.Run},
		"untrained": {benchid.RunUntrained},
		"both":      {benchid.Run, benchid.RunUntrained},
	}[*modelKind]
	if runs == nil {
		return fmt.Errorf("%w: --model %q: want trained, untrained or both", errUsage, *modelKind)
	}
	names := strings.Split(*sets, ",")
	known := benchid.Names()
	for _, n := range names {
		if i := sort.SearchStrings(sortedCopy(known), n); i >= len(known) || sortedCopy(known)[i] != n {
			return fmt.Errorf("%w: unknown data set %q (known: %s)", errUsage, n, strings.Join(known, ", "))
		}
	}
	if *dataDir != "" {
		fmt.Fprintf(stdout, "data: %s\n\n", *dataDir)
	}
	benchid.Header(stdout)
	// generated sets in run order, each with its results that carry a
	// breakdown
	type generated struct {
		name    string
		data    *benchid.CustomerData
		results []benchid.Result
	}
	var gens []*generated
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		var ds benchid.Dataset
		var err error
		var gen *generated
		if benchid.Generated(n) {
			gen = &generated{name: n, data: benchid.GenerateCustomersWith(*seed, *households, benchid.CustomerNames(n))}
			gens = append(gens, gen)
			ds = gen.data.Dataset(n)
		} else if ds, err = benchid.Load(*dataDir, n); err != nil {
			return err
		}
		for _, run := range runs {
			bar := newProgress(stderr, len(ds.Records), "resolve "+n)
			r, err := run(ds, cfg, bar.set)
			bar.finish()
			if err != nil {
				return err
			}
			benchid.WriteRow(stdout, r)
			if r.Breakdown != nil && gen != nil {
				gen.results = append(gen.results, r)
			}
		}
	}
	for _, gen := range gens {
		if !*breakdown {
			break
		}
		_, skipped := gen.data.Records(nil)
		fmt.Fprintf(stdout, "\n## %s: seed %d, %d households, %s names\n\n", gen.name, *seed, *households, gen.data.Names)
		if len(skipped) > 0 {
			fmt.Fprintf(stdout, "columns not mapped (kinds hub/identity does not know): %s\n\n", strings.Join(skipped, ", "))
		}
		gen.data.Stats().WriteMarkdown(stdout)
		for _, r := range gen.results {
			fmt.Fprintf(stdout, "\n### errors of %s\n\n", r.Dataset)
			r.Breakdown.WriteMarkdown(stdout)
		}
	}
	return nil
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}
