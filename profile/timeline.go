package profile

import (
	"ucv/crdt/codec"
)

// TimelineEvent is the summary of one event kept on the profile's
// timeline. It is encoded as a compact msgpack array (version 1):
// [kind, name, channel, source, currency, revenue_minor, category].
type TimelineEvent struct {
	MessageID    string `json:"message_id"`
	Time         int64  `json:"-"`
	Kind         Kind   `json:"type"`
	Name         string `json:"name,omitempty"`
	Channel      string `json:"channel,omitempty"`
	Source       string `json:"source,omitempty"`
	Currency     string `json:"currency,omitempty"`
	RevenueMinor int64  `json:"revenue_minor,omitempty"`
	Category     string `json:"category,omitempty"`
}

func (ev TimelineEvent) encode() []byte {
	e := codec.GetEncoder()
	defer codec.PutEncoder(e)
	_ = e.EncodeArrayLen(7)
	_ = e.EncodeString(string(ev.Kind))
	_ = e.EncodeString(ev.Name)
	_ = e.EncodeString(ev.Channel)
	_ = e.EncodeString(ev.Source)
	_ = e.EncodeString(ev.Currency)
	_ = e.EncodeInt(ev.RevenueMinor)
	_ = e.EncodeString(ev.Category)
	return append([]byte(nil), e.Bytes()...)
}

// decodeTimelineEvent reads what encode wrote. Unknown trailing fields
// (from a newer version) are ignored.
func decodeTimelineEvent(id string, t int64, b []byte) (TimelineEvent, error) {
	d := codec.NewDecoder(b)
	n, err := d.ArrayLen(1)
	if err != nil {
		return TimelineEvent{}, err
	}
	ev := TimelineEvent{MessageID: id, Time: t}
	var kind string
	fields := []*string{&kind, &ev.Name, &ev.Channel, &ev.Source, &ev.Currency}
	for i := 0; i < n; i++ {
		switch {
		case i < len(fields):
			if *fields[i], err = d.String(); err != nil {
				return TimelineEvent{}, err
			}
		case i == 5:
			if ev.RevenueMinor, err = d.Int(); err != nil {
				return TimelineEvent{}, err
			}
		case i == 6:
			if ev.Category, err = d.String(); err != nil {
				return TimelineEvent{}, err
			}
		default:
			if err := d.Skip(); err != nil {
				return TimelineEvent{}, err
			}
		}
	}
	ev.Kind = Kind(kind)
	return ev, nil
}

// Events returns the timeline newest first.
func (p *Profile) Events() []TimelineEvent {
	out := make([]TimelineEvent, 0, len(p.Timeline.Items))
	for _, it := range p.Timeline.Items {
		ev, err := decodeTimelineEvent(it.ID, it.Time, it.Data)
		if err != nil {
			ev = TimelineEvent{MessageID: it.ID, Time: it.Time}
		}
		out = append(out, ev)
	}
	return out
}
