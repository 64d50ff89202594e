// Package catalog holds the definitions every node evaluates on its own
// profiles — user-defined computed traits and audiences now; offers,
// destinations, consent purposes and retention policies later — and
// evaluates them.
//
// A Catalog is plain data: defined at the hub (a Raft command each
// change, validated before it commits), carried in hub snapshots,
// shipped to edges through the change feed and the snapshot bootstrap,
// or loaded from a file by a standalone edge. Compile validates a whole
// catalog and turns it into a Compiled evaluator; Evaluate is a
// deterministic function of (profile state, catalog, time), so the hub
// and every edge agree on every profile's values and memberships
// (docs/decisions/0032-catalog.md).
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"ucv/crdt/codec"
	"ucv/profile/expr"
	"ucv/profile/jsonbody"
)

// Kinds of definitions, as the admin API's paths name them.
const (
	KindComputedTrait = "computed-traits"
	KindAudience      = "audiences"
	KindOffer         = "offers"
	KindModel         = "models"
	KindPurpose       = "consent-purposes"
	KindRetention     = "retention"
	KindSurvivorship  = "survivorship"
)

// Kinds lists every kind of definition.
var Kinds = []string{KindComputedTrait, KindAudience, KindOffer, KindModel, KindPurpose, KindRetention, KindSurvivorship}

// Limits on definitions.
const (
	// MaxWindow is the longest window of a computed trait or an
	// audience function.
	MaxWindow = expr.MaxWindow
	// MaxDefinitions bounds each kind of definition in one catalog.
	MaxDefinitions = 1000
	// MaxExpressionBytes bounds an audience expression's text.
	MaxExpressionBytes = 4096
	// MaxDescriptionBytes bounds a description.
	MaxDescriptionBytes = 1024
	// MaxBytes bounds an encoded catalog.
	MaxBytes = 12 << 20
)

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// reserved are the built-in computed fields: a user-defined computed
// trait cannot take one of their names.
var reserved = []string{
	"order_count", "lifetime_revenue", "average_order_value", "last_order_at",
	"top_category", "distinct_channels", "event_counts", "days_since_last_seen",
	"p_alive", "expected_orders_90d", "predicted_value_365d", "rfm",
}

// Aggregates a computed trait can take.
var Aggregates = []string{"count", "sum", "avg", "min", "max", "first", "last", "most_frequent", "unique_count"}

// ComputedTrait aggregates one track event's occurrences, or one of its
// properties, over a window of time.
type ComputedTrait struct {
	// Event is the track event's name ("Order Completed").
	Event string `json:"event"`
	// Aggregate is one of Aggregates.
	Aggregate string `json:"aggregate"`
	// Property is a dot path into the event's properties ("total");
	// required for every aggregate but count, which takes none.
	Property string `json:"property,omitempty"`
	// Window is a duration ("720h", "30d"); empty means the lifetime.
	Window string `json:"window,omitempty"`
	// Description is free text for people.
	Description string `json:"description,omitempty"`
}

// Audience is a set of profiles described by a CEL expression
// (profile/expr has the language).
type Audience struct {
	Expression  string `json:"expression"`
	Description string `json:"description,omitempty"`
}

// Definitions are a catalog's contents by kind and name. Its JSON is
// the shape of a definitions file and of the admin API's listings.
type Definitions struct {
	ComputedTraits map[string]ComputedTrait `json:"computed_traits,omitempty"`
	Audiences      map[string]Audience      `json:"audiences,omitempty"`
	Offers         map[string]Offer         `json:"offers,omitempty"`
	Models         map[string]Model         `json:"models,omitempty"`
	// ConsentPurposes and Retention: consent.go.
	ConsentPurposes map[string]ConsentPurpose `json:"consent_purposes,omitempty"`
	Retention       map[string]Retention      `json:"retention,omitempty"`
	// Survivorship: survivorship.go.
	Survivorship map[string]Survivorship `json:"survivorship,omitempty"`
}

// Catalog is a versioned set of definitions. Version increases with
// every change at the hub (the Raft index of the change); a catalog
// loaded from a file has version 0. Treat a Catalog as immutable: the
// With and Without methods return changed copies.
type Catalog struct {
	Version uint64 `json:"version"`
	Definitions
}

// Error is a definition refused: Field names what is wrong ("name",
// "window", "expression", …) and Message says why. Conflict marks an
// error about other definitions (removing one that another reads).
type Error struct {
	Kind, Name string
	Field      string
	Message    string
	Conflict   bool
}

func (e *Error) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("catalog: %s: %s", e.Field, e.Message)
	}
	return fmt.Sprintf("catalog: %s %q: %s: %s", strings.TrimSuffix(e.Kind, "s"), e.Name, e.Field, e.Message)
}

// ErrNotFound is returned for a definition that does not exist.
var ErrNotFound = errors.New("catalog: no such definition")

// CheckName checks a definition's name.
func CheckName(kind, name string) error {
	if kind == KindSurvivorship {
		return checkTraitKey(name) // named by trait keys
	}
	if !namePattern.MatchString(name) {
		return &Error{Kind: kind, Name: name, Field: "name", Message: "must match [a-z][a-z0-9_]{0,63}"}
	}
	if kind == KindModel {
		return nil // model names are checked by Model.Check
	}
	if kind == KindComputedTrait && slices.Contains(reserved, name) {
		return &Error{Kind: kind, Name: name, Field: "name", Message: "is a built-in computed value"}
	}
	return nil
}

// ParseWindow reads a window as the audience expressions' functions do
// (expr.ParseWindow: whole days "30d", a Go duration "720h", "" or
// "lifetime" for none, which is 0); a window must be positive and at
// most MaxWindow. Errors name the value, not the field.
func ParseWindow(s string) (time.Duration, error) { return expr.ParseWindow(s) }

var propPattern = regexp.MustCompile(`^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$`)

// Check validates one computed trait on its own.
func (t ComputedTrait) Check(name string) error {
	e := func(field, msg string) error {
		return &Error{Kind: KindComputedTrait, Name: name, Field: field, Message: msg}
	}
	if err := CheckName(KindComputedTrait, name); err != nil {
		return err
	}
	if strings.TrimSpace(t.Event) == "" {
		return e("event", "is required")
	}
	if len(t.Event) > 200 {
		return e("event", "is longer than 200 bytes")
	}
	if !slices.Contains(Aggregates, t.Aggregate) {
		return e("aggregate", "must be one of "+strings.Join(Aggregates, "|"))
	}
	switch {
	case t.Aggregate == "count" && t.Property != "":
		return e("property", "is not used by count: leave it out")
	case t.Aggregate != "count" && t.Property == "":
		return e("property", "is required for "+t.Aggregate)
	case t.Property != "" && (len(t.Property) > 200 || !propPattern.MatchString(t.Property)):
		return e("property", "must be a dot path of property names (\"total\", \"shipping.method\")")
	}
	if _, err := ParseWindow(t.Window); err != nil {
		return e("window", err.Error())
	}
	if len(t.Description) > MaxDescriptionBytes {
		return e("description", fmt.Sprintf("is longer than %d bytes", MaxDescriptionBytes))
	}
	return nil
}

// Check validates one audience's fields; the expression is checked by
// Compile, against the rest of the catalog.
func (a Audience) Check(name string) error {
	if err := CheckName(KindAudience, name); err != nil {
		return err
	}
	if strings.TrimSpace(a.Expression) == "" {
		return &Error{Kind: KindAudience, Name: name, Field: "expression", Message: "is required"}
	}
	if len(a.Expression) > MaxExpressionBytes {
		return &Error{Kind: KindAudience, Name: name, Field: "expression", Message: fmt.Sprintf("is longer than %d bytes", MaxExpressionBytes)}
	}
	if len(a.Description) > MaxDescriptionBytes {
		return &Error{Kind: KindAudience, Name: name, Field: "description", Message: fmt.Sprintf("is longer than %d bytes", MaxDescriptionBytes)}
	}
	return nil
}

// ParseDefinition decodes an API body of the given kind strictly
// (unknown fields are refused) and checks it on its own.
func ParseDefinition(kind, name string, body []byte) (any, error) {
	bad := func(err error) error {
		var je *jsonbody.Error
		errors.As(err, &je)
		return &Error{Kind: kind, Name: name, Field: je.Field, Message: je.Message}
	}
	switch kind {
	case KindComputedTrait:
		var t ComputedTrait
		if err := jsonbody.Decode(body, &t); err != nil {
			return nil, bad(err)
		}
		return t, t.Check(name)
	case KindAudience:
		var a Audience
		if err := jsonbody.Decode(body, &a); err != nil {
			return nil, bad(err)
		}
		return a, a.Check(name)
	case KindOffer:
		var o Offer
		if err := jsonbody.Decode(body, &o); err != nil {
			return nil, bad(err)
		}
		return o, o.Check(name)
	case KindModel:
		m := Model(bytes.Clone(body))
		return m, m.Check(name)
	case KindPurpose:
		var cp ConsentPurpose
		if err := jsonbody.Decode(body, &cp); err != nil {
			return nil, bad(err)
		}
		return cp, cp.Check(name)
	case KindRetention:
		var r Retention
		if err := jsonbody.Decode(body, &r); err != nil {
			return nil, bad(err)
		}
		return r, r.Check(name)
	case KindSurvivorship:
		var s Survivorship
		if err := jsonbody.Decode(body, &s); err != nil {
			return nil, bad(err)
		}
		return s, s.Check(name)
	}
	return nil, fmt.Errorf("catalog: unknown kind %q", kind)
}

// Get returns one definition.
func (c Catalog) Get(kind, name string) (any, bool) {
	switch kind {
	case KindComputedTrait:
		t, ok := c.ComputedTraits[name]
		return t, ok
	case KindAudience:
		a, ok := c.Audiences[name]
		return a, ok
	case KindOffer:
		o, ok := c.Offers[name]
		return o, ok
	case KindModel:
		m, ok := c.Models[name]
		return m, ok
	case KindPurpose:
		cp, ok := c.ConsentPurposes[name]
		return cp, ok
	case KindRetention:
		r, ok := c.Retention[name]
		return r, ok
	case KindSurvivorship:
		s, ok := c.Survivorship[name]
		return s, ok
	}
	return nil, false
}

// clone copies the maps.
func (c Catalog) clone() Catalog {
	n := Catalog{Version: c.Version}
	if len(c.ComputedTraits) > 0 {
		n.ComputedTraits = make(map[string]ComputedTrait, len(c.ComputedTraits)+1)
		for k, v := range c.ComputedTraits {
			n.ComputedTraits[k] = v
		}
	}
	if len(c.Audiences) > 0 {
		n.Audiences = make(map[string]Audience, len(c.Audiences)+1)
		for k, v := range c.Audiences {
			n.Audiences[k] = v
		}
	}
	if len(c.Offers) > 0 {
		n.Offers = make(map[string]Offer, len(c.Offers)+1)
		for k, v := range c.Offers {
			n.Offers[k] = v
		}
	}
	if len(c.Models) > 0 {
		n.Models = make(map[string]Model, len(c.Models)+1)
		for k, v := range c.Models {
			n.Models[k] = v
		}
	}
	if len(c.ConsentPurposes) > 0 {
		n.ConsentPurposes = maps.Clone(c.ConsentPurposes)
	}
	if len(c.Retention) > 0 {
		n.Retention = maps.Clone(c.Retention)
	}
	if len(c.Survivorship) > 0 {
		n.Survivorship = maps.Clone(c.Survivorship)
	}
	return n
}

// With returns a copy of c with definition def (a ComputedTrait or an
// Audience) put under name and version set, after checking that the
// whole result compiles. c is unchanged either way.
func (c Catalog) With(name string, def any, version uint64) (Catalog, *Compiled, error) {
	n := c.clone()
	n.Version = version
	switch d := def.(type) {
	case ComputedTrait:
		if err := d.Check(name); err != nil {
			return c, nil, err
		}
		if n.ComputedTraits == nil {
			n.ComputedTraits = map[string]ComputedTrait{}
		}
		n.ComputedTraits[name] = d
		if len(n.ComputedTraits) > MaxDefinitions {
			return c, nil, &Error{Kind: KindComputedTrait, Name: name, Field: "name", Message: fmt.Sprintf("the catalog holds %d computed traits already", MaxDefinitions), Conflict: true}
		}
	case Audience:
		if err := d.Check(name); err != nil {
			return c, nil, err
		}
		if n.Audiences == nil {
			n.Audiences = map[string]Audience{}
		}
		n.Audiences[name] = d
		if len(n.Audiences) > MaxDefinitions {
			return c, nil, &Error{Kind: KindAudience, Name: name, Field: "name", Message: fmt.Sprintf("the catalog holds %d audiences already", MaxDefinitions), Conflict: true}
		}
	case Offer:
		if err := d.Check(name); err != nil {
			return c, nil, err
		}
		if n.Offers == nil {
			n.Offers = map[string]Offer{}
		}
		n.Offers[name] = d
		if len(n.Offers) > MaxDefinitions {
			return c, nil, &Error{Kind: KindOffer, Name: name, Field: "name", Message: fmt.Sprintf("the catalog holds %d offers already", MaxDefinitions), Conflict: true}
		}
	case Model:
		if err := d.Check(name); err != nil {
			return c, nil, err
		}
		if n.Models == nil {
			n.Models = map[string]Model{}
		}
		n.Models[name] = d
	case ConsentPurpose:
		if err := d.Check(name); err != nil {
			return c, nil, err
		}
		if n.ConsentPurposes == nil {
			n.ConsentPurposes = map[string]ConsentPurpose{}
		}
		n.ConsentPurposes[name] = d
		if len(n.ConsentPurposes) > MaxDefinitions {
			return c, nil, &Error{Kind: KindPurpose, Name: name, Field: "name", Message: fmt.Sprintf("the catalog holds %d consent purposes already", MaxDefinitions), Conflict: true}
		}
	case Retention:
		if err := d.Check(name); err != nil {
			return c, nil, err
		}
		n.Retention = map[string]Retention{name: d}
	case Survivorship:
		if err := d.Check(name); err != nil {
			return c, nil, err
		}
		if n.Survivorship == nil {
			n.Survivorship = map[string]Survivorship{}
		}
		n.Survivorship[name] = d
		if len(n.Survivorship) > MaxDefinitions {
			return c, nil, &Error{Kind: KindSurvivorship, Name: name, Field: "name", Message: fmt.Sprintf("the catalog holds %d survivorship policies already", MaxDefinitions), Conflict: true}
		}
	default:
		return c, nil, fmt.Errorf("catalog: cannot define a %T", def)
	}
	comp, err := Compile(n)
	if err != nil {
		return c, nil, err
	}
	return n, comp, nil
}

// Without returns a copy of c without definition kind/name and with
// version set, after checking that the rest still compiles (no audience
// reads the one removed). ErrNotFound when there is no such definition.
func (c Catalog) Without(kind, name string, version uint64) (Catalog, *Compiled, error) {
	if _, ok := c.Get(kind, name); !ok {
		return c, nil, ErrNotFound
	}
	n := c.clone()
	n.Version = version
	switch kind {
	case KindComputedTrait:
		delete(n.ComputedTraits, name)
	case KindAudience:
		delete(n.Audiences, name)
	case KindOffer:
		delete(n.Offers, name)
	case KindModel:
		delete(n.Models, name)
	case KindPurpose:
		delete(n.ConsentPurposes, name)
	case KindRetention:
		delete(n.Retention, name)
	case KindSurvivorship:
		delete(n.Survivorship, name)
	}
	comp, err := Compile(n)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			return c, nil, &Error{Kind: kind, Name: name, Field: "name", Message: fmt.Sprintf("%s %q still reads it: %s", strings.TrimSuffix(ce.Kind, "s"), ce.Name, ce.Message), Conflict: true}
		}
		return c, nil, err
	}
	return n, comp, nil
}

// Marshal encodes c deterministically (names sorted) as msgpack.
func (c Catalog) Marshal() ([]byte, error) {
	return codec.Frame(frameTag, func(e *codec.Encoder) error {
		// Offers and models follow only when there are any, so a catalog
		// without them keeps the bytes of the first version; consent
		// purposes and retention policies (two more [name, JSON] arrays)
		// likewise, so a catalog without them keeps the bytes it had
		// before they existed.
		fields := 3
		if len(c.Offers) > 0 || len(c.Models) > 0 {
			fields = 5
		}
		if len(c.ConsentPurposes) > 0 || len(c.Retention) > 0 {
			fields = 7
		}
		// Survivorship policies: an eighth [name, JSON] array, likewise
		// only when there are any.
		if len(c.Survivorship) > 0 {
			fields = 8
		}
		if err := first(e.EncodeArrayLen(fields), e.EncodeUint(c.Version)); err != nil {
			return err
		}
		names := sortedNames(c.ComputedTraits)
		if err := e.EncodeArrayLen(len(names)); err != nil {
			return err
		}
		for _, n := range names {
			t := c.ComputedTraits[n]
			if err := first(e.EncodeArrayLen(6), e.EncodeString(n), e.EncodeString(t.Event), e.EncodeString(t.Aggregate),
				e.EncodeString(t.Property), e.EncodeString(t.Window), e.EncodeString(t.Description)); err != nil {
				return err
			}
		}
		names = sortedNames(c.Audiences)
		if err := e.EncodeArrayLen(len(names)); err != nil {
			return err
		}
		for _, n := range names {
			a := c.Audiences[n]
			if err := first(e.EncodeArrayLen(3), e.EncodeString(n), e.EncodeString(a.Expression), e.EncodeString(a.Description)); err != nil {
				return err
			}
		}
		if fields == 3 {
			return nil
		}
		if err := encodeJSONDefs(e, c.Offers); err != nil {
			return err
		}
		if err := encodeJSONDefs(e, c.Models); err != nil || fields == 5 {
			return err
		}
		if err := encodeJSONDefs(e, c.ConsentPurposes); err != nil {
			return err
		}
		if err := encodeJSONDefs(e, c.Retention); err != nil || fields == 7 {
			return err
		}
		return encodeJSONDefs(e, c.Survivorship)
	})
}

// encodeJSONDefs writes definitions as an array of [name, JSON] sorted
// by name (encoding/json sorts map keys: the bytes are deterministic).
func encodeJSONDefs[V any](e *codec.Encoder, defs map[string]V) error {
	names := sortedNames(defs)
	if err := e.EncodeArrayLen(len(names)); err != nil {
		return err
	}
	for _, n := range names {
		b, err := json.Marshal(defs[n])
		if err != nil {
			return fmt.Errorf("catalog: encode %s: %w", n, err)
		}
		if err := first(e.EncodeArrayLen(2), e.EncodeString(n), e.EncodeBytes(b)); err != nil {
			return err
		}
	}
	return nil
}

// decodeJSONDefs reads what encodeJSONDefs wrote.
func decodeJSONDefs[V any](d *codec.Decoder) (map[string]V, error) {
	n, err := d.ArrayLen(3)
	if err != nil {
		return nil, err
	}
	var out map[string]V
	for range n {
		if k, err := d.ArrayLen(1); err != nil {
			return nil, err
		} else if k != 2 {
			return nil, fmt.Errorf("%w: definition of %d fields, want 2", ErrMalformed, k)
		}
		name, err := d.String()
		if err != nil {
			return nil, err
		}
		b, err := d.Bytes()
		if err != nil {
			return nil, err
		}
		var v V
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
		}
		if out == nil {
			out = map[string]V{}
		}
		out[name] = v
	}
	return out, nil
}

// frameTag is the leading byte of an encoded catalog.
const frameTag = 'C'

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("catalog: malformed encoding")

// Unmarshal decodes what Marshal wrote. It does not compile the result.
// Arrays longer than Marshal writes are read, and their extra elements
// skipped, so a newer writer's additions do not break an older reader.
func Unmarshal(b []byte) (Catalog, error) {
	d, err := codec.Unframe(b, frameTag, MaxBytes, ErrMalformed)
	if err != nil {
		return Catalog{}, err
	}
	var c Catalog
	err = func() error {
		n, err := d.ArrayLen(1)
		if err != nil {
			return err
		}
		if n < 3 {
			return fmt.Errorf("%w: %d fields", ErrMalformed, n)
		}
		if c.Version, err = d.Uint(); err != nil {
			return err
		}
		nt, err := d.ArrayLen(7)
		if err != nil {
			return err
		}
		for range nt {
			f, err := strings6(d, 6)
			if err != nil {
				return err
			}
			if c.ComputedTraits == nil {
				c.ComputedTraits = map[string]ComputedTrait{}
			}
			c.ComputedTraits[f[0]] = ComputedTrait{Event: f[1], Aggregate: f[2], Property: f[3], Window: f[4], Description: f[5]}
		}
		na, err := d.ArrayLen(4)
		if err != nil {
			return err
		}
		for range na {
			f, err := strings6(d, 3)
			if err != nil {
				return err
			}
			if c.Audiences == nil {
				c.Audiences = map[string]Audience{}
			}
			c.Audiences[f[0]] = Audience{Expression: f[1], Description: f[2]}
		}
		extra := n - 3
		if n >= 5 {
			if c.Offers, err = decodeJSONDefs[Offer](d); err != nil {
				return err
			}
			if c.Models, err = decodeJSONDefs[Model](d); err != nil {
				return err
			}
			extra = n - 5
		}
		if n >= 7 {
			if c.ConsentPurposes, err = decodeJSONDefs[ConsentPurpose](d); err != nil {
				return err
			}
			if c.Retention, err = decodeJSONDefs[Retention](d); err != nil {
				return err
			}
			extra = n - 7
		}
		if n >= 8 {
			if c.Survivorship, err = decodeJSONDefs[Survivorship](d); err != nil {
				return err
			}
			extra = n - 8
		}
		for range extra {
			if err := d.Skip(); err != nil {
				return err
			}
		}
		return nil
	}()
	if err := codec.Finish(d, err, ErrMalformed); err != nil {
		return Catalog{}, err
	}
	return c, nil
}

// strings6 reads an array of at least want strings, skipping extras.
func strings6(d *codec.Decoder, want int) ([]string, error) {
	n, err := d.ArrayLen(1)
	if err != nil {
		return nil, err
	}
	if n < want {
		return nil, fmt.Errorf("%w: definition of %d fields, want %d", ErrMalformed, n, want)
	}
	out := make([]string, want)
	for i := range want {
		if out[i], err = d.String(); err != nil {
			return nil, err
		}
	}
	for range n - want {
		if err := d.Skip(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func first(errs ...error) error { return codec.FirstErr(errs...) }

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ParseFile reads a definitions file: JSON in the shape of Definitions
// ({"computed_traits": {name: {…}}, "audiences": {name: {…}}}), unknown
// fields refused. The result is compiled, so a file that loads is valid.
func ParseFile(b []byte) (Catalog, *Compiled, error) {
	var defs Definitions
	if err := jsonbody.Decode(b, &defs); err != nil {
		return Catalog{}, nil, fmt.Errorf("catalog: definitions file: %w", err)
	}
	c := Catalog{Definitions: defs}
	comp, err := Compile(c)
	if err != nil {
		return Catalog{}, nil, err
	}
	return c, comp, nil
}

// LoadFile reads and compiles a definitions file (ParseFile).
func LoadFile(path string) (Catalog, *Compiled, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Catalog{}, nil, fmt.Errorf("catalog: %w", err)
	}
	c, comp, err := ParseFile(b)
	if err != nil {
		return Catalog{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, comp, nil
}
