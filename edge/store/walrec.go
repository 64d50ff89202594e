package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"ucv/crdt"
	"ucv/crdt/codec"
	"ucv/profile"
)

// A write-ahead log record's payload is the msgpack array [lsn, events],
// each event the array of walEventFields fields below. Message maps
// (traits, properties, context) are stored as their JSON text, which
// keeps json.Number apart from strings exactly as the parser produced
// them (msgpack would turn a number written as "12.50" into a float or
// a string); consent is a msgpack map of booleans. Times are Unix
// nanoseconds (nil for the zero time). A decoder refuses anything else.

// walEventFields is the number of fields of one logged event.
const walEventFields = 21

// errWALRecord is wrapped by every error of decodeWALRecord.
var errWALRecord = errors.New("store: malformed write-ahead log record")

// encodeWALEvents encodes the events of a record (the second element
// of its payload). Callers run it on their own goroutine, so the
// appender only frames.
func encodeWALEvents(evs []Event) ([]byte, error) {
	e := codec.GetEncoder()
	defer codec.PutEncoder(e)
	err := e.EncodeArrayLen(len(evs))
	for _, ev := range evs {
		if err != nil {
			break
		}
		err = encodeWALEvent(e, ev)
	}
	if err != nil {
		return nil, fmt.Errorf("store: encode log record: %w", err)
	}
	return bytes.Clone(e.Bytes()), nil
}

// appendWALPayload appends the payload of record lsn whose events
// encodeWALEvents encoded as evs.
func appendWALPayload(dst []byte, lsn uint64, evs []byte) []byte {
	dst = append(dst, 0x92, 0xcf)
	dst = binary.BigEndian.AppendUint64(dst, lsn)
	return append(dst, evs...)
}

func encodeWALEvent(e *codec.Encoder, ev Event) error {
	m := ev.Msg
	if m == nil {
		return errors.New("event without a message")
	}
	err := codec.FirstErr(e.EncodeArrayLen(walEventFields),
		e.EncodeString(string(m.Kind)), e.EncodeString(m.MessageID), e.EncodeString(m.UserID),
		e.EncodeString(m.AnonymousID), e.EncodeString(m.PreviousID), e.EncodeString(m.GroupID),
		e.EncodeString(m.Event), e.EncodeString(m.Name), e.EncodeString(m.Category), e.EncodeString(m.Channel))
	// The three maps' JSON in turn in one scratch buffer: the encoder
	// copies each.
	scratch := make([]byte, 0, 512)
	for _, mm := range []map[string]any{m.Traits, m.Properties, m.Context} {
		if err != nil {
			return err
		}
		var b []byte
		if b, err = jsonOrNil(scratch[:0], mm); err != nil {
			return err
		}
		if b != nil {
			scratch = b // keep what it grew to
		}
		err = e.EncodeBytes(b)
	}
	if err = codec.FirstErr(err, encodeIdentifiers(e, m.Identifiers), encodeIdentifiers(e, m.Previous)); err != nil {
		return err
	}
	if m.Consent == nil {
		err = e.EncodeNil()
	} else {
		err = e.EncodeMapLen(len(m.Consent))
		for _, k := range crdt.SortedKeys(m.Consent) {
			if err != nil {
				break
			}
			err = codec.FirstErr(e.EncodeString(k), e.EncodeBool(m.Consent[k]))
		}
	}
	return codec.FirstErr(err, encodeTime(e, m.Timestamp), encodeTime(e, m.ReceivedAt), encodeTime(e, m.SentAt),
		e.EncodeString(ev.Source), e.EncodeBytes(ev.Forward))
}

// jsonOrNil encodes a message's traits, properties or context as JSON
// (nil for none). The maps hold what profile.ParseMessage decoded (JSON
// values with json.Number numbers), which appendJSONValue writes without
// reflection — on order events with line items encoding/json's map
// encoder was a fifth of the store's CPU (bench/README.md, "The log
// record of an order"). Replay decodes the bytes as before, so records
// written either way read the same. The JSON is appended to dst.
func jsonOrNil(dst []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return nil, nil
	}
	b, err := appendJSONValue(dst, m)
	if err != nil {
		return nil, fmt.Errorf("message map: %w", err)
	}
	return b, nil
}

// appendJSONValue appends v as JSON: object keys sorted and strings
// escaped as encoding/json writes them. Values of types a decoded JSON
// document does not hold go through encoding/json.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return codec.AppendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case json.Number:
		if !isJSONNumber(x) {
			return nil, errors.New("invalid number literal")
		}
		return append(b, x...), nil
	case map[string]any:
		var buf [16]string // a message map's keys, sorted without allocating
		keys := crdt.AppendSortedKeys(buf[:0], x)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = codec.AppendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSONValue(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// isJSONNumber reports whether n is one JSON number literal and nothing
// else, as encoding/json requires of a json.Number it writes: a literal
// starts with '-' or a digit and ends with a digit, so a valid JSON text
// of that shape is exactly one number (no string, object or spaces).
func isJSONNumber(n json.Number) bool {
	return len(n) > 0 && (n[0] == '-' || n[0] >= '0' && n[0] <= '9') &&
		n[len(n)-1] >= '0' && n[len(n)-1] <= '9' && json.Valid([]byte(n))
}

func encodeIdentifiers(e *codec.Encoder, ids []profile.Identifier) error {
	if ids == nil {
		return e.EncodeNil()
	}
	err := e.EncodeArrayLen(2 * len(ids))
	for _, id := range ids {
		if err != nil {
			break
		}
		err = codec.FirstErr(e.EncodeString(string(id.Type)), e.EncodeString(id.Value))
	}
	return err
}

func encodeTime(e *codec.Encoder, t time.Time) error {
	if t.IsZero() {
		return e.EncodeNil()
	}
	return e.EncodeInt(t.UnixNano())
}

// decodeWALRecord decodes a record payload. The events' byte fields do
// not alias b.
func decodeWALRecord(b []byte) (lsn uint64, evs []Event, err error) {
	return decodeWALRecordPast(b, 0)
}

// decodeWALRecordPast is decodeWALRecord, except that of a record at or
// below position applied it decodes only the position (evs nil): at
// open, the data file holds those events already (scanWALSegment).
func decodeWALRecordPast(b []byte, applied uint64) (lsn uint64, evs []Event, err error) {
	d := codec.NewDecoder(b)
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		var err error
		if lsn, err = d.Uint(); err != nil {
			return err
		}
		if lsn == 0 {
			return fmt.Errorf("%w: position 0", errWALRecord)
		}
		if lsn <= applied {
			return nil
		}
		n, err := d.ArrayLen(walEventFields)
		if err != nil {
			return err
		}
		evs = make([]Event, n)
		for i := range evs {
			if evs[i], err = decodeWALEvent(d); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
		}
		return nil
	}()
	if err == nil && lsn <= applied {
		return lsn, nil, nil // the events are not read: no trailing check
	}
	if err := codec.Finish(d, err, errWALRecord); err != nil {
		return 0, nil, err
	}
	return lsn, evs, nil
}

func decodeWALEvent(d *codec.Decoder) (Event, error) {
	if err := d.ExpectArray(walEventFields); err != nil {
		return Event{}, err
	}
	m := &profile.Message{}
	var kind string
	strs := []*string{&kind, &m.MessageID, &m.UserID, &m.AnonymousID, &m.PreviousID, &m.GroupID,
		&m.Event, &m.Name, &m.Category, &m.Channel}
	for _, p := range strs {
		s, err := d.String()
		if err != nil {
			return Event{}, err
		}
		*p = s
	}
	m.Kind = profile.Kind(kind)
	for _, p := range []*map[string]any{&m.Traits, &m.Properties, &m.Context} {
		b, err := d.Bytes()
		if err != nil {
			return Event{}, err
		}
		if b == nil {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(p); err != nil {
			return Event{}, fmt.Errorf("%w: message map: %w", errWALRecord, err)
		}
		if *p == nil || dec.More() {
			return Event{}, fmt.Errorf("%w: message map is not one object", errWALRecord)
		}
	}
	var err error
	if m.Identifiers, err = decodeIdentifiers(d); err != nil {
		return Event{}, err
	}
	if m.Previous, err = decodeIdentifiers(d); err != nil {
		return Event{}, err
	}
	if nextIsNil(d) {
		if err := d.DecodeNil(); err != nil {
			return Event{}, err
		}
	} else {
		n, err := d.MapLen(2)
		if err != nil {
			return Event{}, err
		}
		m.Consent = make(map[string]bool, n)
		for range n {
			k, err := d.String()
			if err != nil {
				return Event{}, err
			}
			v, err := d.Bool()
			if err != nil {
				return Event{}, err
			}
			m.Consent[k] = v
		}
	}
	for _, p := range []*time.Time{&m.Timestamp, &m.ReceivedAt, &m.SentAt} {
		if nextIsNil(d) {
			if err := d.DecodeNil(); err != nil {
				return Event{}, err
			}
			continue
		}
		ns, err := d.Int()
		if err != nil {
			return Event{}, err
		}
		*p = time.Unix(0, ns).UTC()
	}
	ev := Event{Msg: m}
	if ev.Source, err = d.String(); err != nil {
		return Event{}, err
	}
	if ev.Forward, err = d.Bytes(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

func decodeIdentifiers(d *codec.Decoder) ([]profile.Identifier, error) {
	if nextIsNil(d) {
		return nil, d.DecodeNil()
	}
	n, err := d.ArrayLen(1)
	if err != nil {
		return nil, err
	}
	if n%2 != 0 {
		return nil, fmt.Errorf("%w: odd identifier list", errWALRecord)
	}
	ids := make([]profile.Identifier, n/2)
	for i := range ids {
		t, err := d.String()
		if err != nil {
			return nil, err
		}
		v, err := d.String()
		if err != nil {
			return nil, err
		}
		ids[i] = profile.Identifier{Type: profile.IDType(t), Value: v}
	}
	return ids, nil
}

// nextIsNil reports whether the next value is msgpack nil (0xc0).
func nextIsNil(d *codec.Decoder) bool {
	c, err := d.PeekCode()
	return err == nil && c == 0xc0
}
