package api

import (
	"encoding/json"
	"strings"

	"ucv/hub"
	"ucv/profile"
)

// The auditor reads profiles without raw identifiers: every identifier
// value and every trait value is replaced by profile.Redact's stand-in
// ("h:" and 12 hex digits of a SHA-256), the same one the logs print, so
// an auditor can match a profile to log lines and see that two profiles
// share a value without seeing the value. Identifier types, trait names,
// consent, channels, computed traits and profile IDs stay. The hash is
// unkeyed: it hides values from a reader, not from one who guesses them
// and hashes the guess — which the lookup by type:value allows anyway.

// maskView returns v with its identifier and trait values redacted.
func maskView(v profile.View) profile.View {
	ids := make([]profile.Identifier, len(v.Identities))
	for i, id := range v.Identities {
		ids[i] = profile.Identifier{Type: id.Type, Value: profile.Redact(id.Value)}
	}
	v.Identities = ids
	v.Traits = maskTraits(v.Traits)
	return v
}

// maskTraits replaces each value of a traits object by the stand-in of
// its JSON text; something that is not an object becomes {}.
func maskTraits(raw json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return json.RawMessage("{}")
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = profile.Redact(string(v))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// maskEvents returns evs with the shared identifier keys of identifier
// links redacted ("email:h:…").
func maskEvents(evs []hub.Event) []hub.Event {
	out := make([]hub.Event, len(evs))
	for i, ev := range evs {
		if len(ev.Identifiers) > 0 {
			keys := make([]string, len(ev.Identifiers))
			for j, k := range ev.Identifiers {
				t, v, _ := strings.Cut(k, ":")
				keys[j] = t + ":" + profile.Redact(v)
			}
			ev.Identifiers = keys
		}
		out[i] = ev
	}
	return out
}
