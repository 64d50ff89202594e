package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Fitted models (issue 11): parameters the hub fits on everyone's
// history and ships to edges in the catalog, so every edge scores its own
// profiles, offline too. A model is a definition of kind KindModel whose
// name says which model it is; its JSON is the model's own (each model's
// file in this package parses and checks it at Compile).

// Model names.
const (
	ModelCLV             = "clv"
	ModelRFM             = "rfm"
	ModelRecommendations = "recommendations"
)

// Models lists the model names a catalog may hold.
var Models = []string{ModelCLV, ModelRFM, ModelRecommendations}

// MaxModelBytes bounds one model's JSON.
const MaxModelBytes = 8 << 20

// Model is a fitted model's JSON.
type Model json.RawMessage

// MarshalJSON returns the model's JSON.
func (m Model) MarshalJSON() ([]byte, error) {
	if len(m) == 0 {
		return []byte("null"), nil
	}
	return m, nil
}

// UnmarshalJSON keeps a copy of the JSON.
func (m *Model) UnmarshalJSON(b []byte) error {
	*m = append((*m)[:0], b...)
	return nil
}

// Check validates a model on its own: a known name and a JSON object.
func (m Model) Check(name string) error {
	if !slices.Contains(Models, name) {
		return &Error{Kind: KindModel, Name: name, Field: "name", Message: fmt.Sprintf("is not a model (one of %v)", Models)}
	}
	if len(m) > MaxModelBytes {
		return &Error{Kind: KindModel, Name: name, Field: "body", Message: fmt.Sprintf("is larger than %d bytes", MaxModelBytes)}
	}
	if t := bytes.TrimSpace(m); len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return &Error{Kind: KindModel, Name: name, Field: "body", Message: "is not a JSON object"}
	}
	return nil
}
