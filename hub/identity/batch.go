package identity

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"

	"ucv/parallel"
)

// AddBatch adds recs in order with exactly the outcome of calling Add on
// each in turn: the same decisions, clusters, links, reviews, stored
// weights and Stats. each, when not nil, is called after each record
// with its position and decision; at that point the index reflects the
// records up to and including it, as after that Add (the hub regroups
// its fragments there). The decisions are also returned, in order.
//
// What it adds is speed on several cores: the records are prepared and
// their likely candidate pairs (by blocking against the index as it was
// before the batch and against earlier records of the batch) are scored
// on GOMAXPROCS goroutines, ahead of and alongside the serial pass that
// adds them one by one. The serial pass runs Add's own code and takes a
// pair's weight from those scores when it has one (and scores it itself
// otherwise): a weight is a pure function of the two prepared records
// and the Model, so where and when it was computed cannot change it, and
// the result is deterministic on every node whatever the core count.
//
// Records are validated first: an invalid one fails the whole batch
// before anything changes. IDs may repeat (a later record replaces an
// earlier one, as with Add).
func (ix *Index) AddBatch(recs []Record, each func(i int, d Decision)) ([]Decision, error) {
	for i, r := range recs {
		if r.ID == "" {
			return nil, fmt.Errorf("record %d: %w", i, ErrEmptyID)
		}
		if err := checkKinds(r); err != nil {
			return nil, err
		}
	}
	out := make([]Decision, 0, len(recs))
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || len(recs) < 2 {
		for i, r := range recs {
			d := ix.add(r, nil, nil)
			out = append(out, d)
			if each != nil {
				each(i, d)
			}
		}
		return out, nil
	}
	b := ix.planBatch(recs, workers)
	ix.memo = &b.memo
	defer func() { ix.lastMemoHits, ix.memo = b.memo.hits, nil }()
	// Score ahead on every core while the serial pass below adds the
	// records in order, each once its scores are published (b.done).
	wait := parallel.Start(len(recs), workers, func(i int) { b.score(ix.m, i) })
	defer wait()
	for i, r := range recs {
		<-b.done[i]
		b.memo.cur, b.memo.curSlot = b.ps[i], int32(i)
		d := ix.add(r, b.ps[i], b.keys[i])
		out = append(out, d)
		if each != nil {
			each(i, d)
		}
	}
	return out, nil
}

// batchPlan is AddBatch's scoring work: per record of the batch its
// prepared form, blocking keys and candidate partners, and the weights
// scored for them (memo), each published by closing done[i].
type batchPlan struct {
	ps   []*prep
	keys [][]blockKey
	cand [][]*prep
	done []chan struct{}
	memo pairMemo
	// touch holds touchPreps' sums, per record (read by nobody).
	touch []uint64
}

// planBatch prepares recs and lists each one's likely candidates. It
// reads the index (concurrently, on workers goroutines) but changes
// nothing, so it must finish before the serial pass starts.
func (ix *Index) planBatch(recs []Record, workers int) *batchPlan {
	n := len(recs)
	b := &batchPlan{ps: make([]*prep, n), keys: make([][]blockKey, n), cand: make([][]*prep, n), done: make([]chan struct{}, n), touch: make([]uint64, n)}
	parallel.For(n, workers, func(i int) {
		b.ps[i] = prepare(recs[i], ix.cfg.Rules, ix.cfg.Region, ix.cfg.DateOrder)
		b.keys[i] = blockKeys(b.ps[i])
	})
	// Which batch records hold each key, in batch order; when each
	// record ID first appears; and when a batch record is replaced by a
	// later one of the same ID.
	// The holders of each key are a run of the flat array holders (the
	// batch's (key, record) pairs sorted by key, then record); run[i][x]
	// is where the run of i's key x starts and at[i][x] i's position in
	// it.
	total := 0
	for i := range recs {
		total += len(b.keys[i])
	}
	all := make([]keyAt, 0, total)
	for i := range recs {
		for x, k := range b.keys[i] {
			all = append(all, keyAt{k, int32(i), int32(x)})
		}
	}
	all = sortKeyAts(all) // by key, then record (appended in record order)
	holders := make([]int32, len(all))
	flat := make([]int32, 2*total)
	at := make([][]int32, n)  // at[i][x]: i's position among the holders of its key x
	run := make([][]int32, n) // run[i][x]: the start of their run in holders
	for i, off := 0, 0; i < n; i++ {
		l := len(b.keys[i])
		at[i] = flat[off : off+l : off+l]
		run[i] = flat[total+off : total+off+l : total+off+l]
		off += l
	}
	for j := 0; j < len(all); {
		e := j
		for e < len(all) && all[e].k == all[j].k {
			holders[e] = all[e].i
			at[all[e].i][all[e].x] = int32(e - j)
			run[all[e].i][all[e].x] = int32(j)
			e++
		}
		j = e
	}
	first := make(map[string]int, n)
	last := make(map[string]int, n)
	replaced := make([]int, n)
	for i := range recs {
		id := b.ps[i].id
		if _, ok := first[id]; !ok {
			first[id] = i
		}
		replaced[i] = n
		if j, ok := last[id]; ok {
			replaced[j] = i
		}
		last[id] = i
	}
	// Pre-batch records the batch replaces, by entry number → the batch
	// position that replaces them (usually none: a first import).
	var replacedOld map[int32]int
	for id, i := range first {
		if e, ok := ix.byID[id]; ok {
			if replacedOld == nil {
				replacedOld = map[int32]int{}
			}
			replacedOld[e] = i
		}
	}
	b.memo.slot = make(map[*prep]int32, n)
	b.memo.pairs = make([]memoList, n)
	for i, p := range b.ps {
		b.memo.slot[p] = int32(i)
		b.done[i] = make(chan struct{})
	}
	// Candidates of record i: the members of its blocks that Add would
	// see, as far as can be told before the batch runs — pre-batch
	// records not yet replaced by the batch, earlier batch records not
	// yet replaced, blocks within their cap counting the batch records
	// up to i. A guess only decides what is scored ahead: a pair the
	// serial pass needs and the guess missed is scored there.
	// Candidates may repeat (a near-copy shares many keys); score drops
	// the repeats.
	parallel.For(n, workers, func(i int) {
		// The blocks first (sized once), then the list.
		keys := b.keys[i]
		type blk struct {
			old []int32 // nil for a block of one
			one int32   // the member of a block of one
			len int
			ok  bool // within its cap
		}
		var blkBuf [48]blk
		blks := blkBuf[:0]
		if len(keys) > len(blkBuf) {
			blks = make([]blk, 0, len(keys))
		}
		size := 0
		for x, k := range keys {
			var bk blk
			bk.old, bk.one, bk.len = ix.blocks.lookup(k)
			upto := int(at[i][x]) + 1 // holders up to and including i
			bk.ok = bk.len+upto <= ix.capOf(k)
			if bk.ok {
				size += bk.len + upto - 1
			}
			blks = append(blks, bk)
		}
		cand := make([]*prep, 0, size)
		for x := range keys {
			if !blks[x].ok {
				continue
			}
			old := blks[x].old
			var one [1]int32
			if blks[x].len == 1 {
				one[0] = blks[x].one
				old = one[:]
			}
			upto := int(at[i][x]) + 1
			news := holders[run[i][x] : int(run[i][x])+upto]
			for _, m := range old {
				if f, ok := replacedOld[m]; ok && f <= i {
					continue // replaced by then
				}
				cand = append(cand, ix.ents[m].p)
			}
			for _, j := range news[:upto-1] { // earlier batch records
				if replaced[j] <= i {
					continue
				}
				cand = append(cand, b.ps[j])
			}
		}
		b.cand[i] = cand
	})
	return b
}

// score computes record i's candidate weights and publishes them.
func (b *batchPlan) score(m *Model, i int) {
	p := b.ps[i]
	cand := dedupePreps(b.cand[i])
	b.touch[i] = touchPreps(cand)
	out := make([]memoEntry, 0, len(cand))
	put := func(q *prep, w float64) { out = append(out, memoEntry{q, w}) }
	for _, q := range cand {
		pa, pb := p, q
		if idLess(pb, pa) {
			pa, pb = pb, pa
		}
		dob := dobLevelOf(pa, pb)
		vt := vetoWith(pa, pb, nil, dob, m.waived()) // m.vetoOf(pa, pb)
		shares := sharesIdentifier(pa, pb)
		if vt != vetoNone && !shares {
			// Apart for good: see pairMemo.apart. Not worth a full score.
			put(q, apartMark)
			continue
		}
		// m.score(pa, pb) in stages, the veto known: after the cheap
		// levels and after the names, a pair that cannot reach review
		// (weightBound) and shares no identifier is apart (apartMark).
		var v vector
		cheapLevels(pa, pb, dob, &v)
		if !shares && m.weightBound(pa, &v, false) < m.cfg.ReviewWeight-boundMargin {
			put(q, apartMark)
			continue
		}
		nameLevels(pa, pb, &v)
		if !shares && m.weightBound(pa, &v, true) < m.cfg.ReviewWeight-boundMargin {
			put(q, apartMark)
			continue
		}
		placeLevels(pa, pb, &v)
		v.veto = vt
		put(q, m.weightOf(pa, &v))
	}
	b.memo.pairs[i] = newMemoList(out)
	b.cand[i] = nil
	close(b.done[i])
}

// keyAt is key x of batch record i.
type keyAt struct {
	k    blockKey
	i, x int32
}

// sortKeyAts sorts s by key, stably (equal keys keep their order), and
// returns the sorted slice (s or a buffer of the same length): a
// least-significant-digit radix sort, a byte per pass, skipping the
// bytes all keys share — some hundred thousand keys per batch, several
// times faster than a comparison sort.
func sortKeyAts(s []keyAt) []keyAt {
	if len(s) < 64 {
		slices.SortStableFunc(s, func(a, b keyAt) int { return cmp.Compare(a.k, b.k) })
		return s
	}
	buf := make([]keyAt, len(s))
	for shift := uint(0); shift < 64; shift += 8 {
		var count [256]int
		for _, e := range s {
			count[byte(e.k>>shift)]++
		}
		if count[byte(s[0].k>>shift)] == len(s) {
			continue // one value of this byte: the order stands
		}
		pos := 0
		for d := range count {
			c := count[d]
			count[d] = pos
			pos += c
		}
		for _, e := range s {
			d := byte(e.k >> shift)
			buf[count[d]] = e
			count[d]++
		}
		s, buf = buf, s
	}
	return s
}

// touchPreps reads, for every candidate, what its pair's first checks
// read (the prep, its first birth date and that date's key) in loops of
// independent loads, so that the processor overlaps the candidates'
// cache misses instead of taking them one at a time in the scoring
// loop; partners are records anywhere in a large index. The sum is kept
// (batchPlan.touch) only so the loads are not optimized away.
func touchPreps(cand []*prep) uint64 {
	var t uint64
	for _, q := range cand {
		t += q.idPrefix + uint64(len(q.dob)) + uint64(len(q.dobKeys))
	}
	for _, q := range cand {
		if len(q.dobKeys) > 0 {
			t += uint64(q.dobKeys[0].day)
		}
		if len(q.dob) > 0 && len(q.dob[0]) > 0 {
			t += uint64(q.dob[0][0])
		}
	}
	return t
}

// dedupePreps returns cand without repeats, first occurrences in order
// (in place). Candidate lists are short, so a quadratic scan beats a
// set; long ones take a set.
func dedupePreps(cand []*prep) []*prep {
	w := 0
	if len(cand) > 4*memoScan {
		seen := make(map[*prep]bool, len(cand))
		for _, q := range cand {
			if !seen[q] {
				seen[q] = true
				cand[w] = q
				w++
			}
		}
		return cand[:w]
	}
next:
	for _, q := range cand {
		for _, o := range cand[:w] {
			if o == q {
				continue next
			}
		}
		cand[w] = q
		w++
	}
	return cand[:w]
}

// memoEntry is one scored partner of a batch record.
type memoEntry struct {
	q *prep
	w float64
}

// memoList is a batch record's scored partners: a slice searched in
// order, with a map beside it when the list is long.
type memoList struct {
	es  []memoEntry
	pos map[*prep]int32 // partner → index in es; only when len(es) > memoScan
}

// memoScan is the longest memoList searched without a map.
const memoScan = 48

func newMemoList(es []memoEntry) memoList {
	l := memoList{es: es}
	if len(es) > memoScan {
		l.pos = make(map[*prep]int32, len(es))
		for i, e := range es {
			l.pos[e.q] = int32(i)
		}
	}
	return l
}

// weightIn returns q's weight in l.
func weightIn(l memoList, q *prep) (float64, bool) {
	if l.pos != nil {
		i, ok := l.pos[q]
		if !ok {
			return 0, false
		}
		return l.es[i].w, true
	}
	for i := range l.es {
		if l.es[i].q == q {
			return l.es[i].w, true
		}
	}
	return 0, false
}

// pairMemo holds pair weights scored ahead by AddBatch, by the batch
// record they were scored for. The serial pass only looks up records
// whose scores are published (done closed before their Add).
type pairMemo struct {
	slot  map[*prep]int32 // batch record → its index in pairs
	pairs []memoList      // per batch record: partner and weight, each partner once
	hits  int             // lookups answered (serial pass only; tests read it)
	// cur is the record the serial pass is adding (most lookups pair
	// it with a candidate), curSlot its index.
	cur     *prep
	curSlot int32
}

// apartMark is the memo entry of a pair that shares no identifier and
// that vetoOf keeps apart or whose weight bound (Model.weightBound) is
// below ReviewWeight: such a pair's weight is below ReviewWeight
// (Model.weightOf caps a vetoed pair at vetoedWeight), so Add's connect
// stores no edge for it unless a steward linked the two, and its exact
// weight is not needed there. Elsewhere (whole-cluster
// checks) the weight is scored when asked. TestApartPairsScoreBelowReview
// guards the premise.
var apartMark = math.Inf(-1)

// boundMargin keeps a pair whose weight bound is within rounding of
// ReviewWeight (the bound sums the terms in another order) for a full
// score.
const boundMargin = 1e-6

// apart reports whether the pair (a, b) was found apart for good ahead.
func (m *pairMemo) apart(a, b *prep) bool {
	w, ok := m.get(a, b)
	return ok && w == apartMark
}

// lookup returns the weight of the pair (a, b) if it was scored ahead.
func (m *pairMemo) lookup(a, b *prep) (float64, bool) {
	w, ok := m.get(a, b)
	if !ok || w == apartMark {
		return 0, false
	}
	m.hits++
	return w, true
}

func (m *pairMemo) get(a, b *prep) (float64, bool) {
	var w float64
	var ok bool
	switch {
	case a == m.cur:
		w, ok = weightIn(m.pairs[m.curSlot], b)
	case b == m.cur:
		w, ok = weightIn(m.pairs[m.curSlot], a)
	default:
		if w, ok = m.find(a, b); !ok {
			w, ok = m.find(b, a)
		}
	}
	return w, ok
}

func (m *pairMemo) find(a, b *prep) (float64, bool) {
	s, ok := m.slot[a]
	if !ok {
		return 0, false
	}
	return weightIn(m.pairs[s], b)
}
