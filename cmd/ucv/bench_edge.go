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

// edgeBenchFlags parses the flags of an edge scenario: each lists only
// its own (ingest has no lookup knobs, lookup no ingest clients).
func edgeBenchFlags(name string, args []string, stderr io.Writer, lookup bool) (edgebench.Config, error) {
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	self, _ := os.Executable()
	cfg := edgebench.Config{Profiles: 1_000_000, Conns: 50, Rate: 10_000, Clients: 64}
	fs.StringVar(&cfg.Bin, "bin", self, "the ucv binary to run as the edge")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each measured phase")
	if lookup {
		fs.IntVar(&cfg.Profiles, "profiles", cfg.Profiles, "profiles to load before measuring lookups")
		fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "connections for the lookup loops")
		fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "open-loop lookup rate, requests/s")
		fs.BoolVar(&cfg.Redis, "redis", true, "also measure redis-server GET with the same generator")
		fs.BoolVar(&cfg.Pin, "pin", false, "measure lookups with the server on CPU 0 and the generator on CPU 1 (taskset)")
		fs.BoolVar(&cfg.TLS, "tls", false, "also measure the same edge over TLS (a throwaway CA; one handshake per connection)")
	} else {
		fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "single-event ingest clients")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	if cfg.Profiles <= 0 || cfg.Conns <= 0 || cfg.Rate <= 0 || cfg.Clients <= 0 || cfg.Duration <= 0 {
		return cfg, fmt.Errorf("%w: every count and --duration must be positive", errUsage)
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
