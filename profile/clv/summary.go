package clv

import (
	"fmt"
	"math"
	"sort"
)

// Transaction is one purchase: who, on which day (a day number, e.g. days
// since 1970-01-01 in the shop's time zone) and for how much.
type Transaction struct {
	Customer string
	Day      int
	Amount   float64
}

// Customer is a customer's id beside their calibration-period Summary.
type Customer struct {
	ID string
	Summary
}

// Summarize turns purchases into per-customer summaries for the
// calibration period that ends on day end (inclusive), in periods of
// periodDays days (1 for days, 7 for weeks). Several purchases on one day
// are one transaction worth their sum; the first day is not a repeat,
// and MeanSpend is the mean value of the repeat days. Purchases after end
// are ignored, and so are customers whose first purchase is after end.
// The result is sorted by customer id.
func Summarize(txs []Transaction, end int, periodDays float64) ([]Customer, error) {
	if !(periodDays > 0) {
		return nil, fmt.Errorf("period of %v days is not positive", periodDays)
	}
	type hist struct {
		days map[int]float64
	}
	by := map[string]*hist{}
	for _, t := range txs {
		if t.Day > end {
			continue
		}
		if math.IsNaN(t.Amount) || math.IsInf(t.Amount, 0) {
			return nil, fmt.Errorf("customer transaction on day %d: amount %v is not a number", t.Day, t.Amount)
		}
		h := by[t.Customer]
		if h == nil {
			h = &hist{days: map[int]float64{}}
			by[t.Customer] = h
		}
		h.days[t.Day] += t.Amount
	}
	out := make([]Customer, 0, len(by))
	for id, h := range by {
		days := make([]int, 0, len(h.days))
		for d := range h.days {
			days = append(days, d)
		}
		sort.Ints(days)
		first, last := days[0], days[len(days)-1]
		s := Summary{
			Frequency: len(days) - 1,
			Recency:   float64(last-first) / periodDays,
			Age:       float64(end-first) / periodDays,
		}
		if s.Frequency > 0 {
			var sum float64
			for _, d := range days[1:] {
				sum += h.days[d]
			}
			s.MeanSpend = sum / float64(s.Frequency)
		}
		out = append(out, Customer{ID: id, Summary: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
