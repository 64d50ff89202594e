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

// edgeBenchFlags parses the flags shared by the edge scenarios.
func edgeBenchFlags(name string, args []string, stderr io.Writer, withRedis bool) (edgebench.Config, error) {
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	self, _ := os.Executable()
	cfg := edgebench.Config{}
	fs.StringVar(&cfg.Bin, "bin", self, "the ucv binary to run as the edge")
	fs.IntVar(&cfg.Profiles, "profiles", 1_000_000, "profiles to load before measuring lookups")
	fs.IntVar(&cfg.Conns, "conns", 50, "connections for the lookup loops")
	fs.IntVar(&cfg.Rate, "rate", 10_000, "open-loop lookup rate, requests/s")
	fs.IntVar(&cfg.Clients, "clients", 64, "single-event ingest clients")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each measured phase")
	if withRedis {
		fs.BoolVar(&cfg.Redis, "redis", true, "also measure redis-server GET with the same generator")
		fs.BoolVar(&cfg.Pin, "pin", false, "measure lookups with the server on CPU 0 and the generator on CPU 1 (taskset)")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	if cfg.Profiles <= 0 || cfg.Conns <= 0 || cfg.Rate <= 0 || cfg.Clients <= 0 || cfg.Duration <= 0 {
		return cfg, fmt.Errorf("%w: --profiles, --conns, --rate, --clients and --duration must be positive", errUsage)
	}
	return cfg, nil
}

func runBenchLookup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := edgeBenchFlags("lookup", args, stderr, true)
	if err != nil {
		return err
	}
	cfg.Out = stdout
	rep, err := edgebench.Lookup(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nprofiles %d, response %d B, disk %.0f B/profile, resident %.0f B/profile, load %.0f events/s\n",
		rep.Profiles, rep.ResponseBytes, rep.DiskBytesPerProfile, rep.ResidentBytesPerProfile, rep.LoadRate)
	return nil
}

func runBenchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := edgeBenchFlags("ingest", args, stderr, false)
	if err != nil {
		return err
	}
	cfg.Out = stdout
	_, err = edgebench.Ingest(ctx, cfg)
	return err
}
