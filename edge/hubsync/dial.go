package hubsync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// dialer makes the client's TCP connections to the hub
// (docs/decisions/0053-reconnect.md). Each connection gets keepalive
// probes and, on Linux, TCP_USER_TIMEOUT, so a connection whose path
// died fails within seconds instead of waiting out TCP's exponential
// retransmission timer (minutes; after a 15 s outage the next
// retransmission could be 10 s away). A dial starts a fresh attempt every
// stagger while none has connected, up to timeout: a SYN lost while the
// link was down is not waited for until the kernel retransmits it, so a
// link that comes back is noticed within about one stagger.
type dialer struct {
	timeout, stagger time.Duration
	keepAlive        net.KeepAliveConfig
	userTimeout      time.Duration
}

// errDialTimeout is the cause of a dial that no attempt completed.
var errDialTimeout = errors.New("no answer")

// DialContext connects to addr: the first attempt to connect wins and
// the others are closed. An attempt that fails outright (refused,
// unreachable) ends the dial at once: more attempts would fail alike.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, d.timeout, errDialTimeout)
	defer cancel()
	nd := &net.Dialer{KeepAliveConfig: d.keepAlive, Control: d.control}
	type result struct {
		c   net.Conn
		err error
	}
	// Buffered for every attempt there can be, so none blocks on a dial
	// that has returned; those still running are closed below.
	results := make(chan result, int(d.timeout/d.stagger)+2)
	pending := 0
	attempt := func() {
		pending++
		go func() {
			c, err := nd.DialContext(ctx, network, addr)
			results <- result{c, err}
		}()
	}
	abandon := func() {
		cancel()
		go func(n int) {
			for range n {
				if r := <-results; r.c != nil {
					r.c.Close()
				}
			}
		}(pending)
	}
	attempt()
	tick := time.NewTicker(d.stagger)
	defer tick.Stop()
	for {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				abandon()
				return r.c, nil
			}
			if ctx.Err() == nil { // refused or unreachable: a fact, not a loss
				abandon()
				return nil, r.err
			}
			if pending == 0 {
				return nil, dialErr(ctx, addr, r.err)
			}
		case <-tick.C:
			if ctx.Err() == nil {
				attempt()
			}
		case <-ctx.Done():
			abandon()
			return nil, dialErr(ctx, addr, ctx.Err())
		}
	}
}

// dialErr names a dial that timed out; such an error is a timeout
// (net.Error), as net.Dialer's own are.
func dialErr(ctx context.Context, addr string, err error) error {
	if errors.Is(context.Cause(ctx), errDialTimeout) {
		return &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{fmt.Sprintf("hubsync: no connection to %s", addr)}}
	}
	return err
}

// timeoutError is a net.Error that timed out.
type timeoutError struct{ msg string }

func (e timeoutError) Error() string   { return e.msg }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// control sets the socket options net.Dialer has no field for.
func (d *dialer) control(_, _ string, rc syscall.RawConn) error {
	if d.userTimeout <= 0 {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setUserTimeout(fd, d.userTimeout) }); err != nil {
		return err
	}
	return serr
}

// transport returns the client's HTTP transport over the dialer (and
// TLS, when configured). Idle connections are kept for the two loops.
func (c *Client) transport(d *dialer) *http.Transport {
	var t *http.Transport
	if c.cfg.TLS != nil {
		t = c.cfg.TLS.TransportOver(d.DialContext)
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // point to point, as tlsconf's
		t.DialContext = d.DialContext
	}
	t.MaxIdleConnsPerHost = 4
	t.IdleConnTimeout = 90 * time.Second
	return t
}
