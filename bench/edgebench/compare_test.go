package edgebench

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := []byte(`Running 3s test @ http://127.0.0.1:40321
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    63.12us  150.20us   3.90ms   98.91%
    Req/Sec    17.73k     1.02k   19.10k    80.00%
  Latency Distribution
     50%   27.00us
     75%   33.00us
     90%   45.00us
     99%    3.38ms
  52944 requests in 3.00s, 86.10MB read
Requests/sec:  17648.00
Transfer/sec:     28.70MB
`)
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate != 17648 || r.P50 != 27*time.Microsecond || r.P99 != 3380*time.Microsecond || r.Requests != 52944 {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseWrk(append(out, "  Non-2xx or 3xx responses: 12\n"...)); err == nil {
		t.Fatal("non-2xx responses were not an error")
	}
	if _, err := parseWrk([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); err == nil {
		t.Fatal("no rate was not an error")
	}
}

func TestParseRedisBenchmark(t *testing.T) {
	out := []byte(`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"EVAL redis.call('INCR',KEYS[1]..':n') return 1 1 user:__rand_int__ {"type":"track"}","29069.77","2.063","0.360","2.015","2.895","4.295","19.519"
`)
	r, err := parseRedisBenchmark(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate != 29069.77 || r.P50 != 2015*time.Microsecond || r.P99 != 4295*time.Microsecond {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseRedisBenchmark([]byte("Could not connect to Redis at 127.0.0.1:1\n")); err == nil {
		t.Fatal("no result was not an error")
	}
}

func TestMedian(t *testing.T) {
	rs := []CompareResult{{Rate: 3, P99: 9 * time.Millisecond}, {Rate: 1, P99: time.Millisecond}, {Rate: 2, P99: 4*time.Millisecond + 400}}
	if MedianRate(rs) != 2 || MedianP99(rs) != 4*time.Millisecond || MedianRate(rs[:2]) != 2 || MedianRate(nil) != 0 {
		t.Fatal("median wrong")
	}
}

// TestStatCPU reads utime and stime past a command name holding spaces
// and parentheses, in the kernel's clock ticks.
func TestStatCPU(t *testing.T) {
	if _, ok := statCPU("4242 (ucv) R 1 1 1 0 -1 0 0 0 0 0 0 0", 100); !ok {
		t.Error("a process that has used no CPU yet is not ok")
	}
	line := "4242 (ucv (edge) x) S 1 4242 4242 0 -1 4194560 2513 0 0 0 1234 567 0 0 20 0 9 0 123 456 789"
	if got, ok := statCPU(line, 100); !ok || got != 18010*time.Millisecond {
		t.Fatalf("statCPU = %v, want 18.01s (1,234 + 567 ticks at 100 Hz)", got)
	}
	if got, ok := statCPU(line, 250); !ok || got != 7204*time.Millisecond {
		t.Fatalf("statCPU at 250 Hz = %v, want 7.204s", got)
	}
	for _, bad := range []string{"", "4242 (ucv) S 1 2", "4242 ucv S 1 2 3 4 5 6 7 8 9 10 11 12 13"} {
		if got, ok := statCPU(bad, 100); ok {
			t.Errorf("statCPU(%q) = %v, want not ok", bad, got)
		}
	}
}

// TestWithCPU measures a real process (this test's own) spinning for
// 300 ms of CPU: the CPU per operation is its time over the requests.
func TestWithCPU(t *testing.T) {
	p := &Proc{Cmd: &exec.Cmd{Process: &os.Process{Pid: os.Getpid()}}}
	r, err := withCPU(p, 2, func() (CompareResult, error) {
		// Spin until /proc shows 300 ms more CPU: wall time under load
		// does not matter, the ticks counted do.
		start, _ := p.CPU()
		x := 0
		for now, _ := p.CPU(); now-start < 300*time.Millisecond; now, _ = p.CPU() {
			for i := range 1_000_000 {
				x ^= i
			}
		}
		_ = x
		return CompareResult{Requests: 10}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 300 ms or a little more over 10 requests of 2 operations each.
	if r.CPUPerOp < 15*time.Millisecond || r.CPUPerOp > 30*time.Millisecond {
		t.Fatalf("CPUPerOp = %v, want 15–30 ms", r.CPUPerOp)
	}
	if r, _ := withCPU(p, 1, func() (CompareResult, error) { return CompareResult{}, nil }); r.CPUPerOp != 0 {
		t.Fatalf("a phase of no requests got CPUPerOp %v", r.CPUPerOp)
	}
}
