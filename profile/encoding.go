package profile

import (
	"fmt"

	"ucv/crdt"
	"ucv/crdt/codec"
)

// TagProfile is the codec tag of an encoded Profile.
const TagProfile codec.Tag = 64

// profileFields is the number of fields in the version-1 body. A newer
// version may append fields; a decoder skips fields it does not know.
// minProfileFields is the count of the first version-1 encoding (before
// the ledger was appended), which still decodes.
// A profile with a retention watermark (Profile.Retained) appends it as
// a 16th field; one without is encoded in 15 fields, byte for byte as
// before the watermark existed. A profile with survivorship candidates
// (Profile.Candidates) appends them as a 17th field, after the
// watermark (written unset when there is none); one without keeps the
// bytes it had before candidates existed. The candidates that hold
// their trait's own register (all of them when one source writes to
// one record) are encoded by origin in an 18th field instead, and the
// 17th holds only the rest (candenc.go); a profile with none of those
// keeps the 17-field form.
const (
	profileFields    = 15
	minProfileFields = 14
)

// Marshal encodes p as [codec.Version][TagProfile] followed by the S2
// compression of a msgpack array of its fields in declaration order, each
// in its crdt codec encoding. Equal profiles encode to equal bytes.
// Timelines repeat event names, channels and sources, so compression
// roughly halves a typical profile.
func (p *Profile) Marshal() ([]byte, error) {
	e := codec.GetEncoder()
	defer codec.PutEncoder(e)
	if err := encodeProfile(e, p); err != nil {
		return nil, fmt.Errorf("profile: encode: %w", err)
	}
	return codec.Compress([]byte{codec.Version, byte(TagProfile)}, e.Bytes()), nil
}

// Unmarshal decodes what Marshal wrote. Errors wrap codec.ErrCorrupt or
// codec.ErrVersion.
func Unmarshal(b []byte) (*Profile, error) {
	d, err := openBody(b)
	if err != nil {
		return nil, err
	}
	defer codec.PutDecoder(d)
	p, err := decodeProfile(d)
	if err != nil {
		return nil, err
	}
	if d.Remaining() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", codec.ErrCorrupt, d.Remaining())
	}
	return p, nil
}

// UnmarshalIdentity decodes from what Marshal wrote only what a record
// of the identity graph is made of — ID, Version, Traits, Identities
// and Erased — and skips the other fields undecoded (consent, counters,
// channels, timeline, merges; tombstones, ledger and candidates are not
// read at all): most of a profile's decoding. The other fields of the
// result are empty. Adopt of it has the Traits, Identities and Erased
// that Adopt of Unmarshal's result has (TestUnmarshalIdentityIsUnmarshal);
// the hub's restore reads each fragment this way. It checks less than
// Unmarshal: what it skips is not validated. Errors wrap
// codec.ErrCorrupt or codec.ErrVersion.
func UnmarshalIdentity(b []byte) (*Profile, error) {
	d, err := openBody(b)
	if err != nil {
		return nil, err
	}
	defer codec.PutDecoder(d)
	n, err := d.ArrayLen(1)
	if err != nil {
		return nil, err
	}
	if n < minProfileFields {
		return nil, fmt.Errorf("%w: profile with %d fields", codec.ErrCorrupt, n)
	}
	p := &Profile{}
	if p.ID, err = d.String(); err != nil {
		return nil, err
	}
	if p.Version, err = codec.DecodeTimestamp(d); err != nil {
		return nil, err
	}
	if p.Traits, err = codec.DecodeLWWMap(d); err != nil {
		return nil, err
	}
	if p.Identities, err = codec.DecodeORSet(d); err != nil {
		return nil, err
	}
	// Fields 4–11 (consent … merges) lie between the identities and the
	// erasure mark.
	for range 12 - 4 {
		if err := d.Skip(); err != nil {
			return nil, fmt.Errorf("%w: %w", codec.ErrCorrupt, err)
		}
	}
	if p.Erased, err = codec.DecodeMax(d); err != nil {
		return nil, err
	}
	return p, nil
}

// openBody checks Marshal's header on b and returns a decoder of its
// decompressed body (give it back with codec.PutDecoder).
func openBody(b []byte) (*codec.Decoder, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", codec.ErrCorrupt, len(b))
	}
	if b[0] != codec.Version || codec.Tag(b[1]) != TagProfile {
		return nil, fmt.Errorf("%w: version %d tag %d, want a version %d profile", codec.ErrVersion, b[0], b[1], codec.Version)
	}
	body, err := codec.Decompress(b[2:])
	if err != nil {
		return nil, err
	}
	return codec.GetSharingDecoder(body), nil // body is ours alone
}

func encodeProfile(e *codec.Encoder, p *Profile) error {
	return encodeProfileWith(e, p, splitCandidates)
}

// encodeProfileWith is encodeProfile choosing the candidates' form with
// split (tests write the first form of 0045 with every candidate in
// full).
func encodeProfileWith(e *codec.Encoder, p *Profile, split func(crdt.LWWMap, traitList) candidateForm) error {
	fields := profileFields
	if p.Retained.Set {
		fields++
	}
	traits := listTraits(p.Traits)
	var cf candidateForm
	if len(p.Candidates.M) > 0 {
		cf = split(p.Candidates, traits)
		fields = profileFields + 2
		if len(cf.origins) > 0 {
			fields++
		}
	}
	// One call after another, not a slice of closures: the closures
	// escaped and cost about twenty allocations an encoding. Every
	// encoder runs (they only append to e's buffer); the first error is
	// returned.
	err := codec.FirstErr(
		e.EncodeArrayLen(fields),
		e.EncodeString(p.ID),
		codec.EncodeTimestamp(e, p.Version),
		encodeTraits(e, traits),
		codec.EncodeORSet(e, p.Identities),
		codec.EncodeLWWMap(e, p.Consent),
		codec.EncodeCounterMap(e, p.Counters),
		codec.EncodeMin(e, p.FirstSeen),
		codec.EncodeMax(e, p.LastSeen),
		codec.EncodeMax(e, p.LastOrder),
		codec.EncodeGSet(e, p.Channels),
		codec.EncodeRecent(e, p.Timeline),
		codec.EncodeLWWMap(e, p.Merges),
		codec.EncodeMax(e, p.Erased),
		codec.EncodeTombstones(e, p.Tombstones),
		codec.EncodeLedger(e, p.Ledger),
	)
	if err == nil && fields > profileFields {
		err = codec.EncodeMax(e, p.Retained)
	}
	if err == nil && fields > profileFields+1 {
		err = encodeExplicit(e, p.Candidates, cf.explicit)
	}
	if err == nil && fields > profileFields+2 {
		err = encodeOrigins(e, cf.origins)
	}
	return err
}

func decodeProfile(d *codec.Decoder) (*Profile, error) {
	n, err := d.ArrayLen(1)
	if err != nil {
		return nil, err
	}
	if n < minProfileFields {
		return nil, fmt.Errorf("%w: profile with %d fields", codec.ErrCorrupt, n)
	}
	input := d.Remaining() // the body after its array header
	p := &Profile{}
	var traits []string // the traits' keys in encoded order, when origins follow
	steps := []func() error{
		func() (err error) { p.ID, err = d.String(); return },
		func() (err error) { p.Version, err = codec.DecodeTimestamp(d); return },
		func() (err error) { p.Traits, traits, err = decodeTraits(d, n > profileFields+2); return },
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
		func() (err error) { p.Ledger, err = codec.DecodeLedger(d); return },
		func() (err error) { p.Retained, err = codec.DecodeMax(d); return },
		func() (err error) { p.Candidates, err = codec.DecodeLWWMap(d); return },
		func() error { return decodeOrigins(d, traits, p.Traits, &p.Candidates, input) },
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
