package profile

import (
	"fmt"

	"ucv/crdt/codec"
)

// TagProfile is the codec tag of an encoded Profile.
const TagProfile codec.Tag = 64

// profileFields is the number of fields in the version-1 body. A newer
// version may append fields; a decoder skips fields it does not know.
const profileFields = 14

// Codec encodes a Profile: [Version][TagProfile] then an array of its
// fields in declaration order, each in its crdt codec encoding. Equal
// profiles encode to equal bytes.
var Codec = codec.Type[*Profile]{Tag: TagProfile, Enc: encodeProfile, Dec: decodeProfile}

// Marshal encodes p with Codec.
func (p *Profile) Marshal() ([]byte, error) { return Codec.Marshal(p) }

// Unmarshal decodes a Profile encoded with Codec.
func Unmarshal(b []byte) (*Profile, error) { return Codec.Unmarshal(b) }

func encodeProfile(e *codec.Encoder, p *Profile) error {
	steps := []func() error{
		func() error { return e.EncodeArrayLen(profileFields) },
		func() error { return e.EncodeString(p.ID) },
		func() error { return codec.EncodeTimestamp(e, p.Version) },
		func() error { return codec.EncodeLWWMap(e, p.Traits) },
		func() error { return codec.EncodeORSet(e, p.Identities) },
		func() error { return codec.EncodeLWWMap(e, p.Consent) },
		func() error { return codec.EncodeCounterMap(e, p.Counters) },
		func() error { return codec.EncodeMin(e, p.FirstSeen) },
		func() error { return codec.EncodeMax(e, p.LastSeen) },
		func() error { return codec.EncodeMax(e, p.LastOrder) },
		func() error { return codec.EncodeGSet(e, p.Channels) },
		func() error { return codec.EncodeRecent(e, p.Timeline) },
		func() error { return codec.EncodeLWWMap(e, p.Merges) },
		func() error { return codec.EncodeMax(e, p.Erased) },
		func() error { return codec.EncodeTombstones(e, p.Tombstones) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func decodeProfile(d *codec.Decoder) (*Profile, error) {
	n, err := d.ArrayLen(1)
	if err != nil {
		return nil, err
	}
	if n < profileFields {
		return nil, fmt.Errorf("%w: profile with %d fields", codec.ErrCorrupt, n)
	}
	p := &Profile{}
	steps := []func() error{
		func() (err error) { p.ID, err = d.String(); return },
		func() (err error) { p.Version, err = codec.DecodeTimestamp(d); return },
		func() (err error) { p.Traits, err = codec.DecodeLWWMap(d); return },
		func() (err error) { p.Identities, err = codec.DecodeORSet(d); return },
		func() (err error) { p.Consent, err = codec.DecodeLWWMap(d); return },
		func() (err error) { p.Counters, err = codec.DecodeCounterMap(d); return },
		func() (err error) { p.FirstSeen, err = codec.DecodeMin(d); return },
		func() (err error) { p.LastSeen, err = codec.DecodeMax(d); return },
		func() (err error) { p.LastOrder, err = codec.DecodeMax(d); return },
		func() (err error) { p.Channels, err = codec.DecodeGSet(d); return },
		func() (err error) { p.Timeline, err = codec.DecodeRecent(d); return },
		func() (err error) { p.Merges, err = codec.DecodeLWWMap(d); return },
		func() (err error) { p.Erased, err = codec.DecodeMax(d); return },
		func() (err error) { p.Tombstones, err = codec.DecodeTombstones(d); return },
	}
	for i := 0; i < n; i++ {
		if i < len(steps) {
			if err := steps[i](); err != nil {
				return nil, err
			}
			continue
		}
		if err := d.Skip(); err != nil { // a field from a newer version
			return nil, fmt.Errorf("%w: %w", codec.ErrCorrupt, err)
		}
	}
	if len(p.Timeline.Items) > TimelineCap {
		return nil, fmt.Errorf("%w: timeline of %d items", codec.ErrCorrupt, len(p.Timeline.Items))
	}
	return p, nil
}
