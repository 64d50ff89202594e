package profile

import (
	"crypto/sha256"
	"encoding/binary"
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
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeContribution reads what encode wrote; ok is false for bytes it
// did not write (such an entry counts for nothing). Unknown trailing
// bytes, from a newer version, are ignored.
func decodeContribution(b []byte) (c contribution, ok bool) {
	r := reader{b: b}
	flags := r.byte()
	c.isOrder = flags&flagOrder != 0
	c.kind = Kind(r.str())
	c.event = r.str()
	c.currency = r.str()
	c.minor = r.varint()
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return contribution{}, false
	}
	for range n {
		c.cats = append(c.cats, r.str())
	}
	return c, !r.bad
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

// contributionOf returns what m adds to the counters.
func contributionOf(m *Message, ord order, cats []string) contribution {
	c := contribution{kind: m.Kind, cats: cats}
	if m.Kind == Track {
		c.event = m.Event
	}
	if ord.isOrder {
		c.isOrder, c.currency, c.minor = true, ord.currency, ord.minor
	}
	return c
}

// add adds c's effect to the totals t, keyed as Profile.Counters is.
func (c contribution) add(t map[string]int64) {
	t[prefixKind+string(c.kind)]++
	if c.kind == Track {
		t[prefixEvent+c.event]++
	}
	if c.isOrder {
		t[counterOrders]++
		if c.currency != "" {
			t[prefixOrdersCur+c.currency]++
			t[prefixRevenue+c.currency] += c.minor
		}
	}
	for _, s := range c.cats {
		t[prefixCategory+s]++
	}
}

// Totals returns every counter of the profile by key ("orders",
// "revenue:EUR", "event:Order Completed", "category:Shoes", "kind:track"…):
// the ledger's contributions, each message once, plus the counters
// written before the ledger existed.
func (p *Profile) Totals() map[string]int64 {
	t := make(map[string]int64, len(p.Counters.Entries)+8)
	for _, e := range p.Counters.Entries {
		t[e.Key] += e.Counter.Value()
	}
	for _, e := range p.Ledger.Entries {
		if c, ok := decodeContribution(e.Data); ok {
			c.add(t)
		}
	}
	return t
}

// Count returns one counter of the profile (see Totals).
func (p *Profile) Count(key string) int64 {
	n := p.Counters.Value(key)
	for _, e := range p.Ledger.Entries {
		if c, ok := decodeContribution(e.Data); ok {
			t := map[string]int64{}
			c.add(t)
			n += t[key]
		}
	}
	return n
}
