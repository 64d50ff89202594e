// Command ucv is the single ucv binary: the edge sidecar, the hub, the
// all-in-one dev node and the batch tools, selected by subcommand.
//
// Each subcommand parses its own flags (with UCV_* environment fallbacks)
// into its component's Config and runs until its context is cancelled.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at link time by the Makefile (-ldflags "-X main.version=…").
var version = "dev"

// command is one subcommand. run returns errUsage for bad arguments.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var errUsage = errors.New("usage")

func commands() []command {
	return []command{
		{"version", "print the version and build information", runVersion},
		{"help", "show this help", nil},
		{"edge", "run an edge node (Segment-compatible ingest, profile lookups)", runEdge},
		{"dev", "run an edge node with zero configuration for local development", runDev},
		{"hub", "run a hub node (Raft-replicated identity graph, edge sync, admin API)", runHub},
		{"check", "verify a stopped edge's data file (structure and checksums)", runCheck},
		{"tls", "create a private CA and certificates (tls ca create, tls cert create)", runTLS},
		{"tokens", "make the hub's tokens file: hash a secret, create a token", runTokens},
		{"resolve", "cluster CSV records into people (identity resolution)", runResolve},
		{"import", "send a source system's records (CSV, NDJSON) to the hub as fragments of the identity graph", runImport},
		{"clv", "fit customer-value models (BG/NBD, Gamma-Gamma) on CSV purchases and score customers", runCLV},
		{"recommend", "train item-to-item recommendations on CSV purchases and recommend for every customer", runRecommend},
		{"bench", "run a benchmark scenario (bench identity …)", runBench},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process exit code:
// 0 success, 1 failure, 2 usage error. Help that is asked for (ucv -h,
// ucv help CMD, ucv CMD -h) goes to stdout; usage errors to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "-version", "--version":
		args = []string{"version"}
	case "help":
		if len(args) == 1 || args[1] == "help" {
			usage(stdout)
			return 0
		}
		args = []string{args[1], "-h"} // ucv help edge = ucv edge -h
	}
	for _, c := range commands() {
		if c.name != args[0] || c.run == nil {
			continue
		}
		errOut := stderr
		if asksHelp(args[1:]) {
			errOut = stdout // the flag package prints usage to its output
		}
		err := c.run(ctx, args[1:], stdout, errOut)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "ucv %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "ucv %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "ucv: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// asksHelp reports whether args ask for help the way the flag package
// understands it (-h, -help, --help before any "--").
func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--h", "--help":
			return true
		}
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "ucv — unified customer view at the edge\n\nUsage: ucv <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'ucv help <command>' (or 'ucv <command> -h') for a command's flags; 'ucv --version' for the version.\n")
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	goVer := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVer = bi.GoVersion
	}
	fmt.Fprintf(stdout, "ucv %s (%s)\n", version, goVer)
	return nil
}
