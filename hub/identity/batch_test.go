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
		// Steward decisions on pre-batch records: must-links that bring
		// partners and keep vetoed pairs linked, cannot-links.
		if len(pre) > 1 {
			for range rapid.IntRange(0, 3).Draw(t, "stewards") {
				a := pre[rapid.IntRange(0, len(pre)-1).Draw(t, "sa")].ID
				b := pre[rapid.IntRange(0, len(pre)-1).Draw(t, "sb")].ID
				if a == b {
					continue
				}
				accept := rapid.Bool().Draw(t, "accept")
				for _, ix := range []*Index{serial, batched} {
					var err error
					if accept {
						_, err = ix.Accept(a, b)
					} else {
						_, err = ix.Reject(a, b)
					}
					if err != nil {
						t.Fatalf("steward: %v", err)
					}
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

// TestApartPairsScoreBelowReview guards AddBatch's shortcut: a pair
// vetoOf keeps apart scores below ReviewWeight, so without a shared
// identifier or a steward it never becomes an edge.
func TestApartPairsScoreBelowReview(t *testing.T) {
	m := testModel(t)
	recs, _ := synth(23, 600)
	ps := make([]*prep, len(recs))
	for i, r := range recs {
		ps[i] = prepare(r, m.cfg.Rules, m.cfg.Region, m.cfg.DateOrder)
	}
	vetoed := 0
	for i := range ps {
		for j := i + 1; j < len(ps) && j < i+40; j++ {
			a, b := ps[i], ps[j]
			if b.id < a.id {
				a, b = b, a
			}
			if vetoOf(a, b) == vetoNone {
				continue
			}
			vetoed++
			if _, w := m.score(a, b); w >= m.cfg.ReviewWeight {
				t.Fatalf("vetoed pair %s–%s scores %v >= ReviewWeight %v", a.id, b.id, w, m.cfg.ReviewWeight)
			}
		}
	}
	if vetoed == 0 {
		t.Fatal("no vetoed pair among the samples: the check is vacuous")
	}
}

// TestAddBatchKeepsStewardLinkOfVetoedPair: a pair the engine keeps
// apart (birth dates decades apart) that a steward accepted stays linked
// when AddBatch re-adds one of them, as with Add.
func TestAddBatchKeepsStewardLinkOfVetoedPair(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	m := testModel(t)
	rec := func(id, dob, city string) Record {
		return Record{ID: id, Fields: []Field{{Kind: FirstName, Value: "Maria"}, {Kind: LastName, Value: "Lindqvist"},
			{Kind: BirthDate, Value: dob}, {Kind: City, Value: city}, {Kind: Postcode, Value: "10115"}}}
	}
	a, b := rec("a", "1950-03-04", "berlin"), rec("b", "1990-11-12", "berlin")
	serial, batched := NewIndex(m), NewIndex(m)
	for _, ix := range []*Index{serial, batched} {
		for _, r := range []Record{a, b} {
			if _, err := ix.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ix.Accept("a", "b"); err != nil {
			t.Fatal(err)
		}
	}
	if !vetoOfRecords(m, a, b) {
		t.Fatal("the pair is not vetoed: the test no longer tests the shortcut")
	}
	batch := []Record{rec("c", "1971-01-01", "hamburg"), rec("b", "1990-11-12", "potsdam"), rec("d", "1950-03-04", "berlin")}
	var want []Decision
	for _, r := range batch {
		d, err := serial.Add(r)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	got, err := batched.AddBatch(batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("decisions differ (-serial +batch):\n%s", diff)
	}
	if s, b := indexState(serial), indexState(batched); s != b {
		t.Fatalf("index differs (-serial +batch):\n%s", cmp.Diff(s, b))
	}
}

func vetoOfRecords(m *Model, a, b Record) bool {
	pa := prepare(a, m.cfg.Rules, m.cfg.Region, m.cfg.DateOrder)
	pb := prepare(b, m.cfg.Rules, m.cfg.Region, m.cfg.DateOrder)
	return vetoOf(pa, pb) != vetoNone
}

// TestSortKeyAtsIsStableSort: the radix sort orders by key and keeps the
// order of equal keys, as a stable comparison sort does, for short and
// long inputs and keys that share bytes.
func TestSortKeyAtsIsStableSort(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 500).Draw(t, "n")
		mask := rapid.SampledFrom([]uint64{0xff, 0xff00ff, 1<<64 - 1, 0xff000000000000ff}).Draw(t, "mask")
		in := make([]keyAt, n)
		for i := range in {
			in[i] = keyAt{k: blockKey(rapid.Uint64().Draw(t, "k") & mask), i: int32(i), x: int32(i % 7)}
		}
		want := slices.Clone(in)
		slices.SortStableFunc(want, func(a, b keyAt) int {
			switch {
			case a.k < b.k:
				return -1
			case a.k > b.k:
				return 1
			}
			return 0
		})
		if got := sortKeyAts(slices.Clone(in)); !slices.Equal(got, want) {
			t.Fatalf("sortKeyAts differs from a stable sort for %d keys", n)
		}
	})
}

// TestMemoListFindsEveryPartner: a record's scored partners are found
// by the linear scan and, past memoScan, by the map beside it; others
// are not found.
func TestMemoListFindsEveryPartner(t *testing.T) {
	for _, n := range []int{0, 1, memoScan, memoScan + 1, 3 * memoScan} {
		ps := make([]*prep, n+1)
		for i := range ps {
			ps[i] = &prep{id: fmt.Sprint(i), rare: &noRare}
		}
		var es []memoEntry
		for i, p := range ps[:n] {
			es = append(es, memoEntry{p, float64(i)})
		}
		l := newMemoList(es)
		if (l.pos != nil) != (n > memoScan) {
			t.Fatalf("%d partners: map %v", n, l.pos != nil)
		}
		for i, p := range ps[:n] {
			if w, ok := weightIn(l, p); !ok || w != float64(i) {
				t.Fatalf("%d partners: partner %d: %v, %v", n, i, w, ok)
			}
		}
		if _, ok := weightIn(l, ps[n]); ok {
			t.Fatalf("%d partners: a stranger found", n)
		}
	}
}

// TestDedupePrepsKeepsFirstOccurrences: repeats are dropped in place,
// first occurrences kept in order, by the scan and by the set.
func TestDedupePrepsKeepsFirstOccurrences(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pool := make([]*prep, 8)
		for i := range pool {
			pool[i] = &prep{rare: &noRare}
		}
		n := rapid.IntRange(0, 5*memoScan).Draw(t, "n")
		in := make([]*prep, n)
		for i := range in {
			in[i] = pool[rapid.IntRange(0, len(pool)-1).Draw(t, "p")]
		}
		var want []*prep
		for _, p := range in {
			if !slices.Contains(want, p) {
				want = append(want, p)
			}
		}
		if got := dedupePreps(slices.Clone(in)); !slices.Equal(got, want) {
			t.Fatalf("dedupePreps of %d: %d kept, want %d", n, len(got), len(want))
		}
	})
}
