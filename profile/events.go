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

// Product IDs kept with one event (recommendations read them).
const (
	// MaxProducts bounds the product IDs kept with one event; an order
	// of more distinct products keeps the first ones.
	MaxProducts = 50
	// MaxProductIDBytes bounds one product ID; longer ones are left out.
	MaxProductIDBytes = 128
)

// productsOf returns the product IDs a track event's properties name,
// as Segment's e-commerce spec writes them: properties.product_id (or
// sku when there is no product_id) for events about one product
// ("Product Viewed", "Product Added"), and the same fields of each
// element of properties.products for orders and carts. IDs are strings
// or numbers (written as sent), trimmed, deduplicated, in order, at most
// MaxProducts.
func productsOf(props map[string]any) []string {
	if len(props) == 0 {
		return nil
	}
	var out []string
	add := func(o map[string]any) {
		if len(out) == MaxProducts {
			return
		}
		for _, k := range []string{"product_id", "sku"} {
			var s string
			switch v := o[k].(type) {
			case string:
				s = strings.TrimSpace(v)
			case json.Number:
				s = v.String()
			default:
				continue
			}
			if s == "" || len(s) > MaxProductIDBytes {
				continue
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
			return // sku only when there is no usable product_id
		}
	}
	add(props)
	if ps, ok := props["products"].([]any); ok {
		for _, p := range ps {
			if o, ok := p.(map[string]any); ok {
				add(o)
			}
		}
	}
	return out
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
	props    []byte // (path, value) pairs, then the products section
	n        uint64 // number of pairs
}

// Products returns the product IDs the event named (see productsOf),
// nil for events ingested before product IDs were kept. The strings
// are copies.
func (e *LedgerEvent) Products() []string {
	r := reader{b: e.props}
	for range 2 * e.n {
		r.bytes()
	}
	if r.bad || len(r.b) == 0 {
		return nil
	}
	return readProducts(r.b)
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
	var h entryHead
	for _, en := range p.Ledger.Entries {
		if !readHead(en.Data, &h) {
			continue
		}
		e.Time, e.Order, e.Kind, e.Event, e.Currency, e.Minor = en.Time, h.order, h.kind, h.event, h.currency, h.minor
		// A damaged props section loses the props and products, not the
		// event, which the counters count too (tally.fold).
		e.n, e.props = propsOf(h.rest)
		fn(&e)
	}
}
