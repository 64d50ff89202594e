package catalog

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Offer is a next-best-action decision's candidate (issue 11, item 4):
// shown at a placement to the profiles its eligibility expression
// admits, ranked by priority, capped per profile, subject to consent.
// Its JSON is the body of PUT /v1/admin/offers/{id}.
type Offer struct {
	// Placement names where the app shows it ("checkout").
	Placement string `json:"placement"`
	// Eligibility is a CEL expression over the audience environment
	// (profile/expr); empty admits everyone.
	Eligibility string `json:"eligibility,omitempty"`
	// Priority ranks eligible offers: a JSON number, or a string holding
	// a CEL expression of type double or int.
	Priority json.RawMessage `json:"priority,omitempty"`
	// Cap limits how often one profile is shown it.
	Cap *OfferCap `json:"cap,omitempty"`
	// Consent names a consent category the profile must have granted.
	Consent string `json:"consent,omitempty"`
	// Payload is returned to the app as is.
	Payload     json.RawMessage `json:"payload,omitempty"`
	Description string          `json:"description,omitempty"`
}

// OfferCap is a frequency cap: at most Max impressions (track "Offer
// Shown" events with properties.offer_id) within Window.
type OfferCap struct {
	Max    int    `json:"max"`
	Window string `json:"window"`
}

// Check validates one offer's fields on its own; expressions are checked
// by Compile.
func (o Offer) Check(name string) error {
	e := func(field, msg string) error { return &Error{Kind: KindOffer, Name: name, Field: field, Message: msg} }
	if err := CheckName(KindOffer, name); err != nil {
		return err
	}
	if strings.TrimSpace(o.Placement) == "" {
		return e("placement", "is required")
	}
	if len(o.Eligibility) > MaxExpressionBytes {
		return e("eligibility", fmt.Sprintf("is longer than %d bytes", MaxExpressionBytes))
	}
	if o.Cap != nil {
		if o.Cap.Max < 1 {
			return e("cap.max", "must be at least 1")
		}
		if _, err := ParseWindow(o.Cap.Window); err != nil || o.Cap.Window == "" {
			return e("cap.window", "must be a window of at most 400 days (\"24h\", \"7d\")")
		}
	}
	if len(o.Description) > MaxDescriptionBytes {
		return e("description", fmt.Sprintf("is longer than %d bytes", MaxDescriptionBytes))
	}
	return nil
}
