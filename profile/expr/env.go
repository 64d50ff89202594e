package expr

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Names of the variables an expression sees.
const (
	varTraits     = "traits"
	varComputed   = "computed"
	varIdentities = "identities"
	varConsent    = "consent"
	varAudiences  = "audiences"
	varFirstSeen  = "first_seen"
	varLastSeen   = "last_seen"
	varNow        = "now"
)

// Names of the functions over a profile's events and time.
const (
	FuncCount     = "count"
	FuncSum       = "sum"
	FuncExists    = "exists_event"
	FuncDaysSince = "days_since"
)

// Limits of an expression.
const (
	// MaxExpressionLength is the longest expression Compile accepts, in
	// Unicode code points.
	MaxExpressionLength = 4096

	// MaxWindow is the longest window of count, sum and exists_event:
	// computed values are exact for windows up to 400 days.
	MaxWindow = 400 * 24 * time.Hour

	// MaxCost is the most an expression may cost by cel-go's static
	// estimate, with sizes bounded as in sizeLimits and each event
	// function costing EventCallCost. A cost unit is about one basic
	// operation (a comparison, a field read). See the decision record for
	// what passes and what does not.
	MaxCost = 100_000

	// MaxRuntimeCost is the backstop cel-go enforces while evaluating an
	// expression whose cost depends on the profile's sizes: a profile
	// larger than the sizes the static estimate assumes (more than 1000
	// identities, a longer trait list) may cost more, and evaluation
	// stops with an error at this limit. It equals MaxCost, so nothing
	// within the assumed sizes reaches it; it is not higher because
	// cel-go's runtime cost tracker slows quadratically with the number
	// of loop iterations (decision 0031).
	MaxRuntimeCost = MaxCost

	// MaxAudiences is the most audiences a catalog may define: the
	// length of the audiences list the cost estimates assume.
	MaxAudiences = 1000

	// EventCallCost is the cost of one count, sum or exists_event call
	// (a lookup over at most 400 day buckets).
	EventCallCost = 50
)

// Assumed sizes for the static cost estimate: the most entries of each
// container and the longest value. They come from the profile's input
// limits (300 traits or properties per message, 8 KiB per trait value,
// up to 1000 identifiers of the default rules' most numerous type) and the
// catalog's expected scale.
var sizeLimits = map[string]uint64{
	varTraits:     1000, // keys of a profile's traits (many messages' worth)
	varComputed:   1000, // built-in and user-defined computed traits
	varIdentities: 1000,
	varConsent:    100,
	varAudiences:  MaxAudiences,
}

// maxValueSize bounds the size of one trait or computed value (string
// length, list or map entries): a trait value is at most 8 KiB of JSON.
const maxValueSize = 8 << 10

// maxIdentityPartSize bounds an identity's type or value (profile's
// MaxIDValueBytes).
const maxIdentityPartSize = 512

// overloads of the event functions, by function.
var eventOverloads = map[string]bool{
	"count_string_string":          true,
	"count_string_duration":        true,
	"sum_string_string_string":     true,
	"sum_string_string_duration":   true,
	"exists_event_string_string":   true,
	"exists_event_string_duration": true,
	"days_since_timestamp":         false,
}

// errUnbound is what a function's own binding returns: every call is
// replaced at plan time by one that reads the Input (see callEval), so
// this runs only if that replacement were skipped.
func errUnbound(...ref.Val) ref.Val {
	return types.NewErr("expr: function evaluated without an input")
}

var envOnce = sync.OnceValues(func() (*cel.Env, error) {
	str, dur, ts := cel.StringType, cel.DurationType, cel.TimestampType
	bin := func(a, b ref.Val) ref.Val { return errUnbound(a, b) }
	un := func(a ref.Val) ref.Val { return errUnbound(a) }
	env, err := cel.NewEnv(
		cel.Variable(varTraits, cel.MapType(str, cel.DynType)),
		cel.Variable(varComputed, cel.MapType(str, cel.DynType)),
		cel.Variable(varIdentities, cel.ListType(cel.MapType(str, str))),
		cel.Variable(varConsent, cel.MapType(str, cel.BoolType)),
		cel.Variable(varAudiences, cel.ListType(str)),
		cel.Variable(varFirstSeen, ts),
		cel.Variable(varLastSeen, ts),
		cel.Variable(varNow, ts),
		cel.Function(FuncCount,
			cel.Overload("count_string_string", []*cel.Type{str, str}, cel.IntType, cel.BinaryBinding(bin)),
			cel.Overload("count_string_duration", []*cel.Type{str, dur}, cel.IntType, cel.BinaryBinding(bin))),
		cel.Function(FuncSum,
			cel.Overload("sum_string_string_string", []*cel.Type{str, str, str}, cel.DoubleType, cel.FunctionBinding(errUnbound)),
			cel.Overload("sum_string_string_duration", []*cel.Type{str, str, dur}, cel.DoubleType, cel.FunctionBinding(errUnbound))),
		cel.Function(FuncExists,
			cel.Overload("exists_event_string_string", []*cel.Type{str, str}, cel.BoolType, cel.BinaryBinding(bin)),
			cel.Overload("exists_event_string_duration", []*cel.Type{str, dur}, cel.BoolType, cel.BinaryBinding(bin))),
		cel.Function(FuncDaysSince,
			cel.Overload("days_since_timestamp", []*cel.Type{ts}, cel.IntType, cel.UnaryBinding(un))),
		cel.OptionalTypes(),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
	)
	if err != nil {
		return nil, fmt.Errorf("expr: build the CEL environment: %w", err)
	}
	return env, nil
})

// estimator gives cel-go's static cost estimate the sizes of our
// variables and the costs of our functions.
type estimator struct{}

var _ checker.CostEstimator = estimator{}

func (estimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	p := n.Path()
	if len(p) == 0 {
		// Not reachable from a variable (e.g. a trait value's field
		// after a conversion): as large as a trait value.
		return &checker.SizeEstimate{Min: 0, Max: maxValueSize}
	}
	if len(p) == 1 {
		if m, ok := sizeLimits[p[0]]; ok {
			return &checker.SizeEstimate{Min: 0, Max: m}
		}
		return nil
	}
	if p[0] == varIdentities || p[0] == varAudiences || p[0] == varConsent {
		return &checker.SizeEstimate{Min: 0, Max: maxIdentityPartSize}
	}
	return &checker.SizeEstimate{Min: 0, Max: maxValueSize}
}

func (estimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if ev, ok := eventOverloads[overloadID]; ok {
		c := uint64(1)
		if ev {
			c = EventCallCost
		}
		return &checker.CallEstimate{CostEstimate: checker.FixedCostEstimate(c)}
	}
	return nil
}

// CallCost is the runtime counterpart of EstimateCallCost.
func (estimator) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	if ev, ok := eventOverloads[overloadID]; ok {
		c := uint64(1)
		if ev {
			c = EventCallCost
		}
		return &c
	}
	return nil
}

// unbounded is estimator without the size assumptions: every container
// and string may be of any size. Compile uses it to find the programs
// whose cost the profile's data cannot drive past MaxRuntimeCost.
type unbounded struct{ estimator }

// The one size kept is that of audiences: the list holds names from the
// catalog, not data from the profile, so it is never longer than
// MaxAudiences.
func (unbounded) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if p := n.Path(); len(p) == 1 && p[0] == varAudiences {
		return &checker.SizeEstimate{Min: 0, Max: MaxAudiences}
	}
	return nil
}
