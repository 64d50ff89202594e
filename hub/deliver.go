package hub

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"ucv/hub/webhook"
)

// WebhookConfig configures the leader's webhook deliverer
// (docs/decisions/0036-webhooks.md).
type WebhookConfig struct {
	// Timeout bounds one request: connect, TLS, headers and body.
	Timeout time.Duration
	// Concurrency bounds the requests in flight to one destination.
	Concurrency int
	// Backoff is the wait after a first failed attempt; it doubles with
	// every attempt up to MaxBackoff, with jitter (webhook.Backoff). A
	// receiver's Retry-After replaces it.
	Backoff, MaxBackoff time.Duration
	// Batch bounds the attempt results one CmdDelivered carries.
	Batch int
}

// DefaultWebhookConfig returns production settings.
func DefaultWebhookConfig() WebhookConfig {
	return WebhookConfig{Timeout: 10 * time.Second, Concurrency: 16, Backoff: time.Second, MaxBackoff: time.Hour, Batch: 1024}
}

func (c *WebhookConfig) normalize() {
	d := DefaultWebhookConfig()
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Concurrency <= 0 {
		c.Concurrency = d.Concurrency
	}
	if c.Backoff <= 0 {
		c.Backoff = d.Backoff
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(d.MaxBackoff, c.Backoff)
	}
	if c.Batch <= 0 || c.Batch > MaxResultsPerCommand {
		c.Batch = d.Batch
	}
}

// deliverLoop runs on every node and delivers on the leader: while this
// node leads it sends the deliveries due (deliverAsLeader); when it
// stops leading, the in-flight requests are cancelled and their results
// dropped — the next leader sends again what was not acknowledged,
// under the same delivery IDs.
func (s *Server) deliverLoop() {
	defer s.ticker.Done()
	cfg := DefaultWebhookConfig()
	if s.cfg.Webhooks != nil {
		cfg = *s.cfg.Webhooks
	}
	cfg.normalize()
	client := webhook.NewClient(cfg.Timeout, cfg.Concurrency)
	every := s.cfg.TickInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		if s.IsLeader() {
			s.deliverAsLeader(client, cfg, every)
		}
	}
}

type attempt struct {
	dest string
	res  DeliveryResult
}

// deliverAsLeader sends due deliveries until this node stops leading or
// closes. A delivery is sent only when it heads its (destination,
// profile) chain (FSM.DueDeliveries), at most cfg.Concurrency at a time
// per destination; results are committed in batches (CmdDelivered), one
// batch at a time, and a delivery stays "in flight" — not sent again —
// until its result is applied.
func (s *Server) deliverAsLeader(client *webhook.Client, cfg WebhookConfig, every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	inflight := map[uint64]bool{}
	active := map[string]int{}
	results := make(chan attempt, 256)
	acked := make(chan []uint64, 1)
	acking := false
	var acks []DeliveryResult
	timer := time.NewTimer(every)
	defer timer.Stop()
	free := func(dest string) int { return cfg.Concurrency - active[dest] }
	isInflight := func(q uint64) bool { return inflight[q] }
	for {
		if !s.IsLeader() {
			return
		}
		_, advanced := s.fsm.Watch()
		now := s.now()
		due, next := s.fsm.DueDeliveries(now, free, isInflight)
		for _, p := range due {
			inflight[p.Q] = true
			active[p.Dest]++
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.send(ctx, client, cfg, p, results)
			}()
		}
		if !acking && len(acks) > 0 {
			n := min(len(acks), cfg.Batch)
			batch := acks[:n:n]
			acks = acks[n:]
			acking = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.commitResults(ctx, batch, acked)
			}()
		}
		wait := every
		if !next.IsZero() {
			wait = max(min(wait, next.Sub(now)), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-s.closed:
			return
		case a := <-results:
			active[a.dest]--
			acks = append(acks, a.res)
		case qs := <-acked:
			acking = false
			for _, q := range qs {
				delete(inflight, q)
			}
		case <-advanced:
		case <-timer.C:
		}
	}
}

// send makes one attempt at p and hands its result to results, unless
// ctx ended (leadership lost, closing): then the result is dropped and
// the next leader tries again.
func (s *Server) send(ctx context.Context, client *webhook.Client, cfg WebhookConfig, p Pending, results chan<- attempt) {
	id := DeliveryID(p.ID)
	r := client.Send(ctx, webhook.Request{URL: p.URL, Secret: p.Secret, ID: id, Type: p.Type, Attempt: p.Attempts + 1,
		Body: p.Body, Now: s.now()})
	if ctx.Err() != nil {
		return
	}
	dr := DeliveryResult{Q: p.Q, Outcome: r.Outcome, Err: r.Err}
	switch {
	case r.Outcome == webhook.Retry && p.Attempts+1 < p.MaxAttempts:
		wait := r.RetryAfter
		if wait == 0 {
			wait = webhook.Backoff(p.Attempts+1, cfg.Backoff, cfg.MaxBackoff, rand.Float64())
		}
		dr.Next = s.now().Add(wait).UnixMilli()
		s.log.Debug("webhook attempt failed", "destination", p.Dest, "delivery", id, "attempt", p.Attempts+1, "status", r.Status, "err", r.Err, "retry_in", wait)
	case r.Outcome != webhook.Delivered:
		s.log.Warn("webhook delivery failed for good", "destination", p.Dest, "delivery", id, "attempt", p.Attempts+1, "status", r.Status, "err", r.Err)
	}
	select {
	case results <- attempt{p.Dest, dr}:
	case <-ctx.Done():
	}
}

// commitResults commits one batch of results and reports their
// deliveries as no longer in flight (also when the commit failed: they
// are then sent again, under the same IDs).
func (s *Server) commitResults(ctx context.Context, batch []DeliveryResult, acked chan<- []uint64) {
	qs := make([]uint64, len(batch))
	for i, r := range batch {
		qs[i] = r.Q
	}
	defer func() {
		select {
		case acked <- qs:
		case <-ctx.Done():
		}
	}()
	cmd, err := MarshalDelivered(&Delivered{Results: batch})
	if err != nil {
		s.log.Error("encode delivery results", "err", err)
		return
	}
	if _, err := s.Apply(ctx, cmd); err != nil && ctx.Err() == nil {
		s.log.Warn("delivery results not committed; the deliveries will be sent again", "n", len(batch), "err", err)
	}
}
