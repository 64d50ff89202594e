package profile

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// order is what a track event says about a purchase.
type order struct {
	isOrder  bool
	currency string // ISO 4217, upper case; "" when the amount is unusable
	minor    int64  // amount in the currency's minor units
}

// orderEvents are the event names counted as orders (Segment e-commerce
// spec V1 and V2, case-insensitive).
var orderEvents = []string{"order completed", "completed order"}

// currencyExponent is the number of minor-unit digits for currencies that
// do not use 2 (ISO 4217).
var currencyExponent = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// CurrencyExponent returns the number of minor-unit digits of cur.
func CurrencyExponent(cur string) int {
	if e, ok := currencyExponent[cur]; ok {
		return e
	}
	return 2
}

// orderOf reads an "Order Completed" event: the amount is properties.total
// (V2), else revenue (V1), else value; currency defaults to USD. Amounts
// are converted to minor units exactly from their decimal text.
func orderOf(m *Message) order {
	if !isOrderEvent(m.Event) {
		return order{}
	}
	o := order{isOrder: true}
	cur := "USD"
	if c, ok := m.Properties["currency"].(string); ok && len(strings.TrimSpace(c)) == 3 {
		cur = strings.ToUpper(strings.TrimSpace(c))
	}
	for _, k := range amountFields {
		if v, ok := m.Properties[k]; ok {
			if minor, ok := toMinor(v, CurrencyExponent(cur)); ok {
				o.currency, o.minor = cur, minor
				return o
			}
		}
	}
	return o
}

// isOrderEvent reports whether event names an order (orderEvents,
// case-insensitive, surrounding space ignored). No allocation.
func isOrderEvent(event string) bool {
	event = strings.TrimSpace(event)
	for _, o := range orderEvents {
		if strings.EqualFold(event, o) {
			return true
		}
	}
	return false
}

// amountFields are the properties an order's amount is read from, in
// the order orderOf tries them.
var amountFields = []string{"total", "revenue", "value"}

// AmountUnread returns the field ("properties.total", …) of an order
// event that carries an amount orderOf cannot read — none of
// total/revenue/value is a decimal number or numeric text, though at
// least one is present and not null — and "" for every other message. Such an order
// is counted as an order without an amount (decision 0003); the edge
// reports it rather than drop the event (docs/decisions/0120).
func (m *Message) AmountUnread() string {
	if m.Kind != Track {
		return ""
	}
	if o := orderOf(m); !o.isOrder || o.currency != "" {
		return ""
	}
	for _, k := range amountFields {
		if v, ok := m.Properties[k]; ok && v != nil { // null: no amount sent
			return "properties." + k
		}
	}
	return ""
}

// toMinor converts a JSON number (or numeric string) to minor units,
// rounding half away from zero beyond the currency's precision.
func toMinor(v any, exp int) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return 0, false
	}
	if strings.ContainsAny(s, "eE") {
		return int64(math.Round(f * math.Pow10(exp))), true
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	ip, fp, _ := strings.Cut(s, ".")
	roundUp := len(fp) > exp && fp[exp] >= '5'
	if len(fp) > exp {
		fp = fp[:exp]
	}
	fp += strings.Repeat("0", exp-len(fp))
	n, err := strconv.ParseInt(ip+fp, 10, 64)
	if err != nil {
		return 0, false
	}
	if roundUp {
		n++
	}
	if neg {
		n = -n
	}
	return n, true
}

// categoriesOf returns the product categories an event mentions
// (properties.category, products[].category), deduplicated, in order.
func categoriesOf(m *Message) []string {
	var out []string
	add := func(v any) {
		if s, ok := v.(string); ok {
			s = strings.TrimSpace(s)
			if s != "" && len(s) <= 128 && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if m.Kind != Track && m.Kind != Page && m.Kind != Screen {
		return nil
	}
	add(m.Properties["category"])
	if ps, ok := m.Properties["products"].([]any); ok {
		for _, p := range ps {
			if po, ok := p.(map[string]any); ok {
				add(po["category"])
			}
		}
	}
	return out
}

// JSONValue converts encoding/json values decoded with UseNumber into
// plain Go values for msgpack: integers that fit int64 become int64,
// other numbers float64.
func JSONValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		o := make(map[string]any, len(x))
		for k, e := range x {
			o[k] = JSONValue(e)
		}
		return o
	case []any:
		o := make([]any, len(x))
		for i, e := range x {
			o[i] = JSONValue(e)
		}
		return o
	}
	return v
}

// Normalize turns msgpack's decoded numbers into int64 (float64 for
// unsigned values beyond int64) and float64, recursively through maps
// and lists, so expressions see one integer and one float type.
func Normalize(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint:
		if uint64(x) > math.MaxInt64 {
			return float64(x)
		}
		return int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return float64(x)
		}
		return int64(x)
	case float32:
		return float64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	}
	return v
}
