package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"ucv/bench/edgebench"
)

// runBenchCompare runs `ucv bench compare`: the edge under wrk against
// redis-server under redis-benchmark, side by side in one run, and prints
// the medians and their ratios (issue 16's table).
func runBenchCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	self, _ := os.Executable()
	cfg := edgebench.CompareConfig{Rounds: 3, Users: 100_000, Profiles: 20_000}
	fs.StringVar(&cfg.Bin, "bin", self, "the ucv binary to run as the edge")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each measured phase")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds (edge then redis per phase); medians are reported")
	fs.IntVar(&cfg.Users, "users", cfg.Users, "distinct users of the ingest phases")
	fs.IntVar(&cfg.Profiles, "profiles", cfg.Profiles, "profiles loaded for the lookup phases")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if cfg.Duration < time.Second || cfg.Rounds <= 0 || cfg.Users <= 0 || cfg.Profiles <= 0 {
		return fmt.Errorf("%w: --duration must be at least 1s and every count positive", errUsage)
	}
	cfg.Out = stdout
	phases, err := edgebench.Compare(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nmedians of %d rounds, %v each:\n\n", cfg.Rounds, cfg.Duration)
	fmt.Fprintf(stdout, "| | ucv edge | redis-server | ratio |\n|---|---:|---:|---:|\n")
	for _, p := range phases {
		if p.Name == edgebench.PairedPhase {
			ep, rp := edgebench.MedianP99(p.Edge), edgebench.MedianP99(p.Redis)
			slow, near := 0, 0
			for _, r := range p.Paired {
				slow += r.Edge.Slow
				near += r.Edge.SlowWithOtherSlowNear
			}
			fmt.Fprintf(stdout, "| %s, p50 / p99 | %v / %v | %v / %v | p99 %.2f× |\n", p.Name,
				edgebench.MedianP50(p.Edge), ep, edgebench.MedianP50(p.Redis), rp, float64(ep)/float64(rp))
			fmt.Fprintf(stdout, "| … edge requests over %v (all rounds), and of those with a redis one within %v | %d, %d | | |\n",
				edgebench.PairedSlow, edgebench.PairedNear, slow, near)
			continue
		}
		e, r := edgebench.MedianRate(p.Edge), edgebench.MedianRate(p.Redis)
		ep := edgebench.MedianP99(p.Edge)
		if len(p.Redis) == 0 {
			fmt.Fprintf(stdout, "| %s | %.0f | – | – |\n", p.Name, e)
			if ec := edgebench.MedianCPU(p.Edge); ec > 0 {
				fmt.Fprintf(stdout, "| %s, server CPU an operation | %v | – | – |\n", p.Name, ec)
			}
			if ep > 0 { // a request's latency: for ingest, its acknowledgement
				fmt.Fprintf(stdout, "| %s, p50 / p99 | %v / %v | – | – |\n", p.Name, edgebench.MedianP50(p.Edge), ep)
			}
			continue
		}
		fmt.Fprintf(stdout, "| %s | %.0f | %.0f | %.2f× |\n", p.Name, e, r, e/r)
		if ec, rc := edgebench.MedianCPU(p.Edge), edgebench.MedianCPU(p.Redis); ec > 0 && rc > 0 {
			fmt.Fprintf(stdout, "| %s, server CPU an operation | %v | %v | %.2f× |\n", p.Name, ec, rc, float64(ec)/float64(rc))
		}
		if rp := edgebench.MedianP99(p.Redis); ep > 0 && rp > 0 {
			fmt.Fprintf(stdout, "| %s, p50 / p99 | %v / %v | %v / %v | p99 %.2f× |\n", p.Name,
				edgebench.MedianP50(p.Edge), ep, edgebench.MedianP50(p.Redis), rp, float64(ep)/float64(rp))
		}
	}
	return nil
}
