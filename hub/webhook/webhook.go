// Package webhook sends one signed webhook request and says what became
// of it: the hub's deliverer (hub/deliver.go) calls Send for each
// delivery and records the outcome through Raft. It also holds the
// signature scheme (Sign, Verify: Stripe's, HMAC-SHA256 over the
// timestamp and the body) and the retry schedule (Backoff), so a
// receiver written in Go can verify with the same code
// (docs/decisions/0036-webhooks.md).
//
// The package holds no state beyond its HTTP client: which delivery to
// send, when to retry and when to give up are the caller's.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers of every request.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>".
	SignatureHeader = "Ucv-Signature"
	// IDHeader carries the delivery's ID: the same on every attempt and
	// after a failover, so a receiver can deduplicate.
	IDHeader = "Ucv-Delivery-Id"
	// TypeHeader carries the event's type ("audience.entered", …).
	TypeHeader = "Ucv-Event-Type"
	// AttemptHeader carries the attempt's number, from 1.
	AttemptHeader = "Ucv-Attempt"
)

// Sign returns the value of the Ucv-Signature header for body sent at t:
// "t=<unix seconds>,v1=<hex of HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	// ErrBadSignature: the header is malformed or no v1 signature in it
	// matches.
	ErrBadSignature = errors.New("webhook: signature does not match")
	// ErrTooOld: the signature's timestamp is further from now than the
	// tolerance (a replayed request).
	ErrTooOld = errors.New("webhook: signature timestamp outside the tolerance")
)

// Verify checks header (the Ucv-Signature value) against body and
// secret, in constant time, and that its timestamp lies within
// tolerance of now (0: not checked). Several v1 values may appear
// (during a secret rotation a sender may sign with both); one match is
// enough.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadSignature
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	want := []byte(mac(secret, ts, body))
	ok := false
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return ErrTooOld
		}
	}
	return nil
}

// Outcome is what became of one attempt.
type Outcome byte

// Outcomes; their values are stored in Raft log entries (hub's
// CmdDelivered): never renumber.
const (
	// Delivered: the receiver answered 2xx.
	Delivered Outcome = 1
	// Retry: a 5xx, a 429, a timeout or a network error; try again
	// later.
	Retry Outcome = 2
	// Failed: a 4xx other than 429, or a redirect to another host; the
	// receiver refused this delivery for good.
	Failed Outcome = 3
)

// Result is the outcome of one attempt.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status (0 when no response came).
	Status int
	// RetryAfter is the receiver's Retry-After (429 or 503), 0 when it
	// sent none.
	RetryAfter time.Duration
	// Err says what went wrong, without the URL or the response body
	// (either could carry data that must not reach logs); empty when
	// delivered.
	Err string
}

// MaxRetryAfter caps a receiver's Retry-After.
const MaxRetryAfter = 24 * time.Hour

// errOtherHost refuses a redirect to another host.
var errOtherHost = errors.New("redirect to another host or to plain http")

// Client sends webhook requests. Safe for concurrent use.
type Client struct {
	hc *http.Client
}

// NewClient returns a client whose requests time out after timeout
// (connect, TLS, headers and body together) and which follows at most 3
// redirects, only to the same host and never from https to http.
// maxConnsPerHost bounds its connections to one host (0: no bound).
func NewClient(timeout time.Duration, maxConnsPerHost int) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = maxConnsPerHost
	tr.MaxIdleConnsPerHost = max(maxConnsPerHost, 2)
	tr.ResponseHeaderTimeout = timeout
	return &Client{hc: &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			from := via[0].URL
			if req.URL.Host != from.Host || from.Scheme == "https" && req.URL.Scheme != "https" {
				return errOtherHost
			}
			return nil
		},
	}}
}

// Request is one attempt's input.
type Request struct {
	URL     string
	Secret  []byte
	ID      string
	Type    string
	Attempt int
	Body    []byte
	// Now is when the request is signed.
	Now time.Time
}

// Send posts r.Body to r.URL, signed, and classifies the answer. It
// never returns an error: what went wrong is in Result.Err.
func (c *Client) Send(ctx context.Context, r Request) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Result{Outcome: Failed, Err: "bad request: " + stripURL(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ucv-webhook/1")
	req.Header.Set(IDHeader, r.ID)
	req.Header.Set(TypeHeader, r.Type)
	req.Header.Set(AttemptHeader, strconv.Itoa(r.Attempt))
	req.Header.Set(SignatureHeader, Sign(r.Secret, r.Now, r.Body))
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, errOtherHost) {
			return Result{Outcome: Failed, Err: errOtherHost.Error()}
		}
		return Result{Outcome: Retry, Err: stripURL(err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	res := Result{Status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		res.Outcome = Delivered
		return res
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		res.Outcome = Retry
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			res.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), r.Now)
		}
	default: // 3xx not followed, 4xx
		res.Outcome = Failed
	}
	res.Err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	return res
}

// stripURL drops the URL from a net/http error: a webhook URL often
// carries a credential in its path or query.
func stripURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// retryAfter reads a Retry-After value (seconds or an HTTP date),
// capped at MaxRetryAfter; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// Backoff returns how long to wait before attempt+1 after attempt
// (from 1) failed: base·2^(attempt-1), at most maxWait, with "equal
// jitter" (half of it fixed, half drawn from rnd in [0, 1)) so that
// deliveries failing together do not retry together.
func Backoff(attempt int, base, maxWait time.Duration, rnd float64) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + time.Duration(rnd*float64(d/2))
}
