package profile

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// Exactly-once counting (docs/decisions/0009-exactly-once.md). Every
// event's effect on the profile's counters is recorded in the ledger under
// a key derived from its messageId, and counters are folded from the
// ledger when read. Two replicas that both applied one message hold the
// same key, so a merge keeps one contribution: the message counts once on
// every edge, at the hub, and after identity merges of the profiles that
// received it. Counters written before the ledger existed (Profile.Counters)
// are added on top.

// MessageKey is the ledger key of a messageId: the first 8 bytes of its
// SHA-256. Every replica derives the same key from the same ID.
func MessageKey(messageID string) uint64 {
	h := sha256.Sum256([]byte(messageID))
	return binary.BigEndian.Uint64(h[:8])
}

// contribution is what one event adds to the counters.
type contribution struct {
	kind     Kind
	event    string // track events only
	isOrder  bool
	currency string // "" when the order had no usable amount
	minor    int64
	cats     []string
	// props are the event's property values that the catalog's
	// definitions read (see Source.Capture), sorted by path. They follow
	// the categories in the encoding: readers older than them ignore
	// them as unknown trailing bytes.
	props []capturedProp
	// products are the product IDs the event names (productsOf): what
	// recommendations read. They follow the props in the encoding (a
	// props count of 0 when there are none); readers older than them
	// ignore them as unknown trailing bytes.
	products []string
	// consent is the consent the message stated (context.consent), the
	// history record of consent.go. It follows the products (with
	// counts of 0 written for empty props and products); readers older
	// than it ignore it as unknown trailing bytes.
	consent *consentRecord
}

// capturedProp is one property value kept in a contribution: its dot
// path into the event's properties and its value as msgpack.
type capturedProp struct {
	path string
	val  []byte
}

const flagOrder = 1

// encode writes c compactly: flags, kind, event, currency, minor units,
// categories (strings length-prefixed with uvarints).
func (c contribution) encode() []byte {
	b := make([]byte, 0, 16+len(c.kind)+len(c.event)+len(c.currency))
	var flags byte
	if c.isOrder {
		flags |= flagOrder
	}
	b = append(b, flags)
	b = appendStr(b, string(c.kind))
	b = appendStr(b, c.event)
	b = appendStr(b, c.currency)
	b = binary.AppendVarint(b, c.minor)
	b = binary.AppendUvarint(b, uint64(len(c.cats)))
	for _, s := range c.cats {
		b = appendStr(b, s)
	}
	if len(c.props) > 0 || len(c.products) > 0 || c.consent != nil {
		b = binary.AppendUvarint(b, uint64(len(c.props)))
		for _, p := range c.props {
			b = appendStr(b, p.path)
			b = appendStr(b, string(p.val))
		}
	}
	if len(c.products) > 0 || c.consent != nil {
		b = binary.AppendUvarint(b, uint64(len(c.products)))
		for _, s := range c.products {
			b = appendStr(b, s)
		}
	}
	if c.consent != nil {
		b = c.consent.append(b)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeContribution reads what encode wrote; ok is false when the
// counted part (flags through categories) cannot be read: such an entry
// counts for nothing, as tally.fold decides. The sections added after it
// are additions: a damaged props section loses the props and the
// products after it, a damaged products section the products, never the
// counts (LedgerEvents reads them so too). Unknown trailing bytes, from
// a newer version, are ignored.
func decodeContribution(b []byte) (c contribution, ok bool) {
	var h entryHead
	if !readHead(b, &h) {
		return contribution{}, false
	}
	c = contribution{kind: Kind(h.kind), event: string(h.event), isOrder: h.order, currency: string(h.currency), minor: h.minor}
	cr := reader{b: h.cats}
	for range h.nCats {
		c.cats = append(c.cats, cr.str())
	}
	n, pairs := propsOf(h.rest)
	if pairs == nil {
		return c, true // none, or a damaged props section: no props, no products
	}
	pr := reader{b: pairs}
	var props []capturedProp
	for range n {
		props = append(props, capturedProp{path: pr.str(), val: []byte(pr.str())})
	}
	if pr.bad {
		return c, true
	}
	c.props = props
	if len(pr.b) > 0 {
		c.products = readProducts(pr.b)
	}
	return c, true
}

// entryHead is the counted part of an encoded contribution (flags
// through categories), read in place: what tally.fold counts and where
// every other reader of an entry starts. Its slices point into the
// entry.
type entryHead struct {
	order                 bool
	kind, event, currency []byte
	minor                 int64
	nCats                 uint64
	cats                  []byte // nCats length-prefixed strings
	rest                  []byte // what follows: props, products, consent
}

// readHead reads the counted part of an encoded contribution; ok is
// false when it cannot be read, and the entry then counts for nothing
// anywhere.
// It fills h (the caller's, so that a ledger's thousands of entries are
// not each copied out) and leaves it zero when it returns false.
func readHead(b []byte, h *entryHead) bool {
	r := reader{b: b}
	h.order = r.byte()&flagOrder != 0
	h.kind, h.event, h.currency = r.bytes(), r.bytes(), r.bytes()
	h.minor = r.varint()
	h.nCats = r.uvarint()
	if r.bad || h.nCats > uint64(len(r.b)) {
		*h = entryHead{}
		return false
	}
	cats := r.b
	for range h.nCats {
		r.bytes()
	}
	if r.bad {
		*h = entryHead{}
		return false
	}
	h.cats, h.rest = cats[:len(cats)-len(r.b)], r.b
	return true
}

// propsOf reads the props section's count from rest (an entry's bytes
// after its head) and returns it with the bytes its pairs start at (the
// products and consent sections follow the pairs); 0 and nil when there
// is no props section or its count cannot be read — a damaged section
// loses the props and what follows, never the entry.
func propsOf(rest []byte) (n uint64, pairs []byte) {
	if len(rest) == 0 {
		return 0, nil
	}
	r := reader{b: rest}
	n = r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		return 0, nil
	}
	return n, r.b
}

// readProducts reads the product IDs section (a count, then the IDs)
// at the start of b, and nil when it cannot: the section is an
// addition, so a damaged one loses the products, never the counts.
// Bytes after it, from a newer version, are ignored.
func readProducts(b []byte) []string {
	r := reader{b: b}
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) || n > MaxProducts {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.str())
	}
	if r.bad {
		return nil
	}
	return out
}

// reader reads the contribution encoding; after the first error every
// read returns zero and bad is set.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	x := r.b[0]
	r.b = r.b[1:]
	return x
}

func (r *reader) uvarint() uint64 {
	// Lengths and counts are nearly always under 128: one byte, read
	// inline (a ledger of 1,000 entries reads tens of thousands of them
	// for every evaluation of its profile).
	if b := r.b; len(b) > 0 && b[0] < 0x80 {
		r.b = b[1:]
		return uint64(b[0])
	}
	return r.uvarintLong()
}

// uvarintLong is uvarint for a value of two bytes or more, or none.
func (r *reader) uvarintLong() uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) varint() int64 {
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return x
}

// bytes reads a length-prefixed string in place.
func (r *reader) bytes() []byte {
	// A string under 128 bytes that fits (nearly all), inline.
	if b := r.b; !r.bad && len(b) > 0 && int(b[0]) < len(b) && b[0] < 0x80 {
		n := int(b[0]) + 1
		r.b = b[n:]
		return b[1:n:n]
	}
	return r.bytesLong()
}

// bytesLong is bytes for any other string, and for none.
func (r *reader) bytesLong() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// contributionOf returns what m adds to the counters, with the values
// of the property paths capture names (track events only).
func contributionOf(m *Message, ord order, cats []string, capture func(event string) []string) contribution {
	c := contribution{kind: m.Kind, cats: cats}
	if m.Kind == Track {
		c.event = m.Event
		if capture != nil {
			c.props = captureProps(m.Properties, capture(m.Event))
		}
		c.products = productsOf(m.Properties)
	}
	if ord.isOrder {
		c.isOrder, c.currency, c.minor = true, ord.currency, ord.minor
	}
	return c
}

// tally holds a profile's counters by kind. Maps point at their counts
// so that folding an entry allocates only for a name not seen before.
type tally struct {
	orders    int64
	kinds     map[string]*int64 // kind → events
	events    map[string]*int64 // track event name → events
	ordersCur map[string]*int64 // currency → orders with an amount
	revenue   map[string]*int64 // currency → minor units
	cats      map[string]*int64 // product category → events
}

func newTally() *tally {
	return &tally{kinds: map[string]*int64{}, events: map[string]*int64{}, ordersCur: map[string]*int64{}, revenue: map[string]*int64{}, cats: map[string]*int64{}}
}

// bump adds d to m[k]; the lookup converts k without allocating.
func bump(m map[string]*int64, k []byte, d int64) {
	if p := m[string(k)]; p != nil {
		*p += d
		return
	}
	v := d
	m[string(k)] = &v
}

// addKey adds v to the counter named by a Profile.Counters key.
func (t *tally) addKey(key string, v int64) {
	b := []byte(key)
	switch {
	case key == counterOrders:
		t.orders += v
	case strings.HasPrefix(key, prefixOrdersCur):
		bump(t.ordersCur, b[len(prefixOrdersCur):], v)
	case strings.HasPrefix(key, prefixRevenue):
		bump(t.revenue, b[len(prefixRevenue):], v)
	case strings.HasPrefix(key, prefixEvent):
		bump(t.events, b[len(prefixEvent):], v)
	case strings.HasPrefix(key, prefixCategory):
		bump(t.cats, b[len(prefixCategory):], v)
	case strings.HasPrefix(key, prefixKind):
		bump(t.kinds, b[len(prefixKind):], v)
	}
}

// fold adds one encoded contribution (what contribution.encode wrote)
// and reports whether its counted part could be read (readHead); one it
// cannot read adds nothing. It reads the bytes in place and keeps no
// strings.
func (t *tally) fold(b []byte) bool {
	var h entryHead
	if !readHead(b, &h) {
		return false
	}
	bump(t.kinds, h.kind, 1)
	if string(h.kind) == string(Track) {
		bump(t.events, h.event, 1)
	}
	if h.order {
		t.orders++
		if len(h.currency) > 0 {
			bump(t.ordersCur, h.currency, 1)
			bump(t.revenue, h.currency, h.minor)
		}
	}
	cr := reader{b: h.cats}
	for range h.nCats {
		bump(t.cats, cr.bytes(), 1)
	}
	return true
}

// tally folds the legacy counters and every ledger entry.
func (p *Profile) tally() *tally {
	t := newTally()
	for _, e := range p.Counters.Entries {
		t.addKey(e.Key, e.Counter.Value())
	}
	for _, e := range p.Ledger.Entries {
		t.fold(e.Data)
	}
	return t
}

// Totals returns every counter of the profile by key ("orders",
// "revenue:EUR", "event:Order Completed", "category:Shoes", "kind:track"…):
// the ledger's contributions, each message once, plus the counters
// written before the ledger existed.
func (p *Profile) Totals() map[string]int64 {
	t := p.tally()
	out := map[string]int64{}
	if t.orders != 0 {
		out[counterOrders] = t.orders
	}
	for _, g := range []struct {
		prefix string
		m      map[string]*int64
	}{{prefixKind, t.kinds}, {prefixEvent, t.events}, {prefixOrdersCur, t.ordersCur}, {prefixRevenue, t.revenue}, {prefixCategory, t.cats}} {
		for k, v := range g.m {
			out[g.prefix+k] = *v
		}
	}
	return out
}

// Count returns one counter of the profile (see Totals).
func (p *Profile) Count(key string) int64 { return p.Totals()[key] }
