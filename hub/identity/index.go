package identity

import (
	"fmt"
	"slices"
	"sort"

	"ucv/profile"
)

// Index holds records, their candidate links and their clusters, and
// keeps the clusters up to date as records are added, updated or removed.
//
// Clusters are a function of the set of records (and steward decisions),
// never of arrival order: after any sequence of Add and Remove calls the
// clusters equal those of Load on the remaining records. Each change
// re-clusters only the records whose links it touches.
//
// An Index is not safe for concurrent use; the hub's FSM calls it from its
// single apply loop. It performs no I/O.
type Index struct {
	m       *Model
	cfg     Config
	ents    []*entry
	free    []int32
	byID    map[string]int32
	blocks  blockSet
	generic map[blockKey]bool
	must    map[[2]string]bool
	cannot  map[[2]string]bool
	peers   map[string][]string // must-link partners by record ID
	mark    []uint32
	gen     uint32
	stats   Stats
	memo    *pairMemo // pair weights AddBatch scored ahead, nil outside it
	// lastMemoHits counts the pair weights the last AddBatch took from
	// its parallel scoring (tests check the memo is used).
	lastMemoHits int
}

// Stats counts the work an Index has done.
type Stats struct {
	// PairsScored counts full pair comparisons.
	PairsScored int64
	// Candidates counts candidate pairs blocking produced.
	Candidates int64
}

// An entry does not keep its blocking keys: they are blockKeys(p), a
// pure function of the prep, recomputed where a record leaves or a
// block crosses its cap, and given by the caller on the add path (~150
// bytes a person less; docs/decisions/0057-hub-memory-per-person.md).
type entry struct {
	p       *prep
	adj     []edge
	cluster int32     // number of the cluster's representative entry
	members []int32   // on representatives: the cluster, sorted by ID
	links   []linkRef // on representatives: the links that built it
}

// edge is a stored candidate pair: scored at or above ReviewWeight, or
// sharing an identifier, or linked by a steward.
type edge struct {
	to int32
	w  float64
}

type linkClass uint8

const (
	classSteward linkClass = iota
	classIdentifier
	classProbabilistic
)

func (c linkClass) String() string {
	return [...]string{"steward", "identifier", "probabilistic"}[c]
}

type linkRef struct {
	a, b  int32
	class linkClass
}

// NewIndex returns an empty index that scores with m.
func NewIndex(m *Model) *Index {
	return &Index{
		m:       m,
		cfg:     m.cfg,
		byID:    map[string]int32{},
		blocks:  newBlockSet(),
		generic: map[blockKey]bool{},
		must:    map[[2]string]bool{},
		cannot:  map[[2]string]bool{},
		peers:   map[string][]string{},
	}
}

// Len returns the number of records in the index.
func (ix *Index) Len() int { return len(ix.byID) }

// Stats returns counters of the work done so far.
func (ix *Index) Stats() Stats { return ix.stats }

// Move reports a record other than the one added whose cluster changed.
type Move struct {
	RecordID string
	From, To string // cluster IDs; From is "" for a new record
}

// Decision is the outcome of adding or updating one record.
type Decision struct {
	RecordID  string
	ClusterID string
	// Size is the number of records in the cluster.
	Size int
	// Links are the links of the cluster that touch this record: why it
	// belongs where it is. Empty for a record alone in its cluster.
	Links []Link
	// Reviews are the review candidates involving this record (review
	// band, or refused links; Index.ReviewCandidates), not the collapsed
	// and ranked queue of Index.Reviews.
	Reviews []Review
	// Moved lists other records whose cluster changed (merges and splits
	// the change caused), sorted by record ID.
	Moved []Move
}

// Link is one accepted link of a cluster and its reason.
type Link struct {
	A, B string // record IDs, A < B
	// Rule is "identifier" (a shared identifier under the identity rules),
	// "probabilistic" (Fellegi-Sunter weight at or above MatchWeight) or
	// "steward" (accepted by a person).
	Rule        string
	Weight      float64
	Probability float64
	// Identifiers are the shared identifiers that made an "identifier"
	// link, highest priority first.
	Identifiers []profile.Identifier
}

// Review is a pair in the review band that ended in different clusters;
// in the queue (Index.Reviews) it stands for its two clusters.
type Review struct {
	A, B        string
	Weight      float64
	Probability float64
	// Conflict, when set, says why the whole-cluster check refused this
	// link (e.g. "different national ids"): ConflictA, in A's cluster,
	// and ConflictB, in B's, are records that can never be one entity.
	// Explain on that pair shows both sides' evidence.
	Conflict             string
	ConflictA, ConflictB string
	// The fields below are set on the items of Index.Reviews (the queue),
	// not on Decision.Reviews (the candidate pairs of one record).
	//
	// ClusterProbability estimates the probability that A's and B's
	// clusters are one person: the mean match probability over their
	// cross pairs (Index.Reviews).
	ClusterProbability float64
	// Benefit is the expected number of records a ruling fixes:
	// ClusterProbability × 2·SizeA·SizeB/(SizeA+SizeB), the records'
	// worth of B³ error that joining the clusters removes when they are
	// one person.
	Benefit float64
	// SizeA and SizeB are the records in A's and B's clusters; Pairs is
	// the number of candidate pairs between them this item stands for.
	SizeA, SizeB, Pairs int
}

func pairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (ix *Index) capOf(k blockKey) int {
	if k.rule() == identifierRule {
		return ix.cfg.IdentifierBlockCap
	}
	return ix.cfg.BlockCap
}

func (ix *Index) live(k blockKey) bool { return ix.blocks.size(k) <= ix.capOf(k) }

func (ix *Index) id(n int32) string { return ix.ents[n].p.id }

// Add inserts r, or replaces the record with the same ID, and returns its
// cluster decision. It fails only for invalid records.
func (ix *Index) Add(r Record) (Decision, error) {
	if r.ID == "" {
		return Decision{}, ErrEmptyID
	}
	if err := checkKinds(r); err != nil {
		return Decision{}, err
	}
	return ix.add(r, nil, nil), nil
}

// add is Add of a valid record; p and keys, when not nil, are r's
// prepared form and blocking keys (AddBatch prepares them in parallel).
func (ix *Index) add(r Record, p *prep, keys []blockKey) Decision {
	var affected []int32
	if old, ok := ix.byID[r.ID]; ok {
		affected = ix.remove(old, affected)
	}
	n, keys, affected := ix.insertPrepared(r, p, keys, affected)
	affected = ix.connect(n, keys, affected)
	affected = ix.refreshGeneric(keys, affected)
	moves := ix.recluster(affected)
	return ix.decision(n, moves)
}

// Load adds many records at once. The clusters are exactly those that
// adding them one by one would give, but each record is connected and
// each affected cluster computed once. progress, when not nil, is called
// with the number of records connected so far.
func (ix *Index) Load(recs []Record, progress func(done, total int)) error {
	seen := make(map[string]bool, len(recs))
	for i, r := range recs {
		if r.ID == "" {
			return fmt.Errorf("record %d: %w", i, ErrEmptyID)
		}
		if seen[r.ID] {
			return fmt.Errorf("%w: %s", ErrDuplicateID, r.ID)
		}
		seen[r.ID] = true
		if err := checkKinds(r); err != nil {
			return err
		}
	}
	var affected []int32
	for _, r := range recs {
		if old, ok := ix.byID[r.ID]; ok {
			affected = ix.remove(old, affected)
		}
	}
	news := make([]int32, 0, len(recs))
	newKeys := make([][]blockKey, 0, len(recs))
	for _, r := range recs {
		var n int32
		var ks []blockKey
		n, ks, affected = ix.insertPrepared(r, nil, nil, affected)
		news = append(news, n)
		newKeys = append(newKeys, ks)
	}
	var keys []blockKey
	for i, n := range news {
		affected = ix.connect(n, newKeys[i], affected)
		keys = append(keys, newKeys[i]...)
		if progress != nil && (i%1024 == 0 || i == len(news)-1) {
			progress(i+1, len(news))
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	affected = ix.refreshGeneric(dedupeKeys(keys), affected)
	ix.recluster(affected)
	return nil
}

func dedupeKeys(s []blockKey) []blockKey {
	w := 0
	for i, x := range s {
		if i > 0 && s[w-1] == x {
			continue
		}
		s[w] = x
		w++
	}
	return s[:w]
}

// Remove deletes the record with the given ID; its cluster is recomputed
// without it (which may split it). It returns ErrNotFound for an unknown ID.
func (ix *Index) Remove(id string) ([]Move, error) {
	n, ok := ix.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	affected := ix.remove(n, nil)
	return ix.recluster(affected), nil
}

// insertPrepared stores r as a new entry, in its blocks, without
// connecting it, and returns its number, its blocking keys and affected
// with the records whose clusters must be recomputed. Blocks that r
// pushes over their cap stop producing pairs, so their members are
// reconnected. p and keys, when not nil, are r's prepared form and
// blocking keys.
func (ix *Index) insertPrepared(r Record, p *prep, keys []blockKey, affected []int32) (int32, []blockKey, []int32) {
	if p == nil {
		p = prepare(r, ix.cfg.Rules, ix.cfg.Region, ix.cfg.DateOrder)
		keys = blockKeys(p)
	}
	e := &entry{p: p}
	var n int32
	if len(ix.free) > 0 {
		n = ix.free[len(ix.free)-1]
		ix.free = ix.free[:len(ix.free)-1]
		ix.ents[n] = e
	} else {
		n = int32(len(ix.ents))
		ix.ents = append(ix.ents, e)
		ix.mark = append(ix.mark, 0)
	}
	e.cluster = n
	e.members = []int32{n}
	ix.byID[r.ID] = n
	var buf [1]int32
	for _, k := range keys {
		mem := ix.blocks.add(k, n, &buf)
		if len(mem)-1 == ix.capOf(k) { // just went over the cap
			affected = ix.unlinkBlock(mem, n, affected)
		}
	}
	return n, keys, append(affected, n)
}

// remove deletes entry n, disconnecting it, and returns the records whose
// clusters must be recomputed.
func (ix *Index) remove(n int32, affected []int32) []int32 {
	e := ix.ents[n]
	rep := ix.ents[e.cluster]
	for _, m := range rep.members {
		if m != n {
			affected = append(affected, m)
		}
	}
	affected = ix.disconnect(n, affected)
	keys := blockKeys(e.p)
	var buf [1]int32
	for _, k := range keys {
		mem := ix.blocks.remove(k, n, &buf)
		if len(mem) == ix.capOf(k) { // back under the cap
			affected = ix.linkBlock(mem, affected)
		}
	}
	// The representative may be n itself; members are recomputed anyway.
	if e.cluster != n {
		rep.members = without(rep.members, n)
	} else {
		for _, m := range e.members {
			if m != n {
				ix.ents[m].cluster = m
				ix.ents[m].members = []int32{m}
				ix.ents[m].links = nil
			}
		}
	}
	delete(ix.byID, e.p.id)
	ix.ents[n] = nil
	ix.free = append(ix.free, n)
	affected = ix.refreshGeneric(keys, affected)
	return affected
}

func without(s []int32, n int32) []int32 {
	out := make([]int32, 0, len(s))
	for _, x := range s {
		if x != n {
			out = append(out, x)
		}
	}
	return out
}

// disconnect drops all edges of n and returns its former neighbours.
func (ix *Index) disconnect(n int32, affected []int32) []int32 {
	for _, ed := range ix.ents[n].adj {
		o := ix.ents[ed.to]
		for i := range o.adj {
			if o.adj[i].to == n {
				o.adj = append(o.adj[:i], o.adj[i+1:]...)
				break
			}
		}
		affected = append(affected, ed.to)
	}
	ix.ents[n].adj = nil
	return affected
}

// unlinkBlock runs when a block goes over its cap: edges between its
// members (other than the newcomer skip, not yet connected) that no other
// live key or steward decision supports are dropped. Nothing is rescored.
func (ix *Index) unlinkBlock(mem []int32, skip int32, affected []int32) []int32 {
	keys := map[int32][]blockKey{} // of the members, as needed
	keysOf := func(n int32) []blockKey {
		k, ok := keys[n]
		if !ok {
			k = blockKeys(ix.ents[n].p)
			keys[n] = k
		}
		return k
	}
	for _, a := range mem {
		if a == skip {
			continue
		}
		ea := ix.ents[a]
		for i := 0; i < len(ea.adj); i++ {
			b := ea.adj[i].to
			if b == skip || !inBlock(mem, b) || ix.supportedBy(a, b, keysOf(a), keysOf(b)) {
				continue
			}
			ea.adj = append(ea.adj[:i], ea.adj[i+1:]...)
			i--
			eb := ix.ents[b]
			for j := range eb.adj {
				if eb.adj[j].to == a {
					eb.adj = append(eb.adj[:j], eb.adj[j+1:]...)
					break
				}
			}
			affected = append(affected, a, b)
		}
	}
	return affected
}

// linkBlock runs when a block comes back under its cap: pairs of its
// members that are not yet connected are scored and stored.
func (ix *Index) linkBlock(mem []int32, affected []int32) []int32 {
	for x, a := range mem {
		for _, b := range mem[x+1:] {
			if ix.hasEdge(a, b) {
				continue
			}
			affected = ix.maybeEdge(a, b, affected)
		}
	}
	return affected
}

func inBlock(mem []int32, n int32) bool {
	for _, m := range mem {
		if m == n {
			return true
		}
	}
	return false
}

// supported reports whether a and b are still candidates: they share a
// live key, or a steward linked them.
func (ix *Index) supported(a, b int32) bool {
	return ix.supportedBy(a, b, blockKeys(ix.ents[a].p), blockKeys(ix.ents[b].p))
}

// supportedBy is supported given a's and b's blocking keys.
func (ix *Index) supportedBy(a, b int32, ka, kb []blockKey) bool {
	for i, j := 0, 0; i < len(ka) && j < len(kb); {
		switch {
		case ka[i] < kb[j]:
			i++
		case ka[i] > kb[j]:
			j++
		default:
			if ix.live(ka[i]) {
				return true
			}
			i++
			j++
		}
	}
	return len(ix.must) > 0 && ix.must[pairKey(ix.id(a), ix.id(b))]
}

// connect scores n against its candidates (the members of its blocks,
// keys = blockKeys of its prep) and stores the edges that matter.
// Existing edges are kept.
func (ix *Index) connect(n int32, keys []blockKey, affected []int32) []int32 {
	e := ix.ents[n]
	var cand []int32
	var buf [1]int32
	for _, k := range keys {
		mem := ix.blocks.get(k, &buf)
		if len(mem) > ix.capOf(k) {
			continue
		}
		for _, m := range mem {
			if m != n {
				cand = append(cand, m)
			}
		}
	}
	for _, pid := range ix.peers[e.p.id] {
		if m, ok := ix.byID[pid]; ok {
			cand = append(cand, m)
		}
	}
	slices.Sort(cand)
	prev := int32(-1)
	for _, m := range cand {
		if m == prev {
			continue
		}
		prev = m
		if ix.hasEdge(n, m) {
			continue
		}
		affected = ix.maybeEdge(n, m, affected)
	}
	return affected
}

// maybeEdge scores a candidate pair and stores the edge if it matters.
func (ix *Index) maybeEdge(n, m int32, affected []int32) []int32 {
	ix.stats.Candidates++
	if ix.memo != nil && ix.memo.apart(ix.ents[n].p, ix.ents[m].p) && !ix.mustLinked(n, m) {
		ix.stats.PairsScored++ // as pairWeight would: Stats equal Add's
		return affected
	}
	w := ix.pairWeight(n, m)
	if w >= ix.cfg.ReviewWeight || sharesIdentifier(ix.ents[n].p, ix.ents[m].p) || ix.mustLinked(n, m) {
		ix.ents[n].adj = append(ix.ents[n].adj, edge{m, w})
		ix.ents[m].adj = append(ix.ents[m].adj, edge{n, w})
		affected = append(affected, n, m)
	}
	return affected
}

// mustLinked reports whether a steward linked records n and m (without
// building the pair's key when nobody linked anything).
func (ix *Index) mustLinked(n, m int32) bool {
	return len(ix.must) > 0 && ix.must[pairKey(ix.id(n), ix.id(m))]
}

func (ix *Index) hasEdge(a, b int32) bool {
	_, ok := ix.edgeWeight(a, b)
	return ok
}

func (ix *Index) edgeWeight(a, b int32) (float64, bool) {
	ea, eb := ix.ents[a], ix.ents[b]
	if len(eb.adj) < len(ea.adj) {
		ea, a, b = eb, b, a
	}
	for _, ed := range ea.adj {
		if ed.to == b {
			return ed.w, true
		}
	}
	return 0, false
}

// pairWeight scores a pair in ID order, so the result is symmetric.
func (ix *Index) pairWeight(a, b int32) float64 {
	pa, pb := ix.ents[a].p, ix.ents[b].p
	if idLess(pb, pa) {
		pa, pb = pb, pa
	}
	ix.stats.PairsScored++
	if ix.memo != nil {
		if w, ok := ix.memo.lookup(pa, pb); ok {
			return w
		}
	}
	_, w := ix.m.score(pa, pb)
	return w
}

// weight returns the stored edge weight or scores the pair.
func (ix *Index) weight(a, b int32) float64 {
	if w, ok := ix.edgeWeight(a, b); ok {
		return w
	}
	return ix.pairWeight(a, b)
}

func sharesIdentifier(a, b *prep) bool {
	if len(a.idHash) == len(a.ids) && len(b.idHash) == len(b.ids) {
		// Equal identifiers hash equal: compare values only on a hash
		// match.
		for i, x := range a.idHash {
			for j, y := range b.idHash {
				if x == y && a.ids[i] == b.ids[j] {
					return true
				}
			}
		}
		return false
	}
	for _, x := range a.ids {
		for _, y := range b.ids {
			if x == y {
				return true
			}
		}
	}
	return false
}

// sharedLive returns the identifiers a and b share that are not generic,
// in priority order.
func (ix *Index) sharedLive(a, b *prep) []profile.Identifier {
	var out []profile.Identifier
	for _, x := range a.ids {
		for _, y := range b.ids {
			if x == y && !ix.generic[identifierKey(x)] {
				out = append(out, x)
			}
		}
	}
	return out
}

// refreshGeneric recomputes the generic flag of the identifier keys among
// keys; when one flips, all its holders are affected.
func (ix *Index) refreshGeneric(keys []blockKey, affected []int32) []int32 {
	for _, k := range keys {
		if k.rule() != identifierRule {
			continue
		}
		g := ix.genericNow(k)
		if g == ix.generic[k] {
			continue
		}
		if g {
			ix.generic[k] = true
		} else {
			delete(ix.generic, k)
		}
		var buf [1]int32
		affected = append(affected, ix.blocks.get(k, &buf)...)
	}
	return affected
}

// genericNow decides whether an identifier value is generic: held by
// more than IdentifierBlockCap records, or by records with at least
// GenericMinNames clearly different names. Holders are visited in ID
// order so the answer does not depend on history.
func (ix *Index) genericNow(k blockKey) bool {
	var buf [1]int32
	mem := ix.blocks.get(k, &buf)
	if len(mem) > ix.cfg.IdentifierBlockCap {
		return true
	}
	if len(mem) < ix.cfg.GenericMinNames {
		return false
	}
	ps := make([]*prep, len(mem))
	for i, m := range mem {
		ps[i] = ix.ents[m].p
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
	var reps []*prep
	for _, p := range ps {
		if p.first == "" && p.last == "" {
			continue
		}
		distinct := true
		for _, r := range reps {
			if !differentPeople(p, r) {
				distinct = false
				break
			}
		}
		if distinct {
			reps = append(reps, p)
			if len(reps) >= ix.cfg.GenericMinNames {
				return true
			}
		}
	}
	return false
}

// differentPeople reports whether two records' names clearly differ: the
// last names are not even similar, or the first names are neither
// similar, nicknames nor initials of each other. Missing parts never
// count as a difference.
func differentPeople(a, b *prep) bool {
	if l := nameLevel(a.last, b.last); l == 4 {
		return true
	}
	if l := firstLevel(a.first, b.first); l == 6 {
		return true
	}
	return false
}

// linkable reports whether the edge a–b may join clusters: a steward
// accepted it, the records share a non-generic identifier, or it scores
// at or above MatchWeight.
func (ix *Index) linkable(a int32, ed edge) (linkClass, bool) {
	pa, pb := ix.ents[a].p, ix.ents[ed.to].p
	if len(ix.must) > 0 && ix.must[pairKey(pa.id, pb.id)] {
		return classSteward, true
	}
	if len(pa.ids) > 0 && len(pb.ids) > 0 && len(ix.sharedLive(pa, pb)) > 0 {
		return classIdentifier, true
	}
	if ed.w >= ix.cfg.MatchWeight {
		return classProbabilistic, true
	}
	return 0, false
}
