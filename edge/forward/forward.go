// Package forward sends the events an edge accepted to a
// Segment-compatible upstream — Segment, RudderStack, Jitsu — so a
// company keeps feeding the CDP it already has. The API queues each
// accepted event in the store's forward outbox in the transaction that
// stores it (store.Event.Forward); a Forwarder reads that outbox in
// order and POSTs it to {URL}/v1/batch in Segment's batch format, with
// the write key as the HTTP Basic username, deleting entries only after
// the upstream answered 2xx.
//
// Delivery is at least once with each event's original messageId, by
// which Segment-compatible upstreams deduplicate: an event is sent again
// only when no 2xx was seen for it (a timeout, a crash between the
// upstream's answer and the delete, Close during a request). Failures
// are retried with exponential backoff and jitter, honouring
// Retry-After. docs/decisions/0034-forwarding.md records the choices.
package forward

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ucv/edge/store"
	"ucv/profile/catalog"
)

// Segment's limits: "a maximum of 500KB per batch request and 32KB per
// event" (its HTTP Tracking API; larger gets 400). Counted in decimal
// kilobytes as Segment's own libraries count them (analytics-go), which
// keeps under the limit whichever way the upstream counts.
const (
	DefaultMaxBatchBytes = 500_000
	DefaultMaxEventBytes = 32_000
)

// Config configures a Forwarder. Start from DefaultConfig.
type Config struct {
	// URL is the upstream's base URL (https://api.segment.io,
	// https://hosted.rudderlabs.com, a Jitsu host); batches go to
	// URL + "/v1/batch". Required: http or https, with a host.
	URL string
	// WriteKey is the upstream source's write key, sent as the HTTP Basic
	// username with an empty password. Required.
	WriteKey string
	// Timeout bounds one request, connection to last byte of the answer.
	Timeout time.Duration
	// MaxBatchBytes bounds one request body; MaxEventBytes one event. An
	// event over MaxEventBytes is never sent: it is dropped and counted
	// (reason "oversize"), since the upstream would refuse it for ever.
	MaxBatchBytes, MaxEventBytes int
	// BackoffMin and BackoffMax bound the wait between attempts after a
	// failure: it doubles from BackoffMin up to BackoffMax, each wait
	// drawn between half and all of that (jitter). A Retry-After answer
	// sets the wait instead, up to MaxRetryAfter.
	BackoffMin, BackoffMax, MaxRetryAfter time.Duration
	// PollEvery is how often the outbox is looked at without a commit
	// signal (store.Changed wakes the forwarder at once after ingest).
	PollEvery time.Duration
	// Suppressed, when not nil, is consulted for each event before it is
	// sent, with the canonical ID of the profile it landed on; an event
	// for which it returns true is deleted unsent and counted (reason
	// "suppressed"). It is the hook for suppression (issue 12): nothing
	// sets it yet. It must be fast, safe for concurrent use and must not
	// block. Erasure removes queued events with store.PurgeForward.
	Suppressed func(profileID string) bool
	// Destination names this upstream in the catalog's consent purposes
	// (catalog.ConsentPurpose.Destinations); "" is DefaultDestination.
	// An event of a person who has not granted every purpose that lists
	// it (catalog.Compiled.Consented, with the store's consent default)
	// is deleted unsent and counted (reason "no_consent"), judged by
	// the person's consent when the event is sent.
	Destination string
	// Transport, when not nil, makes the requests (tests, TLS settings);
	// nil: a clone of http.DefaultTransport (system roots, proxies from
	// the environment).
	Transport http.RoundTripper
	// Now is the clock (sentAt, lag); nil: time.Now.
	Now func() time.Time
	// Logger receives failures (status codes and counts, never event
	// contents or the write key); nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns Segment's limits, 30 s requests, backoff from
// 1 s to 5 min, Retry-After honoured up to an hour, a poll every 5 s.
func DefaultConfig() Config {
	return Config{
		Timeout:       30 * time.Second,
		MaxBatchBytes: DefaultMaxBatchBytes,
		MaxEventBytes: DefaultMaxEventBytes,
		BackoffMin:    time.Second,
		BackoffMax:    5 * time.Minute,
		MaxRetryAfter: time.Hour,
		PollEvery:     5 * time.Second,
	}
}

// Validate reports the first field New cannot work with. Errors never
// show the write key.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("forward: config: URL is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return errors.New("forward: config: URL must be http(s)://HOST[:PORT][/PATH] without query")
	case u.User != nil:
		return errors.New("forward: config: URL must not hold credentials: give the write key")
	case c.WriteKey == "":
		return errors.New("forward: config: WriteKey is required")
	case strings.ContainsAny(c.WriteKey, ": \t\r\n"):
		return errors.New("forward: config: WriteKey must not hold ':' or white space")
	case c.Timeout <= 0 || c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin || c.MaxRetryAfter < 0 || c.PollEvery <= 0:
		return errors.New("forward: config: Timeout, BackoffMin, PollEvery must be positive, BackoffMax >= BackoffMin")
	case c.MaxEventBytes <= 0 || c.MaxBatchBytes < c.MaxEventBytes+envelopeBytes:
		return fmt.Errorf("forward: config: MaxEventBytes must be positive and MaxBatchBytes at least MaxEventBytes+%d", envelopeBytes)
	}
	return nil
}

// DefaultDestination is the name consent purposes give an edge's
// forwarding upstream when Config.Destination is empty.
const DefaultDestination = "forward"

// envelopeBytes bounds a batch body's bytes besides its events and their
// commas: {"batch":[],"sentAt":"2006-01-02T15:04:05.000Z"}.
const envelopeBytes = 64

// readLimit is how many entries one look at the outbox reads.
const readLimit = 10000

// Forwarder sends the forward outbox upstream. Create it with New, start
// it with Start, stop it with Close (before the store closes). Its
// methods are safe for concurrent use.
type Forwarder struct {
	st       *store.Store
	cfg      Config
	client   *http.Client
	endpoint string
	auth     string
	log      *slog.Logger

	startOnce, closeOnce sync.Once
	stop                 context.CancelFunc
	done                 chan struct{}

	batches, events atomic.Uint64
	// settled is held while step deletes what it resolved and counts it,
	// and while Stats reads the outbox and the counters: Stats never sees
	// an event gone from the outbox and not yet counted as sent or
	// dropped.
	settled  sync.Mutex
	failures [numFailures]atomic.Uint64
	dropped  [numDrops]atomic.Uint64
	lastOK   atomic.Int64 // unix ms of the last 2xx
}

// New checks cfg and returns a Forwarder of st's forward outbox; it does
// not start it.
func New(st *store.Store, cfg Config) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4
		tr = t
	}
	return &Forwarder{
		st: st, cfg: cfg, log: log,
		client: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A redirect is a misconfigured URL (http → https, a moved
			// host): say so rather than resend the batch elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		endpoint: strings.TrimSuffix(cfg.URL, "/") + "/v1/batch",
		auth:     "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.WriteKey+":")),
		done:     make(chan struct{}),
	}, nil
}

// Start starts forwarding in the background; later calls do nothing.
func (f *Forwarder) Start() {
	f.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		f.stop = cancel
		go f.run(ctx)
	})
}

// Close stops the forwarder: a request in flight is cancelled (its
// events stay queued and are sent again after a restart; the upstream
// deduplicates them by messageId if it had taken them). It returns when
// the loop has ended, or ctx's error (wrapped) if ctx ends first. Call it
// before closing the store. Idempotent.
func (f *Forwarder) Close(ctx context.Context) error {
	var err error
	f.closeOnce.Do(func() {
		if f.stop == nil { // never started
			close(f.done)
			return
		}
		f.stop()
		select {
		case <-f.done:
		case <-ctx.Done():
			err = fmt.Errorf("forward: close: %w", ctx.Err())
		}
	})
	return err
}

// run is the forwarding loop: send what is pending, then wait for a
// commit, a poll tick or the stop.
func (f *Forwarder) run(ctx context.Context) {
	defer close(f.done)
	poll := time.NewTimer(f.cfg.PollEvery)
	defer poll.Stop()
	readFailures := 0
	for ctx.Err() == nil {
		changed := f.st.Changed() // taken before reading: a commit in between still wakes us
		more, err := f.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			readFailures++
			f.log.Warn("forward: outbox read or delete failed", "err", err)
			if !sleep(ctx, f.backoff(readFailures-1)) {
				return
			}
			continue
		}
		readFailures = 0
		if more {
			continue
		}
		poll.Reset(f.cfg.PollEvery)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-poll.C:
		}
	}
}

// consented reports whether the person of profile id granted every one
// of purposes. A profile that cannot be read (gone since: erased) has
// granted nothing but the default.
func (f *Forwarder) consented(cat *catalog.Compiled, purposes []string, id string) bool {
	p, err := f.st.Profile(id)
	if err != nil {
		p = nil
	}
	for _, c := range purposes {
		if !cat.Consented(p, c) {
			return false
		}
	}
	return true
}

// step sends the oldest pending events that fit in one batch and deletes
// them, with those it drops. It reports whether it did anything (more
// may be pending).
func (f *Forwarder) step(ctx context.Context) (bool, error) {
	entries, err := f.st.PendingForward(0, readLimit, f.cfg.MaxBatchBytes)
	if err != nil || len(entries) == 0 {
		return false, err
	}
	var send []store.ForwardEntry
	var drops []drop
	size := envelopeBytes
	cat := f.st.Catalog()
	dest := f.cfg.Destination
	if dest == "" {
		dest = DefaultDestination
	}
	purposes := cat.DestinationPurposes(dest)
scan:
	for _, e := range entries {
		switch {
		case e.Damaged:
			drops = append(drops, drop{e.Seq, dropDamaged})
		case len(e.JSON) > f.cfg.MaxEventBytes:
			drops = append(drops, drop{e.Seq, dropOversize})
		case f.cfg.Suppressed != nil && f.cfg.Suppressed(e.ProfileID):
			drops = append(drops, drop{e.Seq, dropSuppressed})
		case len(purposes) > 0 && !f.consented(cat, purposes, e.ProfileID):
			drops = append(drops, drop{e.Seq, dropNoConsent})
		case size+len(e.JSON)+1 > f.cfg.MaxBatchBytes:
			break scan // the rest waits for the next batch
		default:
			send = append(send, e)
			size += len(e.JSON) + 1
		}
	}
	var sent, refused []uint64
	if len(send) > 0 {
		sent, refused, err = f.deliver(ctx, send, 0)
	}
	// Whatever was resolved is deleted, even when ctx ended half-way
	// through a split batch.
	del := make([]uint64, 0, len(sent)+len(refused)+len(drops))
	del = append(append(del, sent...), refused...)
	for _, d := range drops {
		del = append(del, d.seq)
	}
	f.settled.Lock()
	if _, derr := f.st.DeleteForward(del); derr != nil {
		f.settled.Unlock()
		// Not counted: they stay queued and go (or drop) again.
		return false, errors.Join(err, derr)
	}
	f.events.Add(uint64(len(sent)))
	f.dropped[dropRejected].Add(uint64(len(refused)))
	for _, d := range drops {
		f.dropped[d.why].Add(1)
	}
	f.settled.Unlock()
	if len(drops) > 0 {
		f.log.Warn("forward: events dropped unsent", "oversize", count(drops, dropOversize), "damaged", count(drops, dropDamaged),
			"suppressed", count(drops, dropSuppressed), "no_consent", count(drops, dropNoConsent))
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

type drop struct {
	seq uint64
	why dropReason
}

func count(ds []drop, why dropReason) int {
	n := 0
	for _, d := range ds {
		if d.why == why {
			n++
		}
	}
	return n
}

// deliver sends evs as one batch until the upstream takes it (sent) or
// refuses it for good: then a batch of several is split in two and each
// half delivered, so that one event the upstream refuses costs only
// itself (refused lists the single events refused). Transient failures
// are retried after a backoff; err is ctx's when it ends first, with
// sent and refused holding what was resolved before.
func (f *Forwarder) deliver(ctx context.Context, evs []store.ForwardEntry, depth int) (sent, refused []uint64, err error) {
	body := f.body(evs)
	for attempt := 0; ; attempt++ {
		res := f.post(ctx, body)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		switch res.outcome {
		case outcomeOK:
			f.batches.Add(1)
			f.lastOK.Store(f.cfg.Now().UnixMilli())
			return seqs(evs), nil, nil
		case outcomeRefused:
			f.failures[res.why].Add(1)
			if len(evs) == 1 {
				f.log.Warn("forward: upstream refused an event; dropped", "status", res.status, "seq", evs[0].Seq)
				return nil, seqs(evs), nil
			}
			if depth == 0 {
				f.log.Warn("forward: upstream refused a batch; splitting it to find the events it refuses", "status", res.status, "events", len(evs))
			}
			half := len(evs) / 2
			s1, r1, err := f.deliver(ctx, evs[:half], depth+1)
			if err != nil {
				return s1, r1, err
			}
			s2, r2, err := f.deliver(ctx, evs[half:], depth+1)
			return append(s1, s2...), append(r1, r2...), err
		}
		f.failures[res.why].Add(1)
		wait := f.backoff(attempt)
		if res.retryAfter > 0 {
			wait = min(res.retryAfter, f.cfg.MaxRetryAfter)
		}
		f.log.Warn("forward: batch not delivered; retrying", "reason", res.why.String(), "status", res.status,
			"events", len(evs), "attempt", attempt+1, "retry_in", wait, "err", res.err)
		if !sleep(ctx, wait) {
			return nil, nil, ctx.Err()
		}
	}
}

func seqs(evs []store.ForwardEntry) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// body builds {"batch":[…],"sentAt":"…"} from the events' stored JSON.
func (f *Forwarder) body(evs []store.ForwardEntry) []byte {
	n := envelopeBytes
	for _, e := range evs {
		n += len(e.JSON) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"batch":[`...)
	for i, e := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.JSON...)
	}
	b = append(b, `],"sentAt":"`...)
	b = f.cfg.Now().UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, `"}`...)
}

// outcome classifies one attempt.
type outcome int

const (
	outcomeOK      outcome = iota
	outcomeRetry           // network error, timeout, 5xx, 429, or a refusal that is the configuration's fault
	outcomeRefused         // a 4xx that refuses this batch: retrying it unchanged cannot succeed
)

type result struct {
	outcome    outcome
	why        failure
	status     int
	retryAfter time.Duration
	err        error // a network error (no personal data: URL and cause)
}

// post makes one attempt.
func (f *Forwarder) post(ctx context.Context, body []byte) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint, bytes.NewReader(body))
	if err != nil {
		return result{outcome: outcomeRetry, why: failNetwork, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", f.auth)
	req.Header.Set("User-Agent", "ucv-edge-forward")
	resp, err := f.client.Do(req)
	if err != nil {
		why := failNetwork
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			why = failTimeout
		}
		return result{outcome: outcomeRetry, why: why, err: err}
	}
	// Drain a little so the connection is reused; the answer is never
	// logged (an upstream may echo the events back).
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r := result{status: resp.StatusCode}
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		r.outcome = outcomeOK
	case c == http.StatusTooManyRequests:
		r.outcome, r.why = outcomeRetry, failThrottled
		r.retryAfter = retryAfter(resp.Header.Get("Retry-After"), f.cfg.Now())
	case c >= 500 || c == http.StatusRequestTimeout:
		r.outcome, r.why = outcomeRetry, failServer
		r.retryAfter = retryAfter(resp.Header.Get("Retry-After"), f.cfg.Now())
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		// A wrong or revoked write key refuses every batch alike: keep
		// them queued until it is fixed, as for an outage.
		r.outcome, r.why = outcomeRetry, failAuth
	case c == http.StatusNotFound || c == http.StatusMethodNotAllowed || c < 400:
		// The URL does not name a batch endpoint (or redirects).
		r.outcome, r.why = outcomeRetry, failEndpoint
	default:
		r.outcome, r.why = outcomeRefused, failRefused
	}
	return r
}

// retryAfter reads a Retry-After value: seconds or an HTTP date; 0 when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait after attempt (0 first): BackoffMin doubled per
// attempt up to BackoffMax, drawn between half and all of it.
func (f *Forwarder) backoff(attempt int) time.Duration {
	d := f.cfg.BackoffMax
	if attempt < 40 {
		d = min(f.cfg.BackoffMin<<attempt, f.cfg.BackoffMax)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
