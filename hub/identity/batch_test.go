package identity

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// TestAddBatchEqualsSerialAdd: AddBatch of a random record sequence —
// repeated IDs (updates), records already in the index, small block caps
// that batches push over, generic identifiers — gives the same decisions,
// clusters, reviews, stored pair weights and Stats as Add of each record
// in turn, and the index is in the same state at every callback.
func TestAddBatchEqualsSerialAdd(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // more workers than records in small batches
	base := testModel(t)
	pool, _ := synth(41, 400)
	hits := 0
	defer func() {
		if hits == 0 && !t.Failed() {
			t.Error("no pair weight came from the parallel scoring: the property is vacuous")
		}
	}()
	rapid.Check(t, func(t *rapid.T) {
		m := new(Model)
		*m = *base
		m.cfg.BlockCap = rapid.SampledFrom([]int{2, 3, 5, 50}).Draw(t, "blockCap")
		m.cfg.IdentifierBlockCap = rapid.SampledFrom([]int{2, 4, 1000}).Draw(t, "idCap")
		pick := func(label string) Record {
			r := pool[rapid.IntRange(0, len(pool)-1).Draw(t, label)]
			if rapid.IntRange(0, 4).Draw(t, label+"-edit") == 0 {
				// An update: same ID, one field changed or dropped.
				f := slices.Clone(r.Fields)
				i := rapid.IntRange(0, len(f)-1).Draw(t, label+"-field")
				f[i].Value = strings.ToUpper(f[i].Value) + rapid.SampledFrom([]string{"", "x"}).Draw(t, label+"-suffix")
				r.Fields = f
			}
			if rapid.IntRange(0, 9).Draw(t, label+"-generic") == 0 {
				r.Fields = append(slices.Clone(r.Fields), Field{Kind: Phone, Value: "+14155550000"})
			}
			return r
		}
		pre := make([]Record, rapid.IntRange(0, 40).Draw(t, "pre"))
		for i := range pre {
			pre[i] = pick("pre")
		}
		batch := make([]Record, rapid.IntRange(1, 60).Draw(t, "batch"))
		for i := range batch {
			batch[i] = pick("batch")
		}
		serial, batched := NewIndex(m), NewIndex(m)
		for _, ix := range []*Index{serial, batched} {
			for _, r := range pre {
				if _, err := ix.Add(r); err != nil {
					t.Fatalf("Add: %v", err)
				}
			}
		}
		var want []Decision
		var wantStates []string
		for _, r := range batch {
			d, err := serial.Add(r)
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			want = append(want, d)
			wantStates = append(wantStates, indexState(serial))
		}
		got, err := batched.AddBatch(batch, func(i int, d Decision) {
			if s := indexState(batched); s != wantStates[i] {
				t.Fatalf("after record %d the index differs:\n%s", i, cmp.Diff(wantStates[i], s))
			}
		})
		if err != nil {
			t.Fatalf("AddBatch: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("decisions differ (-serial +batch):\n%s", diff)
		}
		hits += batched.lastMemoHits
		if serial.Stats() != batched.Stats() {
			t.Fatalf("stats differ: serial %+v, batch %+v", serial.Stats(), batched.Stats())
		}
	})
}

// indexState renders everything resolution decided: clusters with their
// links, reviews, and every stored edge with its weight.
func indexState(ix *Index) string {
	var b strings.Builder
	for _, c := range ix.Clusters() {
		fmt.Fprintf(&b, "%+v\n", c)
	}
	fmt.Fprintf(&b, "%+v\n", ix.Reviews())
	var edges []string
	for _, e := range ix.ents {
		if e == nil {
			continue
		}
		for _, ed := range e.adj {
			edges = append(edges, fmt.Sprintf("%s-%s %v", e.p.id, ix.id(ed.to), ed.w))
		}
	}
	slices.Sort(edges)
	b.WriteString(strings.Join(edges, "\n"))
	return b.String()
}

func TestAddBatchRejectsInvalidWholly(t *testing.T) {
	ix := NewIndex(testModel(t))
	recs, _ := synth(3, 5)
	recs = append(recs, Record{})
	if _, err := ix.AddBatch(recs, nil); err == nil {
		t.Fatal("AddBatch took a record without an ID")
	}
	if ix.Len() != 0 {
		t.Fatalf("a refused batch added %d records", ix.Len())
	}
}
