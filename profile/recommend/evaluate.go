package recommend

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"ucv/profile"
)

// Purchase is one item a customer bought, for training by customer and
// for evaluation.
type Purchase struct {
	Customer, Item string
	// Time is when, ms since the epoch.
	Time int64
}

// CustomerBaskets returns, for purchases before until (ms), each
// customer's items as one basket, and each customer's history, by
// customer ID.
func CustomerBaskets(ps []Purchase, until int64) (baskets [][]string, hist map[string][]Interaction) {
	hist = map[string][]Interaction{}
	for _, p := range ps {
		if p.Time < until && p.Customer != "" && p.Item != "" {
			hist[p.Customer] = append(hist[p.Customer], Interaction{Item: p.Item, Time: p.Time, Bought: true})
		}
	}
	custs := make([]string, 0, len(hist))
	for c := range hist {
		custs = append(custs, c)
	}
	slices.Sort(custs)
	for _, c := range custs {
		b := make([]string, len(hist[c]))
		for i, h := range hist[c] {
			b[i] = h.Item
		}
		baskets = append(baskets, b)
	}
	return baskets, hist
}

// Result is an evaluation's outcome: the model's and the popularity
// baseline's recall and hit rate at K.
type Result struct {
	Split time.Time `json:"split"`
	K     int       `json:"k"`
	// Customers are those who bought before the split and bought at
	// least one new item (not bought before) after it: the evaluated.
	Customers int `json:"customers"`
	// Recall is the mean, over customers, of the share of their new
	// items found in their top K; HitRate the share of customers with at
	// least one in it.
	Recall          float64       `json:"recall"`
	HitRate         float64       `json:"hit_rate"`
	BaselineRecall  float64       `json:"baseline_recall"`
	BaselineHitRate float64       `json:"baseline_hit_rate"`
	TrainTime       time.Duration `json:"train_time"`
	Items           int           `json:"items"`
}

// Evaluate trains on the purchases before split (one basket per
// customer) and scores every customer who bought before it against the
// new items they bought after it, beside the popularity baseline: the K
// items bought by the most customers before the split that the customer
// has not bought.
func Evaluate(ps []Purchase, split time.Time, k int, opt Options) (Result, error) {
	at := split.UnixMilli()
	baskets, hist := CustomerBaskets(ps, at)
	start := time.Now()
	m, err := Train(baskets, opt)
	if err != nil {
		return Result{}, err
	}
	res := Result{Split: split, K: k, TrainTime: time.Since(start), Items: m.Items}
	// The baseline: items by the number of customers who bought them.
	buyers := map[string]int{}
	for _, b := range baskets {
		slices.Sort(b)
		for _, it := range slices.Compact(b) {
			buyers[it]++
		}
	}
	popular := make([]string, 0, len(buyers))
	for it := range buyers {
		popular = append(popular, it)
	}
	slices.SortFunc(popular, func(a, b string) int {
		if c := cmp.Compare(buyers[b], buyers[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	future := map[string]map[string]bool{}
	for _, p := range ps {
		if p.Time < at || hist[p.Customer] == nil || p.Item == "" {
			continue
		}
		if future[p.Customer] == nil {
			future[p.Customer] = map[string]bool{}
		}
		future[p.Customer][p.Item] = true
	}
	custs := make([]string, 0, len(future))
	for c := range future {
		custs = append(custs, c)
	}
	slices.Sort(custs)
	for _, c := range custs {
		bought := map[string]bool{}
		for _, h := range hist[c] {
			bought[h.Item] = true
		}
		target := map[string]bool{}
		for it := range future[c] {
			if !bought[it] {
				target[it] = true
			}
		}
		if len(target) == 0 {
			continue
		}
		res.Customers++
		recs := m.Recommend(hist[c], at, k)
		if len(recs) > k {
			return res, fmt.Errorf("recommend: %d recommendations for k=%d", len(recs), k)
		}
		hits := 0
		for _, r := range recs {
			if bought[r.ID] {
				return res, fmt.Errorf("recommend: recommended %q, which customer %s bought", r.ID, c)
			}
			if target[r.ID] {
				hits++
			}
		}
		res.Recall += float64(hits) / float64(len(target))
		if hits > 0 {
			res.HitRate++
		}
		hits, n := 0, 0
		for _, it := range popular {
			if n == k {
				break
			}
			if bought[it] {
				continue
			}
			n++
			if target[it] {
				hits++
			}
		}
		res.BaselineRecall += float64(hits) / float64(len(target))
		if hits > 0 {
			res.BaselineHitRate++
		}
	}
	if res.Customers > 0 {
		f := float64(res.Customers)
		res.Recall /= f
		res.HitRate /= f
		res.BaselineRecall /= f
		res.BaselineHitRate /= f
	}
	return res, nil
}

// History returns a profile's history for Recommend: the products of
// its orders (bought) and of its other track events ("Product Viewed",
// "Product Added"…: viewed), every message once, with its time.
func History(p *profile.Profile) []Interaction {
	var out []Interaction
	p.LedgerEvents(func(e *profile.LedgerEvent) {
		for _, id := range e.Products() {
			out = append(out, Interaction{Item: id, Time: e.Time, Bought: e.Order})
		}
	})
	return out
}
