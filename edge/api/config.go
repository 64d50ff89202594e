package api

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"time"

	"ucv/metric"
	"ucv/profile"
)

// Config configures a Server. Build it with DefaultConfig and override
// fields; New calls Validate.
type Config struct {
	// WriteKeys maps each accepted write key to the source label stored
	// with its events ("" keeps no label). A key is read from the HTTP
	// Basic username or the X-Write-Key header. Outside dev mode at least
	// one key is required and a request without a known key gets 401.
	WriteKeys map[string]string
	// ReadKeys are the credentials of the read routes (/v1/profiles/…),
	// each with its scopes. Without any, reads are open: the edge node
	// allows that only on a loopback address or with InsecureOpenReads.
	// A write key cannot read (403) and a read key cannot write (403).
	// /healthz, /readyz and /metrics never need a key.
	ReadKeys []ReadKey
	// InsecureOpenReads reports that reads are open (no ReadKeys) on an
	// address others can reach; /metrics exports it as
	// ucv_insecure_open_reads. The edge node sets it; it changes no
	// answer.
	InsecureOpenReads bool
	// ReadKeyRate is how many requests a second each read key may make
	// (a token bucket of ReadKeyBurst tokens); over it the answer is 429
	// with Retry-After. 0 means no limit.
	ReadKeyRate float64
	// ReadKeyBurst is the size of each read key's bucket: requests it may
	// make at once after a quiet spell. At least 1 when ReadKeyRate is set.
	ReadKeyBurst int
	// WriteKeyRate and WriteKeyBurst limit each write key the same way
	// (all of a site's browsers share its write key, so size it for the
	// site's peak). Requests without a configured key (dev mode) are not
	// limited by key. 0 means no limit.
	WriteKeyRate  float64
	WriteKeyBurst int
	// DevMode accepts ingest without a write key. A key that is sent but
	// not configured is still refused when WriteKeys is not empty.
	DevMode bool
	// NodeName names this edge in lookup answers ("replica.node").
	NodeName string
	// PublicURL is the base URL ("http://edge-1.store.local:8080") that
	// the analytics.js settings endpoint advertises as apiHost. Empty
	// means the address Serve listens on, over http (the host name for a
	// wildcard address such as 0.0.0.0). The request's Host
	// header is never used: a client must not choose where browsers send
	// events.
	PublicURL string
	// CORSOrigins are the browser origins ("https://shop.example") that
	// may call the ingest and settings endpoints; "*" allows any. A
	// request whose Origin header is not listed gets 403: analytics.js
	// posts text/plain without a preflight, so only refusing makes the
	// list bind. Requests without an Origin header (servers, mobile
	// SDKs, curl) are not affected.
	CORSOrigins []string
	// MaxEventAge: an event whose stated time (timestamp, or
	// originalTimestamp without sentAt) is further than this before its
	// receipt is refused with a 400 naming the field; a skew-corrected
	// time beyond it is dated at receipt. 0 means no bound (times before
	// 1970 are refused regardless).
	MaxEventAge time.Duration
	// MaxHeaderBytes bounds the request line and headers together (at
	// least 16 KiB, for analytics.js on sites with large cookies). A
	// request line that does not fit is answered 414, headers that do not
	// fit 431.
	MaxHeaderBytes int
	// Normalize controls normalization of identifiers in lookup paths; it
	// must match what ingest uses (DefaultRegion for phone numbers).
	Normalize profile.NormalizeOptions
	// MaxEventBytes limits the body of a single-message endpoint
	// (Segment: 32 KB). At most profile.MaxEventBytes.
	MaxEventBytes int
	// MaxBatchBytes limits the body of /v1/batch (Segment: 500 KB), and
	// the server refuses any body larger than it before reading it. At
	// most profile.MaxBatchBytes.
	MaxBatchBytes int
	// ReadTimeout bounds reading one request (headers and body); a
	// request not read in time is answered 408.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle that long.
	IdleTimeout time.Duration
	// IngestTimeout bounds the wait for the store to make a write
	// durable. On expiry the client gets 503; the events may still
	// commit, and a retry is deduplicated by messageId.
	IngestTimeout time.Duration
	// Concurrency caps concurrently served connections (fasthttp's
	// worker pool); a connection over it is answered 503 and closed. 0
	// means fasthttp's default (262,144).
	Concurrency int
	// MaxConnsPerIP caps concurrent connections from one client IP
	// (fasthttp's MaxConnsPerIP); a connection over it is answered 429
	// and closed. 0 means no cap.
	MaxConnsPerIP int
	// Now is the clock, injected for tests.
	Now func() time.Time
	// Logger receives errors at boundaries (5xx answers, serve errors).
	// Nil discards.
	Logger *slog.Logger
	// Collectors are further metrics served on /metrics (the gossip
	// node's, when gossip is on).
	Collectors []metric.Collector
	// Forward attaches to every accepted event its upstream form
	// (profile.Message.Upstream, encoded here, off the store's commit
	// goroutine), so the store queues it for forwarding in the
	// transaction that stores it (store.Event.Forward, edge/forward).
	// The edge node sets it when forwarding is configured.
	Forward bool
}

// Bounds of Config.MaxHeaderBytes.
const (
	minHeaderBytes = 16 << 10
	maxHeaderBytes = 1 << 20
)

// normalizeOrigin checks a CORSOrigins entry and returns it as browsers
// send it in Origin: "*", or scheme://host[:port] in lower case without
// a path.
func normalizeOrigin(o string) (string, error) {
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(o)), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not \"*\" or an origin such as https://shop.example", o)
	}
	return u.Scheme + "://" + u.Host, nil
}

// DefaultConfig returns a production configuration without write keys:
// set WriteKeys or DevMode before New. Reads are open until ReadKeys are
// set; each read key may make 1,000 requests/s (bursts of 2,000), write
// keys are not limited; connections are capped at 10,000, 512 from one
// client IP.
func DefaultConfig() Config {
	return Config{
		WriteKeys:      map[string]string{},
		NodeName:       "edge",
		Normalize:      profile.DefaultNormalizeOptions(),
		MaxEventBytes:  profile.MaxEventBytes,
		MaxBatchBytes:  profile.MaxBatchBytes,
		CORSOrigins:    []string{"*"},
		MaxEventAge:    profile.DefaultMaxEventAge,
		MaxHeaderBytes: 32 << 10,
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   10 * time.Second,
		IdleTimeout:    60 * time.Second,
		IngestTimeout:  5 * time.Second,
		ReadKeyRate:    1000,
		ReadKeyBurst:   2000,
		WriteKeyBurst:  1000,
		Concurrency:    10000,
		MaxConnsPerIP:  512,
		Now:            time.Now,
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	var errs []error
	if !c.DevMode && len(c.WriteKeys) == 0 {
		errs = append(errs, errors.New("WriteKeys: at least one write key is required outside dev mode"))
	}
	for k := range c.WriteKeys {
		if k == "" || strings.ContainsAny(k, ": \t\r\n") {
			errs = append(errs, errors.New("WriteKeys: a key is empty or holds ':' or white space"))
			break
		}
	}
	if c.MaxEventBytes <= 0 || c.MaxEventBytes > profile.MaxEventBytes {
		errs = append(errs, fmt.Errorf("MaxEventBytes: must be in 1..%d", profile.MaxEventBytes))
	}
	if c.MaxBatchBytes < c.MaxEventBytes || c.MaxBatchBytes > profile.MaxBatchBytes {
		errs = append(errs, fmt.Errorf("MaxBatchBytes: must be in MaxEventBytes..%d", profile.MaxBatchBytes))
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		errs = append(errs, errors.New("PublicURL: must start with http:// or https://"))
	}
	for _, o := range c.CORSOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("CORSOrigins: %w", err))
			break
		}
	}
	if c.MaxEventAge < 0 {
		errs = append(errs, errors.New("MaxEventAge: must not be negative (0: no bound)"))
	}
	if c.MaxHeaderBytes < minHeaderBytes || c.MaxHeaderBytes > maxHeaderBytes {
		errs = append(errs, fmt.Errorf("MaxHeaderBytes: must be in %d..%d", minHeaderBytes, maxHeaderBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReadTimeout", c.ReadTimeout}, {"WriteTimeout", c.WriteTimeout}, {"IdleTimeout", c.IdleTimeout}, {"IngestTimeout", c.IngestTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", d.name))
		}
	}
	if c.Concurrency < 0 {
		errs = append(errs, errors.New("Config.Concurrency: must not be negative"))
	}
	if c.MaxConnsPerIP < 0 {
		errs = append(errs, errors.New("MaxConnsPerIP: must not be negative (0: no cap)"))
	}
	for _, r := range []struct {
		name  string
		rate  float64
		burst int
	}{{"ReadKey", c.ReadKeyRate, c.ReadKeyBurst}, {"WriteKey", c.WriteKeyRate, c.WriteKeyBurst}} {
		switch {
		case r.rate < 0 || math.IsNaN(r.rate) || math.IsInf(r.rate, 0):
			errs = append(errs, fmt.Errorf("%sRate: must be a finite number >= 0 (0: no limit)", r.name))
		case r.rate > 0 && r.burst < 1:
			errs = append(errs, fmt.Errorf("%sBurst: must be at least 1 with %sRate set", r.name, r.name))
		}
	}
	if err := validateReadKeys(c.ReadKeys, c.WriteKeys); err != nil {
		errs = append(errs, err)
	}
	if c.InsecureOpenReads && len(c.ReadKeys) > 0 {
		errs = append(errs, errors.New("InsecureOpenReads: reads are not open with ReadKeys set"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("Config.Now: must be set"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("api: invalid config: %w", err)
	}
	return nil
}
