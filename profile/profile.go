package profile

import (
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"time"

	"ucv/crdt"
	"ucv/crdt/codec"
)

// TimelineCap is how many recent events a profile keeps. It is part of
// the merge semantics: every replica must use the same value.
const TimelineCap = 100

// Counter keys.
const (
	counterOrders   = "orders"
	prefixOrdersCur = "orders:"
	prefixRevenue   = "revenue:"
	prefixEvent     = "event:"
	prefixCategory  = "category:"
	prefixKind      = "kind:"
)

// Profile is one customer's unified view, made entirely of CRDTs so that
// any two replicas of it merge without coordination (Merge is a join).
// A Profile is not safe for concurrent mutation.
type Profile struct {
	// ID is the profile's ID (a ULID minted by the first node that saw the
	// person). It never changes; merged profiles become redirects.
	ID string
	// Version is the greatest HLC timestamp of any change merged in.
	Version crdt.Timestamp

	Traits     crdt.LWWMap // trait name → msgpack value
	Identities crdt.ORSet  // identifier keys "type:value"
	Consent    crdt.LWWMap // consent category → msgpack bool
	// Counters holds per-replica counts written before the ledger
	// existed; new events add to Ledger only (see Totals).
	Counters  crdt.CounterMap
	FirstSeen crdt.Min    // event time, ms
	LastSeen  crdt.Max    // event time, ms
	LastOrder crdt.Max    // event time, ms
	Channels  crdt.GSet   // "channel:browser", "source:till-3"
	Timeline  crdt.Recent // newest TimelineCap events, by messageId
	Merges    crdt.LWWMap // absorbed profile ID → msgpack MergeRecord
	// Ledger holds each event's contribution to the counters, keyed by
	// its messageId, so that a message counts once system-wide.
	Ledger crdt.Ledger

	// Erased is set when the whole profile has been erased; merging then
	// drops everything but the ID, the version and the tombstones.
	Erased crdt.Max
	// Tombstones hold the salted keys of erased identifiers.
	Tombstones crdt.Tombstones

	// Retained is the retention watermark (event time, ms): ledger
	// entries and timeline events older than it are gone and stay gone
	// whatever state is merged in later (see Prune). Unset: nothing has
	// been pruned.
	Retained crdt.Max

	// Candidates keep each trait's values by source and record, for
	// survivorship policies (survive.go): trait ‖ 0 ‖ source ‖ 0 ‖
	// record ID → msgpack value, at most MaxCandidates records per
	// trait and source.
	Candidates crdt.LWWMap
}

// New returns an empty profile with the given ID.
func New(id string) *Profile { return &Profile{ID: id} }

// Replica derives the replica ID under which node writes dots and counter
// entries into profile id. Keying by profile as well as node keeps the
// entries of two profiles distinct when they are merged into one, so no
// increment is lost or counted twice.
func Replica(node crdt.ReplicaID, id string) crdt.ReplicaID {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(uint64(node) >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(id))
	return crdt.ReplicaID(h.Sum64())
}

// Merge joins o into p. p and o should have the same ID, except when o is
// a profile being absorbed by an identity merge, whose state is folded
// into p. o is not modified or aliased.
func (p *Profile) Merge(o *Profile) {
	if p.Version.Less(o.Version) {
		p.Version = o.Version
	}
	p.Erased.Merge(o.Erased)
	p.Tombstones.Merge(o.Tombstones)
	if p.Erased.Set {
		p.clearData()
		return
	}
	p.Retained.Merge(o.Retained)
	p.Traits.Merge(o.Traits)
	if len(o.Candidates.M) > 0 {
		p.mergeCandidates(o.Candidates)
	}
	p.Identities.Merge(o.Identities)
	p.Consent.Merge(o.Consent)
	p.Counters.Merge(o.Counters)
	p.FirstSeen.Merge(o.FirstSeen)
	p.LastSeen.Merge(o.LastSeen)
	p.LastOrder.Merge(o.LastOrder)
	p.Channels.Merge(o.Channels)
	p.Timeline.Merge(o.Timeline, TimelineCap)
	p.Merges.Merge(o.Merges)
	p.Ledger.Merge(o.Ledger)
	p.dropRetained()
}

// Join returns the join of p and o as a new profile with p's ID, leaving
// both unchanged: it equals p.Clone() merged with o, but copies only
// the parts o changes and shares the rest with p (crdt's persistent
// joins). p and the result must therefore not be changed in place
// afterwards (Merge, Apply, Scrub…; Clone first). An owner that keeps
// states immutable for concurrent readers, as the hub keeps fragments,
// pays for the change rather than for the whole profile.
func (p *Profile) Join(o *Profile) *Profile {
	j := &Profile{ID: p.ID, Version: p.Version, Erased: p.Erased}
	if j.Version.Less(o.Version) {
		j.Version = o.Version
	}
	j.Erased.Merge(o.Erased)
	j.Tombstones = p.Tombstones.Joined(o.Tombstones)
	if j.Erased.Set {
		return j // as Merge's clearData
	}
	j.Traits = p.Traits.Joined(o.Traits)
	j.Candidates = p.Candidates
	if len(o.Candidates.M) > 0 {
		j.Candidates = capCandidates(p.Candidates.Joined(o.Candidates), MaxCandidates)
	}
	j.Identities = p.Identities.Joined(o.Identities)
	j.Consent = p.Consent.Joined(o.Consent)
	j.Counters = p.Counters.Joined(o.Counters)
	j.FirstSeen, j.LastSeen, j.LastOrder = p.FirstSeen, p.LastSeen, p.LastOrder
	j.FirstSeen.Merge(o.FirstSeen)
	j.LastSeen.Merge(o.LastSeen)
	j.LastOrder.Merge(o.LastOrder)
	j.Channels = p.Channels.Joined(o.Channels)
	j.Timeline = p.Timeline.Joined(o.Timeline, TimelineCap)
	j.Merges = p.Merges.Joined(o.Merges)
	j.Ledger = p.Ledger.Joined(o.Ledger)
	j.Retained = p.Retained
	j.Retained.Merge(o.Retained)
	if j.Retained.Set && (j.Retained != p.Retained || j.Retained != o.Retained) {
		j.dropRetained() // copies what it changes: the slices may be shared
	}
	return j
}

// Adopt returns New(o.ID).Join(o) — the state of a profile whose first
// delta is o — taking o's maps as the state's where the join would only
// copy them (crdt's Adopted), so it allocates little beyond the parts the
// join normalises. The result shares storage with o: neither may be
// changed in place afterwards (as with Join). The hub takes a new
// fragment's first delta this way.
func Adopt(o *Profile) *Profile {
	j := &Profile{ID: o.ID}
	if j.Version.Less(o.Version) {
		j.Version = o.Version
	}
	j.Erased.Merge(o.Erased)
	j.Tombstones = o.Tombstones.Adopted()
	if j.Erased.Set {
		return j // as Join's
	}
	j.Traits = o.Traits.Adopted()
	if len(o.Candidates.M) > 0 {
		j.Candidates = capCandidates(o.Candidates.Adopted(), MaxCandidates)
	}
	j.Identities = o.Identities.Adopted()
	j.Consent = o.Consent.Adopted()
	j.Counters = crdt.CounterMap{}.Joined(o.Counters)
	j.FirstSeen.Merge(o.FirstSeen)
	j.LastSeen.Merge(o.LastSeen)
	j.LastOrder.Merge(o.LastOrder)
	j.Channels = o.Channels.Adopted()
	j.Timeline = o.Timeline.Adopted(TimelineCap)
	j.Merges = o.Merges.Adopted()
	j.Ledger = o.Ledger.Adopted()
	j.Retained.Merge(o.Retained)
	if j.Retained.Set {
		j.dropRetained() // as Join's: an empty state has no watermark
	}
	return j
}

func (p *Profile) clearData() {
	*p = Profile{ID: p.ID, Version: p.Version, Erased: p.Erased, Tombstones: p.Tombstones}
}

// prunedTime is the time of a pruned message's ledger entry: before
// every event (event times are never before 1970), so it wins over every
// version of the message that any replica still holds.
const prunedTime = -1

// dropRetained prunes what is older than the retention watermark: the
// timeline's events are removed, and the ledger's entries are replaced
// by a pruned marker — the message key alone, no data ({Key, -1, nil}),
// which every reader skips as unreadable. The marker is what keeps
// Merge a join: the ledger keeps the earliest version of each message,
// so a replica that simply dropped an old version would keep a later
// version of the same message (a retry dated after the watermark)
// merged in from a replica that never saw the old one, while a replica
// that saw both would drop it. The marker costs 10 bytes a pruned
// message and holds no personal data (a hash of the messageId). The
// timeline needs no marker: it keeps the newest version of each event,
// and keeping the newest commutes with dropping the oldest.
func (p *Profile) dropRetained() {
	if !p.Retained.Set {
		return
	}
	w := p.Retained.V
	old := func(e crdt.LedgerEntry) bool { return e.Time < w && e.Time != prunedTime }
	if i := slices.IndexFunc(p.Ledger.Entries, old); i >= 0 {
		out := slices.Clone(p.Ledger.Entries) // the old slice may be shared (Joined)
		for j := i; j < len(out); j++ {
			if old(out[j]) {
				out[j] = crdt.LedgerEntry{Key: out[j].Key, Time: prunedTime}
			}
		}
		p.Ledger.Entries = out
	}
	if slices.ContainsFunc(p.Timeline.Items, func(it crdt.Item) bool { return it.Time < w }) {
		p.Timeline.Items = slices.DeleteFunc(slices.Clone(p.Timeline.Items), func(it crdt.Item) bool { return it.Time < w })
		if len(p.Timeline.Items) == 0 {
			p.Timeline.Items = nil
		}
	}
}

// HeldBefore reports whether p holds an event (ledger entry or timeline
// event) from before cutoffMs that Prune(cutoffMs) would drop.
func (p *Profile) HeldBefore(cutoffMs int64) bool {
	return slices.ContainsFunc(p.Ledger.Entries, func(e crdt.LedgerEntry) bool { return e.Time < cutoffMs && e.Time != prunedTime }) ||
		slices.ContainsFunc(p.Timeline.Items, func(it crdt.Item) bool { return it.Time < cutoffMs })
}

// Pruned returns p joined with the retention watermark cutoffMs: p
// itself when it holds nothing before it (or is erased), else a new
// state sharing what it does not change with p (Join), which is left
// as it was. For owners that keep states immutable, as the hub does.
func (p *Profile) Pruned(cutoffMs int64) *Profile {
	if p.Erased.Set || cutoffMs <= 0 || !p.HeldBefore(cutoffMs) {
		return p
	}
	return p.Join(&Profile{ID: p.ID, Retained: crdt.Max{V: cutoffMs, Set: true}})
}

// Prune applies retention: the events before cutoffMs (event time, ms)
// leave the ledger and the timeline, and the watermark records it, so a
// replica that merges this profile or its delta prunes them too and an
// older state merged in later cannot bring them back. It returns the
// delta (the watermark only; empty when cutoffMs is not past the
// current one) and whether anything was dropped. First seen, last seen, traits and consent are state,
// not events: they stay. Callers derive cutoffMs from the catalog's
// evaluation clock (catalog.Compiled.RetentionCutoff) so every replica
// prunes at the same points.
func (p *Profile) Prune(cutoffMs int64) (d *Profile, dropped bool) {
	d = &Profile{ID: p.ID}
	if p.Erased.Set || cutoffMs <= 0 || p.Retained.Set && cutoffMs <= p.Retained.V {
		return d, false
	}
	n := len(p.Timeline.Items)
	old := slices.ContainsFunc(p.Ledger.Entries, func(e crdt.LedgerEntry) bool { return e.Time < cutoffMs && e.Time != prunedTime })
	d.Retained.Merge(p.Retained.Observe(cutoffMs))
	p.dropRetained()
	return d, old || len(p.Timeline.Items) != n
}

// Clone returns a deep copy.
func (p *Profile) Clone() *Profile {
	c := &Profile{ID: p.ID}
	c.Merge(p)
	return c
}

// Equal reports whether p and o hold the same state.
func (p *Profile) Equal(o *Profile) bool {
	return p.ID == o.ID && p.Version == o.Version &&
		p.Traits.Equal(o.Traits) && p.Identities.Equal(o.Identities) &&
		p.Consent.Equal(o.Consent) && p.Counters.Equal(o.Counters) &&
		p.FirstSeen == o.FirstSeen && p.LastSeen == o.LastSeen && p.LastOrder == o.LastOrder &&
		p.Channels.Equal(o.Channels) && p.Timeline.Equal(o.Timeline) && p.Merges.Equal(o.Merges) &&
		p.Ledger.Equal(o.Ledger) && p.Erased == o.Erased && p.Tombstones.Equal(o.Tombstones) &&
		p.Retained == o.Retained && p.Candidates.Equal(o.Candidates)
}

// IdentityList returns the profile's identifiers sorted by key.
func (p *Profile) IdentityList() []Identifier {
	keys := p.Identities.Elems()
	out := make([]Identifier, 0, len(keys))
	for _, k := range keys {
		if id, ok := ParseKey(k); ok {
			out = append(out, id)
		}
	}
	return out
}

// LogValue renders the profile for logs: its ID, version and sizes, and
// the types (never the values) of its identifiers.
func (p *Profile) LogValue() slog.Value {
	var types []string
	for _, id := range p.IdentityList() {
		types = append(types, string(id.Type))
	}
	return slog.GroupValue(
		slog.String("id", p.ID),
		slog.String("version", p.Version.String()),
		slog.Int("traits", len(p.Traits.Keys())),
		slog.String("identifier_types", strings.Join(types, ",")),
		slog.Int("timeline", len(p.Timeline.Items)),
		slog.Bool("erased", p.Erased.Set),
	)
}

// Source describes where an event was applied.
type Source struct {
	Node crdt.ReplicaID // the applying node's clock ID
	Name string         // a source name (write key label or node name), optional
	// Capture, when set, names the property paths of a track event that
	// definitions read (computed traits, audience functions): their
	// values are kept with the event in the ledger. Nil keeps none.
	Capture func(event string) []string
}

// Apply folds a message's effect into p as written at ts by src and
// returns the delta (a Profile with p's ID holding only what changed).
// link lists the identifiers to attach (the caller has applied the
// identity rules; it may be a subset of m.Identifiers). An erased profile
// takes no new data: Apply returns an empty delta and the caller mints a
// new profile for the person.
func (p *Profile) Apply(m *Message, link []Identifier, src Source, ts crdt.Timestamp) *Profile {
	if p.Erased.Set {
		return &Profile{ID: p.ID}
	}
	d := &Profile{ID: p.ID, Version: ts}
	r := Replica(src.Node, p.ID)
	evMs := m.Timestamp.UnixMilli()

	if len(m.Traits) > 0 {
		d.Traits.M = make(map[string]crdt.Register, len(m.Traits))
		for k, v := range m.Traits {
			b, err := codec.MarshalValue(JSONValue(v))
			if err != nil {
				continue // unreachable for decoded JSON
			}
			d.Traits.M[k] = crdt.Register{TS: ts, Val: b}
		}
		p.Traits.Merge(d.Traits)
		d.Candidates = addCandidates(d.Traits.M, src.Name, p.ID)
		p.mergeCandidates(d.Candidates)
	}
	for _, id := range link {
		if !p.Identities.Has(id.Key()) {
			d.Identities.Merge(p.Identities.Add(r, id.Key()))
		}
	}
	if len(m.Consent) > 0 {
		// Latest by event time wins, per category (not latest to
		// arrive): the register's timestamp is the event time, ties
		// broken by the message's key, so every replica that applies
		// the message writes the same register.
		cts := ConsentTimestamp(m.MessageID, evMs)
		d.Consent.M = make(map[string]crdt.Register, len(m.Consent))
		for k, granted := range m.Consent {
			b := []byte{0xc2} // msgpack false
			if granted {
				b = []byte{0xc3}
			}
			d.Consent.M[k] = crdt.Register{TS: cts, Val: b}
		}
		p.Consent.Merge(d.Consent)
	}
	var ord order
	if m.Kind == Track {
		ord = orderOf(m)
	}
	cats := categoriesOf(m)
	// An event older than the retention watermark leaves its state
	// effects (traits, consent, identities, first/last seen, channels)
	// but is itself not kept: neither ledger nor timeline.
	keep := !p.Retained.Set || evMs >= p.Retained.V
	if !keep && !p.Ledger.Has(MessageKey(m.MessageID)) {
		// Its pruned marker, so a copy kept elsewhere loses here too.
		d.Ledger = p.Ledger.Add(crdt.LedgerEntry{Key: MessageKey(m.MessageID), Time: prunedTime})
	}
	if keep {
		con := contributionOf(m, ord, cats, src.Capture)
		con.consent = consentRecordOf(m, src.Name)
		d.Ledger = p.Ledger.Add(crdt.LedgerEntry{
			Key:  MessageKey(m.MessageID),
			Time: evMs,
			Data: con.encode(),
		})
	}
	if ord.isOrder {
		d.LastOrder.Merge(p.LastOrder.Observe(evMs))
	}
	d.FirstSeen.Merge(p.FirstSeen.Observe(evMs))
	d.LastSeen.Merge(p.LastSeen.Observe(evMs))
	if m.Channel != "" {
		d.Channels.Merge(p.Channels.Add("channel:" + m.Channel))
	}
	if src.Name != "" {
		d.Channels.Merge(p.Channels.Add("source:" + src.Name))
	}
	ev := TimelineEvent{Kind: m.Kind, Name: m.Event, Channel: m.Channel, Source: src.Name, Currency: ord.currency, RevenueMinor: ord.minor}
	if m.Kind == Page || m.Kind == Screen {
		ev.Name = m.Name
	}
	if len(cats) > 0 {
		ev.Category = cats[0]
	}
	if keep {
		d.Timeline.Merge(p.Timeline.Add(crdt.Item{ID: m.MessageID, Time: evMs, Data: ev.encode()}, TimelineCap), TimelineCap)
	}
	if p.Version.Less(ts) {
		p.Version = ts
	}
	return d
}

// MergeRecord explains why a profile was merged into another.
type MergeRecord struct {
	From        string   `json:"from"`
	Into        string   `json:"into"`
	Reason      string   `json:"reason"`      // "shared identifier", "alias", "hub match", …
	Rule        string   `json:"rule"`        // e.g. "deterministic:email"
	Identifiers []string `json:"identifiers"` // identifier keys that matched
	Score       float64  `json:"score,omitempty"`
	Node        string   `json:"node"`
	At          int64    `json:"at"` // HLC wall time, ms; 0 for merges the hub derived from its history
	// DecidedBy says who decided: "edge:<node>" (an edge's identity
	// rules), "hub:rules", "hub:model" (the hub's deterministic rules or
	// its probabilistic model) or "steward:<actor>".
	DecidedBy string `json:"decided_by,omitempty"`
}

// RecordMerge records that profile rec.From was merged into p at ts and
// returns the delta. The caller merges the absorbed profile's state into
// p separately (p.Merge).
func (p *Profile) RecordMerge(rec MergeRecord, ts crdt.Timestamp) *Profile {
	if p.Erased.Set {
		return &Profile{ID: p.ID}
	}
	b, _ := json.Marshal(rec) // a struct of plain fields cannot fail
	d := &Profile{ID: p.ID, Version: ts}
	d.Merges.Merge(p.Merges.Set(rec.From, b, ts))
	if p.Version.Less(ts) {
		p.Version = ts
	}
	return d
}

// MergeRecords returns the recorded merges, sorted by absorbed ID.
func (p *Profile) MergeRecords() []MergeRecord {
	var out []MergeRecord
	for _, k := range p.Merges.Keys() {
		v, _ := p.Merges.Get(k)
		var rec MergeRecord
		if json.Unmarshal(v, &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

// Erase erases the whole profile at ts: every identifier gets a tombstone
// under salt and all data is dropped, now and whenever an older replica
// of the profile is merged in later. It returns the delta.
func (p *Profile) Erase(salt []byte, ts crdt.Timestamp) *Profile {
	d := &Profile{ID: p.ID, Version: ts}
	for _, k := range p.Identities.Elems() {
		d.Tombstones.Merge(p.Tombstones.Erase(crdt.TombstoneKey(salt, k)))
	}
	d.Erased.Merge(p.Erased.Observe(ts.Wall))
	p.Merge(d)
	return d
}

// EraseIdentifier erases one identifier from the profile: a tombstone
// under salt, the identity removed, and traits holding that value dropped.
// It returns the delta; call Scrub after merging foreign state.
func (p *Profile) EraseIdentifier(salt []byte, id Identifier, ts crdt.Timestamp) *Profile {
	d := &Profile{ID: p.ID, Version: ts}
	d.Tombstones.Merge(p.Tombstones.Erase(crdt.TombstoneKey(salt, id.Key())))
	p.Scrub(salt)
	if p.Version.Less(ts) {
		p.Version = ts
	}
	return d
}

// Scrub drops identities, and email/phone traits, whose salted key is
// tombstoned. The owner of a stored profile calls it after every merge of
// foreign state, so an old replica cannot resurrect an erased identifier.
func (p *Profile) Scrub(salt []byte) {
	if p.Tombstones.Len() == 0 {
		return
	}
	p.Identities.DropElems(func(k string) bool { return p.Tombstones.Erased(crdt.TombstoneKey(salt, k)) })
	erased := func(k string, b []byte) bool {
		t := map[string]IDType{"email": Email, "phone": Phone}[k]
		if t == "" || b == nil {
			return false
		}
		v, err := codec.UnmarshalValue(b)
		s, ok := v.(string)
		if err != nil || !ok {
			return false
		}
		n, err := NormalizeValue(t, s, DefaultNormalizeOptions())
		return err == nil && p.Tombstones.Erased(crdt.TombstoneKey(salt, Identifier{Type: t, Value: n}.Key()))
	}
	p.Traits.DropKeys(func(k string) bool { return erased(k, p.Traits.M[k].Val) })
	p.dropCandidates(erased)
}

// LastSeenTime returns the last event time, or the zero time.
func (p *Profile) LastSeenTime() time.Time {
	if !p.LastSeen.Set {
		return time.Time{}
	}
	return time.UnixMilli(p.LastSeen.V).UTC()
}
