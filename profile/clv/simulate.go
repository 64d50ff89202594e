package clv

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Simulate draws n customers' purchases from the models' own
// generative story, for tests and benchmarks that need data of known
// structure: each customer's purchase rate λ ~ Gamma(r, 1/α) and
// drop-out probability p ~ Beta(a, b); their first purchase on a day
// uniform in [0, days); then purchases after exponential gaps of rate λ
// until day days, dropping out with probability p after each repeat
// purchase (never after the first: P(alive) is 1 with no repeat). Each
// purchase's value is Gamma(p_gg, 1/ν) with the customer's
// ν ~ Gamma(q, 1/v). Customers are named "c0", "c1", …; days count
// from 0. The result is in customer order, then time order.
func Simulate(rng *rand.Rand, n int, m BGNBD, spend GammaGamma, days int) []Transaction {
	var out []Transaction
	for i := range n {
		lambda := gammaRand(rng, m.R) / m.Alpha
		drop := betaRand(rng, m.A, m.B)
		nu := gammaRand(rng, spend.Q) / spend.V
		id := fmt.Sprint("c", i)
		t := float64(rng.IntN(days)) + rng.Float64()
		for k := 0; t < float64(days); k++ {
			out = append(out, Transaction{Customer: id, Day: int(t), Amount: gammaRand(rng, spend.P) / nu})
			if k > 0 && rng.Float64() < drop {
				break
			}
			t += rng.ExpFloat64() / lambda
		}
	}
	return out
}

// gammaRand draws from Gamma(shape, 1) (Marsaglia and Tsang; shape < 1
// through the boost Gamma(shape+1)·U^(1/shape)).
func gammaRand(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return gammaRand(rng, shape+1) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := rng.Float64(); math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

func betaRand(rng *rand.Rand, a, b float64) float64 {
	x, y := gammaRand(rng, a), gammaRand(rng, b)
	return x / (x + y)
}
