package hub

import (
	"fmt"
	"sync"

	"ucv/crdt/codec"
	"ucv/hub/identity"
	"ucv/profile"
)

// model is the identity model every hub node scores with until an
// operator installs a trained one (CmdModel, fsm_model.go): the
// untrained model (the documented prior m/u probabilities, trained on no
// data) under DefaultConfig, a pure function of the binary, identical on
// every node. It is measurably worse than an EM-trained model
// (historical_50k B³ F1 0.852 against 0.931: bench/README.md,
// docs/decisions/0026-hub-identity-model.md).
var model = sync.OnceValues(func() (*identity.Model, error) {
	m, err := identity.Untrained(identity.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("hub: default identity model: %w", err)
	}
	return m, nil
})

// traitKinds maps Segment trait names (both spellings) to the identity
// field kinds they feed. Order matters only for the field order of a
// record, which is fixed by this slice.
var traitKinds = []struct {
	name string
	kind identity.Kind
}{
	{"name", identity.FullName},
	{"firstName", identity.FirstName}, {"first_name", identity.FirstName},
	{"lastName", identity.LastName}, {"last_name", identity.LastName},
	{"birthday", identity.BirthDate},
	{"gender", identity.Gender},
	{"city", identity.City},
	{"postalCode", identity.Postcode}, {"postal_code", identity.Postcode},
}

// addressKinds maps the keys of a Segment address trait object.
var addressKinds = []struct {
	name string
	kind identity.Kind
}{
	{"street", identity.Address},
	{"city", identity.City},
	{"state", identity.State},
	{"postalCode", identity.Postcode}, {"postal_code", identity.Postcode},
	{"country", identity.Country},
}

// addressFieldNames are the field names of the address keys:
// "address." and the key.
var addressFieldNames = func() map[string]string {
	m := map[string]string{}
	for _, t := range addressKinds {
		m[t.name] = "address." + t.name
	}
	return m
}()

// recordOf derives the identity record of a fragment: its identifiers
// (e-mail and phone as such, every other type as an exact-match id named
// by its type) and the traits the matcher compares. The result depends
// only on the fragment's state. id is the fragment's own ID (p.ID's
// value): the record carries it, not p's, and its fields' values point
// into packed (packFields of the fields), so a record kept by the
// identity engine or the identifier index pins no decoded state's buffer
// (docs/decisions/0056-hub-encoded-fragments.md). state.recs keeps
// packed.
func recordOf(id string, p *profile.Profile) (identity.Record, string) {
	r := identity.Record{ID: id, Fields: make([]identity.Field, 0, p.Identities.Len()+len(p.Traits.M)+4)}
	for _, id := range p.IdentityList() {
		switch id.Type {
		case profile.Email:
			r.Fields = append(r.Fields, identity.Field{Kind: identity.Email, Name: string(id.Type), Value: id.Value})
		case profile.Phone:
			r.Fields = append(r.Fields, identity.Field{Kind: identity.Phone, Name: string(id.Type), Value: id.Value})
		default:
			r.Fields = append(r.Fields, identity.Field{Kind: identity.ID, Name: string(id.Type), Value: id.Value})
		}
	}
	for _, t := range traitKinds {
		if s, ok := traitString(p, t.name); ok {
			r.Fields = append(r.Fields, identity.Field{Kind: t.kind, Name: t.name, Value: s})
		}
	}
	if b, ok := p.Traits.Get("address"); ok && b != nil {
		var buf [8]codec.KV
		if m, ok := codec.UnmarshalStringMap(b, buf[:0]); ok {
			// The common case (every value a string, codec/strings.go):
			// what the generic decoding below reads, without it.
			for _, t := range addressKinds {
				if s, ok := codec.LookupKV(m, t.name); ok && s != "" {
					r.Fields = append(r.Fields, identity.Field{Kind: t.kind, Name: addressFieldNames[t.name], Value: s})
				}
			}
		} else if v, err := codec.UnmarshalValue(b); err == nil {
			if m, ok := v.(map[string]any); ok {
				for _, t := range addressKinds {
					if s, ok := m[t.name].(string); ok && s != "" {
						r.Fields = append(r.Fields, identity.Field{Kind: t.kind, Name: addressFieldNames[t.name], Value: s})
					}
				}
			}
		}
	}
	r.Fields = appendKindTraits(r.Fields, p) // import.go
	if len(r.Fields) == 0 {
		r.Fields = nil // as without the preallocation
	}
	packed := packFields(r.Fields)
	// The fields again, now sharing packed's bytes (not the profile's),
	// in the same slice.
	r.Fields = unpackFieldsTo(r.Fields[:0], packed)
	return r, packed
}

// identifiersOf returns the identifiers in the fields of a record that
// recordOf built: its Email, Phone and ID fields are exactly the
// fragment's identities (IdentityList), each named by its type, so
// Identifier{Name, Value}.Key() is the identity's key. The strings are
// shared with the fields, not copied.
func identifiersOf(fields []identity.Field) []profile.Identifier {
	var out []profile.Identifier
	for _, f := range fields {
		if isIdentifierKind(f.Kind) {
			out = append(out, profile.Identifier{Type: profile.IDType(f.Name), Value: f.Value})
		}
	}
	return out
}

// isIdentifierKind says whether identifiersOf reads fields of kind k.
func isIdentifierKind(k identity.Kind) bool {
	return k == identity.Email || k == identity.Phone || k == identity.ID
}

func traitString(p *profile.Profile, name string) (string, bool) {
	b, ok := p.Traits.Get(name)
	if !ok || b == nil {
		return "", false
	}
	if s, ok := codec.UnmarshalString(b); ok { // codec/strings.go
		return s, s != ""
	}
	v, err := codec.UnmarshalValue(b)
	if err != nil {
		return "", false
	}
	s, ok := v.(string)
	return s, ok && s != ""
}
