// Package gcpolicy sets the garbage collector's policy of a process that
// keeps its working state in memory, as a hub node does: a soft memory
// limit taken from the cgroup's memory limit, or the machine's memory when
// there is none, and a GC percentage (GOGC) for the headroom below it.
//
// Go's default (GOGC=100, no limit) collects whenever the heap doubles
// its live part. For a process whose live heap is its data set that is
// both too eager and not safe: while the data set is small it spends a
// third of the CPU collecting (docs/decisions/0055-hub-gc-policy.md), and
// once the live heap passes half the memory the next heap goal is beyond
// the machine. A higher GOGC under a memory limit collects less often
// while there is room and, near the limit, as often as the limit
// requires — the policy the Go GC guide describes for a process that owns
// its machine's memory.
//
// It also sets the scheduler's processors (GOMAXPROCS): a process whose
// goroutines block in fsync — an edge's write-ahead log and data file —
// runs better with one processor more than it has CPUs, because a
// goroutine blocked in a system call holds its processor until the
// runtime's monitor hands it off, and takes one back when the call
// returns (docs/decisions/0098-edge-spare-processor.md).
//
// The limit comes from github.com/KimMachineGun/automemlimit, which this
// package alone imports. The environment's GOGC, GOMEMLIMIT and
// GOMAXPROCS, the runtime's own settings, take precedence over the
// defaults (not over values a caller sets explicitly).
package gcpolicy

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultGCPercent is the GOGC a Policy sets when it names none: the heap
// may grow to five times its live part between collections, below the
// memory limit.
const DefaultGCPercent = 400

// DefaultRatio is the share of the cgroup's (or machine's) memory a
// Policy takes as the soft limit when it names none; the rest is left for
// the runtime's own overhead, the page cache of the Raft log and
// snapshots, and the kernel.
const DefaultRatio = 0.9

// Policy is a process's collector settings. The zero Policy means the
// defaults.
type Policy struct {
	// GCPercent is GOGC: how far, in percent of the live heap, the heap
	// may grow between collections; -1 turns proportional collection off
	// (the memory limit alone triggers it). 0 means the environment's
	// GOGC when set, DefaultGCPercent otherwise.
	GCPercent int
	// LimitBytes is the soft memory limit. 0 means the environment's
	// GOMEMLIMIT when set, otherwise Ratio of the cgroup's memory limit,
	// or of the machine's memory when the cgroup sets none.
	LimitBytes int64
	// Ratio is the share taken when the limit is derived; 0 means
	// DefaultRatio. It must lie in (0, 1].
	Ratio float64
	// SystemRatio is the share of the machine's memory taken when the
	// cgroup sets no limit; 0 means Ratio. A process in its own
	// container owns the container's memory, while one that shares the
	// machine with the application it serves (an edge beside a till)
	// should take less of it. It must lie in (0, 1].
	SystemRatio float64
	// Procs is GOMAXPROCS. 0 means the environment's GOMAXPROCS when
	// set, otherwise the runtime's default (the CPUs the process may
	// use) plus ExtraProcs.
	Procs int
	// ExtraProcs are the processors added to the runtime's default when
	// neither Procs nor GOMAXPROCS sets them (0 or more).
	ExtraProcs int
}

// MaxProcs bounds Policy.Procs and the processors ExtraProcs makes.
const MaxProcs = 1024

// Applied is the policy in effect after Apply.
type Applied struct {
	// GCPercent is the GOGC in effect (-1: off).
	GCPercent int
	// LimitBytes is the soft memory limit in effect; math.MaxInt64 when
	// there is none (no cgroup limit and the machine's memory unknown).
	LimitBytes int64
	// GCFromEnv and LimitFromEnv say that the environment's GOGC and
	// GOMEMLIMIT were kept.
	GCFromEnv, LimitFromEnv bool
	// Procs is the GOMAXPROCS in effect; ProcsFromEnv says the
	// environment's was kept.
	Procs        int
	ProcsFromEnv bool
}

// Check reports what is wrong with p's explicit values, naming the field.
func (p Policy) Check() error {
	switch {
	case p.GCPercent < -1:
		return fmt.Errorf("gcpolicy: GC percent %d: must be -1 (off), 0 (default) or positive", p.GCPercent)
	case p.LimitBytes < 0:
		return fmt.Errorf("gcpolicy: memory limit %d bytes: must be 0 (derived) or positive", p.LimitBytes)
	case p.Ratio < 0 || p.Ratio > 1 || math.IsNaN(p.Ratio):
		return fmt.Errorf("gcpolicy: ratio %v: must lie in (0, 1], or 0 for the default", p.Ratio)
	case p.SystemRatio < 0 || p.SystemRatio > 1 || math.IsNaN(p.SystemRatio):
		return fmt.Errorf("gcpolicy: system ratio %v: must lie in (0, 1], or 0 for Ratio", p.SystemRatio)
	case p.Procs < 0 || p.Procs > MaxProcs:
		return fmt.Errorf("gcpolicy: processors %d: must lie in 1..%d, or 0 for the default", p.Procs, MaxProcs)
	case p.ExtraProcs < 0 || p.ExtraProcs > MaxProcs:
		return fmt.Errorf("gcpolicy: extra processors %d: must lie in 0..%d", p.ExtraProcs, MaxProcs)
	}
	return nil
}

// Apply sets p for the whole process (debug.SetGCPercent,
// debug.SetMemoryLimit, runtime.GOMAXPROCS) and returns what is in
// effect. getenv reads the
// environment (os.Getenv; tests pass their own). On an error nothing was
// changed.
func Apply(p Policy, getenv func(string) string) (Applied, error) {
	if err := p.Check(); err != nil {
		return Applied{}, err
	}
	var a Applied
	switch {
	case p.LimitBytes > 0:
		debug.SetMemoryLimit(p.LimitBytes)
		a.LimitBytes = p.LimitBytes
	case getenv("GOMEMLIMIT") != "":
		a.LimitBytes, a.LimitFromEnv = debug.SetMemoryLimit(-1), true
	default:
		ratio := p.Ratio
		if ratio == 0 {
			ratio = DefaultRatio
		}
		sysRatio := p.SystemRatio
		if sysRatio == 0 {
			sysRatio = ratio
		}
		limit, err := derivedLimit(ratio, sysRatio)
		if err != nil {
			return Applied{}, err
		}
		debug.SetMemoryLimit(limit)
		a.LimitBytes = limit
	}
	switch {
	case p.GCPercent != 0:
		debug.SetGCPercent(p.GCPercent)
		a.GCPercent = p.GCPercent
	case getenv("GOGC") != "":
		a.GCPercent, _ = Current()
		a.GCFromEnv = true
	default:
		debug.SetGCPercent(DefaultGCPercent)
		a.GCPercent = DefaultGCPercent
	}
	switch {
	case p.Procs > 0:
		runtime.GOMAXPROCS(p.Procs)
		a.Procs = p.Procs
	case getenv("GOMAXPROCS") != "":
		a.Procs, a.ProcsFromEnv = runtime.GOMAXPROCS(0), true
	default:
		runtime.SetDefaultGOMAXPROCS() // the CPUs the process may use (cgroup-aware), whatever was set before
		a.Procs = runtime.GOMAXPROCS(0)
		if p.ExtraProcs > 0 {
			a.Procs = min(a.Procs+p.ExtraProcs, MaxProcs)
			runtime.GOMAXPROCS(a.Procs) // fixed from now on: the runtime no longer follows a cgroup change
		}
	}
	return a, nil
}

// derivedLimit is ratio of the cgroup's memory limit, or sysRatio of the
// machine's memory when the cgroup sets none; math.MaxInt64 when neither
// is known.
func derivedLimit(ratio, sysRatio float64) (int64, error) {
	provider := memlimit.ApplyFallback(memlimit.ApplyRatio(memlimit.FromCgroup, ratio), memlimit.ApplyRatio(memlimit.FromSystem, sysRatio))
	limit, err := provider()
	switch {
	case errors.Is(err, memlimit.ErrNoLimit):
		return math.MaxInt64, nil
	case err != nil:
		return 0, fmt.Errorf("gcpolicy: memory limit: %w", err)
	case limit == 0 || limit > math.MaxInt64:
		return math.MaxInt64, nil
	}
	return int64(limit), nil
}

// Current returns the process's GC percentage and memory limit without
// changing them (for reports and tests). Reading the percentage means
// setting it: it is restored at once.
func Current() (gcPercent int, limitBytes int64) {
	gcPercent = debug.SetGCPercent(100)
	debug.SetGCPercent(gcPercent)
	return gcPercent, debug.SetMemoryLimit(-1)
}
