package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"ucv/profile/catalog"
)

// Fitting the value models (docs/decisions/0037-value-models-in-the-product.md).
// A node reads every cluster from a Bootstrap copy (no FSM lock held
// while it fits), fits the "clv" and "rfm" models as of its clock, and
// proposes each as a catalog definition (CmdDefine of kind "models"):
// the catalog carries the parameters to every node and edge, which
// score their own profiles with them. A fit that finds too little data
// proposes nothing, so the model in force stays.

// FitModels are the models FitModel fits.
var FitModels = []string{catalog.ModelCLV, catalog.ModelRFM}

// Fit is one model fitted and defined.
type Fit struct {
	// Model is the model's name ("clv", "rfm").
	Model string `json:"model"`
	// Version is the catalog's version with the model: the Raft index of
	// its definition.
	Version uint64 `json:"version"`
	// Customers is the number of profiles (hub clusters) with an order
	// it was fitted on.
	Customers int `json:"customers"`
	// Seconds is how long reading the clusters, fitting and defining
	// the model took.
	Seconds float64 `json:"fit_seconds"`
	// Parameters is the model's JSON, as the catalog holds it.
	Parameters json.RawMessage `json:"parameters"`
}

// FitModel fits the value models named (each one of FitModels) over
// every cluster as of the node's clock and defines each through Raft
// (forwarded to the leader from a follower). It returns the fits
// defined, and the first error: one wrapping ErrTooLittleData names
// the model whose data did not suffice (the other models are still
// fitted and defined; the catalog keeps that model's previous
// parameters). actor is recorded with the definitions.
func (s *Server) FitModel(ctx context.Context, actor string, names ...string) ([]Fit, error) {
	for _, n := range names {
		if !slices.Contains(FitModels, n) {
			return nil, fmt.Errorf("%w: %q is not a model the hub fits (one of %v)", ErrInvalid, n, FitModels)
		}
	}
	now := s.now
	start := time.Now()
	at := now()
	pop := catalog.NewPopulation(at)
	b := s.fsm.Bootstrap()
	err := b.Clusters(func(int) error { return ctx.Err() }, func(v View) error {
		pop.Add(v.Profile)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: fit: read clusters: %w", err)
	}
	read := time.Since(start)
	var fits []Fit
	var first error
	for _, name := range names {
		t := time.Now()
		var m catalog.Model
		var err error
		switch name {
		case catalog.ModelCLV:
			var fit catalog.CLV
			if fit, err = pop.FitCLV(); err == nil {
				m, err = fit.Marshal()
			}
		case catalog.ModelRFM:
			var fit catalog.RFM
			if fit, err = pop.FitRFM(); err == nil {
				m, err = fit.Marshal()
			}
		}
		if err != nil {
			if errors.Is(err, catalog.ErrTooLittleData) {
				err = fmt.Errorf("%w: %s model over %d profiles with an order: %w", ErrTooLittleData, name, pop.Customers(), err)
			}
			s.log.Info("model not fitted", "model", name, "customers", pop.Customers(), "err", err)
			first = firstErr(first, err)
			continue
		}
		cmd, err := MarshalDefine(&Define{Kind: catalog.KindModel, Name: name, Definition: m, Actor: actor})
		if err != nil {
			first = firstErr(first, fmt.Errorf("hub: fit %s: %w", name, err))
			continue
		}
		res, err := s.Apply(ctx, cmd)
		if err != nil {
			first = firstErr(first, fmt.Errorf("hub: define %s model: %w", name, err))
			continue
		}
		f := Fit{Model: name, Version: res.Index, Customers: pop.Customers(), Seconds: (read + time.Since(t)).Seconds(), Parameters: json.RawMessage(m)}
		s.log.Info("model fitted", "model", name, "customers", f.Customers, "seconds", f.Seconds, "version", f.Version)
		fits = append(fits, f)
	}
	return fits, first
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// fittedAt returns when the catalog's model name was fitted (zero when
// there is none or it cannot be read).
func fittedAt(c catalog.Catalog, name string) time.Time {
	m, ok := c.Models[name]
	if !ok {
		return time.Time{}
	}
	var v struct {
		FittedAt time.Time `json:"fitted_at"`
	}
	if json.Unmarshal(m, &v) != nil {
		return time.Time{}
	}
	return v.FittedAt
}

// fitLoop refits the value models every Config.ModelFitInterval, on the
// leader only: it checks every minute (or interval, if shorter) whether
// the oldest model in the catalog — or the last attempt, which a
// failure also counts as — is an interval old, so a new leader carries
// on where the last one stopped and a hub that starts with data fits at
// once.
func (s *Server) fitLoop() {
	defer s.ticker.Done()
	every := s.cfg.ModelFitInterval
	now := s.now
	ctx, cancel := s.untilClosed()
	defer cancel()
	t := time.NewTicker(min(every, time.Minute))
	defer t.Stop()
	var attempted time.Time
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		if !s.IsLeader() {
			continue
		}
		at := now()
		last := attempted
		c := s.fsm.Catalog()
		oldest := at
		for _, name := range FitModels {
			if f := fittedAt(c, name); f.Before(oldest) {
				oldest = f
			}
		}
		if oldest.After(last) {
			last = oldest
		}
		if at.Sub(last) < every {
			continue
		}
		attempted = at
		if _, err := s.FitModel(ctx, "scheduled fit", FitModels...); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled model fit incomplete; the catalog keeps the previous models", "err", err)
		}
	}
}
