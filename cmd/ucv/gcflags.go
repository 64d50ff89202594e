package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"ucv/gcpolicy"
)

// gcFlags are a process's --memory-limit-mb, --gc-percent and --procs,
// as `ucv hub` and `ucv edge` (and `ucv dev`) take them.
type gcFlags struct {
	memLimit, gcPercent, procs *string
}

// addGCFlags registers the runtime's flags on fs; limitDefault says
// what the limit is when neither the flag nor GOMEMLIMIT sets it,
// procsDefault what GOMAXPROCS is when neither --procs nor GOMAXPROCS
// does.
func addGCFlags(fs *flag.FlagSet, env func(k, def string) string, limitDefault, procsDefault string) gcFlags {
	return gcFlags{
		procs:     fs.String("procs", env("UCV_PROCS", "0"), "scheduler processors (GOMAXPROCS), `N`; 0: GOMAXPROCS when set, else "+procsDefault+" [UCV_PROCS]"),
		memLimit:  fs.String("memory-limit-mb", env("UCV_MEMORY_LIMIT_MB", "0"), "soft memory limit of the process in `MB` (the garbage collector works harder as the heap nears it); 0: GOMEMLIMIT when set, else "+limitDefault+" [UCV_MEMORY_LIMIT_MB]"),
		gcPercent: fs.String("gc-percent", env("UCV_GC_PERCENT", "0"), "how far the heap may grow past its live part between collections, in `PERCENT` (GOGC); -1: only the memory limit triggers a collection; 0: GOGC when set, else 400 [UCV_GC_PERCENT]"),
	}
}

// policy sets p's explicit limit and percentage from the parsed flags
// and returns it, or a usage error naming the flag.
func (g gcFlags) policy(p gcpolicy.Policy) (gcpolicy.Policy, error) {
	n, err := strconv.ParseInt(*g.memLimit, 10, 64)
	if err != nil || n < 0 || n > 1<<43 {
		return p, fmt.Errorf("%w: --memory-limit-mb must be a whole number of megabytes, or 0 for the default, not %q", errUsage, *g.memLimit)
	}
	p.LimitBytes = n << 20
	pc, err := strconv.Atoi(*g.gcPercent)
	if err != nil || pc < -1 {
		return p, fmt.Errorf("%w: --gc-percent must be a percentage such as 400, -1 (off) or 0 for the default, not %q", errUsage, *g.gcPercent)
	}
	p.GCPercent = pc
	procs, err := strconv.Atoi(*g.procs)
	if err != nil || procs < 0 || procs > gcpolicy.MaxProcs {
		return p, fmt.Errorf("%w: --procs must be a number of processors in 1..%d, or 0 for the default, not %q", errUsage, gcpolicy.MaxProcs, *g.procs)
	}
	p.Procs = procs
	return p, nil
}

// applyGC sets p for the whole process and returns what is in effect.
func applyGC(p gcpolicy.Policy) (gcpolicy.Applied, error) {
	return gcpolicy.Apply(p, os.Getenv)
}

// logGC logs the collector's policy in effect.
func logGC(log *slog.Logger, gc gcpolicy.Applied) {
	log.Info("garbage collector",
		"memory_limit_mb", gc.LimitBytes>>20, "gc_percent", gc.GCPercent,
		"memory_limit_from_env", gc.LimitFromEnv, "gc_percent_from_env", gc.GCFromEnv,
		"procs", gc.Procs, "procs_from_env", gc.ProcsFromEnv)
}
