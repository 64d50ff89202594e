package recommend

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// Hand-made baskets: bread goes with butter (3 of its 3 baskets, butter
// in 4), then jam (2 of 3, jam in 2); tea goes with milk; nothing goes with salt.
var baskets = [][]string{
	{"bread", "butter", "jam"},
	{"bread", "butter", "jam"},
	{"bread", "butter"},
	{"tea", "milk"},
	{"tea", "milk", "butter"},
	{"salt"},
}

func TestTrainKnownNeighbours(t *testing.T) {
	opt := DefaultOptions
	opt.BasketWeight = false
	m, err := Train(baskets, opt)
	if err != nil {
		t.Fatal(err)
	}
	if m.Baskets != 6 || m.Items != 6 {
		t.Errorf("baskets %d items %d, want 6 and 6", m.Baskets, m.Items)
	}
	nb := m.Neighbours["bread"]
	if !slices.Equal(nb.IDs, []string{"butter", "jam"}) {
		t.Fatalf("bread's neighbours = %v", nb.IDs)
	}
	// cosine: c/sqrt(n_i n_j): butter 3/sqrt(3·4), jam 2/sqrt(3·2).
	for i, want := range []float64{3 / math.Sqrt(12), 2 / math.Sqrt(6)} {
		if math.Abs(nb.Scores[i]-want) > 1e-4 {
			t.Errorf("bread→%s = %v, want %v", nb.IDs[i], nb.Scores[i], want)
		}
	}
	if _, ok := m.Neighbours["salt"]; ok {
		t.Error("salt has neighbours without any co-purchase")
	}
	if got := m.Neighbours["milk"].IDs; !slices.Equal(got, []string{"tea", "butter"}) {
		t.Errorf("milk's neighbours = %v", got)
	}
	if m.Popular[0] != "butter" {
		t.Errorf("most popular = %q, want butter (4 baskets)", m.Popular[0])
	}
	// Someone who bought bread: butter first, jam next, never bread.
	recs := m.Recommend([]Interaction{{Item: "bread", Bought: true}}, 0, 3)
	if len(recs) != 3 || recs[0].ID != "butter" || recs[1].ID != "jam" || recs[2].Score != 0 {
		t.Errorf("recommendations = %+v", recs)
	}
	// A view counts, weighted; the viewed item itself may come back.
	recs = m.Recommend([]Interaction{{Item: "tea"}}, 0, 1)
	if len(recs) != 1 || recs[0].ID != "milk" || math.Abs(recs[0].Score-0.5*2/math.Sqrt(4)) > 1e-4 {
		t.Errorf("after viewing tea: %+v", recs)
	}
}

func TestTrainDeterministic(t *testing.T) {
	m1, err := Train(baskets, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	rev := slices.Clone(baskets)
	slices.Reverse(rev)
	for i := range rev {
		rev[i] = slices.Clone(rev[i])
		slices.Reverse(rev[i])
	}
	m2, _ := Train(rev, DefaultOptions)
	b1, _ := m1.Marshal()
	b2, _ := m2.Marshal()
	if string(b1) != string(b2) {
		t.Errorf("training on reordered baskets gave another model:\n%s\n%s", b1, b2)
	}
	back, err := Unmarshal(b1)
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := back.Marshal()
	if string(b3) != string(b1) {
		t.Error("Unmarshal(Marshal) changed the model")
	}
}

func TestTooLittleData(t *testing.T) {
	for _, bs := range [][][]string{nil, {{"a"}, {"b"}}, {{"a", "b"}}, {{"a", "a"}, {"b", ""}}} {
		if _, err := Train(bs, DefaultOptions); !errors.Is(err, ErrTooLittleData) {
			t.Errorf("Train(%v) = %v, want ErrTooLittleData", bs, err)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for _, b := range []string{`{`, `{"version":2}`, `{"version":1,"neighbours":{"a":{"ids":["b"],"scores":[]}}}`} {
		if _, err := Unmarshal([]byte(b)); err == nil {
			t.Errorf("Unmarshal(%s) accepted", b)
		}
	}
}

// TestNeverRecommendsBought: whatever the baskets and the history, no
// recommendation is an item the profile bought, none repeats, there are
// at most k, and scores do not increase.
func TestNeverRecommendsBought(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		item := rapid.Custom(func(t *rapid.T) string { return fmt.Sprintf("i%d", rapid.IntRange(0, 15).Draw(t, "item")) })
		bs := rapid.SliceOfN(rapid.SliceOfN(item, 1, 6), 2, 30).Draw(t, "baskets")
		bs = append(bs, []string{"i0", "i1"}, []string{"i1", "i2"})
		opt := DefaultOptions
		opt.Neighbours = rapid.IntRange(1, 10).Draw(t, "neighbours")
		opt.Popular = rapid.IntRange(1, 20).Draw(t, "popular")
		m, err := Train(bs, opt)
		if err != nil {
			t.Fatal(err)
		}
		var hist []Interaction
		bought := map[string]bool{}
		for range rapid.IntRange(0, 8).Draw(t, "history") {
			h := Interaction{Item: item.Draw(t, "h"), Bought: rapid.Bool().Draw(t, "bought"), Time: rapid.Int64Range(0, 1e10).Draw(t, "time")}
			hist = append(hist, h)
			bought[h.Item] = bought[h.Item] || h.Bought
		}
		k := rapid.IntRange(1, 20).Draw(t, "k")
		recs := m.Recommend(hist, 1e10, k)
		if len(recs) > k {
			t.Fatalf("%d recommendations for k=%d", len(recs), k)
		}
		seen := map[string]bool{}
		for i, r := range recs {
			if bought[r.ID] {
				t.Fatalf("recommended %q, which was bought", r.ID)
			}
			if seen[r.ID] {
				t.Fatalf("recommended %q twice", r.ID)
			}
			seen[r.ID] = true
			if i > 0 && r.Score > recs[i-1].Score {
				t.Fatalf("scores increase: %+v", recs)
			}
		}
	})
}
