package hub

import (
	"context"
	"fmt"
	"time"

	"ucv/profile/catalog"
)

// retentionActor prefixes the actor of the erase requests the retention
// sweep raises: "system:retention:inactive" or "system:retention:anonymous".
const retentionActor = "system:retention:"

// MaxRetentionErasures bounds the erase requests one retention sweep
// raises; the next sweep carries on.
const MaxRetentionErasures = 1000

// RetentionSweep raises a system-initiated erase request for every
// cluster the catalog's retention policy says has expired as of the
// hub's clock (catalog.Expired: inactive for InactiveDays, or anonymous
// only and idle for AnonymousDays), at most limit of them, and returns
// the requests' statuses. The requests go through the same machinery as
// an operator's (receipts from every edge, shredding, audit), with actor
// "system:retention:<reason>" and the cluster's ID as their subject, never
// an identifier. Without a retention policy, or with neither rule on, it
// does nothing. Leader only; a follower returns a *NotLeaderError.
func (s *Server) RetentionSweep(ctx context.Context, limit int) ([]PrivacyStatus, error) {
	if !s.IsLeader() {
		id, addr := s.Leader()
		return nil, &NotLeaderError{LeaderID: id, LeaderAddr: addr}
	}
	policy, ok := s.fsm.Compiled().RetentionPolicy()
	if !ok || (policy.InactiveDays == 0 && policy.AnonymousDays == 0) {
		return nil, nil
	}
	if err := s.Barrier(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	type expired struct {
		ids    []string
		reason string
	}
	var due []expired
	err := s.fsm.Bootstrap().Clusters(func(int) error { return ctx.Err() }, func(v View) error {
		if len(due) >= limit {
			return nil
		}
		if gone, reason := catalog.Expired(v.Profile, policy, now); gone {
			due = append(due, expired{ids: v.Fragments, reason: reason})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: retention sweep: read clusters: %w", err)
	}
	out := make([]PrivacyStatus, 0, len(due))
	for _, e := range due {
		st, err := s.request(ctx, PrivacyErase, "profile:"+e.ids[0], e.ids, retentionActor+e.reason)
		if err != nil {
			return out, fmt.Errorf("hub: retention sweep: %w", err)
		}
		out = append(out, st)
	}
	if len(out) > 0 {
		s.log.Info("retention sweep raised erase requests", "requests", len(out))
	}
	return out, nil
}

// retentionLoop runs RetentionSweep every Config.RetentionInterval on
// the leader.
func (s *Server) retentionLoop() {
	defer s.ticker.Done()
	ctx, cancel := s.untilClosed()
	defer cancel()
	t := time.NewTicker(s.cfg.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		if !s.IsLeader() {
			continue
		}
		if _, err := s.RetentionSweep(ctx, MaxRetentionErasures); err != nil && ctx.Err() == nil {
			s.log.Warn("retention sweep incomplete; the next one carries on", "err", err)
		}
	}
}
