package profile

import (
	"fmt"
	"time"
)

// Batch is a parsed /v1/batch body: its valid items, and the items it
// refused.
type Batch struct {
	// Messages are the valid items, in body order.
	Messages []*Message
	// Index[i] is the position of Messages[i] in the body's batch array.
	Index []int
	// Rejected are the invalid items, in body order.
	Rejected []ItemError
}

// ItemError is one refused item of a batch.
type ItemError struct {
	// Index is the item's position in the body's batch array.
	Index int
	// Err is a *FieldError or *LimitError naming the field from the
	// batch on ("batch[3].userId"); it never contains field values.
	Err error
}

// ParseBatch parses a /v1/batch body: {"batch":[…], "context":{…},
// "sentAt":…}. The envelope's context is merged under each item's own
// context (item keys win) and its sentAt applies to items without one.
//
// Like Segment, a batch is not all-or-nothing: an invalid item (a
// malformed e-mail, a missing event name, an item over MaxEventBytes as
// written in the body) is listed in Rejected and the others are returned
// in Messages. The error is for the envelope only: a body over
// MaxBatchBytes, not a JSON object, without a non-empty "batch" array,
// with more than MaxBatchEvents items, or with an invalid envelope
// context or sentAt.
func ParseBatch(body []byte, receivedAt time.Time, opts ParseOptions) (*Batch, error) {
	if len(body) > MaxBatchBytes {
		return nil, &LimitError{Field: "body", Limit: MaxBatchBytes, What: "bytes"}
	}
	obj, sizes, err := decodeObjectSpans(body, "", true)
	if err != nil {
		return nil, err
	}
	raw, ok := obj["batch"]
	if !ok {
		return nil, &FieldError{Field: "batch", Reason: "is required"}
	}
	items, ok := raw.([]any)
	if !ok {
		return nil, &FieldError{Field: "batch", Reason: "must be an array"}
	}
	if len(items) == 0 {
		return nil, &FieldError{Field: "batch", Reason: "must not be empty"}
	}
	if len(items) > MaxBatchEvents {
		return nil, &LimitError{Field: "batch", Limit: MaxBatchEvents, What: "events"}
	}
	var envCtx map[string]any
	if c, ok := obj["context"]; ok && c != nil {
		if envCtx, ok = c.(map[string]any); !ok {
			return nil, &FieldError{Field: "context", Reason: "must be an object"}
		}
	}
	envSentAt, hasSentAt := obj["sentAt"]
	if hasSentAt && envSentAt != nil {
		// Checked here, once: a bad envelope sentAt is the envelope's
		// fault, not every item's.
		var env Message
		if err := env.parseTimes(map[string]any{"sentAt": envSentAt}, "", 0); err != nil {
			return nil, err
		}
	}
	b := &Batch{Messages: make([]*Message, 0, len(items)), Index: make([]int, 0, len(items))}
	for i, it := range items {
		m, err := batchItem(it, i, sizes[i], envCtx, envSentAt, receivedAt, opts)
		if err != nil {
			b.Rejected = append(b.Rejected, ItemError{Index: i, Err: err})
			continue
		}
		b.Messages = append(b.Messages, m)
		b.Index = append(b.Index, i)
	}
	return b, nil
}

// batchItem validates item i of a batch, size bytes long as written.
func batchItem(it any, i, size int, envCtx map[string]any, envSentAt any, receivedAt time.Time, opts ParseOptions) (*Message, error) {
	path := fmt.Sprintf("batch[%d]", i)
	o, ok := it.(map[string]any)
	if !ok {
		return nil, &FieldError{Field: path, Reason: "must be an object"}
	}
	if size > MaxEventBytes {
		return nil, &LimitError{Field: path, Limit: MaxEventBytes, What: "bytes"}
	}
	if _, has := o["sentAt"]; !has && envSentAt != nil {
		o["sentAt"] = envSentAt
	}
	return fromObject(o, "", envCtx, path+".", receivedAt, opts)
}
