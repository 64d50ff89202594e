package profile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is a Segment message type.
type Kind string

// Segment message types.
const (
	Identify Kind = "identify"
	Track    Kind = "track"
	Page     Kind = "page"
	Screen   Kind = "screen"
	Group    Kind = "group"
	Alias    Kind = "alias"
)

// Segment's limits, and ours where Segment sets none.
const (
	MaxEventBytes      = 32 << 10  // one message
	MaxBatchBytes      = 500 << 10 // one batch request
	MaxBatchEvents     = 2500
	MaxMessageIDLen    = 100
	MaxProperties      = 300 // keys of traits or properties
	MaxDepth           = 16  // JSON nesting anywhere in a message
	MaxTraitValueBytes = 8 << 10
	MaxStringBytes     = 512 // userId, anonymousId, event, name, …
)

// Message is one validated, normalized Segment-spec message.
type Message struct {
	Kind        Kind
	MessageID   string
	UserID      string
	AnonymousID string
	PreviousID  string // alias
	GroupID     string // group
	Event       string // track
	Name        string // page, screen
	Category    string // page
	Channel     string // "browser", "server", "mobile", … (from the message or its library)

	// Traits are identify/group traits merged with context.traits
	// (message traits win). Values are JSON values as decoded by
	// encoding/json with UseNumber.
	Traits     map[string]any
	Properties map[string]any
	Context    map[string]any

	// Identifiers are the normalized identifiers the message carries:
	// userId, anonymousId, context.device.id, traits email and phone,
	// context.externalIds. Deduplicated and sorted by key.
	Identifiers []Identifier
	// Previous holds, for an alias, what previousId may be: the
	// anonymous_id and the user_id of that value, normalized. Segment's
	// previousId is either; the store links the one it already knows
	// (see edge/store's resolve), else the anonymous_id.
	Previous []Identifier
	// Consent is context.consent.categoryPreferences.
	Consent map[string]bool

	// Timestamp is when the event happened, corrected for client clock
	// skew (receivedAt − (sentAt − originalTimestamp)), never after
	// ReceivedAt and never before 1970 (see ParseOptions.MaxEventAge for
	// the lower bound).
	Timestamp  time.Time
	ReceivedAt time.Time
	SentAt     time.Time

	// object is the decoded JSON object the client sent (a batch item
	// without its envelope), kept for Upstream; never modified after
	// parsing.
	object map[string]any
}

// LogValue renders the message without personal data.
func (m *Message) LogValue() slog.Value {
	types := make([]string, len(m.Identifiers))
	for i, id := range m.Identifiers {
		types[i] = string(id.Type)
	}
	return slog.GroupValue(
		slog.String("kind", string(m.Kind)),
		slog.String("message_id", m.MessageID),
		slog.String("event", m.Event),
		slog.String("identifier_types", strings.Join(types, ",")),
	)
}

// ParseOptions configure message parsing.
type ParseOptions struct {
	Normalize NormalizeOptions
	// MaxEventAge refuses events whose stated time (timestamp, or
	// originalTimestamp without sentAt) is further than this before
	// receivedAt, and dates skew-corrected times beyond it at receivedAt
	// (see Message.Timestamp). Zero means no bound; times before 1970
	// are refused either way. Servers use DefaultMaxEventAge.
	MaxEventAge time.Duration
}

// ParseMessage parses and validates one message body. kind is the type
// the endpoint implies ("" for /v1/batch items and generic endpoints,
// where the body's "type", or legacy "action", decides). receivedAt is the
// server's receive time. Errors are *FieldError or *LimitError (see
// errors.go) naming the field; they never contain field values.
func ParseMessage(body []byte, kind Kind, receivedAt time.Time, opts ParseOptions) (*Message, error) {
	if len(body) > MaxEventBytes {
		return nil, &LimitError{Field: "body", Limit: MaxEventBytes, What: "bytes"}
	}
	obj, err := decodeObject(body, "")
	if err != nil {
		return nil, err
	}
	return fromObject(obj, kind, nil, "", receivedAt, opts)
}

func encodedSize(v any) (int, error) {
	b, err := json.Marshal(v)
	return len(b), err
}

// traitValueFits reports whether trait value v encodes (as encoding/json
// writes it) in at most MaxTraitValueBytes. Scalars are decided without
// encoding: a string's encoding is at most its quotes and six bytes a
// byte (\u00XX), a number's is its literal; only a long string, an
// object or an array is encoded to be measured.
func traitValueFits(v any) bool {
	switch x := v.(type) {
	case nil, bool:
		return true
	case json.Number:
		return len(x) <= MaxTraitValueBytes
	case string:
		if 2+6*len(x) <= MaxTraitValueBytes {
			return true
		}
	}
	n, err := encodedSize(v)
	return err == nil && n <= MaxTraitValueBytes
}

// decodeObject checks UTF-8, then decodes a JSON object nesting at most
// MaxDepth levels.
func decodeObject(body []byte, path string) (map[string]any, error) {
	o, _, err := decodeObjectSpans(body, path, false)
	return o, err
}

// decodeObjectSpans is decodeObject; with batch set it also returns the
// length in bytes of each item of the object's "batch" array
// (decodeBatchBody).
func decodeObjectSpans(body []byte, path string, batch bool) (map[string]any, []int, error) {
	field := strings.TrimSuffix(path, ".")
	if field == "" {
		field = "body"
	}
	if !utf8.Valid(body) {
		return nil, nil, &FieldError{Field: field, Reason: "is not valid UTF-8"}
	}
	var v any
	var sizes []int
	var err error
	if batch {
		v, sizes, err = decodeBatchBody(body)
	} else {
		v, err = decodeValue(body)
	}
	switch {
	case err == errTooDeep:
		return nil, nil, &FieldError{Field: field, Reason: fmt.Sprintf("nests deeper than %d levels", MaxDepth)}
	case err == errTrailing:
		return nil, nil, &FieldError{Field: field, Reason: "has data after the JSON value"}
	case err != nil:
		return nil, nil, &FieldError{Field: field, Reason: "is not valid JSON", Err: err}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, nil, &FieldError{Field: field, Reason: "must be a JSON object"}
	}
	return obj, sizes, nil
}

// fromObject validates a decoded message object. envCtx, if not nil, is a
// batch envelope's context merged under the item's.
func fromObject(o map[string]any, kind Kind, envCtx map[string]any, path string, receivedAt time.Time, opts ParseOptions) (*Message, error) {
	m := &Message{ReceivedAt: receivedAt.UTC()}
	f := func(name string) string { return path + name }

	str := func(name string, max int) (string, error) {
		v, ok := o[name]
		if !ok || v == nil {
			return "", nil
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			// Segment clients send numeric IDs; Segment stores them as strings.
			if name != "userId" && name != "anonymousId" && name != "previousId" && name != "groupId" {
				return "", &FieldError{Field: f(name), Reason: "must be a string"}
			}
			s = x.String()
		default:
			return "", &FieldError{Field: f(name), Reason: "must be a string"}
		}
		if len(s) > max {
			return "", &FieldError{Field: f(name), Reason: fmt.Sprintf("longer than %d bytes", max)}
		}
		if strings.IndexByte(s, 0) >= 0 {
			return "", &FieldError{Field: f(name), Reason: reasonNUL}
		}
		return s, nil
	}
	obj := func(name string) (map[string]any, error) {
		v, ok := o[name]
		if !ok || v == nil {
			return nil, nil
		}
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, &FieldError{Field: f(name), Reason: "must be an object"}
		}
		return mm, nil
	}

	// Type: the endpoint's, else "type", else legacy "action".
	t, err := str("type", 32)
	if err != nil {
		return nil, err
	}
	if t == "" {
		if t, err = str("action", 32); err != nil {
			return nil, err
		}
	}
	switch {
	case kind != "" && t != "" && Kind(strings.ToLower(t)) != kind:
		return nil, &FieldError{Field: f("type"), Reason: fmt.Sprintf("does not match the endpoint (%s)", kind)}
	case kind != "":
		m.Kind = kind
	case t == "":
		return nil, &FieldError{Field: f("type"), Reason: "is required"}
	default:
		m.Kind = Kind(strings.ToLower(t))
	}
	switch m.Kind {
	case Identify, Track, Page, Screen, Group, Alias:
	default:
		return nil, &FieldError{Field: f("type"), Reason: "must be one of identify, track, page, screen, group, alias"}
	}

	for _, s := range []struct {
		name string
		dst  *string
		max  int
	}{
		{"messageId", &m.MessageID, MaxMessageIDLen},
		{"userId", &m.UserID, MaxStringBytes},
		{"anonymousId", &m.AnonymousID, MaxStringBytes},
		{"previousId", &m.PreviousID, MaxStringBytes},
		{"groupId", &m.GroupID, MaxStringBytes},
		{"event", &m.Event, MaxStringBytes},
		{"name", &m.Name, MaxStringBytes},
		{"category", &m.Category, MaxStringBytes},
		{"channel", &m.Channel, 64},
	} {
		if *s.dst, err = str(s.name, s.max); err != nil {
			return nil, err
		}
	}
	m.UserID = strings.TrimSpace(m.UserID)
	m.AnonymousID = strings.TrimSpace(m.AnonymousID)
	m.PreviousID = strings.TrimSpace(m.PreviousID)
	m.GroupID = strings.TrimSpace(m.GroupID)

	switch m.Kind {
	case Alias:
		if m.UserID == "" {
			return nil, &FieldError{Field: f("userId"), Reason: "is required for alias"}
		}
		if m.PreviousID == "" {
			return nil, &FieldError{Field: f("previousId"), Reason: "is required for alias"}
		}
	default:
		if m.UserID == "" && m.AnonymousID == "" {
			return nil, &FieldError{Field: f("userId"), Reason: "either userId or anonymousId is required"}
		}
	}
	if m.Kind == Track && strings.TrimSpace(m.Event) == "" {
		return nil, &FieldError{Field: f("event"), Reason: "is required for track"}
	}
	if m.Kind == Group && m.GroupID == "" {
		return nil, &FieldError{Field: f("groupId"), Reason: "is required for group"}
	}

	traits, err := obj("traits")
	if err != nil {
		return nil, err
	}
	if m.Properties, err = obj("properties"); err != nil {
		return nil, err
	}
	if m.Context, err = obj("context"); err != nil {
		return nil, err
	}
	if envCtx != nil {
		merged := make(map[string]any, len(envCtx)+len(m.Context))
		for k, v := range envCtx {
			merged[k] = v
		}
		for k, v := range m.Context {
			merged[k] = v
		}
		m.Context = merged
	}
	if len(m.Properties) > MaxProperties {
		return nil, &FieldError{Field: f("properties"), Reason: fmt.Sprintf("has more than %d keys", MaxProperties)}
	}
	var ctxTraits map[string]any
	if ct, ok := m.Context["traits"]; ok && ct != nil {
		if ctxTraits, ok = ct.(map[string]any); !ok {
			return nil, &FieldError{Field: f("context.traits"), Reason: "must be an object"}
		}
	}
	tpath := f("traits")
	if m.Kind == Group {
		// Group traits describe the account (company), not the person;
		// only context.traits describe the person.
		traits = nil
	}
	m.Traits = make(map[string]any, len(traits)+len(ctxTraits))
	for k, v := range ctxTraits {
		m.Traits[k] = v
	}
	for k, v := range traits {
		m.Traits[k] = v
	}
	if len(m.Traits) > MaxProperties {
		return nil, &FieldError{Field: tpath, Reason: fmt.Sprintf("has more than %d keys", MaxProperties)}
	}
	for k, v := range m.Traits {
		if k == "" || len(k) > 256 {
			return nil, &FieldError{Field: tpath, Reason: "has an empty or over-long key"}
		}
		if strings.IndexByte(k, 0) >= 0 {
			return nil, &FieldError{Field: tpath, Reason: "has a key holding a NUL character"}
		}
		if !traitValueFits(v) {
			return nil, &FieldError{Field: tpath + "." + k, Reason: fmt.Sprintf("value larger than %d bytes", MaxTraitValueBytes)}
		}
	}

	if err := m.parseTimes(o, path, opts.MaxEventAge); err != nil {
		return nil, err
	}
	if err := m.collectIdentifiers(path, opts); err != nil {
		return nil, err
	}
	if err := m.parseConsent(path); err != nil {
		return nil, err
	}
	if m.Channel == "" {
		m.Channel = inferChannel(m.Context)
	}
	if m.MessageID == "" {
		m.MessageID = derivedMessageID(o)
	}
	m.object = o
	return m, nil
}

func (m *Message) collectIdentifiers(path string, opts ParseOptions) error {
	add := func(field string, t IDType, raw string) error {
		id, err := NewIdentifier(path+field, t, raw, opts.Normalize)
		if err != nil {
			return err
		}
		// Equal identifiers have equal keys; a message carries a few
		// (at most 55), so a scan beats a set of their keys.
		if !slices.Contains(m.Identifiers, id) {
			m.Identifiers = append(m.Identifiers, id)
		}
		return nil
	}
	if m.UserID != "" {
		if err := add("userId", UserID, m.UserID); err != nil {
			return err
		}
	}
	if m.AnonymousID != "" {
		if err := add("anonymousId", AnonymousID, m.AnonymousID); err != nil {
			return err
		}
	}
	if dev, ok := m.Context["device"].(map[string]any); ok {
		if id, ok := dev["id"].(string); ok && strings.TrimSpace(id) != "" {
			if err := add("context.device.id", DeviceID, id); err != nil {
				return err
			}
		}
	}
	for _, k := range []struct {
		key string
		t   IDType
	}{{"email", Email}, {"phone", Phone}} {
		v, ok := m.Traits[k.key]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return &FieldError{Field: path + "traits." + k.key, Reason: "must be a string"}
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		if err := add("traits."+k.key, k.t, s); err != nil {
			return err
		}
	}
	if raw, ok := m.Context["externalIds"]; ok && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return &FieldError{Field: path + "context.externalIds", Reason: "must be an array"}
		}
		if len(list) > 50 {
			return &FieldError{Field: path + "context.externalIds", Reason: "has more than 50 entries"}
		}
		for i, e := range list {
			p := fmt.Sprintf("context.externalIds[%d]", i)
			eo, ok := e.(map[string]any)
			if !ok {
				return &FieldError{Field: path + p, Reason: "must be an object"}
			}
			id, _ := eo["id"].(string)
			typ, _ := eo["type"].(string)
			if id == "" {
				return &FieldError{Field: path + p + ".id", Reason: "must be a non-empty string"}
			}
			if typ == "" {
				return &FieldError{Field: path + p + ".type", Reason: "must be a non-empty string"}
			}
			nt, err := NormalizeType(typ)
			if err != nil {
				return &FieldError{Field: path + p + ".type", Reason: err.Error()}
			}
			if err := add(p+".id", nt, id); err != nil {
				return err
			}
		}
	}
	slices.SortFunc(m.Identifiers, CompareKeys) // by key; add kept them distinct
	if m.Kind == Alias && m.PreviousID != "" {
		for _, t := range []IDType{AnonymousID, UserID} {
			id, err := NewIdentifier(path+"previousId", t, m.PreviousID, opts.Normalize)
			if err != nil {
				return err
			}
			if !slices.Contains(m.Identifiers, id) {
				m.Previous = append(m.Previous, id)
			}
		}
	}
	return nil
}

func (m *Message) parseConsent(path string) error {
	c, ok := m.Context["consent"]
	if !ok || c == nil {
		return nil
	}
	co, ok := c.(map[string]any)
	if !ok {
		return &FieldError{Field: path + "context.consent", Reason: "must be an object"}
	}
	prefs, ok := co["categoryPreferences"]
	if !ok || prefs == nil {
		return nil
	}
	po, ok := prefs.(map[string]any)
	if !ok {
		return &FieldError{Field: path + "context.consent.categoryPreferences", Reason: "must be an object"}
	}
	m.Consent = make(map[string]bool, len(po))
	for k, v := range po {
		b, ok := v.(bool)
		if !ok {
			return &FieldError{Field: path + "context.consent.categoryPreferences." + k, Reason: "must be a boolean"}
		}
		m.Consent[k] = b
	}
	return nil
}

// inferChannel guesses the channel from context.library.name the way
// Segment's libraries name themselves.
func inferChannel(ctx map[string]any) string {
	lib, _ := ctx["library"].(map[string]any)
	name, _ := lib["name"].(string)
	switch n := strings.ToLower(name); {
	case strings.Contains(n, "analytics.js"), strings.Contains(n, "analytics-next"):
		return "browser"
	case strings.Contains(n, "ios"), strings.Contains(n, "android"), strings.Contains(n, "react-native"), strings.Contains(n, "flutter"):
		return "mobile"
	case n == "":
		return "server"
	}
	return "server"
}

// derivedMessageID names a message that came without a messageId by a
// hash of its content, so that a client retrying the same body is still
// deduplicated.
func derivedMessageID(o map[string]any) string {
	b, _ := json.Marshal(o) // encoding/json sorts map keys: canonical
	sum := sha256.Sum256(b)
	return "ucv-" + hex.EncodeToString(sum[:16])
}
