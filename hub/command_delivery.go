package hub

import (
	"fmt"
	"math"

	"ucv/crdt/codec"
	"ucv/hub/webhook"
)

// CmdDelivered and CmdReplay move the webhook delivery queue
// (docs/decisions/0036-webhooks.md).
const (
	// CmdDelivered records what became of attempts to send deliveries
	// (Delivered): only the leader's deliverer proposes it, batched.
	CmdDelivered CmdType = 10
	// CmdReplay puts dead letters of a destination back in its queue
	// (Replay).
	CmdReplay CmdType = 11
)

// Limits of the delivery commands.
const (
	// MaxResultsPerCommand bounds the results of one CmdDelivered.
	MaxResultsPerCommand = 4096
	// MaxReplayIDs bounds the IDs one CmdReplay names.
	MaxReplayIDs = 10_000
	maxErrBytes  = 256
)

// DeliveryResult is what became of one attempt at delivery Q (the
// delivery's position in the queue: Pending.Q).
type DeliveryResult struct {
	Q       uint64
	Outcome webhook.Outcome
	// Next is when to try again (ms since the epoch), for a Retry.
	Next int64
	// Err says what went wrong (no URL, no body).
	Err string
}

// Delivered is a batch of attempt results.
type Delivered struct {
	Results []DeliveryResult
}

// MarshalDelivered encodes a CmdDelivered entry.
func MarshalDelivered(dl *Delivered) ([]byte, error) {
	if len(dl.Results) == 0 || len(dl.Results) > MaxResultsPerCommand {
		return nil, fmt.Errorf("%w: %d delivery results, want 1..%d", ErrInvalid, len(dl.Results), MaxResultsPerCommand)
	}
	return frame(CmdDelivered, func(enc *codec.Encoder) error {
		if err := enc.EncodeArrayLen(len(dl.Results)); err != nil {
			return err
		}
		for _, r := range dl.Results {
			e := r.Err
			if len(e) > maxErrBytes {
				e = e[:maxErrBytes]
			}
			if err := first(enc.EncodeArrayLen(4), enc.EncodeUint(r.Q), enc.EncodeUint(uint64(r.Outcome)),
				enc.EncodeInt(r.Next), enc.EncodeString(e)); err != nil {
				return err
			}
		}
		return nil
	})
}

// UnmarshalDelivered decodes a CmdDelivered entry. Errors wrap
// ErrMalformed.
func UnmarshalDelivered(b []byte) (*Delivered, error) {
	d, err := bodyOf(b, CmdDelivered)
	if err != nil {
		return nil, err
	}
	dl := &Delivered{}
	err = func() error {
		n, err := d.ArrayLen(1)
		if err != nil {
			return err
		}
		if n == 0 || n > MaxResultsPerCommand {
			return fmt.Errorf("%w: %d delivery results", ErrMalformed, n)
		}
		dl.Results = make([]DeliveryResult, n)
		for i := range dl.Results {
			r := &dl.Results[i]
			if err := d.ExpectArray(4); err != nil {
				return err
			}
			var o uint64
			var errs [4]error
			r.Q, errs[0] = d.Uint()
			o, errs[1] = d.Uint()
			r.Next, errs[2] = d.Int()
			r.Err, errs[3] = codec.Name(d, maxErrBytes, ErrMalformed)
			if err := first(errs[:]...); err != nil {
				return err
			}
			if o < uint64(webhook.Delivered) || o > uint64(webhook.Failed) || r.Next < 0 || r.Next > math.MaxInt64/2 {
				return fmt.Errorf("%w: delivery result %d", ErrMalformed, i)
			}
			r.Outcome = webhook.Outcome(o)
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return dl, nil
}

// Replay puts the dead letters of destination Dest back at the end of
// its queue with their attempts reset: those named by IDs (delivery IDs,
// Pending.ID), or all of them when IDs is empty.
type Replay struct {
	Dest  string
	IDs   []uint64
	Actor string
}

// MarshalReplay encodes a CmdReplay entry.
func MarshalReplay(r *Replay) ([]byte, error) {
	if len(r.Dest) > MaxNameBytes || len(r.Actor) > MaxNameBytes || len(r.IDs) > MaxReplayIDs {
		return nil, fmt.Errorf("%w: replay of %d IDs", ErrInvalid, len(r.IDs))
	}
	return frame(CmdReplay, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(3), enc.EncodeString(r.Dest), enc.EncodeArrayLen(len(r.IDs))); err != nil {
			return err
		}
		for _, id := range r.IDs {
			if err := enc.EncodeUint(id); err != nil {
				return err
			}
		}
		return enc.EncodeString(r.Actor)
	})
}

// UnmarshalReplay decodes a CmdReplay entry. Errors wrap ErrMalformed.
func UnmarshalReplay(b []byte) (*Replay, error) {
	d, err := bodyOf(b, CmdReplay)
	if err != nil {
		return nil, err
	}
	r := &Replay{}
	err = func() error {
		if err := d.ExpectArray(3); err != nil {
			return err
		}
		if r.Dest, err = decodeName(d); err != nil {
			return err
		}
		n, err := d.ArrayLen(1)
		if err != nil {
			return err
		}
		if n > MaxReplayIDs {
			return fmt.Errorf("%w: replay of %d IDs", ErrMalformed, n)
		}
		for range n {
			id, err := d.Uint()
			if err != nil {
				return err
			}
			r.IDs = append(r.IDs, id)
		}
		r.Actor, err = decodeName(d)
		return err
	}()
	if err := finish(d, err); err != nil {
		return nil, err
	}
	return r, nil
}
