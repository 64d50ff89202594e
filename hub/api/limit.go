package api

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"
)

// RateLimitError is ErrRateLimited with the wait: the answer is 429 with
// Retry-After rounded up to whole seconds.
type RateLimitError struct {
	Wait time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s: retry in %s", ErrRateLimited.Error(), e.Wait.Round(time.Millisecond))
}

// Unwrap makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// retryAfter is err's Retry-After in whole seconds, at least 1.
func retryAfter(err error) int {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return max(1, int(math.Ceil(rl.Wait.Seconds())))
	}
	return 1
}

// limit takes one request from key's budget (Config.RateLimit); an
// exhausted budget is a *RateLimitError.
func (s *Server) limit(key string) error {
	if s.rate == nil {
		return nil
	}
	if wait, ok := s.rate.take(key); !ok {
		s.met.rateLimited.Inc()
		return &RateLimitError{Wait: wait}
	}
	return nil
}

// spent is ErrRateLimited (a *RateLimitError) when key's budget is
// exhausted, without taking from it.
func (s *Server) spent(key string) error {
	if s.rate == nil {
		return nil
	}
	if wait, ok := s.rate.peek(key); !ok {
		s.met.rateLimited.Inc()
		return &RateLimitError{Wait: wait}
	}
	return nil
}

// limiter is a token bucket per key: rate requests a second, burst at
// once. Buckets left full are forgotten, so memory follows the clients
// active in the last burst/rate seconds. Safe for concurrent use.
type limiter struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take takes a token from key's bucket, or reports how long until one
// is there.
func (l *limiter) take(key string) (time.Duration, bool) { return l.use(key, 1) }

// peek reports whether key's bucket holds a token, without taking it.
func (l *limiter) peek(key string) (time.Duration, bool) { return l.use(key, 0) }

func (l *limiter) use(key string, n float64) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		if n == 0 {
			return 0, true
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens -= n
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// sweep forgets full buckets, at most once per refill period.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	if now.Sub(l.swept) < max(full, time.Second) {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
}

// Listener wraps ln with the connection caps (Config.MaxConns in total,
// Config.MaxConnsPerIP per client IP): a connection over either cap is
// closed as soon as it is accepted, before a byte is read, and counted
// in ucv_hub_http_conns_refused_total. Serve the API on it; put TLS on
// top of it (tls.NewListener(s.Listener(ln), …)), so refused connections
// cost no handshake.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if s.cfg.MaxConns <= 0 && s.cfg.MaxConnsPerIP <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, total: s.cfg.MaxConns, perIP: s.cfg.MaxConnsPerIP, byIP: map[string]int{},
		refused: func(reason string) { s.met.connsRefused.With(reason).Inc() }}
}

// limitListener counts open connections in total and per remote IP.
type limitListener struct {
	net.Listener
	total, perIP int
	refused      func(reason string)

	mu   sync.Mutex
	open int
	byIP map[string]int
}

// Accept returns the next connection within the caps, closing those
// over them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		reason := ""
		l.mu.Lock()
		switch {
		case l.total > 0 && l.open >= l.total:
			reason = "total"
		case l.perIP > 0 && l.byIP[ip] >= l.perIP:
			reason = "per_ip"
		default:
			l.open++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if reason != "" {
			_ = c.Close()
			l.refused(reason)
			continue
		}
		return &limitConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	l.open--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
}

// limitConn gives its slot back when closed, once.
type limitConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
