package codec

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"ucv/crdt"
)

// Codecs of the crdt types. Bodies are arrays (no field names) so that
// encodings stay small; map entries are written in sorted key order.
var (
	Timestamp  = Type[crdt.Timestamp]{TagTimestamp, EncodeTimestamp, DecodeTimestamp}
	Register   = Type[crdt.Register]{TagRegister, EncodeRegister, DecodeRegister}
	LWWMap     = Type[crdt.LWWMap]{TagLWWMap, EncodeLWWMap, DecodeLWWMap}
	PNCounter  = Type[crdt.PNCounter]{TagPNCounter, EncodePNCounter, DecodePNCounter}
	CounterMap = Type[crdt.CounterMap]{TagCounterMap, EncodeCounterMap, DecodeCounterMap}
	Max        = Type[crdt.Max]{TagMax, EncodeMax, DecodeMax}
	Min        = Type[crdt.Min]{TagMin, EncodeMin, DecodeMin}
	GSet       = Type[crdt.GSet]{TagGSet, EncodeGSet, DecodeGSet}
	ORSet      = Type[crdt.ORSet]{TagORSet, EncodeORSet, DecodeORSet}
	Recent     = Type[crdt.Recent]{TagRecent, EncodeRecent, DecodeRecent}
	Tombstones = Type[crdt.Tombstones]{TagTombstones, EncodeTombstones, DecodeTombstones}
	Ledger     = Type[crdt.Ledger]{TagLedger, EncodeLedger, DecodeLedger}
)

// EncodeTimestamp writes [wall, logical, node].
func EncodeTimestamp(e *Encoder, t crdt.Timestamp) error {
	return FirstErr(e.EncodeArrayLen(3), e.EncodeInt(t.Wall), e.EncodeUint(uint64(t.Logical)), e.EncodeUint(uint64(t.Node)))
}

// DecodeTimestamp reads what EncodeTimestamp wrote.
func DecodeTimestamp(d *Decoder) (crdt.Timestamp, error) {
	if err := d.ExpectArray(3); err != nil {
		return crdt.Timestamp{}, err
	}
	w, err := d.Int()
	if err != nil {
		return crdt.Timestamp{}, err
	}
	l, err := d.Uint()
	if err != nil {
		return crdt.Timestamp{}, err
	}
	if l > 1<<32-1 {
		return crdt.Timestamp{}, fmt.Errorf("%w: logical counter %d overflows", ErrCorrupt, l)
	}
	n, err := d.Uint()
	if err != nil {
		return crdt.Timestamp{}, err
	}
	return crdt.Timestamp{Wall: w, Logical: uint32(l), Node: crdt.ReplicaID(n)}, nil
}

// EncodeRegister writes [timestamp, value|nil].
func EncodeRegister(e *Encoder, r crdt.Register) error {
	return FirstErr(e.EncodeArrayLen(2), EncodeTimestamp(e, r.TS), e.EncodeBytes(r.Val))
}

// DecodeRegister reads what EncodeRegister wrote.
func DecodeRegister(d *Decoder) (crdt.Register, error) {
	if err := d.ExpectArray(2); err != nil {
		return crdt.Register{}, err
	}
	ts, err := DecodeTimestamp(d)
	if err != nil {
		return crdt.Register{}, err
	}
	v, err := d.Bytes()
	return crdt.Register{TS: ts, Val: v}, err
}

// EncodeLWWMap writes a map of key → register, keys sorted.
func EncodeLWWMap(e *Encoder, m crdt.LWWMap) error {
	if err := e.EncodeMapLen(len(m.M)); err != nil {
		return err
	}
	var buf [smallSet]string
	for _, k := range crdt.AppendSortedKeys(buf[:0], m.M) {
		if err := FirstErr(e.EncodeString(k), EncodeRegister(e, m.M[k])); err != nil {
			return err
		}
	}
	return nil
}

// DecodeLWWMap reads what EncodeLWWMap wrote.
func DecodeLWWMap(d *Decoder) (crdt.LWWMap, error) {
	n, err := d.MapLen(6)
	if err != nil || n == 0 {
		return crdt.LWWMap{}, err
	}
	m := crdt.LWWMap{M: make(map[string]crdt.Register, n)}
	for range n {
		k, err := d.String()
		if err != nil {
			return crdt.LWWMap{}, err
		}
		r, err := DecodeRegister(d)
		if err != nil {
			return crdt.LWWMap{}, err
		}
		if _, dup := m.M[k]; dup {
			return crdt.LWWMap{}, fmt.Errorf("%w: duplicate key", ErrCorrupt)
		}
		m.M[k] = r
	}
	return m, nil
}

// EncodePNCounter writes a flat array [replica, p, n, replica, p, n, …]
// sorted by replica.
func EncodePNCounter(e *Encoder, c crdt.PNCounter) error {
	if err := e.EncodeArrayLen(3 * len(c.Entries)); err != nil {
		return err
	}
	for _, pn := range c.Entries {
		if err := FirstErr(e.EncodeUint(uint64(pn.Replica)), e.EncodeUint(pn.P), e.EncodeUint(pn.N)); err != nil {
			return err
		}
	}
	return nil
}

// DecodePNCounter reads what EncodePNCounter wrote. Entries out of
// replica order are sorted (the encoding of the decoded counter is then
// canonical); a replica named twice is corrupt.
func DecodePNCounter(d *Decoder) (crdt.PNCounter, error) {
	n, err := d.ArrayLen(1)
	if err != nil || n == 0 {
		return crdt.PNCounter{}, err
	}
	if n%3 != 0 {
		return crdt.PNCounter{}, fmt.Errorf("%w: counter array of %d", ErrCorrupt, n)
	}
	es := make([]crdt.PN, 0, n/3)
	sorted := true
	for range n / 3 {
		r, err1 := d.Uint()
		p, err2 := d.Uint()
		q, err3 := d.Uint()
		if err := FirstErr(err1, err2, err3); err != nil {
			return crdt.PNCounter{}, err
		}
		if k := len(es); k > 0 && es[k-1].Replica >= crdt.ReplicaID(r) {
			sorted = false
		}
		es = append(es, crdt.PN{Replica: crdt.ReplicaID(r), P: p, N: q})
	}
	if !sorted {
		slices.SortFunc(es, func(a, b crdt.PN) int { return cmp.Compare(a.Replica, b.Replica) })
		for i := 1; i < len(es); i++ {
			if es[i].Replica == es[i-1].Replica {
				return crdt.PNCounter{}, fmt.Errorf("%w: duplicate replica", ErrCorrupt)
			}
		}
	}
	return crdt.PNCounter{Entries: es}, nil
}

// EncodeCounterMap writes a map of key → counter, keys sorted.
func EncodeCounterMap(e *Encoder, m crdt.CounterMap) error {
	if err := e.EncodeMapLen(len(m.Entries)); err != nil {
		return err
	}
	for _, c := range m.Entries {
		if err := FirstErr(e.EncodeString(c.Key), EncodePNCounter(e, c.Counter)); err != nil {
			return err
		}
	}
	return nil
}

// DecodeCounterMap reads what EncodeCounterMap wrote. Keys out of order
// are sorted (the decoded map then encodes canonically); a key named
// twice is corrupt.
func DecodeCounterMap(d *Decoder) (crdt.CounterMap, error) {
	n, err := d.MapLen(2)
	if err != nil || n == 0 {
		return crdt.CounterMap{}, err
	}
	es := make([]crdt.CounterEntry, 0, n)
	sorted := true
	for range n {
		k, err := d.String()
		if err != nil {
			return crdt.CounterMap{}, err
		}
		c, err := DecodePNCounter(d)
		if err != nil {
			return crdt.CounterMap{}, err
		}
		if i := len(es); i > 0 && es[i-1].Key >= k {
			sorted = false
		}
		es = append(es, crdt.CounterEntry{Key: k, Counter: c})
	}
	if !sorted {
		slices.SortFunc(es, func(a, b crdt.CounterEntry) int { return cmp.Compare(a.Key, b.Key) })
		for i := 1; i < len(es); i++ {
			if es[i].Key == es[i-1].Key {
				return crdt.CounterMap{}, fmt.Errorf("%w: duplicate key", ErrCorrupt)
			}
		}
	}
	return crdt.CounterMap{Entries: es}, nil
}

// EncodeMax writes nil when unset, else the value.
func EncodeMax(e *Encoder, m crdt.Max) error {
	if !m.Set {
		return e.EncodeNil()
	}
	return e.EncodeInt(m.V)
}

// DecodeMax reads what EncodeMax wrote.
func DecodeMax(d *Decoder) (crdt.Max, error) {
	v, set, err := decodeOptInt(d)
	return crdt.Max{V: v, Set: set}, err
}

// EncodeMin writes nil when unset, else the value.
func EncodeMin(e *Encoder, m crdt.Min) error {
	if !m.Set {
		return e.EncodeNil()
	}
	return e.EncodeInt(m.V)
}

// DecodeMin reads what EncodeMin wrote.
func DecodeMin(d *Decoder) (crdt.Min, error) {
	v, set, err := decodeOptInt(d)
	return crdt.Min{V: v, Set: set}, err
}

func decodeOptInt(d *Decoder) (int64, bool, error) {
	c, err := d.PeekCode()
	if err != nil {
		return 0, false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if c == 0xc0 { // msgpack nil
		_ = d.DecodeNil()
		return 0, false, nil
	}
	v, err := d.Int()
	return v, err == nil, err
}

// EncodeGSet writes the elements as a sorted array.
func EncodeGSet(e *Encoder, g crdt.GSet) error {
	var buf [smallSet]string
	return encodeStrings(e, crdt.AppendSortedKeys(buf[:0], g.M))
}

// smallSet is the size of the stack arrays the encoders sort a set's
// keys in: a profile's sets are mostly smaller, and a larger one
// allocates as before.
const smallSet = 16

// DecodeGSet reads what EncodeGSet wrote.
func DecodeGSet(d *Decoder) (crdt.GSet, error) {
	n, err := d.ArrayLen(1)
	if err != nil || n == 0 {
		return crdt.GSet{}, err
	}
	g := crdt.GSet{M: make(map[string]struct{}, n)}
	for range n {
		s, err := d.String()
		if err != nil {
			return crdt.GSet{}, err
		}
		g.M[s] = struct{}{}
	}
	return g, nil
}

func encodeStrings(e *Encoder, ss []string) error {
	if err := e.EncodeArrayLen(len(ss)); err != nil {
		return err
	}
	for _, s := range ss {
		if err := e.EncodeString(s); err != nil {
			return err
		}
	}
	return nil
}

// EncodeORSet writes [entries, vv, cloud]: entries a map element →
// flat [replica, seq, …]; vv a flat [replica, seq, …]; cloud likewise; all
// sorted.
func EncodeORSet(e *Encoder, s crdt.ORSet) error {
	if err := FirstErr(e.EncodeArrayLen(3), e.EncodeMapLen(len(s.Entries))); err != nil {
		return err
	}
	var keys [smallSet]string
	for _, k := range crdt.AppendSortedKeys(keys[:0], s.Entries) {
		if err := FirstErr(e.EncodeString(k), encodeDots(e, s.Entries[k])); err != nil {
			return err
		}
	}
	var dots [smallSet]crdt.Dot
	vv := dots[:0]
	for r, q := range s.Ctx.VV {
		vv = append(vv, crdt.Dot{Replica: r, Seq: q})
	}
	slices.SortFunc(vv, dotCmp)
	cloud := crdt.SortedKeysFunc(s.Ctx.Cloud, dotCmp)
	return FirstErr(encodeDots(e, vv), encodeDots(e, cloud))
}

func dotCmp(a, b crdt.Dot) int {
	if c := cmp.Compare(a.Replica, b.Replica); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

func encodeDots(e *Encoder, ds []crdt.Dot) error {
	if err := e.EncodeArrayLen(2 * len(ds)); err != nil {
		return err
	}
	for _, d := range ds {
		if err := FirstErr(e.EncodeUint(uint64(d.Replica)), e.EncodeUint(d.Seq)); err != nil {
			return err
		}
	}
	return nil
}

func decodeDots(d *Decoder) ([]crdt.Dot, error) {
	n, err := d.ArrayLen(1)
	if err != nil || n == 0 {
		return nil, err
	}
	if n%2 != 0 {
		return nil, fmt.Errorf("%w: dot array of %d", ErrCorrupt, n)
	}
	ds := make([]crdt.Dot, 0, n/2)
	for range n / 2 {
		r, err1 := d.Uint()
		q, err2 := d.Uint()
		if err := FirstErr(err1, err2); err != nil {
			return nil, err
		}
		ds = append(ds, crdt.Dot{Replica: crdt.ReplicaID(r), Seq: q})
	}
	return ds, nil
}

// decodeVV is decodeDots into a version vector (a later dot of a
// replica wins), nil when there are none, without the list in between.
func decodeVV(d *Decoder) (map[crdt.ReplicaID]uint64, error) {
	n, err := d.ArrayLen(1)
	if err != nil || n == 0 {
		return nil, err
	}
	if n%2 != 0 {
		return nil, fmt.Errorf("%w: dot array of %d", ErrCorrupt, n)
	}
	vv := make(map[crdt.ReplicaID]uint64, n/2)
	for range n / 2 {
		r, err1 := d.Uint()
		q, err2 := d.Uint()
		if err := FirstErr(err1, err2); err != nil {
			return nil, err
		}
		vv[crdt.ReplicaID(r)] = q
	}
	return vv, nil
}

// DecodeORSet reads what EncodeORSet wrote.
func DecodeORSet(d *Decoder) (crdt.ORSet, error) {
	var s crdt.ORSet
	if err := d.ExpectArray(3); err != nil {
		return s, err
	}
	n, err := d.MapLen(2)
	if err != nil {
		return s, err
	}
	if n > 0 {
		s.Entries = make(map[string][]crdt.Dot, n)
	}
	for range n {
		k, err := d.String()
		if err != nil {
			return crdt.ORSet{}, err
		}
		ds, err := decodeDots(d)
		if err != nil {
			return crdt.ORSet{}, err
		}
		if len(ds) == 0 {
			return crdt.ORSet{}, fmt.Errorf("%w: element without dots", ErrCorrupt)
		}
		s.Entries[k] = ds
	}
	if s.Ctx.VV, err = decodeVV(d); err != nil {
		return crdt.ORSet{}, err
	}
	cloud, err := decodeDots(d)
	if err != nil {
		return crdt.ORSet{}, err
	}
	if len(cloud) > 0 {
		s.Ctx.Cloud = make(map[crdt.Dot]struct{}, len(cloud))
		for _, x := range cloud {
			s.Ctx.Cloud[x] = struct{}{}
		}
	}
	return s, nil
}

// EncodeRecent writes the items newest first as a flat array
// [id, time, data, …].
func EncodeRecent(e *Encoder, r crdt.Recent) error {
	if err := e.EncodeArrayLen(3 * len(r.Items)); err != nil {
		return err
	}
	for _, it := range r.Items {
		if err := FirstErr(e.EncodeString(it.ID), e.EncodeInt(it.Time), e.EncodeBytes(it.Data)); err != nil {
			return err
		}
	}
	return nil
}

// DecodeRecent reads what EncodeRecent wrote. It checks the items are in
// rank order without duplicate IDs, as Merge keeps them.
func DecodeRecent(d *Decoder) (crdt.Recent, error) {
	n, err := d.ArrayLen(1)
	if err != nil || n == 0 {
		return crdt.Recent{}, err
	}
	if n%3 != 0 {
		return crdt.Recent{}, fmt.Errorf("%w: recent array of %d", ErrCorrupt, n)
	}
	items := make([]crdt.Item, 0, n/3)
	seen := make(map[string]struct{}, n/3)
	for range n / 3 {
		id, err1 := d.String()
		t, err2 := d.Int()
		if err := FirstErr(err1, err2); err != nil {
			return crdt.Recent{}, err
		}
		data, err := d.Bytes()
		if err != nil {
			return crdt.Recent{}, err
		}
		it := crdt.Item{ID: id, Time: t, Data: data}
		if _, dup := seen[id]; dup {
			return crdt.Recent{}, fmt.Errorf("%w: duplicate item", ErrCorrupt)
		}
		seen[id] = struct{}{}
		if k := len(items); k > 0 && !(items[k-1].Time > t || items[k-1].Time == t && items[k-1].ID > id) {
			return crdt.Recent{}, fmt.Errorf("%w: items out of order", ErrCorrupt)
		}
		items = append(items, it)
	}
	return crdt.Recent{Items: items}, nil
}

// EncodeTombstones writes the keys as a sorted array.
func EncodeTombstones(e *Encoder, t crdt.Tombstones) error { return EncodeGSet(e, t.Keys) }

// DecodeTombstones reads what EncodeTombstones wrote.
func DecodeTombstones(d *Decoder) (crdt.Tombstones, error) {
	g, err := DecodeGSet(d)
	return crdt.Tombstones{Keys: g}, err
}

// EncodeLedger writes the entries in key order as one msgpack bin: for
// each entry its key (8 bytes, big-endian), its time (zig-zag varint),
// the length of its data (uvarint) and the data. A ledger has an entry
// per message a profile ever received, so its encoding is hand-packed
// rather than three msgpack values an entry: a third of the bytes and of
// the time.
func EncodeLedger(e *Encoder, l crdt.Ledger) error {
	// The bin's exact length first, then its bytes appended in place in
	// the encoder's buffer: no scratch copy of the ledger.
	var tmp [binary.MaxVarintLen64]byte
	n := 0
	for _, x := range l.Entries {
		n += 8 + binary.PutVarint(tmp[:], x.Time) + binary.PutUvarint(tmp[:], uint64(len(x.Data))) + len(x.Data)
	}
	if err := e.EncodeBytesLen(n); err != nil {
		return err
	}
	e.buf.Grow(n)
	b := e.buf.AvailableBuffer()
	for _, x := range l.Entries {
		b = binary.BigEndian.AppendUint64(b, x.Key)
		b = binary.AppendVarint(b, x.Time)
		b = binary.AppendUvarint(b, uint64(len(x.Data)))
		b = append(b, x.Data...)
	}
	_, err := e.buf.Write(b)
	return err
}

// DecodeLedger reads what EncodeLedger wrote. Keys must be strictly
// increasing, as the ledger keeps them. Entries' data share the decoded
// bin (a copy unless the decoder shares its input).
//
// It also reads the first form of the ledger, a flat msgpack array
// [key, time, data, …], which files written between 4491d4d and f4c7c81
// hold (a decoded one re-encodes in the packed form).
func DecodeLedger(d *Decoder) (crdt.Ledger, error) {
	if d.NextIsArray() {
		return decodeLedgerArray(d)
	}
	b, err := d.Bytes()
	if err != nil || len(b) == 0 {
		return crdt.Ledger{}, err
	}
	var out []crdt.LedgerEntry
	for len(b) > 0 {
		if len(b) < 8 {
			return crdt.Ledger{}, fmt.Errorf("%w: ledger entry key cut short", ErrCorrupt)
		}
		k := binary.BigEndian.Uint64(b)
		b = b[8:]
		t, n := binary.Varint(b)
		if n <= 0 {
			return crdt.Ledger{}, fmt.Errorf("%w: ledger entry time", ErrCorrupt)
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return crdt.Ledger{}, fmt.Errorf("%w: ledger entry length", ErrCorrupt)
		}
		b = b[n:]
		if i := len(out); i > 0 && out[i-1].Key >= k {
			return crdt.Ledger{}, fmt.Errorf("%w: ledger keys out of order", ErrCorrupt)
		}
		var data []byte
		if l > 0 {
			data = b[:l:l]
		}
		out = append(out, crdt.LedgerEntry{Key: k, Time: t, Data: data})
		b = b[l:]
	}
	return crdt.Ledger{Entries: out}, nil
}

// decodeLedgerArray reads the ledger's first encoding, a flat array
// [key, time, data, …] in key order.
func decodeLedgerArray(d *Decoder) (crdt.Ledger, error) {
	n, err := d.ArrayLen(1)
	if err != nil || n == 0 {
		return crdt.Ledger{}, err
	}
	if n%3 != 0 {
		return crdt.Ledger{}, fmt.Errorf("%w: ledger array of %d", ErrCorrupt, n)
	}
	out := make([]crdt.LedgerEntry, 0, n/3)
	for range n / 3 {
		k, err1 := d.Uint()
		t, err2 := d.Int()
		if err := FirstErr(err1, err2); err != nil {
			return crdt.Ledger{}, err
		}
		data, err := d.Bytes()
		if err != nil {
			return crdt.Ledger{}, err
		}
		if i := len(out); i > 0 && out[i-1].Key >= k {
			return crdt.Ledger{}, fmt.Errorf("%w: ledger keys out of order", ErrCorrupt)
		}
		if len(data) == 0 {
			data = nil
		}
		out = append(out, crdt.LedgerEntry{Key: k, Time: t, Data: data})
	}
	return crdt.Ledger{Entries: out}, nil
}
