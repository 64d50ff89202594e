// Package load is a small load generator for request/response protocols
// over raw TCP connections: closed loops (N connections, each sending its
// next request as soon as the previous answer arrives) and open loops (a
// fixed arrival rate, latency measured from the intended send time so
// that a stall is not hidden — no coordinated omission).
//
// The protocol is abstracted as a Proto (encode a request, read one
// response), so the very same generator drives the ucv edge over HTTP/1.1
// and redis-server over RESP: a side-by-side comparison measures the
// servers, not two different clients.
package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// Proto speaks one request/response protocol.
type Proto interface {
	// Request appends request number i to dst.
	Request(dst []byte, i int) []byte
	// Response reads exactly one response from r and reports an error for
	// a failed request (non-2xx, RESP error, missing key).
	Response(r *bufio.Reader) error
}

// Result summarizes a run.
type Result struct {
	Requests  int
	Errors    int
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
}

// Throughput returns requests per second.
func (r Result) Throughput() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Quantile returns the q-quantile latency (0 < q <= 1).
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latencies))+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

func (r Result) String() string {
	return fmt.Sprintf("%d req in %v: %.0f req/s, p50 %v, p99 %v, p99.9 %v, errors %d",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.Throughput(),
		r.Quantile(0.5), r.Quantile(0.99), r.Quantile(0.999), r.Errors)
}

type conn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

// Dialer opens a connection to addr ("tcp"): net.Dialer.DialContext, or
// a TLS dialer (tlsconf.Loader.Dial) to measure a server over TLS.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// Option changes how a run connects.
type Option func(*options)

type options struct{ dial Dialer }

// WithDial makes a run open its connections with d (kept alive for the
// whole run, so a TLS handshake is paid once per connection).
func WithDial(d Dialer) Option { return func(o *options) { o.dial = d } }

func optionsOf(opts []Option) options {
	o := options{dial: (&net.Dialer{}).DialContext}
	for _, f := range opts {
		f(&o)
	}
	return o
}

func dial(o options, addr string) (*conn, error) {
	c, err := o.dial(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (c *conn) do(p Proto, i int) error {
	c.buf = p.Request(c.buf[:0], i)
	if _, err := c.c.Write(c.buf); err != nil {
		return err
	}
	return p.Response(c.r)
}

// Closed runs conns connections against addr for d, each sending request
// i (a global counter) as soon as its previous response arrived.
func Closed(ctx context.Context, addr string, p Proto, conns int, d time.Duration, opts ...Option) (Result, error) {
	cs, err := dialAll(optionsOf(opts), addr, conns)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(cs)
	var (
		mu   sync.Mutex
		res  Result
		next int
		wg   sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			errs := 0
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				t := time.Now()
				if t.After(deadline) {
					break
				}
				if err := c.do(p, i); err != nil {
					errs++
					if isConnErr(err) {
						break
					}
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			res.Errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res, ctx.Err()
}

// Open sends rate requests per second for d, spread over conns
// connections. Each request is due at a fixed time; its latency is
// measured from that time, so queueing behind a slow response counts.
func Open(ctx context.Context, addr string, p Proto, conns, rate int, d time.Duration, opts ...Option) (Result, error) {
	cs, err := dialAll(optionsOf(opts), addr, conns)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(cs)
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	start := time.Now().Add(10 * time.Millisecond)
	var (
		mu  sync.Mutex
		res Result
		wg  sync.WaitGroup
	)
	for k, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, total/conns+1)
			errs := 0
			// Connection k sends requests k, k+conns, k+2·conns, …
			for i := k; i < total && ctx.Err() == nil; i += conns {
				due := start.Add(time.Duration(i) * interval)
				if w := time.Until(due); w > 0 {
					time.Sleep(w)
				}
				if err := c.do(p, i); err != nil {
					errs++
					if isConnErr(err) {
						break
					}
				}
				lat = append(lat, time.Since(due))
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			res.Errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res, ctx.Err()
}

func dialAll(o options, addr string, n int) ([]*conn, error) {
	cs := make([]*conn, 0, n)
	for range n {
		c, err := dial(o, addr)
		if err != nil {
			closeAll(cs)
			return nil, fmt.Errorf("load: dial %s: %w", addr, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func closeAll(cs []*conn) {
	for _, c := range cs {
		c.c.Close()
	}
}

func isConnErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || errors.Is(err, errEOF) || errors.Is(err, io.EOF)
}
