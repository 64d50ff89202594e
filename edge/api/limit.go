package api

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// bucket is one key's token bucket: it holds at most burst tokens, gains
// rate tokens a second, and each request takes one. It is safe for
// concurrent use.
type bucket struct {
	rate, burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time // zero until the first take
}

// newBucket returns a full bucket, or nil (no limit) when rate is 0.
func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take takes a token at now. Without one it takes nothing and returns how
// long until a token is there. A clock that steps back refills nothing.
func (b *bucket) take(now time.Time) (wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// rateLimitError is ErrRateLimited with the wait the Retry-After header
// announces.
type rateLimitError struct {
	msg  string
	wait time.Duration
}

func (e *rateLimitError) Error() string { return e.msg }
func (e *rateLimitError) Unwrap() error { return ErrRateLimited }

// retryAfter is the Retry-After value: whole seconds, at least 1.
func (e *rateLimitError) retryAfter() string {
	return strconv.FormatInt(max(1, int64(math.Ceil(e.wait.Seconds()))), 10)
}

// take admits one request of the key b limits (nil: no limit). who names
// the key in the answer and kind, name label the metric; neither is ever
// a secret.
func (s *Server) take(b *bucket, who, kind, name string) error {
	if b == nil {
		return nil
	}
	wait, ok := b.take(s.cfg.Now())
	if ok {
		return nil
	}
	s.m.rateLimited.With(kind, name).Inc()
	e := &rateLimitError{wait: wait}
	e.msg = fmt.Sprintf("%s: over its rate limit of %g requests/s (burst %g); retry after %s s", who, b.rate, b.burst, e.retryAfter())
	return e
}
