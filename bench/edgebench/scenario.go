package edgebench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"ucv/bench/load"
	"ucv/tlsconf"
)

// Config sizes a scenario run.
type Config struct {
	Bin      string        // the ucv binary
	Profiles int           // profiles to load for lookups (1,000,000 in make bench)
	Conns    int           // connections for lookups (50)
	Rate     int           // open-loop rate, req/s (10,000)
	Duration time.Duration // per measured phase (10 s)
	Clients  int           // ingest clients (64)
	Redis    bool          // also run the same lookups against redis-server
	// Pin runs each measured lookup phase with the server (edge or
	// redis) on CPU 0 and the generator on CPU 1, as if each had a
	// machine of its own core (loading stays unpinned). Needs 2+ CPUs.
	Pin bool
	// TLS adds a phase: the same edge, on the same data, restarted with a
	// certificate of a throwaway CA (--tls-cert/--tls-key), measured by the
	// same loops over TLS (one handshake per kept-alive connection).
	TLS bool
	Out io.Writer // progress and results
}

// writeKey is the key the benchmark edge is started with.
const writeKey = "bench-key"

// traitsJSON is ~1 KiB of traits for profile i.
func traitsJSON(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"email":"user%d@example.com","first_name":"Name%d","last_name":"Surname%d","plan":"gold"`, i, i, i)
	for k := range 16 {
		fmt.Fprintf(&b, `,"attr_%02d":"value-%d-%d-lorem-ipsum-dolor-sit-amet-consectetur"`, k, i, k)
	}
	b.WriteString("}")
	return b.String()
}

// LoadProfiles ingests n identify events (one per profile) through
// /v1/batch with 8 concurrent loaders and returns the ingest rate.
func LoadProfiles(ctx context.Context, addr string, n int, progress func(done int)) (float64, error) {
	const perBatch = 250
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	client := &http.Client{Timeout: time.Minute}
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body bytes.Buffer
			for ctx.Err() == nil {
				from := int(next.Add(perBatch)) - perBatch
				if from >= n {
					return
				}
				to := min(from+perBatch, n)
				body.Reset()
				body.WriteString(`{"batch":[`)
				for i := from; i < to; i++ {
					if i > from {
						body.WriteByte(',')
					}
					fmt.Fprintf(&body, `{"type":"identify","userId":"u%d","messageId":"load-%d","traits":%s}`, i, i, traitsJSON(i))
				}
				body.WriteString(`]}`)
				var resp *http.Response
				var msg []byte
				// A busy machine answers 503 now and then: retry (the
				// messageIds make it safe), a few times.
				for try := 0; ; try++ {
					req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/batch", bytes.NewReader(body.Bytes()))
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Write-Key", writeKey)
					if resp, err = client.Do(req); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					msg, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusServiceUnavailable || try == 5 {
						break
					}
					time.Sleep(time.Second)
				}
				if resp.StatusCode != http.StatusOK {
					firstErr.CompareAndSwap(nil, fmt.Errorf("batch: %d %s", resp.StatusCode, msg))
					return
				}
				if d := done.Add(int64(to - from)); progress != nil {
					progress(int(d))
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), ctx.Err()
}

// key spreads lookups over all n profiles (a multiplicative hash of i).
func key(i, n int) int { return int((uint64(i)*2654435761 + 12345) % uint64(n)) }

// LookupReport is the lookup scenario's outcome.
type LookupReport struct {
	Profiles               int
	LoadRate               float64 // events/s via /v1/batch while loading
	EdgeClosed, EdgeOpen   load.Result
	TLSClosed, TLSOpen     load.Result // with Config.TLS
	RedisClosed, RedisOpen load.Result
	// EdgeSyscalls and RedisSyscalls are the servers' system calls over
	// the closed-loop phase.
	EdgeSyscalls, RedisSyscalls Syscalls
	ResponseBytes               int
	DiskBytesPerProfile         float64
	ResidentBytesPerProfile     float64
}

// Lookup loads cfg.Profiles into a fresh edge, measures lookups in a
// closed loop (cfg.Conns connections) and an open loop (cfg.Rate req/s),
// then, if cfg.Redis, loads the same number of values of the edge's
// response size into redis-server and runs the identical load.
func Lookup(ctx context.Context, cfg Config) (LookupReport, error) {
	rep := LookupReport{Profiles: cfg.Profiles}
	dir, err := os.MkdirTemp("", "ucv-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	edge, err := StartEdge(cfg.Bin, dir, "--node-name", "bench", "--write-key", writeKey+"=bench")
	if err != nil {
		return rep, err
	}
	defer edge.Stop()
	fmt.Fprintf(cfg.Out, "loading %d profiles into the edge…\n", cfg.Profiles)
	last := time.Now()
	rep.LoadRate, err = LoadProfiles(ctx, edge.Addr, cfg.Profiles, func(done int) {
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(cfg.Out, "  %d/%d\n", done, cfg.Profiles)
		}
	})
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(cfg.Out, "loaded at %.0f events/s\n", rep.LoadRate)
	if err := Settled(ctx, edge.Addr); err != nil {
		return rep, err
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/v1/profiles/user_id:u%d", edge.Addr, 1))
	if err != nil {
		return rep, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rep.ResponseBytes = len(b)
	if st, err := os.Stat(filepath.Join(dir, "edge.db")); err == nil {
		rep.DiskBytesPerProfile = float64(st.Size()) / float64(cfg.Profiles)
	} else if sz := dirSize(dir); sz > 0 {
		rep.DiskBytesPerProfile = float64(sz) / float64(cfg.Profiles)
	}
	rep.ResidentBytesPerProfile = float64(edge.RSSBytes()) / float64(cfg.Profiles)

	if cfg.Pin {
		if err := pin(edge); err != nil {
			return rep, err
		}
		defer unpinSelf()
	}
	get := load.HTTPGet{Host: edge.Addr, Path: func(i int) string {
		return fmt.Sprintf("/v1/profiles/user_id:u%d", key(i, cfg.Profiles))
	}}
	// Steady state, not the aftermath of the load: write back the dirty
	// pages the load left, then warm up (unmeasured) before measuring.
	syscall.Sync()
	if _, err := load.Closed(ctx, edge.Addr, get, cfg.Conns, cfg.Duration/2); err != nil {
		return rep, err
	}
	stop := edge.CountSyscalls()
	if rep.EdgeClosed, err = load.Closed(ctx, edge.Addr, get, cfg.Conns, cfg.Duration); err != nil {
		stop()
		return rep, err
	}
	rep.EdgeSyscalls = stop()
	fmt.Fprintf(cfg.Out, "edge  closed loop, %d conns: %v\n", cfg.Conns, rep.EdgeClosed)
	printSyscalls(cfg.Out, "edge ", rep.EdgeSyscalls, rep.EdgeClosed.Requests)
	if rep.EdgeOpen, err = load.Open(ctx, edge.Addr, get, cfg.Conns, cfg.Rate, cfg.Duration); err != nil {
		return rep, err
	}
	fmt.Fprintf(cfg.Out, "edge  open loop, %d req/s: %v\n", cfg.Rate, rep.EdgeOpen)
	edge.Stop() // free its CPU and memory for the comparison
	if cfg.TLS {
		if err := lookupTLS(ctx, cfg, dir, get, &rep); err != nil {
			return rep, err
		}
	}
	if !cfg.Redis {
		return rep, nil
	}
	redis, err := StartRedis()
	if err != nil {
		return rep, err
	}
	defer redis.Kill()
	if cfg.Pin {
		if err := pin(redis); err != nil {
			return rep, err
		}
	}
	value := bytes.Repeat([]byte("x"), rep.ResponseBytes)
	c, err := net.Dial("tcp", redis.Addr)
	if err != nil {
		return rep, err
	}
	w, r := bufio.NewWriterSize(c, 1<<20), bufio.NewReaderSize(c, 1<<16)
	rkey := func(i int) string { return fmt.Sprintf("user_id:u%d", i) }
	for from := 0; from < cfg.Profiles; from += 1000 {
		if err := load.RedisSetPipeline(w, r, from, min(from+1000, cfg.Profiles), rkey, func(int) []byte { return value }); err != nil {
			c.Close()
			return rep, err
		}
	}
	c.Close()
	rget := load.RedisGet{Key: func(i int) string { return rkey(key(i, cfg.Profiles)) }}
	syscall.Sync()
	if _, err := load.Closed(ctx, redis.Addr, rget, cfg.Conns, cfg.Duration/2); err != nil {
		return rep, err
	}
	stop = redis.CountSyscalls()
	if rep.RedisClosed, err = load.Closed(ctx, redis.Addr, rget, cfg.Conns, cfg.Duration); err != nil {
		stop()
		return rep, err
	}
	rep.RedisSyscalls = stop()
	fmt.Fprintf(cfg.Out, "redis closed loop, %d conns: %v\n", cfg.Conns, rep.RedisClosed)
	printSyscalls(cfg.Out, "redis", rep.RedisSyscalls, rep.RedisClosed.Requests)
	if rep.RedisOpen, err = load.Open(ctx, redis.Addr, rget, cfg.Conns, cfg.Rate, cfg.Duration); err != nil {
		return rep, err
	}
	fmt.Fprintf(cfg.Out, "redis open loop, %d req/s: %v\n", cfg.Rate, rep.RedisOpen)
	fmt.Fprintf(cfg.Out, "ratio edge/redis closed-loop throughput: %.2f×\n", rep.EdgeClosed.Throughput()/rep.RedisClosed.Throughput())
	return rep, nil
}

// printSyscalls prints a server's system calls per request.
func printSyscalls(w io.Writer, who string, s Syscalls, requests int) {
	r, wr, all := s.PerRequest(requests)
	if s.All == 0 {
		fmt.Fprintf(w, "%s syscalls per request: read %.2f, write %.2f (perf not available: no total)\n", who, r, wr)
		return
	}
	fmt.Fprintf(w, "%s syscalls per request: read %.2f, write %.2f, all %.2f\n", who, r, wr, all)
}

// lookupTLS restarts the edge of dir with a certificate of a new CA and
// measures get over TLS as Lookup measured it in the clear.
func lookupTLS(ctx context.Context, cfg Config, dir string, get load.HTTPGet, rep *LookupReport) error {
	tdir := filepath.Join(dir, "tls")
	ca, err := tlsconf.NewCA("ucv bench", 24*time.Hour, time.Now())
	if err != nil {
		return err
	}
	if err := ca.WriteFiles(tdir, true); err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.Issue(tlsconf.CertRequest{Name: "bench", Server: true, Validity: time.Hour}, time.Now())
	if err != nil {
		return err
	}
	if err := tlsconf.WriteCert(tdir, "bench", certPEM, keyPEM, true); err != nil {
		return err
	}
	certFile, keyFile := tlsconf.CertFiles(tdir, "bench")
	edge, err := StartEdge(cfg.Bin, dir, "--node-name", "bench", "--write-key", writeKey+"=bench", "--tls-cert", certFile, "--tls-key", keyFile)
	if err != nil {
		return err
	}
	defer edge.Stop()
	lc := tlsconf.DefaultConfig()
	lc.CAFile, lc.Poll = filepath.Join(tdir, tlsconf.CACertFile), 0
	client, err := tlsconf.New(lc)
	if err != nil {
		return err
	}
	if cfg.Pin {
		if err := pin(edge); err != nil {
			return err
		}
	}
	get.Host = edge.Addr
	dial := load.WithDial(client.Dial)
	if _, err := load.Closed(ctx, edge.Addr, get, cfg.Conns, cfg.Duration/2, dial); err != nil {
		return err
	}
	if rep.TLSClosed, err = load.Closed(ctx, edge.Addr, get, cfg.Conns, cfg.Duration, dial); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "edge  TLS closed loop, %d conns: %v\n", cfg.Conns, rep.TLSClosed)
	if rep.TLSOpen, err = load.Open(ctx, edge.Addr, get, cfg.Conns, cfg.Rate, cfg.Duration, dial); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "edge  TLS open loop, %d req/s: %v\n", cfg.Rate, rep.TLSOpen)
	fmt.Fprintf(cfg.Out, "TLS cost, closed-loop throughput: %.1f %%\n", 100*(1-rep.TLSClosed.Throughput()/rep.EdgeClosed.Throughput()))
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// IngestReport is the ingest scenario's outcome.
type IngestReport struct {
	Single    load.Result // one event per request
	Batch     load.Result // BatchSize events per request
	BatchSize int
}

// Ingest measures durable ingest on a fresh edge: single-event POST
// /v1/track from cfg.Clients connections, then /v1/batch requests of 100
// events from 8 connections.
func Ingest(ctx context.Context, cfg Config) (IngestReport, error) {
	rep := IngestReport{BatchSize: 100}
	dir, err := os.MkdirTemp("", "ucv-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	edge, err := StartEdge(cfg.Bin, dir, "--node-name", "bench", "--write-key", writeKey+"=bench")
	if err != nil {
		return rep, err
	}
	defer edge.Stop()
	single := load.HTTPPost{Host: edge.Addr, Path: "/v1/track", Header: "X-Write-Key: " + writeKey + "\r\n", Body: func(i int) []byte {
		return fmt.Appendf(nil, `{"userId":"u%d","messageId":"s-%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}`, key(i, 100000), i, i%500)
	}}
	if rep.Single, err = load.Closed(ctx, edge.Addr, single, cfg.Clients, cfg.Duration); err != nil {
		return rep, err
	}
	fmt.Fprintf(cfg.Out, "ingest single events, %d clients: %v\n", cfg.Clients, rep.Single)
	start := time.Now()
	applied0 := appliedEvents(edge.Addr)
	fmt.Fprintf(cfg.Out, "  applied: %d events, the last %v after the phase ended = %.0f events/s sustained\n",
		applied0, time.Since(start).Round(time.Millisecond), float64(applied0)/(rep.Single.Elapsed+time.Since(start)).Seconds())
	batch := load.HTTPPost{Host: edge.Addr, Path: "/v1/batch", Header: "X-Write-Key: " + writeKey + "\r\n", Body: func(i int) []byte {
		var b bytes.Buffer
		b.WriteString(`{"batch":[`)
		for k := range rep.BatchSize {
			if k > 0 {
				b.WriteByte(',')
			}
			n := i*rep.BatchSize + k
			fmt.Fprintf(&b, `{"type":"track","userId":"u%d","messageId":"b-%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}`, key(n, 100000), n, n%500)
		}
		b.WriteString(`]}`)
		return b.Bytes()
	}}
	if rep.Batch, err = load.Closed(ctx, edge.Addr, batch, 8, cfg.Duration); err != nil {
		return rep, err
	}
	fmt.Fprintf(cfg.Out, "ingest batches of %d, 8 clients: %v = %.0f events/s\n", rep.BatchSize, rep.Batch, rep.Batch.Throughput()*float64(rep.BatchSize))
	start = time.Now()
	applied1 := appliedEvents(edge.Addr) - applied0
	fmt.Fprintf(cfg.Out, "  applied: %d events, the last %v after the phase ended = %.0f events/s sustained\n",
		applied1, time.Since(start).Round(time.Millisecond), float64(applied1)/(rep.Batch.Elapsed+time.Since(start)).Seconds())
	return rep, nil
}

// appliedEvents reads the edge's metrics: the events its store has
// applied (stored plus duplicates) since it started; -1 if unreadable.
// An edge that acknowledges from a write-ahead log applies behind its
// acknowledgements, and its metrics answer once it has caught up (at
// most 5 s): the events divided by the phase plus that wait is the
// sustained rate, not the burst into the log.
func appliedEvents(addr string) int64 {
	return metricSum(addr, "ucv_events_ingested_total", "ucv_events_duplicate_total")
}

// metricSum reads the edge's metrics and adds up the samples of the
// named metrics (every label set); -1 if unreadable.
// Settled waits until the edge at addr has applied every event it
// acknowledged (its ucv_store_apply_lag_events is 0), so that a
// measurement after a bulk load sees the edge at rest — as redis-server
// is once its SETs are answered — not the applier still folding the
// load in beside the lookups. It gives up when ctx ends or after a
// minute.
func Settled(ctx context.Context, addr string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		lag := metricSum(addr, "ucv_store_apply_lag_events")
		if lag == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("edgebench: the edge's applier still lags %d events a minute after the load", lag)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func metricSum(addr string, names ...string) int64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var n int64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		if !slices.Contains(names, name) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			n += int64(v)
		}
	}
	return n
}
