// Package recommend trains and applies an item-to-item co-purchase model
// (issue 11, item 3; docs/decisions/0038-recommendations.md).
//
// Training takes baskets — the sets of items bought together; the hub
// and `ucv recommend` use each customer's purchases before a date as one
// basket — and keeps, for every item, its top neighbours by a shrunk,
// asymmetric cosine of co-purchase counts:
//
//	s(i→j) = c(i,j) / (n(i)^α · n(j)^(1−α)) · c(i,j) / (c(i,j) + λ)
//
// where n(i) counts the baskets holding i and c(i,j) those holding both,
// each weighted 1/log2(1+size) with Options.BasketWeight (a wholesale
// buyer of everything says little about what goes together). α > ½
// leans towards popular neighbours; λ shrinks similarities resting on
// few co-purchases. DefaultOptions holds what measured best on
// online_retail (cosine, no shrinkage, weighted baskets, 20 neighbours). A profile's recommendations sum, over what it
// bought or viewed, the item's weight (recency-decayed, views lighter
// than purchases) times its neighbours' similarities, leave out what it
// bought, and fill with the most popular items when the neighbourhood
// has fewer than asked.
//
// The package is pure: no I/O, no clock. Training is deterministic (the
// same baskets in any order give the same model) and a Model is
// immutable once trained or decoded, safe for concurrent use.
package recommend

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
)

// ErrTooLittleData is returned by Train when there are fewer than
// MinBaskets baskets of two items or more: nothing is co-purchased, so
// a scheduled fit keeps its previous model.
var ErrTooLittleData = errors.New("recommend: too little data")

// MinBaskets is the fewest baskets of at least two items Train accepts.
const MinBaskets = 2

// Options tune training and scoring. A numeric field ≤ 0 takes its value
// from DefaultOptions, except Shrink and HalfLifeDays, for which 0 means
// off; the booleans are taken as given (start from DefaultOptions).
type Options struct {
	// Neighbours is the number of neighbours kept per item.
	Neighbours int `json:"neighbours"`
	// Alpha is the exponent of the history item's count in the
	// similarity's denominator (½: plain cosine).
	Alpha float64 `json:"alpha"`
	// Shrink is λ: similarities on few co-purchases shrink towards 0.
	Shrink float64 `json:"shrink"`
	// MaxBasket bounds the items of one basket used for training: a
	// larger basket keeps its MaxBasket most popular items (a wholesale
	// buyer of everything says little about which items go together,
	// and costs its size squared).
	MaxBasket int `json:"max_basket"`
	// BasketWeight weighs a basket's co-purchases by 1/log2(1+size)
	// (true): large baskets count for less.
	BasketWeight bool `json:"basket_weight"`
	// Normalize scales each item's neighbour scores so the best is 1.
	Normalize bool `json:"normalize"`
	// Popular is the number of most-bought items kept to fill
	// recommendations.
	Popular int `json:"popular"`
	// HalfLifeDays halves a history item's weight per this many days of
	// age (0: no decay).
	HalfLifeDays float64 `json:"half_life_days"`
	// ViewWeight is a viewed (not bought) item's weight relative to a
	// bought one.
	ViewWeight float64 `json:"view_weight"`
	// ViewDays is how long a view counts: older views are ignored
	// (purchases always count).
	ViewDays float64 `json:"view_days"`
}

// DefaultOptions are the options chosen by measurement on online_retail
// (bench/README.md, "Recommendations").
var DefaultOptions = Options{Neighbours: 20, Alpha: 0.5, Shrink: 0, MaxBasket: 1000, BasketWeight: true, Popular: 100, HalfLifeDays: 0, ViewWeight: 0.5, ViewDays: 30}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.Neighbours <= 0 {
		o.Neighbours = d.Neighbours
	}
	if o.Alpha <= 0 {
		o.Alpha = d.Alpha
	}
	if o.MaxBasket <= 0 {
		o.MaxBasket = d.MaxBasket
	}
	if o.Popular <= 0 {
		o.Popular = d.Popular
	}
	if o.ViewWeight <= 0 {
		o.ViewWeight = d.ViewWeight
	}
	if o.ViewDays <= 0 {
		o.ViewDays = d.ViewDays
	}
	return o
}

// Model is a trained model: each item's neighbours, most similar first,
// and the most popular items. Its JSON (Marshal) is what the hub ships
// to edges in the catalog.
type Model struct {
	Version int     `json:"version"`
	Options Options `json:"options"`
	// Baskets and Items count the training data: baskets with at least
	// one item, and distinct items.
	Baskets int `json:"baskets"`
	Items   int `json:"items"`
	// Neighbours maps an item to its neighbours; items without any
	// co-purchase are absent.
	Neighbours map[string]Neighbours `json:"neighbours"`
	// Popular are the most-bought items (by baskets), most first.
	Popular []string `json:"popular"`
}

// Neighbours are one item's neighbours, most similar first (ties by ID),
// as parallel lists.
type Neighbours struct {
	IDs    []string  `json:"ids"`
	Scores []float64 `json:"scores"`
}

// modelVersion is the JSON format's version.
const modelVersion = 1

// Train builds a model from baskets: each a set of item IDs (repeats
// within a basket count once; empty IDs are ignored).
func Train(baskets [][]string, opt Options) (*Model, error) {
	opt = opt.withDefaults()
	ids := map[string]int32{}
	var names []string
	enc := make([][]int32, 0, len(baskets))
	for _, b := range baskets {
		var row []int32
		for _, it := range b {
			if it == "" {
				continue
			}
			id, ok := ids[it]
			if !ok {
				id = int32(len(names))
				ids[it] = id
				names = append(names, it)
			}
			row = append(row, id)
		}
		slices.Sort(row)
		row = slices.Compact(row)
		if len(row) > 0 {
			enc = append(enc, row)
		}
	}
	// Renumber items by name so that every tie breaks the same way
	// whatever the baskets' order.
	order := make([]int32, len(names))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(names[a], names[b]) })
	renum := make([]int32, len(names))
	sorted := make([]string, len(names))
	for newID, old := range order {
		renum[old] = int32(newID)
		sorted[newID] = names[old]
	}
	names = sorted
	n := make([]float64, len(names))
	multi := 0
	for _, row := range enc {
		for i, id := range row {
			row[i] = renum[id]
			n[row[i]]++
		}
		slices.Sort(row)
		if len(row) >= 2 {
			multi++
		}
	}
	if multi < MinBaskets {
		return nil, fmt.Errorf("%w: %d baskets of two items or more, at least %d needed", ErrTooLittleData, multi, MinBaskets)
	}
	// Truncate large baskets to their most popular items.
	for bi, row := range enc {
		if len(row) > opt.MaxBasket {
			r := slices.Clone(row)
			slices.SortFunc(r, func(a, b int32) int {
				if c := cmp.Compare(n[b], n[a]); c != 0 {
					return c
				}
				return cmp.Compare(a, b)
			})
			r = r[:opt.MaxBasket]
			slices.Sort(r)
			enc[bi] = r
		}
	}
	// Inverted index: item → baskets.
	holds := make([][]int32, len(names))
	bw := make([]float64, len(enc))
	for bi, row := range enc {
		bw[bi] = 1
		if opt.BasketWeight {
			bw[bi] = 1 / math.Log2(1+float64(len(row)))
		}
		for _, id := range row {
			holds[id] = append(holds[id], int32(bi))
		}
	}
	m := &Model{Version: modelVersion, Options: opt, Baskets: len(enc), Items: len(names), Neighbours: map[string]Neighbours{}}
	lists := make([]Neighbours, len(names))
	workers := max(1, min(runtime.GOMAXPROCS(0), 8))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			co := make([]float64, len(names))
			var touched []int32
			var cands []scored32
			for i := range next {
				touched = touched[:0]
				for _, bi := range holds[i] {
					w := bw[bi]
					for _, j := range enc[bi] {
						if co[j] == 0 {
							touched = append(touched, j)
						}
						co[j] += w
					}
				}
				cands = cands[:0]
				ni := math.Pow(n[i], opt.Alpha)
				for _, j := range touched {
					c := co[j]
					co[j] = 0
					if int(j) == i {
						continue
					}
					s := c / (ni * math.Pow(n[j], 1-opt.Alpha))
					if opt.Shrink > 0 {
						s *= c / (c + opt.Shrink)
					}
					cands = append(cands, scored32{j, round(s)})
				}
				lists[i] = topNeighbours(cands, opt.Neighbours, names, opt.Normalize)
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, l := range lists {
		if len(l.IDs) > 0 {
			m.Neighbours[names[i]] = l
		}
	}
	pop := make([]int32, len(names))
	for i := range pop {
		pop[i] = int32(i)
	}
	slices.SortFunc(pop, func(a, b int32) int {
		if c := cmp.Compare(n[b], n[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, id := range pop[:min(len(pop), opt.Popular)] {
		m.Popular = append(m.Popular, names[id])
	}
	return m, nil
}

type scored32 struct {
	id    int32
	score float64
}

// round keeps 5 significant digits: the model's JSON stays small and
// every platform writes the same text.
func round(x float64) float64 {
	if x == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 5, 64), 64)
	return v
}

func topNeighbours(c []scored32, k int, names []string, normalize bool) Neighbours {
	slices.SortFunc(c, func(a, b scored32) int {
		if x := cmp.Compare(b.score, a.score); x != 0 {
			return x
		}
		return cmp.Compare(a.id, b.id) // ids are in name order
	})
	c = c[:min(len(c), k)]
	out := Neighbours{IDs: make([]string, 0, len(c)), Scores: make([]float64, 0, len(c))}
	for _, s := range c {
		if s.score <= 0 {
			break
		}
		if normalize {
			s.score = round(s.score / c[0].score)
		}
		out.IDs = append(out.IDs, names[s.id])
		out.Scores = append(out.Scores, s.score)
	}
	return out
}

// Interaction is one item in a profile's history.
type Interaction struct {
	Item string
	// Time is when it happened, ms since the epoch.
	Time int64
	// Bought is true for a purchase, false for a view.
	Bought bool
}

// Scored is one recommended item.
type Scored struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
}

// Recommend returns up to k items for a profile whose history is hist,
// scored at time now (ms since the epoch): the items related to what it
// bought or viewed, best first (ties by ID), then popular items (score
// 0) if fewer than k are related. Items the profile bought are never
// recommended; items it only viewed may be.
func (m *Model) Recommend(hist []Interaction, now int64, k int) []Scored {
	if k <= 0 {
		return nil
	}
	o := m.Options.withDefaults()
	bought := map[string]bool{}
	weight := map[string]float64{}
	for _, h := range hist {
		if h.Item == "" {
			continue
		}
		if h.Bought {
			bought[h.Item] = true
		}
		w := 1.0
		if !h.Bought {
			if float64(now-h.Time) > o.ViewDays*86400e3 {
				continue
			}
			w = o.ViewWeight
		}
		if o.HalfLifeDays > 0 && now > h.Time {
			w *= math.Exp2(-float64(now-h.Time) / (o.HalfLifeDays * 86400e3))
		}
		weight[h.Item] = max(weight[h.Item], w)
	}
	scores := map[string]float64{}
	for it, w := range weight {
		nb, ok := m.Neighbours[it]
		if !ok {
			continue
		}
		for i, id := range nb.IDs {
			if !bought[id] {
				scores[id] += w * nb.Scores[i]
			}
		}
	}
	out := make([]Scored, 0, len(scores))
	for id, s := range scores {
		out = append(out, Scored{id, s})
	}
	slices.SortFunc(out, func(a, b Scored) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(out) > k {
		out = out[:k]
	}
	for i := range out {
		out[i].Score = round(out[i].Score)
	}
	for _, id := range m.Popular {
		if len(out) >= k {
			break
		}
		if !bought[id] && scores[id] == 0 {
			out = append(out, Scored{ID: id})
		}
	}
	return out
}

// Marshal returns the model's JSON (map keys sorted: deterministic).
func (m *Model) Marshal() ([]byte, error) { return json.Marshal(m) }

// Unmarshal decodes and checks a model Marshal wrote: a known version,
// parallel lists of equal length, finite scores.
func Unmarshal(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("recommend: model: %w", err)
	}
	if m.Version != modelVersion {
		return nil, fmt.Errorf("recommend: model: version %d, want %d", m.Version, modelVersion)
	}
	for it, nb := range m.Neighbours {
		if len(nb.IDs) != len(nb.Scores) {
			return nil, fmt.Errorf("recommend: model: item %q: %d neighbours, %d scores", it, len(nb.IDs), len(nb.Scores))
		}
		for _, s := range nb.Scores {
			if math.IsNaN(s) || math.IsInf(s, 0) {
				return nil, fmt.Errorf("recommend: model: item %q: score %v", it, s)
			}
		}
	}
	return &m, nil
}
