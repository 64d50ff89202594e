package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/profile/recommend"
)

// Fitting the recommendations model (issue 11, item 3;
// docs/decisions/0038-recommendations.md). A node reads every cluster
// from a Bootstrap copy (no FSM lock held while it trains), takes each
// cluster's ordered products (the product IDs of its "Order Completed"
// events, which the ledger keeps) as one basket, trains
// profile/recommend's item-to-item model and proposes it as the catalog
// definition of kind "models" named "recommendations": the catalog
// ships it to every edge, which recommends from its own profiles'
// histories. Too little data proposes nothing: the model in force stays.

// ErrTooFewBaskets is returned (wrapped) by FitRecommendations when
// fewer than recommend.MinBaskets profiles ordered two products or more
// (422 at the API). The previous model stays in force.
var ErrTooFewBaskets = errors.New("hub: too little data to fit the recommendations model")

// RecommendationsFit is one recommendations model fitted and defined.
type RecommendationsFit struct {
	// Version is the catalog's version with the model: the Raft index of
	// its definition.
	Version uint64 `json:"version"`
	// Profiles is the number of clusters read; Baskets those with an
	// ordered product; Items the distinct products; ItemsWithNeighbours
	// those with at least one neighbour.
	Profiles            int `json:"profiles"`
	Baskets             int `json:"baskets"`
	Items               int `json:"items"`
	ItemsWithNeighbours int `json:"items_with_neighbours"`
	// Bytes is the model's JSON size in the catalog.
	Bytes   int     `json:"bytes"`
	Seconds float64 `json:"fit_seconds"`
	// FittedAt is the node's clock when it read the clusters.
	FittedAt time.Time `json:"fitted_at"`
}

// RecommendationsModel is a recommendations model with when it was
// fitted: the JSON the catalog holds.
type RecommendationsModel struct {
	recommend.Model
	FittedAt time.Time `json:"fitted_at"`
}

// OrderedProducts returns the product IDs of p's orders (every message
// once, in ledger order, with repeats).
func OrderedProducts(p *profile.Profile) []string {
	var out []string
	p.LedgerEvents(func(e *profile.LedgerEvent) {
		if e.Order {
			out = append(out, e.Products()...)
		}
	})
	return out
}

// FitRecommendations trains the recommendations model over every
// cluster and defines it through Raft (forwarded to the leader from a
// follower); actor is recorded with the definition.
func (s *Server) FitRecommendations(ctx context.Context, actor string) (*RecommendationsFit, error) {
	now := s.now
	start := time.Now()
	fit := &RecommendationsFit{FittedAt: now().UTC()}
	var baskets [][]string
	err := s.fsm.Bootstrap().Clusters(func(int) error { return ctx.Err() }, func(v View) error {
		fit.Profiles++
		if b := OrderedProducts(v.Profile); len(b) > 0 {
			baskets = append(baskets, b)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: fit recommendations: read clusters: %w", err)
	}
	m, err := recommend.Train(baskets, recommend.DefaultOptions)
	if errors.Is(err, recommend.ErrTooLittleData) {
		err = fmt.Errorf("%w: %d of %d profiles ordered products; %w", ErrTooFewBaskets, len(baskets), fit.Profiles, err)
		s.log.Info("recommendations not fitted", "profiles", fit.Profiles, "baskets", len(baskets), "err", err)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("hub: fit recommendations: %w", err)
	}
	body, err := json.Marshal(&RecommendationsModel{Model: *m, FittedAt: fit.FittedAt})
	if err != nil {
		return nil, fmt.Errorf("hub: fit recommendations: encode: %w", err)
	}
	fit.Baskets, fit.Items, fit.ItemsWithNeighbours, fit.Bytes = m.Baskets, m.Items, len(m.Neighbours), len(body)
	cmd, err := MarshalDefine(&Define{Kind: catalog.KindModel, Name: catalog.ModelRecommendations, Definition: body, Actor: actor})
	if err != nil {
		return nil, fmt.Errorf("hub: fit recommendations: %w", err)
	}
	res, err := s.Apply(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("hub: define the recommendations model: %w", err)
	}
	fit.Version = res.Index
	fit.Seconds = time.Since(start).Seconds()
	s.log.Info("recommendations fitted", "profiles", fit.Profiles, "baskets", fit.Baskets, "items", fit.Items,
		"bytes", fit.Bytes, "seconds", fit.Seconds, "version", fit.Version)
	return fit, nil
}

// RecommendationsInfo describes the recommendations model in force
// (GET /v1/admin/models/recommendations): no personal data, counts only.
type RecommendationsInfo struct {
	Installed bool `json:"installed"`
	// Version is the catalog's version.
	Version             uint64            `json:"version"`
	FittedAt            *time.Time        `json:"fitted_at,omitempty"`
	Baskets             int               `json:"baskets"`
	Items               int               `json:"items"`
	ItemsWithNeighbours int               `json:"items_with_neighbours"`
	Bytes               int               `json:"bytes"`
	Options             recommend.Options `json:"options"`
}

// RecommendationsInfo summarises the model in the catalog in force.
func (f *FSM) RecommendationsInfo() (RecommendationsInfo, error) {
	c := f.Catalog()
	info := RecommendationsInfo{Version: c.Version}
	b, ok := c.Models[catalog.ModelRecommendations]
	if !ok {
		return info, nil
	}
	var m RecommendationsModel
	if err := json.Unmarshal(b, &m); err != nil {
		return info, fmt.Errorf("hub: recommendations model: %w", err)
	}
	info.Installed, info.Baskets, info.Items, info.ItemsWithNeighbours, info.Bytes, info.Options =
		true, m.Baskets, m.Items, len(m.Neighbours), len(b), m.Options
	if !m.FittedAt.IsZero() {
		info.FittedAt = &m.FittedAt
	}
	return info, nil
}

// RecommendationsLoop refits the recommendations model every interval
// on the leader only, until ctx ends. It checks every minute (or
// interval, if shorter) whether the model in the catalog — or the last
// attempt, a failed one included — is an interval old, so a new leader
// carries on where the last one stopped, and a hub that starts with
// data and no model fits at the first check.
func (s *Server) RecommendationsLoop(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	now := s.now
	t := time.NewTicker(min(interval, time.Minute))
	defer t.Stop()
	var attempt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.IsLeader() {
			continue
		}
		last := attempt
		if info, err := s.fsm.RecommendationsInfo(); err == nil && info.FittedAt != nil && info.FittedAt.After(last) {
			last = *info.FittedAt
		}
		if !last.IsZero() && now().Sub(last) < interval {
			continue
		}
		attempt = now()
		if _, err := s.FitRecommendations(ctx, "schedule"); err != nil && !errors.Is(err, ErrTooFewBaskets) && ctx.Err() == nil {
			s.log.Warn("scheduled recommendations fit failed", "err", err)
		}
	}
}
