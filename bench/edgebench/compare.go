package edgebench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"ucv/bench/load"
)

// CompareConfig sizes `ucv bench compare`: the edge driven by wrk against
// redis-server driven by redis-benchmark, phase by phase in one run.
type CompareConfig struct {
	Bin      string        // the ucv binary
	Duration time.Duration // per measured phase
	Rounds   int           // each phase runs edge then redis this many times; medians are reported
	Users    int           // distinct users of the ingest phases (100,000)
	Profiles int           // profiles loaded for the lookup phases (20,000)
	Out      io.Writer
}

// seconds is the length of a measured phase in whole seconds (at least
// one), as a number and as wrk's -d argument.
func (cfg CompareConfig) seconds() (int, string) {
	secs := max(1, int(cfg.Duration.Round(time.Second)/time.Second))
	return secs, strconv.Itoa(secs) + "s"
}

// CompareResult is one side of one phase.
type CompareResult struct {
	Rate     float64       // requests/s (events/s for ingest)
	P50, P99 time.Duration // latency percentiles as the tool reports them
	// P999 and Max are known for the paired client's runs (0 otherwise).
	P999, Max time.Duration
	// Requests is how many requests the tool completed (0: not known).
	Requests int64
	// CPUPerOp is the server's CPU time (user and system, every thread)
	// over the phase divided by its operations, events for ingest and
	// requests for lookups (0: not measured).
	CPUPerOp time.Duration
}

// ComparePhase is one line of the comparison: the edge's and redis's
// results per round, rates in the phase's unit (events/s for ingest and
// batches, requests/s for lookups).
type ComparePhase struct {
	Name        string
	Edge, Redis []CompareResult
	Paired      []PairedResult // the paired phase's whole distributions, per round
}

// PairedPhase names the phase of the paired one-connection client.
const PairedPhase = "lookup, one connection, paired client"

// MedianRate returns the median rate of rs (0 when empty).
func MedianRate(rs []CompareResult) float64 {
	return median(rs, func(r CompareResult) float64 { return r.Rate })
}

// MedianP99 returns the median p99 of rs.
func MedianP99(rs []CompareResult) time.Duration {
	return time.Duration(median(rs, func(r CompareResult) float64 { return float64(r.P99) })).Round(time.Microsecond)
}

// MedianCPU returns the median CPUPerOp of rs, over the results that
// have one (0: none has).
func MedianCPU(rs []CompareResult) time.Duration {
	var with []CompareResult
	for _, r := range rs {
		if r.CPUPerOp > 0 {
			with = append(with, r)
		}
	}
	return time.Duration(median(with, func(r CompareResult) float64 { return float64(r.CPUPerOp) })).Round(100 * time.Nanosecond)
}

// MedianP50 returns the median p50 of rs.
func MedianP50(rs []CompareResult) time.Duration {
	return time.Duration(median(rs, func(r CompareResult) float64 { return float64(r.P50) })).Round(time.Microsecond)
}

func median(rs []CompareResult, f func(CompareResult) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// evalScript is the redis side of durable single-event ingest: per event
// it increments a counter, sets a field, pushes the event onto a
// 100-item list and trims it — what the edge does to a profile, in the
// cheapest form redis offers, under appendfsync always.
const evalScript = `redis.call('INCR',KEYS[1]..':n') redis.call('HSET',KEYS[1],'last',ARGV[1]) redis.call('LPUSH',KEYS[1]..':ev',ARGV[1]) redis.call('LTRIM',KEYS[1]..':ev',0,99) return 1`

// evalEvent is the event evalScript stores (ARGV[1]).
const evalEvent = `{"type":"track","event":"Product Viewed","messageId":"m-000000000001","properties":{"sku":"sku-1","price":19.99},"timestamp":"2026-12-02T10:00:00Z"}`

// luaThreads numbers wrk's threads (tid), so scripts can seed their
// random numbers and keep messageIds unique per thread; each script
// below is run with it prepended (wrkScript).
const luaThreads = `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
`

// wrkScript is a script for wrk: luaThreads, then body.
func wrkScript(body string) string { return luaThreads + body }

// trackLua makes each wrk request a new event (a new messageId) of one
// of users users; thread ids keep messageIds unique across threads.
const trackLua = `
local users = %d
local counter = 0
function init(args)
  math.randomseed(tid * 7919)
end
function request()
  counter = counter + 1
  local u = math.random(0, users - 1)
  local body = string.format('{"userId":"u%%d","messageId":"w%%d-%%d","event":"Product Viewed","properties":{"sku":"sku-%%d","price":19.99}}', u, tid, counter, counter %% 500)
  return wrk.format("POST", "/v1/track", {["Content-Type"]="application/json", ["X-Write-Key"]="%s"}, body)
end
`

// batchLua sends batches of 100 new events.
const batchLua = `
local users = %d
local counter = 0
function init(args)
  math.randomseed(tid * 104729)
end
function request()
  local parts = {}
  for k = 1, 100 do
    counter = counter + 1
    local u = math.random(0, users - 1)
    parts[k] = string.format('{"type":"track","userId":"u%%d","messageId":"b%%d-%%d","event":"Product Viewed","properties":{"sku":"sku-%%d","price":19.99}}', u, tid, counter, counter %% 500)
  end
  return wrk.format("POST", "/v1/batch", {["Content-Type"]="application/json", ["X-Write-Key"]="%s"}, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
`

// lookupLua asks for random loaded profiles.
const lookupLua = `
local profiles = %d
function init(args)
  math.randomseed(tid * 31337)
end
function request()
  return wrk.format("GET", "/v1/profiles/user_id:u" .. math.random(0, profiles - 1))
end
`

// EnsureCompareTools finds wrk, redis-server, redis-benchmark and
// redis-cli, and
// installs the missing ones from Debian (apt-get) when running as root.
func EnsureCompareTools(out io.Writer) error {
	missing := func() []string {
		var m []string
		for _, t := range []string{"wrk", "redis-server", "redis-benchmark", "redis-cli"} {
			if _, err := exec.LookPath(t); err != nil {
				m = append(m, t)
			}
		}
		return m
	}
	m := missing()
	if len(m) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("edgebench: %s not installed (apt-get install wrk redis-server redis-tools)", strings.Join(m, ", "))
	}
	fmt.Fprintf(out, "installing %s from Debian…\n", strings.Join(m, ", "))
	if b, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("edgebench: apt-get update: %w: %s", err, b)
	}
	cmd := exec.Command("apt-get", "install", "-y", "-qq", "wrk", "redis-server", "redis-tools")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("edgebench: apt-get install: %w: %s", err, b)
	}
	if m := missing(); len(m) > 0 {
		return fmt.Errorf("edgebench: still missing after apt-get: %s", strings.Join(m, ", "))
	}
	return nil
}

// Compare runs, round by round, each phase on a fresh edge and a fresh
// redis-server, and returns every measurement:
//
//   - durable ingest: POST /v1/track (a new messageId each, cfg.Users
//     users), wrk 64 connections, vs redis-server with appendonly yes and
//     appendfsync always running evalScript per event, redis-benchmark
//     64 connections;
//   - the same durable ingest on one connection (wrk -c1 against
//     redis-benchmark -c 1): the acknowledgement's latency when one till
//     posts, the log's fdatasync included;
//   - /v1/batch of 100 events, wrk 8 connections (no redis counterpart;
//     the target is absolute);
//   - lookup of a loaded profile (cfg.Profiles of them, ~1.3 KB
//     responses), wrk 50 connections, vs GET of a value of the same
//     size, redis-benchmark 50 connections;
//   - the same lookups on one connection, for p50/p99;
//   - the same lookups on one connection with the paired client
//     (Paired): edge and redis alternating request by request;
//   - the same lookups on one connection while durable ingest runs
//     beside them (wrk on /v1/track, 64 connections, against redis-server
//     switched to appendonly yes, appendfsync always, running the ingest
//     EVAL from 64 connections): what a till's lookup costs while the
//     store's other tills write.
func Compare(ctx context.Context, cfg CompareConfig) ([]ComparePhase, error) {
	if err := EnsureCompareTools(cfg.Out); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ucv-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := func(name, body string) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(body), 0o644)
	}
	trackPath, err := script("track.lua", wrkScript(fmt.Sprintf(trackLua, cfg.Users, writeKey)))
	if err != nil {
		return nil, err
	}
	batchPath, err := script("batch.lua", wrkScript(fmt.Sprintf(batchLua, cfg.Users, writeKey)))
	if err != nil {
		return nil, err
	}
	lookupPath, err := script("lookup.lua", wrkScript(fmt.Sprintf(lookupLua, cfg.Profiles)))
	if err != nil {
		return nil, err
	}
	secs, dur := cfg.seconds()
	ingest := ComparePhase{Name: "durable single-event ingest (64 conns), events/s"}
	ingest1 := ComparePhase{Name: "durable single-event ingest (1 conn), events/s"}
	batch := ComparePhase{Name: "/v1/batch of 100 events (8 conns), events/s"}
	lookup := ComparePhase{Name: "lookup ~1.6 KB profile (50 conns), req/s"}
	one := ComparePhase{Name: "lookup, one connection"}
	paired := ComparePhase{Name: PairedPhase}
	busy := ComparePhase{Name: BusyPhase}
	// keep prints one measurement (its rate scaled to events by perReq)
	// and appends it, so scaled, to *to.
	keep := func(to *[]CompareResult, label string, r CompareResult, perReq float64) {
		r.Rate *= perReq
		cpu := ""
		if r.CPUPerOp > 0 {
			cpu = fmt.Sprintf(", server CPU %v an operation", r.CPUPerOp.Round(100*time.Nanosecond))
		}
		tail := ""
		if r.Max > 0 {
			tail = fmt.Sprintf(" p99.9 %v max %v", r.P999, r.Max.Round(time.Microsecond))
		}
		fmt.Fprintf(cfg.Out, "  %s: %.0f, p50 %v p99 %v%s%s\n", label, r.Rate, r.P50, r.P99, tail, cpu)
		*to = append(*to, r)
	}
	for round := 1; round <= cfg.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Out, "round %d/%d\n", round, cfg.Rounds)
		// Ingest: a fresh edge per round, so every round writes new profiles alike.
		edir := filepath.Join(dir, fmt.Sprintf("edge-%d", round))
		edge, err := StartEdge(cfg.Bin, edir, "--node-name", "bench", "--write-key", writeKey+"=bench")
		if err != nil {
			return nil, err
		}
		r, err := withCPU(edge, 1, func() (CompareResult, error) {
			return runWrk(ctx, "-t2", "-c64", "-d"+dur, "--latency", "-s", trackPath, "http://"+edge.Addr)
		})
		if err == nil {
			keep(&ingest.Edge, "edge  ingest, events/s", r, 1)
			r, err = withCPU(edge, 1, func() (CompareResult, error) {
				return runWrk(ctx, "-t1", "-c1", "-d"+dur, "--latency", "-s", trackPath, "http://"+edge.Addr)
			})
		}
		if err == nil {
			keep(&ingest1.Edge, "edge  ingest, 1 conn, events/s", r, 1)
			r, err = withCPU(edge, 100, func() (CompareResult, error) {
				return runWrk(ctx, "-t2", "-c8", "-d"+dur, "--latency", "-s", batchPath, "http://"+edge.Addr)
			})
			if err == nil {
				keep(&batch.Edge, "edge  batch, events/s", r, 100)
			}
		}
		edge.Stop()
		os.RemoveAll(edir)
		if err != nil {
			return nil, err
		}
		rdir := filepath.Join(dir, fmt.Sprintf("redis-%d", round))
		redis, err := startRedis(rdir, "--appendonly", "yes", "--appendfsync", "always")
		if err != nil {
			return nil, err
		}
		r, err = withCPU(redis, 1, func() (CompareResult, error) {
			return runRedisBenchmark(ctx, redis.Addr, secs*30_000, 64, cfg.Users,
				"EVAL", evalScript, "1", "user:__rand_int__", evalEvent)
		})
		if err == nil {
			keep(&ingest.Redis, "redis EVAL (AOF always), events/s", r, 1)
			// One connection: a few thousand a second at most (one fsync
			// each), so a few seconds' worth bounds the phase's length.
			r, err = withCPU(redis, 1, func() (CompareResult, error) {
				return runRedisBenchmark(ctx, redis.Addr, secs*4_000, 1, cfg.Users,
					"EVAL", evalScript, "1", "user:__rand_int__", evalEvent)
			})
		}
		redis.Kill()
		os.RemoveAll(rdir)
		if err != nil {
			return nil, err
		}
		keep(&ingest1.Redis, "redis EVAL (AOF always), 1 conn, events/s", r, 1)

		// Lookups: the edge and redis-server both up (each idle while the
		// other is measured), so the paired client can alternate them.
		edge, err = StartEdge(cfg.Bin, edir, "--node-name", "bench", "--write-key", writeKey+"=bench")
		if err != nil {
			return nil, err
		}
		redis, err = startRedis(rdir, "--appendonly", "no")
		if err != nil {
			edge.Stop()
			return nil, err
		}
		err = lookups(ctx, cfg, edge, redis, lookupPath, &lookup, &one, &paired, keep)
		if err == nil {
			err = busyLookups(ctx, cfg, edge.Addr, redis.Addr, trackPath, &busy, keep)
		}
		edge.Stop()
		redis.Kill()
		os.RemoveAll(edir)
		os.RemoveAll(rdir)
		if err != nil {
			return nil, err
		}
	}
	return []ComparePhase{ingest, ingest1, batch, lookup, one, paired, busy}, nil
}

// BusyPhase names the phase of lookups on one connection while durable
// ingest runs beside them.
const BusyPhase = "lookup, one connection, during durable ingest (64 conns)"

// busyLookups measures lookups on one connection while ingest runs on
// 64 others: the edge under wrk (trackPath, whose users include the
// loaded profiles, so some lookups meet a pending event of their own
// profile), redis-server switched to appendonly yes, appendfsync
// always under redis-benchmark's ingest EVAL. The lookups are the
// paired client's, one server at a time (Single): exact latencies.
func busyLookups(ctx context.Context, cfg CompareConfig, edgeAddr, redisAddr, trackPath string, busy *ComparePhase,
	keep func(*[]CompareResult, string, CompareResult, float64)) error {
	secs, _ := cfg.seconds()
	// background runs load until the measurement ends.
	background := func(load func(ctx context.Context) error) (stop func() error) {
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- load(lctx) }()
		return func() error {
			cancel()
			err := <-done
			if lctx.Err() != nil && ctx.Err() == nil {
				return nil // stopped by us
			}
			return err
		}
	}
	stop := background(func(ctx context.Context) error {
		_, err := runWrk(ctx, "-t1", "-c64", "-d"+strconv.Itoa(secs+30)+"s", "-s", trackPath, "http://"+edgeAddr)
		return err
	})
	time.Sleep(time.Second)
	overlays, waits := metricSum(edgeAddr, "ucv_store_read_overlays_total"), metricSum(edgeAddr, "ucv_store_read_waits_total")
	r, err := single(SingleConfig{Addr: edgeAddr, Keys: cfg.Profiles, Duration: cfg.Duration, Seed: uint64(len(busy.Edge) + 1)})
	overlays, waits = metricSum(edgeAddr, "ucv_store_read_overlays_total")-overlays, metricSum(edgeAddr, "ucv_store_read_waits_total")-waits
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	keep(&busy.Edge, "edge  lookup, 1 conn, during ingest, req/s", r, 1)
	fmt.Fprintf(cfg.Out, "  … of those, lookups of a profile with events pending: %d answered with them applied, %d waited for the applier\n", overlays, waits)
	for _, kv := range [][2]string{{"appendonly", "yes"}, {"appendfsync", "always"}} {
		if err := redisConfigSet(ctx, redisAddr, kv[0], kv[1]); err != nil {
			return err
		}
	}
	stop = background(func(ctx context.Context) error {
		_, err := runRedisBenchmark(ctx, redisAddr, 100_000_000, 64, cfg.Users, "EVAL", evalScript, "1", "user:__rand_int__", evalEvent)
		return err
	})
	time.Sleep(time.Second)
	r, err = single(SingleConfig{Addr: redisAddr, Redis: true, Keys: cfg.Profiles, Duration: cfg.Duration, Seed: uint64(len(busy.Redis) + 1)})
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	keep(&busy.Redis, "redis GET, 1 conn, during EVAL (AOF always), req/s", r, 1)
	return nil
}

// single runs Single and reports it as a CompareResult (its rate, p50
// and p99), printing its tail.
func single(cfg SingleConfig) (CompareResult, error) {
	s, err := Single(cfg)
	if err != nil {
		return CompareResult{}, err
	}
	return CompareResult{Rate: float64(s.N) / cfg.Duration.Seconds(), P50: s.P50, P99: s.P99, Requests: int64(s.N), P999: s.P999, Max: s.Max}, nil
}

// redisConfigSet sets redis-server's parameter to value (redis-cli
// CONFIG SET), failing unless it answers OK.
func redisConfigSet(ctx context.Context, addr, parameter, value string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "redis-cli", "-h", host, "-p", port, "CONFIG", "SET", parameter, value).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "OK" {
		return fmt.Errorf("edgebench: redis CONFIG SET %s %s: %v: %s", parameter, value, err, bytes.TrimSpace(out))
	}
	return nil
}

// lookups measures one round of the lookup phases against a running
// edge and redis-server: 50 connections (wrk, redis-benchmark), one
// connection (the same tools), then the paired client on one
// connection each.
func lookups(ctx context.Context, cfg CompareConfig, edge, redis *Proc, lookupPath string, lookup, one, paired *ComparePhase,
	keep func(*[]CompareResult, string, CompareResult, float64)) error {
	edgeAddr, redisAddr := edge.Addr, redis.Addr
	size, err := loadForLookup(ctx, edgeAddr, cfg.Profiles)
	if err != nil {
		return err
	}
	if err := fillRedis(redisAddr, cfg.Profiles, size); err != nil {
		return err
	}
	secs, dur := cfg.seconds()
	edgeURL := "http://" + edgeAddr
	keyArg := "key:__rand_int__"
	// Warm up (unmeasured), then measure.
	if _, err := runWrk(ctx, "-t2", "-c50", "-d"+strconv.Itoa(max(1, secs/2))+"s", "-s", lookupPath, edgeURL); err != nil {
		return err
	}
	r, err := withCPU(edge, 1, func() (CompareResult, error) {
		return runWrk(ctx, "-t2", "-c50", "-d"+dur, "--latency", "-s", lookupPath, edgeURL)
	})
	if err != nil {
		return err
	}
	keep(&lookup.Edge, fmt.Sprintf("edge  lookup (%d B), req/s", size), r, 1)
	if _, err := runRedisBenchmark(ctx, redisAddr, secs*20_000, 50, cfg.Profiles, "GET", keyArg); err != nil {
		return err
	}
	r, err = withCPU(redis, 1, func() (CompareResult, error) {
		return runRedisBenchmark(ctx, redisAddr, secs*60_000, 50, cfg.Profiles, "GET", keyArg)
	})
	if err != nil {
		return err
	}
	keep(&lookup.Redis, fmt.Sprintf("redis GET (%d B), req/s", size), r, 1)
	if r, err = runWrk(ctx, "-t1", "-c1", "-d"+dur, "--latency", "-s", lookupPath, edgeURL); err != nil {
		return err
	}
	keep(&one.Edge, "edge  lookup, 1 conn, req/s", r, 1)
	if r, err = runRedisBenchmark(ctx, redisAddr, secs*10_000, 1, cfg.Profiles, "GET", keyArg); err != nil {
		return err
	}
	keep(&one.Redis, "redis GET, 1 conn, req/s", r, 1)
	pr, err := Paired(PairedConfig{EdgeAddr: edgeAddr, RedisAddr: redisAddr, Keys: cfg.Profiles,
		Duration: cfg.Duration, Seed: uint64(len(paired.Paired) + 1)})
	if err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "  paired, 1 conn each: edge p50 %v p99 %v p99.9 %v | redis p50 %v p99 %v p99.9 %v | outliers > %v: edge %d (%d with redis's too), redis %d\n",
		pr.Edge.P50, pr.Edge.P99, pr.Edge.P999, pr.Redis.P50, pr.Redis.P99, pr.Redis.P999, PairedSlow,
		pr.Edge.Slow, pr.Edge.SlowWithOtherSlowNear, pr.Redis.Slow)
	paired.Paired = append(paired.Paired, pr)
	paired.Edge = append(paired.Edge, CompareResult{P50: pr.Edge.P50, P99: pr.Edge.P99})
	paired.Redis = append(paired.Redis, CompareResult{P50: pr.Redis.P50, P99: pr.Redis.P99})
	return nil
}

// loadForLookup loads n profiles of ~1 KiB of traits, waits until the
// edge has applied them (Settled), and returns the size of one lookup's
// response body.
func loadForLookup(ctx context.Context, addr string, n int) (int, error) {
	if _, err := LoadProfiles(ctx, addr, n, func(int) {}); err != nil {
		return 0, err
	}
	if err := Settled(ctx, addr); err != nil {
		return 0, err
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/v1/profiles/user_id:u%d", addr, 1))
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("edgebench: lookup after load: HTTP %d", resp.StatusCode)
	}
	return len(b), nil
}

// fillRedis stores n values of size bytes under the keys redis-benchmark's
// __rand_int__ produces for -r n: "key:" and 12 zero-padded digits.
func fillRedis(addr string, n, size int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	value := bytes.Repeat([]byte("x"), size)
	w, r := bufio.NewWriterSize(c, 1<<20), bufio.NewReaderSize(c, 1<<16)
	rkey := func(i int) string { return fmt.Sprintf("key:%012d", i) }
	for from := 0; from < n; from += 1000 {
		if err := load.RedisSetPipeline(w, r, from, min(from+1000, n), rkey, func(int) []byte { return value }); err != nil {
			return err
		}
	}
	return nil
}

// startRedis starts redis-server in dir (its AOF lives there) with extra
// settings.
func startRedis(dir string, extra ...string) (*Proc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p, err := StartRedisArgs(append([]string{"--dir", dir}, extra...)...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkCount   = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkSockErr = regexp.MustCompile(`Socket errors:.*`)
)

// runWrk runs wrk and parses its rate and latency percentiles. Any
// non-2xx response fails the run: a benchmark of refusals measures
// nothing.
func runWrk(ctx context.Context, args ...string) (CompareResult, error) {
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return CompareResult{}, fmt.Errorf("edgebench: wrk: %w: %s", err, out)
	}
	return parseWrk(out)
}

// parseWrk reads wrk's report (with --latency for percentiles).
func parseWrk(out []byte) (CompareResult, error) {
	var res CompareResult
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("edgebench: wrk printed no Requests/sec: %s", out)
	}
	res.Rate, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := wrkCount.FindSubmatch(out); m != nil {
		res.Requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		return res, fmt.Errorf("edgebench: wrk saw %s non-2xx responses: %s", m[1], out)
	}
	if m := wrkSockErr.Find(out); m != nil {
		return res, fmt.Errorf("edgebench: wrk: %s", m)
	}
	for _, m := range wrkPct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		d := time.Duration(v * float64(unit)).Round(time.Microsecond)
		if string(m[1]) == "50" {
			res.P50 = d
		} else {
			res.P99 = d
		}
	}
	return res, nil
}

// runRedisBenchmark runs redis-benchmark for n requests over conns
// connections with keys spread over keyspace (-r) and parses its CSV.
func runRedisBenchmark(ctx context.Context, addr string, n, conns, keyspace int, command ...string) (CompareResult, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return CompareResult{}, err
	}
	args := append([]string{"-h", host, "-p", port, "-n", strconv.Itoa(n), "-c", strconv.Itoa(conns),
		"-r", strconv.Itoa(keyspace), "--csv"}, command...)
	out, err := exec.CommandContext(ctx, "redis-benchmark", args...).CombinedOutput()
	if err != nil {
		return CompareResult{}, fmt.Errorf("edgebench: redis-benchmark: %w: %s", err, out)
	}
	r, err := parseRedisBenchmark(out)
	r.Requests = int64(n) // -n: it completes every one or fails
	return r, err
}

// parseRedisBenchmark reads the result line of redis-benchmark --csv.
func parseRedisBenchmark(out []byte) (CompareResult, error) {
	// The CSV's first column is the command, quotes unescaped; the seven
	// numbers after it are rps, avg, min, p50, p95, p99, max (ms).
	m := redisCSV.FindSubmatch(out)
	if m == nil {
		return CompareResult{}, fmt.Errorf("edgebench: redis-benchmark printed no result: %s", out)
	}
	rate, err1 := strconv.ParseFloat(string(m[1]), 64)
	p50, err2 := strconv.ParseFloat(string(m[4]), 64)
	p99, err3 := strconv.ParseFloat(string(m[6]), 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return CompareResult{}, fmt.Errorf("edgebench: redis-benchmark csv %q: %w", m[0], err)
	}
	return CompareResult{Rate: rate,
		P50: time.Duration(p50 * float64(time.Millisecond)).Round(time.Microsecond),
		P99: time.Duration(p99 * float64(time.Millisecond)).Round(time.Microsecond)}, nil
}

// redisCSV matches the seven numeric columns ending a redis-benchmark
// --csv result line.
var redisCSV = regexp.MustCompile(`(?m),"([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)","([0-9.]+)"\r?$`)

// withCPU runs phase, a load against p, and sets its result's CPUPerOp:
// p's CPU time over the phase divided by the requests the load completed
// times perReq (events a request).
func withCPU(p *Proc, perReq float64, phase func() (CompareResult, error)) (CompareResult, error) {
	c0, ok0 := p.CPU()
	r, err := phase()
	c1, ok1 := p.CPU()
	if err == nil && r.Requests > 0 && ok0 && ok1 && c1 > c0 {
		r.CPUPerOp = time.Duration(float64(c1-c0) / (float64(r.Requests) * perReq))
	}
	return r, err
}
