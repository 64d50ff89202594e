package clv

// SumsForTest returns the grouped log-likelihood sums the fits maximise,
// for a check against the per-customer LogLikelihood.
func SumsForTest(bg BGNBD, gg GammaGamma, cs []Summary) (float64, float64) {
	data := collapse(cs, func(s Summary) Summary { return s })
	sortByFrequency(data)
	var rep []weighted
	for _, d := range data {
		if d.s.Frequency > 0 {
			rep = append(rep, d)
		}
	}
	return bgnbdSum(bg, data), ggSum(gg, rep)
}

// GGGradForTest is ggGrad over repeat customers.
func GGGradForTest(gg GammaGamma, cs []Summary) []float64 {
	data := collapse(cs, func(s Summary) Summary { return s })
	sortByFrequency(data)
	dst := make([]float64, 3)
	ggGrad(gg, data, dst)
	return dst
}
