package clv_test

import (
	"errors"
	"math"
	"testing"

	"ucv/profile/clv"
)

// hyp2f1 sums the Gauss series term by term: an independent check of
// the hypergeometric factor for |z| < 1.
func hyp2f1(a, b, c, z float64) float64 {
	sum, term := 1.0, 1.0
	for k := 0.0; k < 5000; k++ {
		term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
		sum += term
		if math.Abs(term) < 1e-17*math.Abs(sum) {
			break
		}
	}
	return sum
}

func approx(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g", name, got, want)
	}
}

var m = clv.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}

// TestLogLikelihoodMatchesDirectForm: the log-space likelihood equals
// the paper's product written with Gamma and Beta functions directly.
func TestLogLikelihoodMatchesDirectForm(t *testing.T) {
	beta := func(a, b float64) float64 { return math.Gamma(a) * math.Gamma(b) / math.Gamma(a+b) }
	for _, s := range []clv.Summary{{Frequency: 0, Age: 38}, {Frequency: 1, Recency: 5, Age: 30}, {Frequency: 4, Recency: 20.5, Age: 21}} {
		x := float64(s.Frequency)
		l := beta(m.A, m.B+x) / beta(m.A, m.B) * math.Gamma(m.R+x) * math.Pow(m.Alpha, m.R) / math.Gamma(m.R)
		inner := math.Pow(m.Alpha+s.Age, -(m.R + x))
		if s.Frequency > 0 {
			inner += m.A / (m.B + x - 1) * math.Pow(m.Alpha+s.Recency, -(m.R+x))
		}
		approx(t, "log-likelihood", m.LogLikelihood(s), math.Log(l*inner))
	}
	// A history of 300 repeats overflows Γ in the direct form; the log
	// form stays finite.
	if v := m.LogLikelihood(clv.Summary{Frequency: 300, Recency: 100, Age: 101}); math.IsNaN(v) || math.IsInf(v, 0) {
		t.Errorf("log-likelihood of 300 repeats = %v, want finite", v)
	}
}

// TestPAliveHandComputed: a=1, b=2, x=1 gives a/(b+x-1) = 1/2; r=1,
// α=1, T=3, t_x=1 gives ((α+T)/(α+t_x))^(r+x) = 4; P(alive) = 1/(1+2).
func TestPAliveHandComputed(t *testing.T) {
	h := clv.BGNBD{R: 1, Alpha: 1, A: 1, B: 2}
	approx(t, "P(alive)", h.PAlive(clv.Summary{Frequency: 1, Recency: 1, Age: 3}), 1.0/3)
	approx(t, "P(alive) with the last purchase at T", h.PAlive(clv.Summary{Frequency: 1, Recency: 3, Age: 3}), 1.0/1.5)
	approx(t, "P(alive) of a one-time buyer", h.PAlive(clv.Summary{Age: 50}), 1)
}

// TestExpectedPurchasesClosedForm checks equation 10 against the closed
// form computed here with the series for 2F1, and its limits.
func TestExpectedPurchasesClosedForm(t *testing.T) {
	for _, c := range []struct {
		s clv.Summary
		t float64
	}{
		{clv.Summary{Frequency: 2, Recency: 30.43, Age: 38.86}, 39},
		{clv.Summary{Frequency: 0, Age: 38.86}, 39},
		{clv.Summary{Frequency: 7, Recency: 35, Age: 36}, 52},
		{clv.Summary{Frequency: 1, Recency: 2, Age: 30}, 1},
	} {
		x := float64(c.s.Frequency)
		z := c.t / (m.Alpha + c.s.Age + c.t)
		num := (m.A + m.B + x - 1) / (m.A - 1) * (1 - math.Pow((m.Alpha+c.s.Age)/(m.Alpha+c.s.Age+c.t), m.R+x)*hyp2f1(m.R+x, m.B+x, m.A+m.B+x-1, z))
		den := 1.0
		if c.s.Frequency > 0 {
			den += m.A / (m.B + x - 1) * math.Pow((m.Alpha+c.s.Age)/(m.Alpha+c.s.Recency), m.R+x)
		}
		approx(t, "E[Y(t)|x,t_x,T]", m.ExpectedPurchases(c.s, c.t), num/den)
	}
	// The paper's worked example (section 5): with its estimates, a
	// customer with x = 2, t_x = 30.43, T = 38.86 is expected to make
	// 1.226 transactions in the next 39 weeks.
	if got := m.ExpectedPurchases(clv.Summary{Frequency: 2, Recency: 30.43, Age: 38.86}, 39); math.Abs(got-1.226) > 0.0005 {
		t.Errorf("paper's example: E = %.4f, want 1.226", got)
	}
	// A customer seen at time 0 with no history is a new customer.
	approx(t, "E[Y(t)|0,0,0]", m.ExpectedPurchases(clv.Summary{}, 39), m.ExpectedPurchasesNew(39))
	if got := m.ExpectedPurchases(clv.Summary{Frequency: 3, Recency: 5, Age: 9}, 0); got != 0 {
		t.Errorf("E over 0 periods = %v, want 0", got)
	}
	// More time, more purchases.
	s := clv.Summary{Frequency: 3, Recency: 5, Age: 9}
	if a, b := m.ExpectedPurchases(s, 10), m.ExpectedPurchases(s, 20); !(a > 0 && b > a) {
		t.Errorf("E(10) = %v, E(20) = %v: want 0 < E(10) < E(20)", a, b)
	}
}

// TestGammaGammaExpectedSpend: the conditional expectation is the
// weighted mean of the population mean pv/(q-1) and the customer's m_x,
// with weight px/(px+q-1) on m_x.
func TestGammaGammaExpectedSpend(t *testing.T) {
	g := clv.GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	pop := g.P * g.V / (g.Q - 1)
	approx(t, "E[Z] of a one-time buyer", g.ExpectedSpend(clv.Summary{}), pop)
	s := clv.Summary{Frequency: 3, Recency: 10, Age: 20, MeanSpend: 40}
	w := g.P * 3 / (g.P*3 + g.Q - 1)
	approx(t, "E[Z|x,m_x]", g.ExpectedSpend(s), (1-w)*pop+w*40)
	if v := (clv.GammaGamma{P: 1, Q: 0.5, V: 1}).ExpectedSpend(s); !math.IsInf(v, 1) {
		t.Errorf("E[Z] with q ≤ 1 = %v, want +Inf", v)
	}
}

// TestFitsRefuseTooLittleData: no repeat customer cannot identify the
// BG/NBD drop-out; fewer than two spending repeat customers cannot fit
// Gamma-Gamma; invalid histories name their index.
func TestFitsRefuseTooLittleData(t *testing.T) {
	if _, err := clv.FitBGNBD([]clv.Summary{{Age: 3}, {Age: 5}}); !errors.Is(err, clv.ErrTooLittleData) {
		t.Errorf("BG/NBD on one-time buyers: err = %v, want ErrTooLittleData", err)
	}
	if _, err := clv.FitBGNBD(nil); !errors.Is(err, clv.ErrTooLittleData) {
		t.Errorf("BG/NBD on nobody: err = %v, want ErrTooLittleData", err)
	}
	if _, err := clv.FitGammaGamma([]clv.Summary{{Frequency: 1, Recency: 1, Age: 2, MeanSpend: 10}, {Frequency: 2, Recency: 1, Age: 2}}); !errors.Is(err, clv.ErrTooLittleData) {
		t.Errorf("Gamma-Gamma on one spending repeat customer: err = %v, want ErrTooLittleData", err)
	}
	_, err := clv.FitBGNBD([]clv.Summary{{Frequency: 1, Recency: 1, Age: 2}, {Frequency: 1, Recency: 3, Age: 2}})
	if err == nil || err.Error() != "customer 1: recency 3 is outside [0, age 2]" {
		t.Errorf("recency beyond age: err = %v", err)
	}
	if _, err := clv.FitGammaGamma([]clv.Summary{{Frequency: 1, MeanSpend: -1}}); err == nil {
		t.Error("Gamma-Gamma with a negative mean spend: no error")
	}
}

// TestSummarize: same-day purchases are one transaction worth their sum,
// the first day is not a repeat, later purchases are left out.
func TestSummarize(t *testing.T) {
	cs, err := clv.Summarize([]clv.Transaction{
		{"b", 10, 5}, {"a", 0, 1}, {"a", 0, 2}, {"a", 14, 3}, {"a", 14, 4}, {"a", 21, 10}, {"a", 99, 50}, {"late", 40, 1},
	}, 28, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []clv.Customer{
		{ID: "a", Summary: clv.Summary{Frequency: 2, Recency: 3, Age: 4, MeanSpend: 8.5}},
		{ID: "b", Summary: clv.Summary{Frequency: 0, Recency: 0, Age: 18.0 / 7}},
	}
	if len(cs) != len(want) {
		t.Fatalf("got %+v, want %+v", cs, want)
	}
	for i := range want {
		if cs[i] != want[i] {
			t.Errorf("customer %d = %+v, want %+v", i, cs[i], want[i])
		}
	}
}

// TestGroupedSumsMatchPerCustomer: the sums the fits maximise, with the
// x-only terms shared, equal the per-customer log-likelihoods added up.
func TestGroupedSumsMatchPerCustomer(t *testing.T) {
	g := clv.GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	cs := []clv.Summary{
		{Age: 30}, {Age: 30}, {Frequency: 1, Recency: 4, Age: 20, MeanSpend: 12},
		{Frequency: 3, Recency: 9, Age: 38, MeanSpend: 30}, {Frequency: 1, Recency: 4, Age: 20, MeanSpend: 12},
		{Frequency: 3, Recency: 1, Age: 2, MeanSpend: 7}, {Frequency: 12, Recency: 30, Age: 31, MeanSpend: 55},
	}
	var wantBG, wantGG float64
	for _, s := range cs {
		wantBG += m.LogLikelihood(s)
		wantGG += g.LogLikelihood(s)
	}
	gotBG, gotGG := clv.SumsForTest(m, g, cs)
	approx(t, "BG/NBD sum", gotBG, wantBG)
	approx(t, "Gamma-Gamma sum", gotGG, wantGG)
}

// TestGammaGammaGradient: the analytic gradient BFGS follows matches a
// central finite difference of the log-likelihood.
func TestGammaGammaGradient(t *testing.T) {
	cs := []clv.Summary{
		{Frequency: 1, MeanSpend: 12}, {Frequency: 3, MeanSpend: 30}, {Frequency: 1, MeanSpend: 12},
		{Frequency: 3, MeanSpend: 7}, {Frequency: 12, MeanSpend: 55},
	}
	g := clv.GammaGamma{P: 2.5, Q: 3.1, V: 9}
	got := clv.GGGradForTest(g, cs)
	ll := func(g clv.GammaGamma) float64 {
		var s float64
		for _, c := range cs {
			s += g.LogLikelihood(c)
		}
		return s
	}
	const h = 1e-6
	for i, name := range []string{"p", "q", "v"} {
		lo, hi := g, g
		switch i {
		case 0:
			lo.P, hi.P = g.P-h, g.P+h
		case 1:
			lo.Q, hi.Q = g.Q-h, g.Q+h
		case 2:
			lo.V, hi.V = g.V-h, g.V+h
		}
		want := (ll(hi) - ll(lo)) / (2 * h)
		if math.Abs(got[i]-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("∂LL/∂%s = %.8g, finite difference %.8g", name, got[i], want)
		}
	}
}

// TestGammaGammaSmallSampleFits: on a small, coarse sample BFGS's line
// search fails to converge; the fit falls back to Nelder-Mead instead of
// failing (the data of cmd/ucv's TestCLVSameDayIsOneTransaction).
func TestGammaGammaSmallSampleFits(t *testing.T) {
	var txs []clv.Transaction
	for i := range 40 {
		id := string(rune('A' + i))
		txs = append(txs, clv.Transaction{Customer: id, Day: 0, Amount: 10})
		for k := 0; k < i%4; k++ {
			txs = append(txs, clv.Transaction{Customer: id, Day: 31*(k+1) + 9 + i%10, Amount: float64(5 + i + k)})
		}
	}
	cs, err := clv.Summarize(txs, 181, 1)
	if err != nil {
		t.Fatal(err)
	}
	sums := make([]clv.Summary, len(cs))
	for i, c := range cs {
		sums[i] = c.Summary
	}
	gg, err := clv.FitGammaGamma(sums)
	if err != nil {
		t.Fatalf("fit: %v", err)
	}
	// The fit is a maximum: nudging any parameter lowers the likelihood.
	ll := func(g clv.GammaGamma) float64 {
		var s float64
		for _, c := range sums {
			s += g.LogLikelihood(c)
		}
		return s
	}
	best := ll(gg.Model)
	for _, f := range []float64{0.99, 1.01} {
		g := gg.Model
		for i := range 3 {
			h := g
			switch i {
			case 0:
				h.P *= f
			case 1:
				h.Q *= f
			case 2:
				h.V *= f
			}
			if ll(h) > best+1e-9 {
				t.Errorf("parameter %d × %v raises the log-likelihood from %v to %v: not a maximum (%+v)", i, f, best, ll(h), gg.Model)
			}
		}
	}
}
