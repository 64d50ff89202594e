package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"ucv/hub"
)

// The value models (docs/decisions/0037-value-models-in-the-product.md):
// POST /v1/admin/models/{clv,rfm}/fit fits one over every cluster and
// defines it in the catalog; GET /v1/admin/models/{clv,rfm} shows the
// one in force.

// ValueModelResponse is the body of GET /v1/admin/models/{name}: the
// catalog's version and the model's parameters (with its fit time and
// data size) as the catalog holds them.
type ValueModelResponse struct {
	Model      string          `json:"model"`
	Version    uint64          `json:"version"`
	Parameters json.RawMessage `json:"parameters"`
}

// fitWriteTimeout bounds the answer of a fit, which comes after the fit
// (tens of seconds over a million profiles) instead of WriteTimeout.
const fitWriteTimeout = 10 * time.Minute

// fitModel handles POST /v1/admin/models/{name}/fit: 200 with the fit
// (hub.Fit: version, customers, seconds, parameters), or 422
// too_little_data with the reason when the profiles' orders cannot
// identify the model — the catalog then keeps the model it had.
func (s *Server) fitModel(name string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(fitWriteTimeout))
		fits, err := s.node.FitModel(r.Context(), actorOf(r), name)
		if err != nil {
			return err
		}
		if len(fits) != 1 {
			return fmt.Errorf("api: fit %s: %d results", name, len(fits))
		}
		writeJSON(w, http.StatusOK, &fits[0])
		return nil
	}
}

// valueModel handles GET /v1/admin/models/{name}: 404 before the first
// fit.
func (s *Server) valueModel(name string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := s.node.FSM().Catalog()
		m, ok := c.Models[name]
		if !ok {
			return fmt.Errorf("%w: no %s model fitted yet (POST /v1/admin/models/%s/fit)", hub.ErrNoDefinition, name, name)
		}
		writeJSON(w, http.StatusOK, &ValueModelResponse{Model: name, Version: c.Version, Parameters: json.RawMessage(m)})
		return nil
	}
}
