package edgebench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Paired one-connection latency (decision 0054). wrk and redis-benchmark
// are different clients, run minutes apart on a VM whose scheduling
// noise comes and goes: their p99s at one connection differ by as much
// as the servers do. Paired measures both servers with one client, one
// blocking connection each, alternating request by request (edge then
// redis, then redis then edge, so neither always goes first): the same
// client code, the same moment, the same keys.

// PairedConfig sizes one paired run.
type PairedConfig struct {
	EdgeAddr, RedisAddr string        // host:port of each
	Keys                int           // profiles u0…u(Keys-1) and redis keys key:000000000000…
	Duration            time.Duration // how long to alternate
	Seed                uint64        // for the key sequence
}

// PairedSide is one server's latencies in a paired run.
type PairedSide struct {
	N                     int
	P50, P90, P99, P999   time.Duration
	Max                   time.Duration
	Slow                  int // requests slower than PairedSlow
	SlowWithOtherSlowNear int // of those, how many had a slow request of the other server within PairedNear
}

// PairedResult is a paired run's two sides.
type PairedResult struct {
	Edge, Redis PairedSide
}

// PairedSlow is what a paired run counts as an outlier, and PairedNear
// how close in time two outliers must be to count as one disturbance of
// the machine (both servers hit) rather than of one server.
const (
	PairedSlow = 500 * time.Microsecond
	PairedNear = 5 * time.Millisecond
)

// pairedConn is one blocking connection of the paired client: Linux
// builds use a raw socket on the client's locked OS thread, so the client
// adds no scheduler hops of its own (see paired_linux.go).
type pairedConn interface {
	io.ReadWriter
	Close() error
}

// Paired runs the paired client for cfg.Duration and returns both
// sides' latency distributions. Every edge answer must be 200 and every
// redis answer a value: a paired run of misses measures nothing.
func Paired(cfg PairedConfig) (PairedResult, error) {
	if cfg.Keys <= 0 || cfg.Duration <= 0 {
		return PairedResult{}, errors.New("edgebench: paired: Keys and Duration must be positive")
	}
	release := lockThread()
	defer release()
	ec, err := dialPaired(cfg.EdgeAddr)
	if err != nil {
		return PairedResult{}, fmt.Errorf("edgebench: paired: edge: %w", err)
	}
	defer ec.Close()
	rc, err := dialPaired(cfg.RedisAddr)
	if err != nil {
		return PairedResult{}, fmt.Errorf("edgebench: paired: redis: %w", err)
	}
	defer rc.Close()

	edgeReq, redisReq := pairedRequests(cfg.Keys, cfg.Seed)
	er, rr := newRespReader(ec), newRespReader(rc)
	edge := &pairedSide{name: "edge", conn: ec, reqs: edgeReq, read: er.readHTTP}
	redis := &pairedSide{name: "redis", conn: rc, reqs: redisReq, read: rr.readBulk}
	start := time.Now()
	for i := 0; time.Since(start) < cfg.Duration; i++ {
		first, second := edge, redis
		if i%2 == 1 {
			first, second = redis, edge
		}
		if err := first.do(i%pairedDistinct, start); err != nil {
			return PairedResult{}, err
		}
		if err := second.do(i%pairedDistinct, start); err != nil {
			return PairedResult{}, err
		}
	}
	return PairedResult{Edge: summarize(edge.lat, edge.at, redis.lat, redis.at),
		Redis: summarize(redis.lat, redis.at, edge.lat, edge.at)}, nil
}

// pairedDistinct is how many requests a run builds before its clock
// starts, and then sends in turn: the loop allocates nothing.
const pairedDistinct = 1 << 14

// pairedRequests builds the requests of a run: lookups of random
// profiles u0…u(keys-1) on the edge and GETs of the same keys on redis.
func pairedRequests(keys int, seed uint64) (edge, redis [][]byte) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	edge, redis = make([][]byte, pairedDistinct), make([][]byte, pairedDistinct)
	for i := range pairedDistinct {
		k := rng.IntN(keys)
		edge[i] = fmt.Appendf(nil, "GET /v1/profiles/user_id:u%d HTTP/1.1\r\nHost: bench\r\n\r\n", k)
		key := fmt.Sprintf("key:%012d", k)
		redis[i] = fmt.Appendf(nil, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(key), key)
	}
	return edge, redis
}

// SingleConfig sizes a one-sided run of the paired client: one server,
// one blocking connection.
type SingleConfig struct {
	Addr     string // host:port
	Redis    bool   // GETs of key:… over RESP; otherwise the edge's lookups
	Keys     int
	Duration time.Duration
	Seed     uint64
}

// Single runs the paired client against one server for cfg.Duration and
// returns its latency distribution (Slow counts outliers; nothing to
// pair them with). The busy phase of bench compare measures each server
// while its own ingest load runs, so the two cannot alternate; wrk's and
// redis-benchmark's percentiles for one connection beside a load that
// saturates the machine do not hold together (wrk reported a p99 of
// 21 ms for 52,920 requests in 8 s, which at 1 % of them is more time
// than the run had: bench/README.md, "The busy phase, measured by the
// paired client").
func Single(cfg SingleConfig) (PairedSide, error) {
	if cfg.Keys <= 0 || cfg.Duration <= 0 {
		return PairedSide{}, errors.New("edgebench: single: Keys and Duration must be positive")
	}
	release := lockThread()
	defer release()
	c, err := dialPaired(cfg.Addr)
	if err != nil {
		return PairedSide{}, fmt.Errorf("edgebench: single: %w", err)
	}
	defer c.Close()
	edgeReq, redisReq := pairedRequests(cfg.Keys, cfg.Seed)
	rd := newRespReader(c)
	side := &pairedSide{name: "edge", conn: c, reqs: edgeReq, read: rd.readHTTP}
	if cfg.Redis {
		side = &pairedSide{name: "redis", conn: c, reqs: redisReq, read: rd.readBulk}
	}
	start := time.Now()
	for i := 0; time.Since(start) < cfg.Duration; i++ {
		if err := side.do(i%pairedDistinct, start); err != nil {
			return PairedSide{}, err
		}
	}
	return summarize(side.lat, side.at, nil, nil), nil
}

// pairedSide is one server of a paired run: its connection, requests,
// answer reader, and the latencies and start offsets measured so far.
type pairedSide struct {
	name    string
	conn    pairedConn
	reqs    [][]byte
	read    func() error
	lat, at []time.Duration
}

// do sends request i and reads its whole answer, recording the time
// taken and when it started (since start).
func (p *pairedSide) do(i int, start time.Time) error {
	t0 := time.Now()
	if _, err := p.conn.Write(p.reqs[i]); err != nil {
		return fmt.Errorf("edgebench: paired: %s: %w", p.name, err)
	}
	if err := p.read(); err != nil {
		return fmt.Errorf("edgebench: paired: %s: %w", p.name, err)
	}
	p.lat, p.at = append(p.lat, time.Since(t0)), append(p.at, t0.Sub(start))
	return nil
}

// summarize gives one side's distribution, and how many of its outliers
// had an outlier of the other side near them in time.
func summarize(lat, at, other, otherAt []time.Duration) PairedSide {
	var slowOther []time.Duration // start offsets of the other side's outliers, ascending
	for i, d := range other {
		if d > PairedSlow {
			slowOther = append(slowOther, otherAt[i])
		}
	}
	s := PairedSide{N: len(lat)}
	for i, d := range lat {
		if d <= PairedSlow {
			continue
		}
		s.Slow++
		j, _ := slices.BinarySearch(slowOther, at[i]-PairedNear)
		if j < len(slowOther) && slowOther[j] <= at[i]+PairedNear {
			s.SlowWithOtherSlowNear++
		}
	}
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	q := func(f float64) time.Duration {
		if len(sorted) == 0 {
			return 0
		}
		return sorted[int(f*float64(len(sorted)-1))].Round(100 * time.Nanosecond)
	}
	s.P50, s.P90, s.P99, s.P999 = q(0.5), q(0.9), q(0.99), q(0.999)
	if len(sorted) > 0 {
		s.Max = sorted[len(sorted)-1]
	}
	return s
}

// respReader reads whole answers off one connection: an HTTP/1.1
// response with Content-Length, or a RESP bulk string.
type respReader struct {
	r        io.Reader
	buf      []byte
	from, to int
}

func newRespReader(r io.Reader) *respReader { return &respReader{r: r, buf: make([]byte, 64<<10)} }

// fill reads more bytes, compacting the buffer first.
func (p *respReader) fill() error {
	if p.from > 0 {
		p.to = copy(p.buf, p.buf[p.from:p.to])
		p.from = 0
	}
	if p.to == len(p.buf) {
		return errors.New("answer larger than 64 KiB")
	}
	n, err := p.r.Read(p.buf[p.to:])
	if n == 0 && err == nil {
		err = io.ErrNoProgress
	}
	p.to += n
	return err
}

// readHTTP consumes one response and fails unless its status is 200.
func (p *respReader) readHTTP() error {
	for {
		head := p.buf[p.from:p.to]
		if end := bytes.Index(head, []byte("\r\n\r\n")); end >= 0 {
			status, length, err := parseHead(head[:end])
			if err != nil {
				return err
			}
			total := end + 4 + length
			for p.to-p.from < total {
				if err := p.fill(); err != nil {
					return err
				}
			}
			p.from += total
			if status != 200 {
				return fmt.Errorf("HTTP %d", status)
			}
			return nil
		}
		if err := p.fill(); err != nil {
			return err
		}
	}
}

// parseHead reads the status and Content-Length of a response head.
func parseHead(head []byte) (status, length int, err error) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	f := bytes.Fields(line)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		return 0, 0, fmt.Errorf("not an HTTP response: %q", line)
	}
	if status, err = strconv.Atoi(string(f[1])); err != nil {
		return 0, 0, fmt.Errorf("status %q: %w", f[1], err)
	}
	length = -1
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil || length < 0 {
				return 0, 0, fmt.Errorf("Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return 0, 0, errors.New("response without Content-Length")
	}
	return status, length, nil
}

// readBulk consumes one RESP bulk string and fails on a nil (missing key)
// or an error reply.
func (p *respReader) readBulk() error {
	for {
		b := p.buf[p.from:p.to]
		if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
			if b[0] != '$' {
				return fmt.Errorf("redis answered %q", b[:i])
			}
			n, err := strconv.Atoi(string(b[1:i]))
			if err != nil {
				return fmt.Errorf("bulk length %q: %w", b[1:i], err)
			}
			if n < 0 {
				return errors.New("redis: key missing")
			}
			total := i + 2 + n + 2
			for p.to-p.from < total {
				if err := p.fill(); err != nil {
					return err
				}
			}
			p.from += total
			return nil
		}
		if err := p.fill(); err != nil {
			return err
		}
	}
}
