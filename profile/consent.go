package profile

import (
	"encoding/binary"
	"slices"
	"strings"

	"ucv/crdt"
)

// Consent (docs/decisions/0041-consent-and-retention.md). Segment's
// context.consent.categoryPreferences is the source of truth:
//
//   - State: Profile.Consent, an LWW map per category whose registers
//     are timestamped with the event time (ConsentTimestamp), so the
//     latest statement by event time wins whatever order replicas
//     receive messages in.
//   - History: every message that states consent records it in its
//     ledger entry (the message's contribution, keyed by messageId), so
//     the history replicates exactly once and merges as a join with the
//     ledger. It is bounded as the ledger is (retention prunes it with
//     the events) and per message by MaxConsentCategories.

// MaxConsentCategories bounds the categories one message's history
// record keeps (the first ones by name); the state keeps them all.
const MaxConsentCategories = 32

// ConsentTimestamp is the register timestamp of consent stated by
// message messageID at event time evMs: the event time, ties within a
// millisecond broken by the message's key (deterministic on every
// replica). Message times never pass the time they were received
// (Message.Timestamp), so a client cannot win every later statement by
// dating one in the future.
func ConsentTimestamp(messageID string, evMs int64) crdt.Timestamp {
	return crdt.Timestamp{Wall: evMs, Node: crdt.ReplicaID(MessageKey(messageID))}
}

// consentRecord is one message's consent statement, as its ledger entry
// keeps it.
type consentRecord struct {
	messageID string
	source    string
	cats      []consentCat // sorted by name
}

type consentCat struct {
	name    string
	granted bool
}

// consentRecordOf returns m's consent statement, nil when it has none.
func consentRecordOf(m *Message, source string) *consentRecord {
	if len(m.Consent) == 0 {
		return nil
	}
	r := &consentRecord{messageID: m.MessageID, source: source}
	for k, v := range m.Consent {
		r.cats = append(r.cats, consentCat{k, v})
	}
	slices.SortFunc(r.cats, func(a, b consentCat) int { return strings.Compare(a.name, b.name) })
	if len(r.cats) > MaxConsentCategories {
		r.cats = r.cats[:MaxConsentCategories]
	}
	return r
}

// append writes r: messageId, source, count, then (name, 0|1) pairs.
func (r *consentRecord) append(b []byte) []byte {
	b = appendStr(b, r.messageID)
	b = appendStr(b, r.source)
	b = binary.AppendUvarint(b, uint64(len(r.cats)))
	for _, c := range r.cats {
		b = appendStr(b, c.name)
		if c.granted {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// readConsent reads the consent record of an encoded contribution; nil
// when it has none or it cannot be read.
func readConsent(data []byte) *consentRecord {
	var h entryHead
	if !readHead(data, &h) {
		return nil
	}
	np, pairs := propsOf(h.rest)
	if pairs == nil {
		return nil
	}
	r := reader{b: pairs}
	for range 2 * np {
		r.bytes()
	}
	if r.bad || len(r.b) == 0 {
		return nil
	}
	nq := r.uvarint() // products
	if r.bad || nq > uint64(len(r.b)) {
		return nil
	}
	for range nq {
		r.bytes()
	}
	if r.bad || len(r.b) == 0 {
		return nil
	}
	rec := &consentRecord{messageID: r.str(), source: r.str()}
	nc := r.uvarint()
	if r.bad || nc > uint64(len(r.b)) || nc > MaxConsentCategories {
		return nil
	}
	for range nc {
		name := r.str()
		g := r.byte()
		rec.cats = append(rec.cats, consentCat{name, g == 1})
	}
	if r.bad {
		return nil
	}
	return rec
}

// ConsentChange is one consent statement of the history: a category
// granted or declined by a message at its event time.
type ConsentChange struct {
	Category  string `json:"category"`
	Granted   bool   `json:"granted"`
	Time      int64  `json:"time_ms"` // event time, ms since the epoch
	MessageID string `json:"message_id"`
	Source    string `json:"source,omitempty"`
}

// ConsentHistory returns every consent statement the profile's ledger
// holds, oldest first by event time (ties by message ID, then
// category): each message once, however many replicas received it.
func (p *Profile) ConsentHistory() []ConsentChange {
	var out []ConsentChange
	for _, e := range p.Ledger.Entries {
		rec := readConsent(e.Data)
		if rec == nil {
			continue
		}
		for _, c := range rec.cats {
			out = append(out, ConsentChange{Category: c.name, Granted: c.granted, Time: e.Time, MessageID: rec.messageID, Source: rec.source})
		}
	}
	slices.SortFunc(out, func(a, b ConsentChange) int {
		if a.Time != b.Time {
			if a.Time < b.Time {
				return -1
			}
			return 1
		}
		return strings.Compare(a.MessageID+"\x00"+a.Category, b.MessageID+"\x00"+b.Category)
	})
	return out
}

// ConsentState reports the profile's current consent for category,
// matched ignoring letter case: known is false when the profile has no
// statement for it; with several keys differing only in case, any
// decline wins.
func (p *Profile) ConsentState(category string) (granted, known bool) {
	granted = true
	for k, r := range p.Consent.M {
		if r.Val == nil || !strings.EqualFold(k, category) {
			continue
		}
		known = true
		if !(len(r.Val) == 1 && r.Val[0] == 0xc3) {
			granted = false
		}
	}
	return granted && known, known
}
