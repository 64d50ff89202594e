package profile

import (
	"encoding/json"
	"slices"
	"strings"

	"ucv/crdt/codec"
)

// Reading a profile's events for definitions (computed traits and
// audience functions, profile/catalog). Every message the profile holds
// is in its ledger once, with its event time, so aggregates over any
// window are exact however many events the timeline keeps and in
// whatever order they arrived (docs/decisions/0032-catalog.md).

// MaxCapturedProps bounds the property values kept with one event.
const MaxCapturedProps = 32

// captureProps returns the scalar values at paths in props, sorted by
// path; a path that is missing or not a scalar is left out.
func captureProps(props map[string]any, paths []string) []capturedProp {
	if len(paths) == 0 || len(props) == 0 {
		return nil
	}
	var out []capturedProp
	for _, path := range paths {
		if len(out) == MaxCapturedProps {
			break
		}
		v, ok := lookupPath(props, path)
		if !ok {
			continue
		}
		switch v.(type) {
		case string, bool, json.Number, float64, int64:
		default:
			continue // objects, arrays and null are not aggregated
		}
		b, err := codec.MarshalValue(JSONValue(v))
		if err != nil {
			continue
		}
		out = append(out, capturedProp{path: path, val: b})
	}
	slices.SortFunc(out, func(a, b capturedProp) int { return strings.Compare(a.path, b.path) })
	return slices.CompactFunc(out, func(a, b capturedProp) bool { return a.path == b.path })
}

// lookupPath follows a dot path ("total", "shipping.method") into props.
func lookupPath(props map[string]any, path string) (any, bool) {
	var cur any = props
	for seg := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// LedgerEvent is one message of a profile's ledger as definitions read
// it. Its byte slices point into the profile's state: valid only during
// the callback of LedgerEvents, not to be modified.
type LedgerEvent struct {
	// Time is the event time, ms since the epoch.
	Time int64
	// Kind is the message type ("track", "identify", …).
	Kind []byte
	// Event is a track event's name; empty for other kinds.
	Event []byte
	// Order is set for an order ("Order Completed"); Currency (ISO
	// 4217, empty when the order had no usable amount) and Minor (the
	// amount in the currency's minor units) are its value.
	Order    bool
	Currency []byte
	Minor    int64
	props    []byte // count, then (path, value) pairs
	n        uint64
}

// Prop returns the captured value of a property path as msgpack bytes
// (codec.UnmarshalValue decodes it), if the event was ingested while a
// definition read that path.
func (e *LedgerEvent) Prop(path string) ([]byte, bool) {
	r := reader{b: e.props}
	for range e.n {
		p := r.bytes()
		v := r.bytes()
		if r.bad {
			return nil, false
		}
		if string(p) == path {
			return v, true
		}
	}
	return nil, false
}

// LedgerEvents calls fn with every message the profile's ledger holds, in key
// order (not time order), skipping entries it cannot read. Messages
// counted only in the pre-ledger counters have no time and are not
// visited.
func (p *Profile) LedgerEvents(fn func(e *LedgerEvent)) {
	var e LedgerEvent
	for _, en := range p.Ledger.Entries {
		r := reader{b: en.Data}
		e.Order = r.byte()&flagOrder != 0
		e.Time = en.Time
		e.Kind = r.bytes()
		e.Event = r.bytes()
		e.Currency = r.bytes()
		e.Minor = r.varint()
		n := r.uvarint()
		if r.bad || n > uint64(len(r.b)) {
			continue
		}
		for range n {
			r.bytes()
		}
		if r.bad {
			continue
		}
		e.props, e.n = nil, 0
		if len(r.b) > 0 {
			np := r.uvarint()
			if r.bad || np > uint64(len(r.b)) {
				continue
			}
			e.props, e.n = r.b, np
		}
		fn(&e)
	}
}
