package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"ucv/edge"
	"ucv/edge/store"
)

const checkUsage = `Usage: ucv check --data-dir DIR

Verifies the data file of a stopped edge (DIR/edge.db) without changing
it: its bbolt structure and consistency, the checksum of every stored
profile and view, and the store's invariants. It prints what it found and
exits 0 when the file is sound, 1 when it is damaged (or cannot be read,
or the edge is still running), 2 on bad arguments.

An edge is a replica: a damaged file can be moved aside and rebuilt from
the edge's peers and hub by starting the edge with --recover.

Flags:
`

// runCheck implements `ucv check`.
func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsage)
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", os.Getenv("UCV_DATA_DIR"), "data directory of the stopped edge [UCV_DATA_DIR]")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *dataDir == "" {
		return fmt.Errorf("%w: --data-dir (or UCV_DATA_DIR) is required", errUsage)
	}
	path := filepath.Join(*dataDir, edge.DataFile)
	rep, err := store.Verify(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no edge data file %s", path)
	}
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("%w; stop the edge first", err)
	}
	if err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(stdout, "%s: note: %s\n", path, n)
	}
	if rep.OK() {
		fmt.Fprintf(stdout, "%s: ok (schema %d; %d profile states and %d views verified", path, rep.Schema, rep.Profiles, rep.Views)
		if rep.Repairing > 0 {
			fmt.Fprintf(stdout, "; %d profiles damaged earlier wait for a replica's copy", rep.Repairing)
		}
		fmt.Fprintln(stdout, ")")
		return nil
	}
	fmt.Fprintf(stdout, "%s: damaged\n", path)
	for _, p := range rep.Problems {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	if rep.More > 0 {
		fmt.Fprintf(stdout, "  … and %d more\n", rep.More)
	}
	n, unit := len(rep.Problems)+rep.More, "problems"
	if n == 1 {
		unit = "problem"
	}
	return fmt.Errorf("%s is damaged (%d %s); this edge is a replica: start it with --recover to move the file aside and rebuild it from its peers and hub",
		path, n, unit)
}
