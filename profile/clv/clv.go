package clv

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/optimize"
)

// Summary is one customer's calibration-period history, in periods.
type Summary struct {
	// Frequency is the number of repeat transactions (x); 0 for a
	// customer who bought once.
	Frequency int
	// Recency is the time of the last transaction after the first (t_x);
	// 0 when Frequency is 0. 0 ≤ Recency ≤ Age.
	Recency float64
	// Age is the time from the first purchase to the end of the
	// calibration period (T).
	Age float64
	// MeanSpend is the average value of the repeat transactions (m_x),
	// used by the Gamma-Gamma model; ignored when Frequency is 0.
	MeanSpend float64
}

// BGNBD holds the BG/NBD parameters: r and Alpha shape and scale the
// gamma distribution of purchase rates, A and B the beta distribution
// of the drop-out probability after each transaction.
type BGNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
}

// GammaGamma holds the Gamma-Gamma spend parameters: P is the shape of
// the gamma distribution of transaction values around a customer's mean,
// Q and V shape and scale the gamma distribution of the rates across
// customers.
type GammaGamma struct {
	P float64 `json:"p"`
	Q float64 `json:"q"`
	V float64 `json:"v"`
}

// ErrTooLittleData is returned by the fits when the data cannot identify
// the parameters (no customers, no repeat customers, no variation).
var ErrTooLittleData = errors.New("too little data")

func (s Summary) valid() error {
	switch {
	case s.Frequency < 0:
		return fmt.Errorf("frequency %d is negative", s.Frequency)
	case !(s.Age >= 0) || math.IsInf(s.Age, 0):
		return fmt.Errorf("age %v is not a finite non-negative number", s.Age)
	case !(s.Recency >= 0) || s.Recency > s.Age:
		return fmt.Errorf("recency %v is outside [0, age %v]", s.Recency, s.Age)
	case s.Frequency == 0 && s.Recency != 0:
		return fmt.Errorf("recency %v with no repeat transaction", s.Recency)
	}
	return nil
}

// LogLikelihood is the BG/NBD log-likelihood of one customer's history
// (equation 6 of the paper), computed in log space:
//
//	L = B(a,b+x)/B(a,b) · Γ(r+x)α^r/Γ(r) ·
//	    [(α+T)^-(r+x) + δ(x>0)·a/(b+x-1)·(α+t_x)^-(r+x)]
func (m BGNBD) LogLikelihood(s Summary) float64 {
	x := float64(s.Frequency)
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	a1 := lg(m.R+x) - lg(m.R) + m.R*math.Log(m.Alpha)
	a2 := lg(m.A+m.B) + lg(m.B+x) - lg(m.B) - lg(m.A+m.B+x)
	a3 := -(m.R + x) * math.Log(m.Alpha+s.Age)
	if s.Frequency == 0 {
		return a1 + a2 + a3
	}
	a4 := math.Log(m.A) - math.Log(m.B+x-1) - (m.R+x)*math.Log(m.Alpha+s.Recency)
	return a1 + a2 + logSumExp(a3, a4)
}

func logSumExp(u, v float64) float64 {
	hi, lo := max(u, v), min(u, v)
	return hi + math.Log1p(math.Exp(lo-hi))
}

// PAlive is the probability that a customer with this history is still
// active at the end of the calibration period (equation 11): 1 for a
// customer who never repeated (the model lets a customer drop out only
// after a transaction).
func (m BGNBD) PAlive(s Summary) float64 {
	if s.Frequency == 0 {
		return 1
	}
	x := float64(s.Frequency)
	// log of a/(b+x-1)·((α+T)/(α+t_x))^(r+x)
	l := math.Log(m.A) - math.Log(m.B+x-1) + (m.R+x)*(math.Log(m.Alpha+s.Age)-math.Log(m.Alpha+s.Recency))
	return 1 / (1 + math.Exp(l))
}

// ExpectedPurchases is the expected number of transactions of a customer
// with this history in the next t periods after the calibration period
// (equation 10):
//
//	E = (a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) ·
//	    2F1(r+x, b+x; a+b+x-1; t/(α+T+t))] / [1 + δ(x>0)·a/(b+x-1)·((α+T)/(α+t_x))^(r+x)]
//
// The argument of 2F1 lies in [0, 1), where the Gauss series converges.
// t ≤ 0 gives 0.
func (m BGNBD) ExpectedPurchases(s Summary, t float64) float64 {
	if !(t > 0) {
		return 0
	}
	x := float64(s.Frequency)
	rx := m.R + x
	z := t / (m.Alpha + s.Age + t)
	hyp := mathext.Hypergeo(rx, m.B+x, m.A+m.B+x-1, z)
	num := (m.A + m.B + x - 1) / (m.A - 1) * (1 - math.Exp(rx*(math.Log(m.Alpha+s.Age)-math.Log(m.Alpha+s.Age+t)))*hyp)
	return num * m.PAlive(s)
}

// ExpectedPurchasesNew is the expected number of transactions in a
// period of length t of a customer just acquired (equation 7), E[X(t)].
func (m BGNBD) ExpectedPurchasesNew(t float64) float64 {
	if !(t > 0) {
		return 0
	}
	z := t / (m.Alpha + t)
	hyp := mathext.Hypergeo(m.R, m.B, m.A+m.B-1, z)
	return (m.A + m.B - 1) / (m.A - 1) * (1 - math.Pow(m.Alpha/(m.Alpha+t), m.R)*hyp)
}

// LogLikelihood is the Gamma-Gamma log-likelihood of a repeat customer's
// mean spend m_x over x transactions; 0 for a customer with no repeat.
func (m GammaGamma) LogLikelihood(s Summary) float64 {
	if s.Frequency == 0 {
		return 0
	}
	x := float64(s.Frequency)
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	px := m.P * x
	return lg(px+m.Q) - lg(px) - lg(m.Q) + m.Q*math.Log(m.V) +
		(px-1)*math.Log(s.MeanSpend) + px*math.Log(x) - (px+m.Q)*math.Log(x*s.MeanSpend+m.V)
}

// ExpectedSpend is the conditional expectation of a customer's mean
// transaction value given x repeat transactions averaging m_x (equation 5
// of "RFM and CLV"): a weighted mean of the population mean pv/(q-1) and
// the customer's own m_x. For a customer with no repeat it is the
// population mean. It is +Inf when q ≤ 1 (the population mean does not
// exist).
func (m GammaGamma) ExpectedSpend(s Summary) float64 {
	if m.Q <= 1 {
		return math.Inf(1)
	}
	x := float64(s.Frequency)
	if s.Frequency == 0 {
		return m.P * m.V / (m.Q - 1)
	}
	return m.P * (m.V + x*s.MeanSpend) / (m.P*x + m.Q - 1)
}

// ggGrad writes into dst the gradient of ggSum with respect to (p, q, v):
//
//	∂/∂p = x·[ψ(px+q) − ψ(px) + ln m + ln x − ln(xm+v)]
//	∂/∂q = ψ(px+q) − ψ(q) + ln v − ln(xm+v)
//	∂/∂v = q/v − (px+q)/(xm+v)
func ggGrad(m GammaGamma, data []weighted, dst []float64) {
	var dp, dq, dv float64
	psiQ, lnV := mathext.Digamma(m.Q), math.Log(m.V)
	x, fx, px, psiPXQ, psiPX, lnX := -1, 0.0, 0.0, 0.0, 0.0, 0.0
	for _, d := range data {
		if d.s.Frequency != x {
			x = d.s.Frequency
			fx = float64(x)
			px = m.P * fx
			psiPXQ, psiPX, lnX = mathext.Digamma(px+m.Q), mathext.Digamma(px), math.Log(fx)
		}
		ms := d.s.MeanSpend
		lnXMV := math.Log(fx*ms + m.V)
		dp += d.w * fx * (psiPXQ - psiPX + math.Log(ms) + lnX - lnXMV)
		dq += d.w * (psiPXQ - psiQ + lnV - lnXMV)
		dv += d.w * (m.Q/m.V - (px+m.Q)/(fx*ms+m.V))
	}
	dst[0], dst[1], dst[2] = dp, dq, dv
}

// FitResult is a fitted model with its maximised log-likelihood (summed
// over the customers) and the number of customers it was fitted on.
type FitResult[M any] struct {
	Model         M
	LogLikelihood float64
	Customers     int
}

// weighted collapses identical histories: fitting a million customers
// costs as much as their distinct (x, t_x, T[, m_x]) tuples.
type weighted struct {
	s Summary
	w float64
}

// sortByFrequency orders data so that the terms that depend on x alone
// are computed once per distinct x in an evaluation.
func sortByFrequency(data []weighted) {
	slices.SortFunc(data, func(a, b weighted) int { return a.s.Frequency - b.s.Frequency })
}

func lgamma(v float64) float64 { l, _ := math.Lgamma(v); return l }

// bgnbdSum is Σ w·LogLikelihood over data sorted by frequency: the same
// sum as calling LogLikelihood on each, with the Γ and B terms computed
// once per distinct x.
func bgnbdSum(m BGNBD, data []weighted) float64 {
	var ll float64
	lnA, lnAlpha := math.Log(m.A), math.Log(m.Alpha)
	lgR, lgAB, lgB := lgamma(m.R), lgamma(m.A+m.B), lgamma(m.B)
	x, head, tail := -1, 0.0, 0.0
	for _, d := range data {
		if d.s.Frequency != x {
			x = d.s.Frequency
			fx := float64(x)
			head = lgamma(m.R+fx) - lgR + m.R*lnAlpha + lgAB + lgamma(m.B+fx) - lgB - lgamma(m.A+m.B+fx)
			if x > 0 {
				tail = lnA - math.Log(m.B+fx-1)
			}
		}
		rx := m.R + float64(x)
		a3 := -rx * math.Log(m.Alpha+d.s.Age)
		if x == 0 {
			ll += d.w * (head + a3)
			continue
		}
		ll += d.w * (head + logSumExp(a3, tail-rx*math.Log(m.Alpha+d.s.Recency)))
	}
	return ll
}

// ggSum is Σ w·LogLikelihood of the Gamma-Gamma model over repeat
// customers sorted by frequency, the Γ terms computed once per distinct x.
func ggSum(m GammaGamma, data []weighted) float64 {
	var ll float64
	base := -lgamma(m.Q) + m.Q*math.Log(m.V)
	x, head, px := -1, 0.0, 0.0
	for _, d := range data {
		if d.s.Frequency != x {
			x = d.s.Frequency
			fx := float64(x)
			px = m.P * fx
			head = base + lgamma(px+m.Q) - lgamma(px) + px*math.Log(fx)
		}
		ms := d.s.MeanSpend
		ll += d.w * (head + (px-1)*math.Log(ms) - (px+m.Q)*math.Log(float64(x)*ms+m.V))
	}
	return ll
}

func collapse(in []Summary, keep func(Summary) Summary) []weighted {
	idx := map[Summary]int{}
	var out []weighted
	for _, s := range in {
		k := keep(s)
		if i, ok := idx[k]; ok {
			out[i].w++
			continue
		}
		idx[k] = len(out)
		out = append(out, weighted{k, 1})
	}
	return out
}

// minimizeLog minimises f over positive parameters through their logs.
// With grad (∂f/∂p written into dst) it uses BFGS, otherwise — or when
// BFGS's line search fails — Nelder-Mead; either is restarted from its own optimum until the value
// stops improving (a single run can stall on the likelihood's flat
// ridges).
func minimizeLog(f func(p []float64) float64, grad func(p, dst []float64), n int) ([]float64, float64, error) {
	exp := func(lx []float64) []float64 {
		p := make([]float64, len(lx))
		for i, v := range lx {
			p[i] = math.Exp(v)
		}
		return p
	}
	prob := optimize.Problem{Func: func(lx []float64) float64 {
		v := f(exp(lx))
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		return v
	}}
	if grad != nil {
		prob.Grad = func(dst, lx []float64) {
			p := exp(lx)
			grad(p, dst)
			for i := range dst {
				dst[i] *= p[i] // chain rule: ∂f/∂ln p = p·∂f/∂p
			}
		}
	}
	x := make([]float64, n)
	best := prob.Func(x)
	if math.IsInf(best, 0) {
		return nil, 0, fmt.Errorf("%w: the likelihood is not finite at the starting point", ErrTooLittleData)
	}
	settings := &optimize.Settings{
		Converger:       &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 200},
		MajorIterations: 20000,
	}
	useGrad := grad != nil
	for range 10 {
		var method optimize.Method = &optimize.NelderMead{}
		if useGrad {
			method = &optimize.BFGS{}
			settings.GradientThreshold = 1e-9
		} else {
			settings.GradientThreshold = 0
		}
		res, err := optimize.Minimize(prob, x, settings, method)
		if err == nil && res != nil {
			err = res.Status.Err()
		}
		if err != nil && useGrad {
			// BFGS's line search can fail on a flat or badly scaled
			// surface: keep what it found and go on without gradients.
			if res != nil && res.F < best {
				x, best = slices.Clone(res.X), res.F
			}
			useGrad = false
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("minimise: %w", err)
		}
		improved := best-res.F > 1e-10*math.Max(1, math.Abs(best))
		x, best = slices.Clone(res.X), res.F
		if !improved {
			break
		}
	}
	return exp(x), best, nil
}

// FitBGNBD fits the BG/NBD model by maximum likelihood over the customers'
// histories, on the logs of the parameters so that they stay positive.
// It needs at least one repeat customer; an invalid Summary is an error
// naming its index.
func FitBGNBD(customers []Summary) (FitResult[BGNBD], error) {
	repeat := 0
	for i, s := range customers {
		if err := s.valid(); err != nil {
			return FitResult[BGNBD]{}, fmt.Errorf("customer %d: %w", i, err)
		}
		if s.Frequency > 0 {
			repeat++
		}
	}
	if repeat == 0 {
		return FitResult[BGNBD]{}, fmt.Errorf("%w: the BG/NBD fit needs at least one repeat customer, got %d customers and none repeated", ErrTooLittleData, len(customers))
	}
	data := collapse(customers, func(s Summary) Summary { s.MeanSpend = 0; return s })
	sortByFrequency(data)
	n := float64(len(customers))
	f := func(p []float64) float64 {
		return -bgnbdSum(BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}, data) / n
	}
	p, v, err := minimizeLog(f, nil, 4)
	if err != nil {
		return FitResult[BGNBD]{}, fmt.Errorf("bg/nbd: %w", err)
	}
	return FitResult[BGNBD]{
		Model:         BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]},
		LogLikelihood: -v * n,
		Customers:     len(customers),
	}, nil
}

// FitGammaGamma fits the Gamma-Gamma spend model by maximum likelihood on
// the repeat customers (Frequency > 0); the others are skipped, and so
// are repeat customers whose MeanSpend is 0 (free orders: a gamma
// density has no mass there). A negative or non-finite MeanSpend is an
// error naming the customer's index; at least two repeat customers with
// spend are needed. Customers in the result counts those fitted on.
func FitGammaGamma(customers []Summary) (FitResult[GammaGamma], error) {
	var rep []Summary
	for i, s := range customers {
		if s.Frequency == 0 {
			continue
		}
		if !(s.MeanSpend >= 0) || math.IsInf(s.MeanSpend, 0) {
			return FitResult[GammaGamma]{}, fmt.Errorf("customer %d: mean spend %v is not a non-negative number", i, s.MeanSpend)
		}
		if s.MeanSpend == 0 {
			continue
		}
		rep = append(rep, Summary{Frequency: s.Frequency, MeanSpend: s.MeanSpend})
	}
	if len(rep) < 2 {
		return FitResult[GammaGamma]{}, fmt.Errorf("%w: the Gamma-Gamma fit needs at least two repeat customers with spend, got %d", ErrTooLittleData, len(rep))
	}
	data := collapse(rep, func(s Summary) Summary { return s })
	sortByFrequency(data)
	n := float64(len(rep))
	f := func(p []float64) float64 {
		return -ggSum(GammaGamma{P: p[0], Q: p[1], V: p[2]}, data) / n
	}
	g := func(p, dst []float64) {
		ggGrad(GammaGamma{P: p[0], Q: p[1], V: p[2]}, data, dst)
		for i := range dst {
			dst[i] /= -n
		}
	}
	p, v, err := minimizeLog(f, g, 3)
	if err != nil {
		return FitResult[GammaGamma]{}, fmt.Errorf("gamma-gamma: %w", err)
	}
	return FitResult[GammaGamma]{
		Model:         GammaGamma{P: p[0], Q: p[1], V: p[2]},
		LogLikelihood: -v * n,
		Customers:     len(rep),
	}, nil
}
