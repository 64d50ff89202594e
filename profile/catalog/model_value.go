package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"ucv/profile"
	"ucv/profile/clv"
	"ucv/profile/jsonbody"
)

// Customer-value models in the product (issue 11, items 1 and 2;
// docs/decisions/0037-value-models-in-the-product.md): the hub fits them
// over every profile's orders (Population), ships the parameters in the
// catalog as the models "clv" and "rfm", and every node scores its own
// profiles from their ledger with them — offline too. Time is counted in
// UTC days: an order's day is its event time's, "today" is the
// evaluation time's, and every score of a profile with an order changes
// at the next UTC midnight (Result.Next).

// Names of the computed values the value models give.
const (
	ValuePAlive           = "p_alive"
	ValueExpectedOrders   = "expected_orders_90d"
	ValuePredictedValue   = "predicted_value_365d"
	ValueRFM              = "rfm"
	expectedOrdersDays    = 90
	predictedValueDays    = 365
	dayMs                 = int64(24 * time.Hour / time.Millisecond)
	periodDay             = "day"
	minRFMCustomers       = 5
	maxCLVCurrencies      = 100
	maxRFMCurrencies      = 100
	minParam, maxParam    = 1e-6, 1e12
	rfmThresholds         = 4 // the lowest value of scores 2..5
	rfmRecencyUnreachable = -1
)

// ErrTooLittleData is returned (wrapped) by the fits when the population
// cannot identify a model; the caller keeps the model it had.
var ErrTooLittleData = clv.ErrTooLittleData

// CLV is the fitted customer-value model: BG/NBD over every profile's
// order days (whatever the currency) for P(alive) and the expected
// orders, and per currency a BG/NBD over the days with an order in that
// currency and a Gamma-Gamma over their values, for the predicted value
// in that currency. Its JSON is the "clv" model's.
type CLV struct {
	// Period is the unit of time of the parameters: "day".
	Period   string    `json:"period"`
	FittedAt time.Time `json:"fitted_at"`
	// Customers is the number of profiles with an order fitted on.
	Customers     int       `json:"customers"`
	BGNBD         clv.BGNBD `json:"bgnbd"`
	LogLikelihood float64   `json:"log_likelihood"`
	// Currencies holds the models of the currencies that had enough data.
	Currencies map[string]CLVCurrency `json:"currencies"`
	// Skipped says why a currency seen has no model.
	Skipped map[string]string `json:"skipped,omitempty"`
}

// CLVCurrency is the model of one currency's purchases and spend.
type CLVCurrency struct {
	Customers       int            `json:"customers"`
	RepeatCustomers int            `json:"repeat_customers"`
	BGNBD           clv.BGNBD      `json:"bgnbd"`
	GammaGamma      clv.GammaGamma `json:"gamma_gamma"`
}

// RFM holds quintile thresholds fitted over the population of profiles
// with an order. Each array gives, for scores 2 to 5, the value a
// profile needs for that score or better: at most Recency[k-2] days
// since its last order for r ≥ k, at least Frequency[k-2] orders for
// f ≥ k, at least Monetary[cur][k-2] spent in its main currency for
// m ≥ k. Its JSON is the "rfm" model's.
type RFM struct {
	FittedAt  time.Time             `json:"fitted_at"`
	Customers int                   `json:"customers"`
	Recency   [4]float64            `json:"recency_days"`
	Frequency [4]float64            `json:"frequency"`
	Monetary  map[string][4]float64 `json:"monetary"`
}

// decodeStrict decodes a model's JSON, refusing unknown fields.
func decodeStrict(b []byte, v any) error { return jsonbody.Decode(b, v) }

func positive(vs ...float64) bool {
	for _, v := range vs {
		if !(v > 0) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func checkBGNBD(m clv.BGNBD) bool { return positive(m.R, m.Alpha, m.A, m.B) && m.A != 1 }

// identified reports whether fitted parameters stay inside
// [minParam, maxParam]. A parameter collapsing towards 0 (the drop-out
// probability's beta splitting everyone into "never leaves" and "leaves
// at once") says the data cannot identify the model, and its
// predictions would be extreme; large values are a legitimate limit (a
// population that does not vary in that respect) and stay.
func identified(vs ...float64) bool {
	for _, v := range vs {
		if !(v >= minParam && v <= maxParam) {
			return false
		}
	}
	return true
}

func checkCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := range 3 {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// Check validates a CLV model: period "day", finite positive parameters
// (a ≠ 1, q > 1: the population's mean spend exists), ISO currency codes.
func (m CLV) Check() error {
	e := func(field, msg string) error {
		return &Error{Kind: KindModel, Name: ModelCLV, Field: field, Message: msg}
	}
	if m.Period != periodDay {
		return e("period", `must be "day"`)
	}
	if !checkBGNBD(m.BGNBD) {
		return e("bgnbd", "needs finite positive r, alpha, a, b (a ≠ 1)")
	}
	if m.Customers < 0 {
		return e("customers", "must not be negative")
	}
	if len(m.Currencies) > maxCLVCurrencies {
		return e("currencies", fmt.Sprintf("more than %d", maxCLVCurrencies))
	}
	for cur, c := range m.Currencies {
		if !checkCurrency(cur) {
			return e("currencies", fmt.Sprintf("%q is not an ISO 4217 code", cur))
		}
		if !checkBGNBD(c.BGNBD) {
			return e("currencies."+cur+".bgnbd", "needs finite positive r, alpha, a, b (a ≠ 1)")
		}
		if g := c.GammaGamma; !positive(g.P, g.Q, g.V) || g.Q <= 1 {
			return e("currencies."+cur+".gamma_gamma", "needs finite positive p, q, v with q > 1")
		}
	}
	return nil
}

// Check validates an RFM model: thresholds finite and ordered (recency
// non-increasing, the others non-decreasing), ISO currency codes.
func (m RFM) Check() error {
	e := func(field, msg string) error {
		return &Error{Kind: KindModel, Name: ModelRFM, Field: field, Message: msg}
	}
	ordered := func(t [4]float64, up bool) bool {
		for i, v := range t {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
			if i > 0 && (up && v < t[i-1] || !up && v > t[i-1]) {
				return false
			}
		}
		return true
	}
	if !ordered(m.Recency, false) {
		return e("recency_days", "must be finite and non-increasing")
	}
	if !ordered(m.Frequency, true) {
		return e("frequency", "must be finite and non-decreasing")
	}
	if len(m.Monetary) > maxRFMCurrencies {
		return e("monetary", fmt.Sprintf("more than %d currencies", maxRFMCurrencies))
	}
	for cur, t := range m.Monetary {
		if !checkCurrency(cur) {
			return e("monetary", fmt.Sprintf("%q is not an ISO 4217 code", cur))
		}
		if !ordered(t, true) {
			return e("monetary."+cur, "must be finite and non-decreasing")
		}
	}
	return nil
}

// valueModels are a catalog's value models, parsed and checked.
type valueModels struct {
	clv *CLV
	rfm *RFM
}

// parseValueModels reads the catalog's "clv" and "rfm" models.
func parseValueModels(models map[string]Model) (valueModels, error) {
	var vm valueModels
	if b, ok := models[ModelCLV]; ok {
		var m CLV
		if err := decodeStrict(b, &m); err != nil {
			return vm, &Error{Kind: KindModel, Name: ModelCLV, Field: "body", Message: err.Error()}
		}
		if err := m.Check(); err != nil {
			return vm, err
		}
		vm.clv = &m
	}
	if b, ok := models[ModelRFM]; ok {
		var m RFM
		if err := decodeStrict(b, &m); err != nil {
			return vm, &Error{Kind: KindModel, Name: ModelRFM, Field: "body", Message: err.Error()}
		}
		if err := m.Check(); err != nil {
			return vm, err
		}
		vm.rfm = &m
	}
	return vm, nil
}

func (vm valueModels) empty() bool { return vm.clv == nil && vm.rfm == nil }

// ledgerOrder is one order of a profile's ledger.
type ledgerOrder struct {
	day   int64
	cur   string // "" without a usable amount
	minor int64
}

// history is a profile's orders up to a moment, sorted by day then
// currency.
type history []ledgerOrder

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// historyOf reads p's orders with a time at or before nowMs; note is
// called with the time of each later one (it enters then).
func historyOf(p *profile.Profile, nowMs int64, note func(int64)) history {
	var h history
	p.LedgerEvents(func(e *profile.LedgerEvent) {
		if !e.Order {
			return
		}
		if e.Time > nowMs {
			if note != nil {
				note(e.Time)
			}
			return
		}
		h = append(h, ledgerOrder{day: floorDiv(e.Time, dayMs), cur: string(e.Currency), minor: e.Minor})
	})
	slices.SortFunc(h, func(a, b ledgerOrder) int {
		if a.day != b.day {
			return int(a.day - b.day)
		}
		return strings.Compare(a.cur, b.cur)
	})
	return h
}

// summary is the BG/NBD history of the order days in h with cur
// ("" for every order): repeat days, the last's day after the first,
// today after the first, and the mean value of the repeat days in major
// units (days whose orders sum below zero count as zero: returns are
// not spend).
func (h history) summary(cur string, all bool, today int64) (clv.Summary, bool) {
	var first, last int64
	days := 0
	var sum float64 // of the repeat days' values, major units
	// h is sorted by (day, currency): a day's orders in cur are adjacent.
	var dayMinor int64
	scale := math.Pow10(profile.CurrencyExponent(cur))
	for i, o := range h {
		if !all && o.cur != cur {
			continue
		}
		if days == 0 || o.day != last {
			if days == 0 {
				first = o.day
			}
			days++
			last, dayMinor = o.day, 0
		}
		dayMinor += o.minor
		if end := i+1 == len(h) || h[i+1].day != o.day || !all && h[i+1].cur != cur; end && days > 1 {
			sum += max(float64(dayMinor), 0) / scale
		}
	}
	if days == 0 {
		return clv.Summary{}, false
	}
	s := clv.Summary{Frequency: days - 1, Recency: float64(last - first), Age: float64(max(today, last) - first)}
	if s.Frequency > 0 && !all {
		s.MeanSpend = sum / float64(s.Frequency)
	}
	return s, true
}

// currencies returns the currencies of h's orders with an amount, sorted.
func (h history) currencies() []string {
	var out []string
	for _, o := range h {
		if o.cur != "" && !slices.Contains(out, o.cur) {
			out = append(out, o.cur)
		}
	}
	slices.Sort(out)
	return out
}

// mainCurrency is the currency of most of h's orders with an amount
// (ties: the smallest code) and their total in major units; "" when no
// order has an amount.
func (h history) mainCurrency() (string, float64) {
	var best string
	var bestN int
	for _, cur := range h.currencies() {
		n := 0
		for _, o := range h {
			if o.cur == cur {
				n++
			}
		}
		if n > bestN {
			best, bestN = cur, n
		}
	}
	if best == "" {
		return "", 0
	}
	var minor int64
	for _, o := range h {
		if o.cur == best {
			minor += o.minor
		}
	}
	return best, float64(minor) / math.Pow10(profile.CurrencyExponent(best))
}

func roundTo(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	s := math.Pow10(digits)
	return math.Round(v*s) / s
}

// score appends the value models' computed values of p as of now to out:
// p_alive, expected_orders_90d and predicted_value_365d with a CLV model,
// rfm with an RFM model — null for a profile without an order (or
// erased). Every value of a profile with an order changes at the next
// UTC midnight, which is noted; so is an order dated later than now.
func (vm valueModels) score(p *profile.Profile, in *input, out []Value) []Value {
	if vm.empty() {
		return out
	}
	var h history
	if !p.Erased.Set {
		h = historyOf(p, in.nowMs, in.note)
	}
	today := floorDiv(in.nowMs, dayMs)
	if len(h) > 0 {
		in.note((today + 1) * dayMs)
	}
	if vm.clv != nil {
		var pa, eo, pv any
		if s, ok := h.summary("", true, today); ok {
			m := vm.clv
			pa = roundTo(m.BGNBD.PAlive(s), 6)
			eo = roundTo(m.BGNBD.ExpectedPurchases(s, expectedOrdersDays), 6)
			vals := map[string]any{}
			for _, cur := range h.currencies() {
				cm, ok := m.Currencies[cur]
				if !ok {
					continue
				}
				cs, _ := h.summary(cur, false, today)
				v := cm.BGNBD.ExpectedPurchases(cs, predictedValueDays) * cm.GammaGamma.ExpectedSpend(cs)
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					vals[cur] = roundTo(v, profile.CurrencyExponent(cur))
				}
			}
			pv = vals
		}
		out = append(out, Value{Name: ValuePAlive, Value: pa}, Value{Name: ValueExpectedOrders, Value: eo},
			Value{Name: ValuePredictedValue, Value: pv})
	}
	if vm.rfm != nil {
		var v any
		if len(h) > 0 {
			v = vm.rfm.scoreHistory(h, today)
		}
		out = append(out, Value{Name: ValueRFM, Value: v})
	}
	return out
}

// scoreHistory is a profile's RFM value: {"r","f","m","segment"}; m is
// null when its main currency has no thresholds (or no order has an
// amount).
func (m *RFM) scoreHistory(h history, today int64) map[string]any {
	last := h[len(h)-1].day
	d := float64(max(today-last, 0))
	r := int64(1)
	for _, t := range m.Recency {
		if d <= t {
			r++
		}
	}
	f := scoreUp(float64(len(h)), m.Frequency)
	var mv any
	if cur, total := h.mainCurrency(); cur != "" {
		if t, ok := m.Monetary[cur]; ok {
			mv = scoreUp(total, t)
		}
	}
	return map[string]any{"r": r, "f": f, "m": mv, "segment": Segment(int(r), int(f))}
}

func scoreUp(v float64, t [4]float64) int64 {
	s := int64(1)
	for _, x := range t {
		if v >= x {
			s++
		}
	}
	return s
}

// Segments are the RFM segment names, by recency (rows, r = 1..5) and
// frequency (columns, f = 1..5) score: the widely used ten-segment RF
// grid (decision 0037 has the table and its source).
var segments = [5][5]string{
	{"Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"},
	{"Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"},
	{"About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"},
	{"Promising", "Potential Loyalists", "Potential Loyalists", "Loyal", "Loyal"},
	{"New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"},
}

// Segment names the RFM segment of recency score r and frequency score
// f (each 1..5; out of range is clamped).
func Segment(r, f int) string {
	return segments[min(max(r, 1), 5)-1][min(max(f, 1), 5)-1]
}

// Population gathers the profiles the value models are fitted on, as of
// one moment. Add every profile, then fit. Not safe for concurrent use.
type Population struct {
	nowMs, today int64
	customers    []clv.Summary
	byCur        map[string][]clv.Summary
	// sameDays is false once a profile's days in some currency differ
	// from its order days (a second currency, an order without amount):
	// only while it holds can one currency reuse the overall BG/NBD fit.
	sameDays  bool
	recency   []float64
	frequency []float64
	monetary  map[string][]float64
}

// NewPopulation starts a population as of now.
func NewPopulation(now time.Time) *Population {
	ms := now.UnixMilli()
	return &Population{nowMs: ms, today: floorDiv(ms, dayMs), byCur: map[string][]clv.Summary{}, sameDays: true,
		monetary: map[string][]float64{}}
}

// Add adds one profile (a hub cluster): its orders at or before the
// population's moment. A profile without an order, or erased, adds
// nothing.
func (pop *Population) Add(p *profile.Profile) {
	if p.Erased.Set {
		return
	}
	h := historyOf(p, pop.nowMs, nil)
	s, ok := h.summary("", true, pop.today)
	if !ok {
		return
	}
	pop.customers = append(pop.customers, s)
	curs := h.currencies()
	for _, cur := range curs {
		cs, _ := h.summary(cur, false, pop.today)
		pop.byCur[cur] = append(pop.byCur[cur], cs)
		if cs.Frequency != s.Frequency || cs.Recency != s.Recency || cs.Age != s.Age {
			pop.sameDays = false
		}
	}
	if len(curs) != 1 {
		pop.sameDays = false
	}
	pop.recency = append(pop.recency, float64(max(pop.today-h[len(h)-1].day, 0)))
	pop.frequency = append(pop.frequency, float64(len(h)))
	if cur, total := h.mainCurrency(); cur != "" {
		pop.monetary[cur] = append(pop.monetary[cur], total)
	}
}

// Customers returns the number of profiles with an order added.
func (pop *Population) Customers() int { return len(pop.customers) }

// FitCLV fits the CLV model. An error wrapping ErrTooLittleData when no
// profile has repeated an order (or the fit gives no usable
// parameters); a currency whose data cannot identify its models is left
// out and named in Skipped.
func (pop *Population) FitCLV() (CLV, error) {
	fit, err := clv.FitBGNBD(pop.customers)
	if err != nil {
		return CLV{}, fmt.Errorf("catalog: fit clv: %w", err)
	}
	m := CLV{Period: periodDay, FittedAt: time.UnixMilli(pop.nowMs).UTC(), Customers: len(pop.customers),
		BGNBD: fit.Model, LogLikelihood: fit.LogLikelihood, Currencies: map[string]CLVCurrency{}}
	if b := m.BGNBD; !checkBGNBD(b) || !identified(b.R, b.Alpha, b.A, b.B) {
		return CLV{}, fmt.Errorf("catalog: fit clv: %w: the data does not identify the BG/NBD model over %d profiles (fitted %+v, a parameter outside [%g, %g])",
			ErrTooLittleData, len(pop.customers), b, minParam, maxParam)
	}
	skip := func(cur, why string) {
		if m.Skipped == nil {
			m.Skipped = map[string]string{}
		}
		m.Skipped[cur] = why
	}
	for _, cur := range sortedNames(pop.byCur) {
		data := pop.byCur[cur]
		if len(m.Currencies) == maxCLVCurrencies {
			skip(cur, fmt.Sprintf("more than %d currencies", maxCLVCurrencies))
			continue
		}
		bg := fit
		if !pop.sameDays || len(pop.byCur) != 1 {
			if bg, err = clv.FitBGNBD(data); err != nil {
				skip(cur, err.Error())
				continue
			}
		}
		gg, err := clv.FitGammaGamma(data)
		if err != nil {
			skip(cur, err.Error())
			continue
		}
		c := CLVCurrency{Customers: len(data), RepeatCustomers: gg.Customers, BGNBD: bg.Model, GammaGamma: gg.Model}
		if b, g := c.BGNBD, c.GammaGamma; !checkBGNBD(b) || g.Q <= 1 || !identified(b.R, b.Alpha, b.A, b.B, g.P, g.Q, g.V) {
			skip(cur, fmt.Sprintf("the data does not identify the models (fitted bgnbd %+v, gamma_gamma %+v: q ≤ 1 or a parameter outside [%g, %g])",
				b, g, minParam, maxParam))
			continue
		}
		m.Currencies[cur] = c
	}
	return m, nil
}

// FitRFM computes the RFM thresholds: each profile's value is given the
// quintile of its mid-rank among the population's (so tied values share
// a score), and each threshold is the least good value with that score
// or better. An error wrapping ErrTooLittleData with fewer than five
// profiles with an order; a currency with fewer than five profiles whose
// main currency it is has no monetary thresholds.
func (pop *Population) FitRFM() (RFM, error) {
	if n := len(pop.recency); n < minRFMCustomers {
		return RFM{}, fmt.Errorf("catalog: fit rfm: %w: quintiles need at least %d profiles with an order, got %d", ErrTooLittleData, minRFMCustomers, n)
	}
	neg := make([]float64, len(pop.recency))
	for i, d := range pop.recency {
		neg[i] = -d // fewer days is better
	}
	m := RFM{FittedAt: time.UnixMilli(pop.nowMs).UTC(), Customers: len(pop.recency), Monetary: map[string][4]float64{}}
	r := quintiles(neg)
	for i := range r {
		m.Recency[i] = -r[i]
		if r[i] == math.Inf(1) {
			m.Recency[i] = rfmRecencyUnreachable
		}
	}
	m.Frequency = finite(quintiles(pop.frequency), pop.frequency)
	for _, cur := range sortedNames(pop.monetary) {
		vs := pop.monetary[cur]
		if len(vs) < minRFMCustomers || len(m.Monetary) == maxRFMCurrencies {
			continue
		}
		m.Monetary[cur] = finite(quintiles(vs), vs)
	}
	return m, nil
}

// quintiles returns, for scores 2..5, the least value whose mid-rank
// quintile is that score or more (+Inf when no value reaches it). The
// score of a value v is 1 + ⌊5·(below + equal/2)/n⌋, at most 5.
func quintiles(vs []float64) [4]float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := float64(len(s))
	out := [4]float64{math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)}
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		mid := (float64(i) + float64(j-i)/2) / n
		score := min(1+int(math.Floor(5*mid)), 5)
		for k := 2; k <= score; k++ {
			if out[k-2] == math.Inf(1) {
				out[k-2] = s[i]
			}
		}
		i = j
	}
	return out
}

// finite replaces an unreachable threshold by one above every value.
func finite(t [4]float64, vs []float64) [4]float64 {
	top := slices.Max(vs) + 1
	for i := range t {
		if math.IsInf(t[i], 1) {
			t[i] = top
		}
	}
	return t
}

// Marshal encodes a fitted model as the body of a "models" definition.
func (m CLV) Marshal() (Model, error) { return marshalModel(m) }

// Marshal encodes a fitted model as the body of a "models" definition.
func (m RFM) Marshal() (Model, error) { return marshalModel(m) }

func marshalModel(v any) (Model, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("catalog: encode model: %w", err)
	}
	return Model(b), nil
}
