package profile

import (
	"encoding/json"
	"errors"
	"fmt"
)

// upstreamDrop are the top-level keys Upstream leaves out: the client's
// write key for this edge (a secret of ours, not the upstream's), and
// times the upstream would misread or sets itself. sentAt dated the
// client's send relative to originalTimestamp, which the edge already
// used to correct Timestamp; the forwarder stamps its own batch's sentAt.
var upstreamDrop = []string{"writeKey", "sentAt", "receivedAt"}

// Upstream returns the message as it is forwarded to a Segment-compatible
// upstream (edge/forward): the JSON object the client sent, with "type"
// and "messageId" set to what this edge accepted (the messageId it
// derived when the client sent none, so the upstream deduplicates
// retries as this edge does), "context" the batch envelope's merged
// under the item's own, and "timestamp" the skew-corrected Timestamp
// (RFC 3339, milliseconds, UTC) — an explicit timestamp is what the
// Segment HTTP API uses as is, the form its docs give for data sent
// later than it happened. "writeKey", "sentAt" and "receivedAt" are left
// out; every other field (originalTimestamp, integrations, properties,
// traits, …) is kept as sent. Traits are not merged with context.traits
// here: the upstream applies its own rules to what the client sent.
//
// It fails only for a Message not made by ParseMessage or ParseBatch. It
// allocates a new object and does not change m; safe for concurrent use.
func (m *Message) Upstream() ([]byte, error) {
	if m.object == nil {
		return nil, errors.New("profile: upstream: message was not parsed from JSON")
	}
	out := make(map[string]any, len(m.object)+3)
	for k, v := range m.object {
		out[k] = v
	}
	for _, k := range upstreamDrop {
		delete(out, k)
	}
	delete(out, "action") // legacy name of type; "type" is set below
	out["type"] = string(m.Kind)
	out["messageId"] = m.MessageID
	out["timestamp"] = m.Timestamp.UTC().Format(upstreamTimeLayout)
	if m.Context != nil {
		out["context"] = m.Context
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("profile: upstream: %w", err)
	}
	return b, nil
}

// upstreamTimeLayout is Upstream's "timestamp" format: RFC 3339 in UTC
// with milliseconds, as Segment's libraries send it.
const upstreamTimeLayout = "2006-01-02T15:04:05.000Z"
