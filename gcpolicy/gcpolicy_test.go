package gcpolicy

import (
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// keep restores the process's GC settings and processors after a test
// changes them.
func keep(t *testing.T) {
	gc, limit := Current()
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
		runtime.GOMAXPROCS(procs)
	})
}

// TestProcs: ExtraProcs adds to the runtime's default — the same number
// however often Apply runs —, Procs sets the number, the environment's
// GOMAXPROCS is kept over ExtraProcs, and a bad value is refused naming
// the field and changes nothing.
func TestProcs(t *testing.T) {
	keep(t)
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	for range 2 {
		a, err := Apply(Policy{ExtraProcs: 1}, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if got := runtime.GOMAXPROCS(0); got != def+1 || a.Procs != got || a.ProcsFromEnv {
			t.Fatalf("ExtraProcs 1: GOMAXPROCS %d, reported %+v; want %d", got, a, def+1)
		}
	}
	if a, err := Apply(Policy{Procs: 3, ExtraProcs: 1}, noEnv); err != nil || runtime.GOMAXPROCS(0) != 3 || a.Procs != 3 {
		t.Fatalf("Procs 3: GOMAXPROCS %d, reported %+v, %v", runtime.GOMAXPROCS(0), a, err)
	}
	runtime.GOMAXPROCS(5) // as GOMAXPROCS=5 in the environment would have set it
	env := func(k string) string { return map[string]string{"GOMAXPROCS": "5"}[k] }
	if a, err := Apply(Policy{ExtraProcs: 1}, env); err != nil || runtime.GOMAXPROCS(0) != 5 || a.Procs != 5 || !a.ProcsFromEnv {
		t.Fatalf("GOMAXPROCS=5 in the environment: in effect %d, reported %+v, %v", runtime.GOMAXPROCS(0), a, err)
	}
	for _, p := range []Policy{{Procs: -1}, {Procs: MaxProcs + 1}, {ExtraProcs: -1}} {
		if _, err := Apply(p, noEnv); err == nil || !strings.Contains(err.Error(), "processors") {
			t.Errorf("Apply(%+v) = %v, want an error naming the processors", p, err)
		}
		if got := runtime.GOMAXPROCS(0); got != 5 {
			t.Errorf("Apply(%+v) refused but GOMAXPROCS is %d, want 5", p, got)
		}
	}
}

func noEnv(string) string { return "" }

func TestDefaults(t *testing.T) {
	keep(t)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	a, err := Apply(Policy{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	gc, limit := Current()
	if gc != DefaultGCPercent || a.GCPercent != gc {
		t.Errorf("GC percent %d (reported %d), want %d", gc, a.GCPercent, DefaultGCPercent)
	}
	// The machine's (or cgroup's) memory is known on Linux: the limit is
	// derived from it, below it, and what Apply reports.
	if limit != a.LimitBytes || limit <= 0 || limit == math.MaxInt64 {
		t.Errorf("memory limit %d (reported %d): want a derived limit", limit, a.LimitBytes)
	}
	if a.GCFromEnv || a.LimitFromEnv {
		t.Errorf("nothing came from the environment, got %+v", a)
	}
	half, err := derivedLimit(0.5, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// 0.9 of the memory against 0.5 of it: 1.8×, give or take rounding.
	if r := float64(limit) / float64(half); r < 1.79 || r > 1.81 {
		t.Errorf("limit %d at ratio 0.9 against %d at 0.5: ratio %.3f, want 1.8", limit, half, r)
	}
}

func TestExplicitWins(t *testing.T) {
	keep(t)
	env := func(k string) string { return map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}[k] }
	a, err := Apply(Policy{GCPercent: 250, LimitBytes: 3 << 30}, env)
	if err != nil {
		t.Fatal(err)
	}
	if gc, limit := Current(); gc != 250 || limit != 3<<30 || a.GCPercent != 250 || a.LimitBytes != 3<<30 {
		t.Errorf("in effect GC %d limit %d, reported %+v; want 250 and 3 GiB", gc, limit, a)
	}
	if _, err := Apply(Policy{GCPercent: -1}, noEnv); err != nil {
		t.Fatal(err)
	}
	if gc, _ := Current(); gc != -1 {
		t.Errorf("GC percent -1 (off): in effect %d", gc)
	}
}

func TestEnvironmentKept(t *testing.T) {
	keep(t)
	// What the runtime read from GOGC and GOMEMLIMIT at start-up, as
	// far as this test is concerned: the settings in effect now.
	debug.SetGCPercent(70)
	debug.SetMemoryLimit(2 << 30)
	env := func(k string) string { return map[string]string{"GOGC": "70", "GOMEMLIMIT": "2GiB"}[k] }
	a, err := Apply(Policy{}, env)
	if err != nil {
		t.Fatal(err)
	}
	if gc, limit := Current(); gc != 70 || limit != 2<<30 {
		t.Errorf("in effect GC %d limit %d, want the environment's 70 and 2 GiB", gc, limit)
	}
	if !a.GCFromEnv || !a.LimitFromEnv || a.GCPercent != 70 || a.LimitBytes != 2<<30 {
		t.Errorf("reported %+v, want the environment's values marked as such", a)
	}
}

func TestBadPolicyChangesNothing(t *testing.T) {
	keep(t)
	debug.SetGCPercent(123)
	debug.SetMemoryLimit(5 << 30)
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{GCPercent: -2}, "GC percent"},
		{Policy{LimitBytes: -1}, "memory limit"},
		{Policy{Ratio: 1.5}, "ratio"},
		{Policy{Ratio: math.NaN()}, "ratio"},
		{Policy{SystemRatio: 2}, "system ratio"},
	} {
		if _, err := Apply(tc.p, noEnv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Apply(%+v): %v, want an error naming %q", tc.p, err, tc.want)
		}
		if gc, limit := Current(); gc != 123 || limit != 5<<30 {
			t.Errorf("Apply(%+v) refused but changed the settings: GC %d limit %d", tc.p, gc, limit)
		}
	}
}

// TestSystemRatio: without a cgroup limit the machine's share is
// SystemRatio's, with one it is Ratio's — whichever this machine has,
// the limit Apply sets is the one derivedLimit gives for the pair.
func TestSystemRatio(t *testing.T) {
	keep(t)
	a, err := Apply(Policy{Ratio: 0.9, SystemRatio: 0.25}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want, err := derivedLimit(0.9, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	if _, limit := Current(); limit != want || a.LimitBytes != want {
		t.Errorf("in effect %d, reported %d; want %d", limit, a.LimitBytes, want)
	}
	sys, err := memlimit.FromSystem()
	if err != nil {
		t.Skipf("machine memory unknown: %v", err)
	}
	if _, err := memlimit.FromCgroup(); err != nil {
		// No cgroup limit: a quarter of the machine.
		if r := float64(want) / float64(sys); r < 0.249 || r > 0.251 {
			t.Errorf("limit %d is %.3f of the machine's %d, want 0.25", want, r, sys)
		}
	}
}
