package identity

import (
	"fmt"
	"iter"
	"slices"
	"sort"
	"strings"

	"ucv/profile"
)

// recluster recomputes the clusters of the seeds' linkable components (and
// of their current clusters) and returns the records, other than brand-new
// ones, whose cluster ID changed.
func (ix *Index) recluster(seeds []int32) []Move {
	ix.gen++
	if ix.gen == 0 { // wrapped: clear marks
		for i := range ix.mark {
			ix.mark[i] = 0
		}
		ix.gen = 1
	}
	var comp []int32
	visit := func(n int32) {
		if n < 0 || int(n) >= len(ix.ents) || ix.ents[n] == nil || ix.mark[n] == ix.gen {
			return
		}
		ix.mark[n] = ix.gen
		comp = append(comp, n)
	}
	for _, s := range seeds {
		visit(s)
	}
	for q := 0; q < len(comp); q++ {
		x := comp[q]
		e := ix.ents[x]
		for _, ed := range e.adj {
			if _, ok := ix.linkable(x, ed); ok {
				visit(ed.to)
			}
		}
		for _, m := range ix.ents[e.cluster].members {
			visit(m)
		}
	}
	sort.Slice(comp, func(i, j int) bool { return ix.id(comp[i]) < ix.id(comp[j]) })
	before := make([]string, len(comp))
	for i, n := range comp {
		before[i] = ix.id(ix.ents[n].cluster)
	}
	ix.cluster(comp)
	var moves []Move
	for i, n := range comp {
		after := ix.id(ix.ents[n].cluster)
		if before[i] != after {
			moves = append(moves, Move{RecordID: ix.id(n), From: before[i], To: after})
		}
	}
	return moves
}

type candEdge struct {
	a, b  int32 // local indices, a < b (so ID order)
	class linkClass
	prio  int // best shared identifier priority (identifier class)
	w     float64
}

// cluster runs greedy cluster-aware linking over comp, which must be
// closed under linkable edges and sorted by record ID. Candidate links are
// taken strongest first — steward, then identifiers by rule priority, then
// probabilistic by weight — ties broken by record IDs; each joins two
// clusters only if the merge passes the whole-cluster checks.
func (ix *Index) cluster(comp []int32) {
	if len(comp) == 1 {
		// A record alone (the common case of a new person): no edge
		// lies inside comp, so it is its own cluster — what the general
		// path below computes, without its maps and slices.
		n := comp[0]
		e := ix.ents[n]
		e.cluster = n
		if len(e.members) != 1 || e.members[0] != n {
			e.members = []int32{n}
		}
		e.links = nil
		return
	}
	local := make(map[int32]int32, len(comp))
	for i, n := range comp {
		local[n] = int32(i)
	}
	var es []candEdge
	for i, n := range comp {
		for _, ed := range ix.ents[n].adj {
			j, ok := local[ed.to]
			if !ok || j <= int32(i) {
				continue
			}
			class, ok := ix.linkable(n, ed)
			if !ok {
				continue
			}
			ce := candEdge{a: int32(i), b: j, class: class, w: ed.w}
			if class == classIdentifier {
				shared := ix.sharedLive(ix.ents[n].p, ix.ents[ed.to].p)
				ce.prio = ix.cfg.Rules.Priority(shared[0].Type)
			}
			es = append(es, ce)
		}
	}
	sort.Slice(es, func(x, y int) bool {
		a, b := &es[x], &es[y]
		if a.class != b.class {
			return a.class < b.class
		}
		if a.prio != b.prio {
			return a.prio < b.prio
		}
		if a.w != b.w {
			return a.w > b.w
		}
		if a.a != b.a {
			return a.a < b.a
		}
		return a.b < b.b
	})
	parent := make([]int32, len(comp))
	members := make([][]int32, len(comp))
	links := make([][]linkRef, len(comp))
	for i := range parent {
		parent[i] = int32(i)
		members[i] = []int32{int32(i)}
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, ce := range es {
		ra, rb := find(ce.a), find(ce.b)
		if ra == rb {
			continue
		}
		if !ix.canMerge(comp, members[ra], members[rb], ce) {
			continue
		}
		if len(members[ra]) < len(members[rb]) {
			ra, rb = rb, ra
		}
		parent[rb] = ra
		members[ra] = append(members[ra], members[rb]...)
		links[ra] = append(append(links[ra], links[rb]...), linkRef{comp[ce.a], comp[ce.b], ce.class})
		members[rb], links[rb] = nil, nil
	}
	for i := range comp {
		if find(int32(i)) != int32(i) {
			continue
		}
		ms := members[i]
		sort.Slice(ms, func(x, y int) bool { return ms[x] < ms[y] })
		rep := comp[ms[0]]
		global := make([]int32, len(ms))
		for k, l := range ms {
			global[k] = comp[l]
			e := ix.ents[comp[l]]
			e.cluster = rep
			e.members, e.links = nil, nil
		}
		ls := links[i]
		sort.Slice(ls, func(x, y int) bool {
			if ls[x].a != ls[y].a {
				return ix.id(ls[x].a) < ix.id(ls[y].a)
			}
			return ix.id(ls[x].b) < ix.id(ls[y].b)
		})
		ix.ents[rep].members = global
		ix.ents[rep].links = ls
	}
}

// maxCheck bounds the records per side that the whole-cluster check
// scores, so one huge cluster cannot make a merge quadratic.
const maxCheck = 40

// canMerge decides whether the clusters A and B (local indices into comp)
// may join through candidate link ce.
func (ix *Index) canMerge(comp []int32, A, B []int32, ce candEdge) bool {
	if len(ix.cannot) > 0 {
		for _, a := range A {
			for _, b := range B {
				if ix.cannot[pairKey(ix.id(comp[a]), ix.id(comp[b]))] {
					return false
				}
			}
		}
	}
	if !ix.withinLimits(comp, A, B) {
		return false
	}
	if ce.class == classSteward {
		return true
	}
	// Transitive chaining guard: no merge joins two records that
	// conflict (entity.go), however the clusters are linked.
	if ix.vetoed(comp[ce.a], comp[ce.b]) {
		return false
	}
	if _, _, v := ix.clusterConflict(mapGlobal(comp, A), mapGlobal(comp, B)); v != vetoNone {
		return false
	}
	if ce.class == classProbabilistic && (ix.torn(comp[ce.a], comp[ce.b], ce.w) || ix.torn(comp[ce.b], comp[ce.a], ce.w)) {
		return false
	}
	if ix.namelessInHousehold(comp[ce.a], comp[ce.b]) {
		return false
	}
	if ix.otherGeneration(comp[ce.a], comp[ce.b]) {
		return false
	}
	if ce.class == classProbabilistic && ix.generationAmbiguous(comp, A, B) {
		return false
	}
	if ix.knownNamesDiffer(comp[ce.a], comp[ce.b]) {
		return false
	}
	if ce.class == classProbabilistic {
		pa, pb := ix.ents[comp[ce.a]].p, ix.ents[comp[ce.b]].p
		v := ix.m.compare(pa, pb)
		if namesDiffer(&v) && !v.agrees(cDOB) && !v.documentAgrees() {
			return false
		}
		if ix.familyFirstDiffers(pa, pb, &v) && !v.documentAgrees() {
			return false
		}
	}
	switch ce.class {
	case classIdentifier:
		pa, pb := ix.ents[comp[ce.a]].p, ix.ents[comp[ce.b]].p
		if !named(pa) && !named(pb) && pa.org == "" && pb.org == "" && !ix.personallyTied(pa, pb) &&
			allFamilyForms(ix.sharedLive(pa, pb)) {
			// Two records without a name that share only a family's
			// e-mail (thedavises@, davisfamily@, davis.home@): any two
			// members of the household could have written them.
			return false
		}
		v := ix.m.compare(pa, pb)
		if (namesDiffer(&v) && !crosswiseClose(pa, pb) || noNameAgrees(&v) || ix.familyFirstDiffers(pa, pb, &v)) && !tied(&v) {
			// Two different names on one phone or e-mail are two
			// people sharing it (a household line, a family address):
			// a relationship, not a merge. So is a lone name that
			// disagrees with the only part it can be compared with
			// ("Svetlana" and "Mikhail Kuznetsov" on one landline).
			// Unless what tells members apart ties them — the birth
			// date, a document: then the names are one person's,
			// garbled ("Emma Lsng" and "Long Emm"; decision 0091).
			return false
		}
		if ix.emailNamesAnother(pa, pb) || ix.emailNamesAnother(pb, pa) {
			// A record with no name but an e-mail that names another
			// member of the family: the contact point is shared.
			return false
		}
		if !v.personalBeyondContact() && ix.ambiguous(pa, pb) {
			// Nothing but the contact point ties the two, and that
			// contact point is known to be shared by different people
			// (two of its holders are vetoed apart: a family e-mail, a
			// household landline). Which of them this record is, the
			// contact point cannot say.
			return false
		}
		return ix.m.evidence(pa, &v, true) >= ix.cfg.DeterministicVetoWeight
	}
	sum, n, matches := 0.0, 0, 0
	// matchedA[x], matchedB[y]: that record has a cross pair that is a
	// match on its own (directlyMatched).
	var matchedA, matchedB [maxCheck]bool
	// Plain loops over the cross pairs here and in clusterConflict, not
	// crossPairs: they run on every merge the clustering considers.
	for x, a := range A {
		if x >= maxCheck {
			break
		}
		for y, b := range B {
			if y >= maxCheck {
				break
			}
			w := ix.weight(comp[a], comp[b])
			if w < ix.cfg.MatchWeight && ix.contradiction(comp[a], comp[b]) < ix.cfg.VetoWeight {
				return false
			}
			if w >= ix.cfg.MatchWeight {
				matches++
				matchedA[x], matchedB[y] = true, true
			}
			sum += Probability(w)
			n++
		}
	}
	if sum/float64(n) >= ix.cfg.ClusterMinProbability || corroborated(matches, n) {
		return true
	}
	return ix.directlyMatched(comp, A, B, matchedA[:], matchedB[:])
}

// directlyMatched reports whether every record of the smaller of A and B
// (at most maxCheck of them) matches a record of the other on its own
// (weight ≥ MatchWeight; matchedA and matchedB say which do), and no
// pair across disagrees on an e-mail or phone both records hold. It is
// the third way past the mean (after the mean itself and
// corroborated): a few records of one person that each match the
// person's cluster directly, whose many sparse records (a birth date in
// some, a postcode in others) hold the mean down without saying
// anything against them. One weak link chaining strangers is not this
// shape: every record of the joining side must match by itself. A
// namesake is: a rare name alone is a match, so a record whose own
// e-mail or phone differs from one the cluster holds, and that shares
// none, stays apart (decision 0072).
func (ix *Index) directlyMatched(comp []int32, A, B []int32, matchedA, matchedB []bool) bool {
	small, matched := A, matchedA
	if len(B) < len(A) {
		small, matched = B, matchedB
	}
	if len(small) > maxCheck {
		return false
	}
	for x := range small {
		if !matched[x] {
			return false
		}
	}
	for x, y := range crossPairs(A, B) {
		v := ix.m.compareInOrder(ix.ents[comp[A[x]]].p, ix.ents[comp[B[y]]].p)
		if v.differs(cEmail) || v.differs(cPhone) {
			return false
		}
	}
	return true
}

// crossPairs yields the positions (x in A, y in B) of the cross pairs
// the whole-cluster checks read: the first maxCheck records per side,
// so one huge cluster cannot make a merge quadratic. The checks off the
// clustering's hot path use it (canMerge and clusterConflict loop
// themselves).
func crossPairs(A, B []int32) iter.Seq2[int, int] {
	return func(yield func(x, y int) bool) {
		na, nb := min(len(A), maxCheck), min(len(B), maxCheck)
		for x := range na {
			for y := range nb {
				if !yield(x, y) {
					return
				}
			}
		}
	}
}

// Corroboration: a probabilistic merge whose clusters' mean cross-pair
// probability is below ClusterMinProbability is still taken when at least
// corroboratingMatches of the cross pairs — and at least
// corroboratingShare of them — are matches on their own (weight ≥
// MatchWeight), and none contradicts (checked above). The mean exists to
// stop one weak link from chaining strangers together; several
// independent direct matches are not a chain. What holds the mean down
// then is pairs of sparse records that say little either way (one with
// a birth date and no postcode, the other the reverse), the shape of a
// large entity seen in many partial sources
// (docs/decisions/0067-corroborated-cluster-merges.md).
const (
	corroboratingMatches = 3
	corroboratingShare   = 0.15
)

// corroborated reports whether matches of n cross pairs corroborate a
// merge.
func corroborated(matches, n int) bool {
	return matches >= corroboratingMatches && float64(matches) >= corroboratingShare*float64(n)
}

const comp0 comp = 0

// tornMargin is how much more strongly (in bits) a record must match
// one of two conflicting records than the other to be linked to it
// probabilistically: 2^6.63 ≈ 99 to 1.
const tornMargin = 6.63

// torn reports whether record x, about to be linked to y with weight w,
// also matches (at or above MatchWeight, within tornMargin of w) another
// record that is vetoed apart from y — the unmarked "John Smith" at the
// address of John Smith Sr and John Smith Jr, one twin's record without
// a given name. Such a record belongs to one of two people and its
// fields cannot say which: it stays apart (and is offered for review).
func (ix *Index) torn(x, y int32, w float64) bool {
	for _, ed := range ix.ents[x].adj {
		if ed.to == y || ed.w < ix.cfg.MatchWeight || ed.w < w-tornMargin {
			continue
		}
		if ix.vetoed(ed.to, y) {
			return true
		}
	}
	return false
}

// namelessInHousehold reports whether the link a–b joins a record that
// holds no name at all (a web order, a receipt: an e-mail, a phone, an
// address) to a named person of a household, on nothing personal but a
// contact point or place: no birth date or document agrees. The
// household shows as a record at the address or on a contact point of
// either that is vetoed apart from the named one (a spouse, a twin, a
// parent at the same address or on the family e-mail): the nameless
// record can be any of them, and nothing in it says which. It is the
// principle of ambiguous (rule 7 of 0042's second pass) applied to the
// household rather than to the identifier's holders alone.
func (ix *Index) namelessInHousehold(a, b int32) bool {
	pa, pb := ix.ents[a].p, ix.ents[b].p
	switch {
	case named(pa) && !named(pb) && pb.org == "":
	case named(pb) && !named(pa) && pa.org == "":
		a, b, pa, pb = b, a, pb, pa
	default:
		return false
	}
	// a is named, b is not.
	if ix.personallyTied(pa, pb) {
		return false
	}
	shared := ix.sharedLive(pa, pb)
	if q := ix.crosswise(pa); len(shared) > 0 && (allFamilyEmails(shared, pa) || q != nil && allFamilyEmails(shared, q)) {
		// All the two share is an e-mail that names the family, not
		// the person (thegutierrezs@, woodsfamily@, gupta.home@): a
		// household's address, which any of its members orders with.
		// The named record may be written family name first
		// ("Patterson Mark" beside thepattersons@).
		return true
	}
	var buf [1]int32
	// An e-mail of the named record's own — shared by the two, spelling
	// the named record's given name (grace_bryant@, not wangfamily@)
	// and held by no record vetoed apart from it — says whose the
	// nameless record is, whoever else lives at the address.
	for _, id := range shared {
		if id.Type != profile.Email || len(pa.first) < 3 {
			continue
		}
		if !spellsOwnName(emailLetters(id.Value), pa) {
			continue
		}
		hs := ix.blocks.get(identifierKey(id), &buf)
		if len(hs) > maxAmbiguityCheck {
			continue
		}
		own := true
		for _, h := range hs {
			if h != a && h != b && ix.vetoed(h, a) {
				own = false
				break
			}
		}
		if own {
			return false
		}
	}
	// Who shares the nameless record's address or contact points.
	keys := ruleKeys(pb, addressRule)
	for _, id := range pb.ids {
		keys = append(keys, identifierKey(id))
	}
	for _, k := range keys {
		hs := ix.blocks.get(k, &buf)
		if len(hs) > maxAmbiguityCheck {
			hs = hs[:maxAmbiguityCheck]
		}
		for _, h := range hs {
			if h != a && h != b && ix.vetoed(h, a) {
				return true
			}
		}
	}
	return false
}

// crosswiseClose reports whether a's and b's names, both given in full,
// read crosswise part by part as close (crossPart): one name written
// family name first with a typo in each part ("Chen Meilisng" and
// "Meiling Chan"), which compare reads straight, and so as two
// different names, unless the crosswise reading is clearly better.
func crosswiseClose(a, b *prep) bool {
	return a.first != "" && a.last != "" && b.first != "" && b.last != "" &&
		crossPart(a.first, b.last) > 0 && crossPart(a.last, b.first) > 0
}

// spellsOwnName reports whether e-mail letters spell p's own name rather
// than the family's: p's given name (three letters or more) or a usual
// variant of it ("mark" for Marc), or p's initial joined to p's family
// name, or its first part of two, of four letters or more ("bsanders",
// "romeror" for Ricardo Romero Cruz).
func spellsOwnName(letters string, p *prep) bool {
	if len(p.first) >= 3 && strings.Contains(letters, p.first) || spellsVariant(letters, p.first) {
		return true
	}
	last := p.last
	if p.lastCut > 0 {
		last = last[:p.lastCut]
	}
	if p.first == "" || len(last) < 4 {
		return false
	}
	i := p.first[:1]
	return strings.Contains(letters, i+last) || strings.Contains(letters, last+i)
}

// allFamilyForms reports whether every identifier in ids is an e-mail
// whose local part has a family's form whoever the family is: "the…s"
// ("thedavises", "thewus"), "…family" ("davisfamily"), or a word "home"
// ("davis.home", "home.davis61").
func allFamilyForms(ids []profile.Identifier) bool {
	return len(ids) > 0 && !slices.ContainsFunc(ids, func(id profile.Identifier) bool { return !familyForm(id) })
}

// familyForm reports whether id is an e-mail of a family's form
// (allFamilyForms).
func familyForm(id profile.Identifier) bool {
	if id.Type != profile.Email {
		return false
	}
	local, _, _ := strings.Cut(id.Value, "@")
	letters := localLetters(local)
	switch {
	case len(letters) >= 6 && strings.HasPrefix(letters, "the") && strings.HasSuffix(letters, "s"):
	case len(letters) > 6 && strings.HasSuffix(letters, "family"):
	default:
		words := localWords(local)
		return len(words) > 1 && slices.Contains(words, "home")
	}
	return true
}

// localWords splits an e-mail's local part into its runs of letters a-z
// ("kumar.aisha86" → kumar, aisha).
func localWords(local string) []string {
	return strings.FieldsFunc(local, func(r rune) bool { return r < 'a' || r > 'z' })
}

// crosswise returns p read family name first — its family-name field as
// the given name and its given-name field as the family name — when
// that reading is plausible (p holds both, and its family name is known
// as a given name: "Kumar Sanjay", "Patterson Mark"); nil otherwise.
func (ix *Index) crosswise(p *prep) *prep {
	if p.first == "" || p.last == "" || !ix.givenNameToken(p.last) {
		return nil
	}
	return &prep{first: p.last, last: p.first, rare: p.rare}
}

// allFamilyEmails reports whether every identifier in ids is an e-mail
// whose local part names p's family and not p: it holds p's surname
// (three letters or more) and neither p's given name nor, next to the
// surname, its initial ("thesmiths", "smithfamily", "smith.home";
// not "ann.smith", "asmith", "smitha").
func allFamilyEmails(ids []profile.Identifier, p *prep) bool {
	if len(p.last) < 3 {
		return false
	}
	for _, id := range ids {
		if id.Type != profile.Email {
			return false
		}
		letters := emailLetters(id.Value)
		i := strings.Index(letters, p.last)
		if i < 0 {
			return false
		}
		if p.first != "" {
			if len(p.first) >= 3 && strings.Contains(letters, p.first) {
				return false
			}
			before, after := letters[:i], letters[i+len(p.last):]
			if strings.HasSuffix(before, p.first[:1]) || strings.HasPrefix(after, p.first[:1]) {
				return false
			}
		}
	}
	return true
}

// otherGeneration reports whether exactly one of a and b carries a
// generation mark (Jr, Sr, III) and nothing but the name, places and
// shared contact points ties them. A mark says that another person of
// the same name exists — the father of a Jr, the son of a Sr — and
// usually at the same address and on the same landline; the unmarked
// record is either of them until a birth date (up to a typing error),
// a document or a shared e-mail or phone says whose it is (a shared
// contact point links through the identifier rules, which the other
// guards — ambiguous, namelessInHousehold, torn — already weigh). A
// family's e-mail ("thesmiths@": allFamilyForms) or a contact point
// two records vetoed apart hold (heldApart: the household's landline)
// is father's and son's alike and says nothing of whose (decision
// 0087).
func (ix *Index) otherGeneration(a, b int32) bool {
	pa, pb := ix.ents[a].p, ix.ents[b].p
	if (pa.gen == "") == (pb.gen == "") || !named(pa) || !named(pb) {
		return false
	}
	if ix.personallyTied(pa, pb) {
		return false
	}
	for _, id := range ix.sharedLive(pa, pb) {
		if !familyForm(id) && !ix.heldApart(id) {
			return false // one person's own e-mail or phone
		}
	}
	return true
}

// generationAmbiguous reports whether joining A and B would put a
// record with a generation mark and an unmarked record of the same name
// (otherGeneration) in one cluster with nothing personal across: no pair
// of A×B is personally tied or shares an identifier. The unmarked
// record could be the marked one's father or son; a chain of unmarked
// records agreeing on name and address (a Jr/Sr household's rows) must
// not decide it (at most maxCheck records per side).
func (ix *Index) generationAmbiguous(comp []int32, A, B []int32) bool {
	// On the clustering's hot path: most merges hold no mark at all.
	if !ix.anyMarked(comp, A) && !ix.anyMarked(comp, B) {
		return false
	}
	found := false
	for x, y := range crossPairs(A, B) {
		pa, pb := ix.ents[comp[A[x]]].p, ix.ents[comp[B[y]]].p
		if (pa.gen == "") == (pb.gen == "") || !named(pa) || !named(pb) {
			continue
		}
		if v := ix.m.compareInOrder(pa, pb); v.agrees(cFirst) && v.agrees(cLast) {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	for x, y := range crossPairs(A, B) {
		pa, pb := ix.ents[comp[A[x]]].p, ix.ents[comp[B[y]]].p
		if ix.personallyTied(pa, pb) || len(ix.sharedLive(pa, pb)) > 0 {
			return false
		}
	}
	return true
}

// anyMarked reports whether one of the first maxCheck records of side
// (local indices into comp) carries a generation mark.
func (ix *Index) anyMarked(comp []int32, side []int32) bool {
	for _, l := range side[:min(len(side), maxCheck)] {
		if ix.ents[comp[l]].p.gen != "" {
			return true
		}
	}
	return false
}

// emailNamesAnother reports whether n, a record without a name, holds an
// e-mail (one p does not hold) whose local part spells p's family name
// with another person's initial ("rbennett" beside Jennifer Bennett:
// otherInitial) or with a given name that is not p's ("kumar.aisha" on
// the landline Sanjay Kumar's record holds is Aisha's, not his; a
// given name is what givenNameToken knows) — p's name read as written
// or, when its family name is itself a given name, crosswise ("Kumar,
// Sanjay"); or whose local part names someone else and nothing of p
// (namesSomeoneElse). Decisions 0078 and 0084.
func (ix *Index) emailNamesAnother(n, p *prep) bool {
	if named(n) || p.first == "" {
		return false
	}
	// p as written and, when its family name is known as a given name
	// ("Kumar, Sanjay" written family name first), crosswise.
	readings := [2]*prep{p, ix.crosswise(p)}
	for _, e := range n.emails {
		if slices.Contains(p.emails, e) {
			continue
		}
		local, _, _ := strings.Cut(e, "@")
		tokens := localWords(local)
		if ix.namesSomeoneElse(tokens, p) {
			return true // "dorothy_anderson" or "kathi61" beside Steven Ford's landline
		}
		letters := localLetters(local)
		for _, q := range readings {
			if q == nil || len(q.last) < 3 {
				continue
			}
			for _, cut := range [...]func(string, string) (string, bool){strings.CutSuffix, strings.CutPrefix} {
				x, ok := cut(letters, q.last)
				switch {
				case !ok:
				case len(x) == 1 && otherInitial(x[0], q):
					return true // "rbennett" beside Jennifer Bennett
				case ix.anotherGivenName(x, q):
					return true // "elizabethgreen86" beside Samantha Green
				}
			}
			if !slices.Contains(tokens, q.last) {
				continue
			}
			for _, t := range tokens {
				if t != q.last && ix.anotherGivenName(t, q) {
					return true // "kumar.aisha" beside Sanjay Kumar
				}
			}
		}
	}
	return false
}

// namesSomeoneElse reports whether the words of an e-mail's local part
// hold a given name that is not p's (anotherGivenName) and nothing of
// p's name — no word equal or close to p's given or family name, in
// either order, or a variant of either: the address of another person
// ("dorothy_anderson", "kathi61", "pete96" on the landline of Steven
// Ford, Ricky García, Linda Jordan).
func (ix *Index) namesSomeoneElse(tokens []string, p *prep) bool {
	other := false
	for _, t := range tokens {
		for _, n := range [...]string{p.first, p.last} {
			if n != "" && (t == n || Nicknames(t, n) || SurnameVariants(t, n) || len(t) >= 3 && JaroWinkler(t, n) >= 0.9) {
				return false
			}
		}
		if !other && ix.anotherGivenName(t, p) {
			other = true
		}
	}
	return other
}

// anotherGivenName reports whether t, a word of an e-mail's local part,
// is a given name (givenNameToken) that is not p's: neither p's given
// name, a variant of it, nor a spelling close to it.
func (ix *Index) anotherGivenName(t string, p *prep) bool {
	if len(t) < 3 || t == p.first || Nicknames(t, p.first) || JaroWinkler(t, p.first) >= 0.9 {
		return false
	}
	return ix.givenNameToken(t)
}

// givenNameToken reports whether t is known as a given name: one of the
// variants table's names (nickname.go), or a value the model's
// given-name table holds (two or more people bear it) that is not more
// often a family name.
func (ix *Index) givenNameToken(t string) bool {
	if len(nicknames[t]) > 0 {
		return true
	}
	_, ok := ix.m.tf[cFirst][t]
	return ok && !ix.m.familyName(t)
}

// knownNamesDiffer reports whether records a and b, of one household
// (same or similar family name, sharing a contact point or the address:
// sharesContact) and not personally tied, carry given names that are
// close in spelling but both names of the variants table (nickname.go)
// and not variants of one another: Kim and Tim, Manuel and Miguel — two
// members, not one person's typo. (The trained
// given-name table is not used: it holds recurring misspellings too,
// and counting them cost the customers set 0.013 recall; decision 0080.)
func (ix *Index) knownNamesDiffer(a, b int32) bool {
	pa, pb := ix.ents[a].p, ix.ents[b].p
	// The table lookups first: they settle most edges without a compare.
	if pa.first == pb.first || len(nicknames[pa.first]) == 0 || len(nicknames[pb.first]) == 0 {
		return false
	}
	v := ix.m.compareInOrder(pa, pb)
	if v.aSwap || v.bSwap || (v.lv[cFirst] != 3 && v.lv[cFirst] != 4) || v.lv[cLast] < 1 || v.lv[cLast] > 3 {
		return false
	}
	return sharesContact(pa, pb, &v) && !ix.personallyTied(pa, pb)
}

// otherInitial reports whether initial c cannot be p's: not the first
// letter of p's given name, of any usual variant of it (B for Robert),
// nor of p's middle name.
func otherInitial(c byte, p *prep) bool {
	if c == p.first[0] || p.middle != "" && c == p.middle[0] {
		return false
	}
	for _, g := range nicknames[p.first] {
		for _, n := range nicknameMembers[g] {
			if n[0] == c {
				return false
			}
		}
	}
	return true
}

// personallyTied reports whether what tells a household's members apart
// agrees between pa and pb: a document, or the birth date up to a
// typing error ("within a year" is a spouse's).
func (ix *Index) personallyTied(pa, pb *prep) bool {
	v := ix.m.compareInOrder(pa, pb)
	return tied(&v)
}

// tied is personallyTied's test on a pair's vector at hand (the
// document and birth-date levels do not depend on the pair's order).
func tied(v *vector) bool { return v.documentAgrees() || v.lv[cDOB] >= 1 && v.lv[cDOB] <= 3 }

// named reports whether p holds a person's name (given or family).
func named(p *prep) bool { return p.first != "" || p.last != "" }

// addressRule is the index of the address blocking rule in blockRules.
var addressRule = func() int {
	for i, r := range blockRules {
		if r.name == "address" {
			return i
		}
	}
	panic("identity: no address blocking rule")
}()

// maxAmbiguityCheck bounds the holders of one identifier that ambiguous
// compares pairwise.
const maxAmbiguityCheck = 16

// ambiguous reports whether every identifier a and b share (one at
// least) is held by two records that are vetoed apart (the first
// maxAmbiguityCheck holders in entry order). One that is not — her own
// e-mail beside the household's landline — says whose the record is.
func (ix *Index) ambiguous(a, b *prep) bool {
	shared := ix.sharedLive(a, b)
	return len(shared) > 0 && !slices.ContainsFunc(shared, func(id profile.Identifier) bool { return !ix.heldApart(id) })
}

// heldApart reports whether identifier id is held by two records that
// are vetoed apart (the first maxAmbiguityCheck holders in entry
// order): a household's landline or e-mail, not one person's.
func (ix *Index) heldApart(id profile.Identifier) bool {
	var buf [1]int32
	hs := ix.blocks.get(identifierKey(id), &buf)
	if len(hs) > maxAmbiguityCheck {
		hs = hs[:maxAmbiguityCheck]
	}
	for i := range hs {
		for j := i + 1; j < len(hs); j++ {
			if ix.vetoed(hs[i], hs[j]) {
				return true
			}
		}
	}
	return false
}

// familyFirstDiffers reports whether the two records' given-name fields
// agree on a value the data holds mostly as a family name and their
// family-name fields differ: two members of one family written
// family-first ("Sun Xiaoming", "Sun Fang"), whose given names — the
// second fields — differ. Read straight it would be one given name and
// two surnames, which the model weighs as a rare given name agreeing.
// Both second fields must be known given names, or one of them when the
// two records share a contact point or the address (sharesContact: a
// household, where the other is a typo or a rarer name; decision 0088).
func (ix *Index) familyFirstDiffers(pa, pb *prep, v *vector) bool {
	if v.lv[cFirst] != 1 || v.aSwap || v.bSwap || !v.differs(cLast) || !ix.m.familyName(pa.first) {
		return false
	}
	ga, gb := ix.m.givenName(pa.last), ix.m.givenName(pb.last)
	return ga && gb || (ga || gb) && sharesContact(pa, pb, v)
}

// noNameAgrees reports whether a name part was compared and found
// different and no other name part agrees: one record gives only a
// given name (or only a surname) and it differs from the other's.
func noNameAgrees(v *vector) bool {
	fd := v.differs(cFirst)
	ld := v.differs(cLast)
	return fd && v.lv[cLast] == 0 || ld && v.lv[cFirst] == 0
}

// namesDiffer reports whether both the given names and the surnames of a
// pair were compared and are "different".
func namesDiffer(v *vector) bool {
	return v.differs(cFirst) && v.differs(cLast)
}

func mapGlobal(comp []int32, locals []int32) []int32 {
	out := make([]int32, len(locals))
	for i, l := range locals {
		out[i] = comp[l]
	}
	return out
}

// vetoed reports whether records a and b conflict.
func (ix *Index) vetoed(a, b int32) bool { return ix.vetoBetween(a, b) != vetoNone }

func (ix *Index) vetoBetween(a, b int32) veto {
	return ix.m.vetoOf(ix.ents[a].p, ix.ents[b].p)
}

// clusterConflict returns a pair of records, one from each of A and B,
// that conflict, and why; vetoNone when none does. Steward must-links
// are exempt: a person accepted that pair. At most maxCheck records per
// side are examined, in order.
func (ix *Index) clusterConflict(A, B []int32) (int32, int32, veto) {
	for x, a := range A {
		if x >= maxCheck {
			break
		}
		for y, b := range B {
			if y >= maxCheck {
				break
			}
			if len(ix.must) > 0 && ix.must[pairKey(ix.id(a), ix.id(b))] {
				continue
			}
			if v := ix.vetoBetween(a, b); v != vetoNone {
				return a, b, v
			}
		}
	}
	return 0, 0, vetoNone
}

// contradiction is the sum of the negative level weights of a pair: how
// strongly its disagreeing fields say "different people", whatever the
// agreeing ones say. Two kinds of disagreement say less than their sum
// (decision 0060): the parts of an address disagree together when a
// person moves, so they count once, the strongest (as their agreements
// do in evidence); and an occupation, which people change and hold
// several of, is no contradiction at all.
func (ix *Index) contradiction(a, b int32) float64 {
	pa, pb := ix.ents[a].p, ix.ents[b].p
	if pb.id < pa.id {
		pa, pb = pb, pa
	}
	v := ix.m.compare(pa, pb)
	neg, place := 0.0, 0.0
	for c := comp0; c < numComp; c++ {
		w := ix.m.levelWeight(c, pa, &v)
		switch {
		case w >= 0 || c == cOccupation:
		case isLocation(c):
			place = min(place, w)
		default:
			neg += w
		}
	}
	return neg + place
}

// withinLimits checks the identity rules' per-type limits on the union of
// two clusters' identifiers.
func (ix *Index) withinLimits(comp []int32, A, B []int32) bool {
	type tv struct {
		t profile.IDType
		v string
	}
	var buf [16]tv // most components hold few identifiers
	all := buf[:0]
	for _, side := range [2][]int32{A, B} {
		for _, l := range side {
			for _, id := range ix.ents[comp[l]].p.ids {
				all = append(all, tv{id.Type, id.Value})
			}
		}
	}
	if len(all) == 0 {
		return true
	}
	slices.SortFunc(all, func(x, y tv) int {
		if x.t != y.t {
			return strings.Compare(string(x.t), string(y.t))
		}
		return strings.Compare(x.v, y.v)
	})
	for s := 0; s < len(all); {
		e, distinct := s, 0
		for e < len(all) && all[e].t == all[s].t {
			if e == s || all[e].v != all[e-1].v {
				distinct++
			}
			e++
		}
		if lim := ix.cfg.Rules.Limit(all[s].t); lim > 0 && distinct > lim {
			return false
		}
		s = e
	}
	return true
}

func (ix *Index) decision(n int32, moves []Move) Decision {
	e := ix.ents[n]
	rep := ix.ents[e.cluster]
	d := Decision{RecordID: e.p.id, ClusterID: rep.p.id, Size: len(rep.members)}
	for _, l := range rep.links {
		if l.a == n || l.b == n {
			d.Links = append(d.Links, ix.link(l))
		}
	}
	d.Reviews = ix.reviewsOf(n, nil)
	sort.Slice(d.Reviews, func(i, j int) bool { return lessReview(d.Reviews[i], d.Reviews[j]) })
	for _, m := range moves {
		if m.RecordID != e.p.id {
			d.Moved = append(d.Moved, m)
		}
	}
	return d
}

func (ix *Index) link(l linkRef) Link {
	a, b := l.a, l.b
	if ix.id(b) < ix.id(a) {
		a, b = b, a
	}
	w := ix.weight(a, b)
	out := Link{A: ix.id(a), B: ix.id(b), Rule: l.class.String(), Weight: w, Probability: Probability(w)}
	if l.class == classIdentifier {
		out.Identifiers = ix.sharedLive(ix.ents[a].p, ix.ents[b].p)
	}
	return out
}

func (ix *Index) reviewsOf(n int32, out []Review) []Review {
	e := ix.ents[n]
	for _, ed := range e.adj {
		o := ix.ents[ed.to]
		if o.cluster == e.cluster {
			continue
		}
		_, linkable := ix.linkable(n, ed)
		if ed.w < ix.cfg.ReviewWeight && !linkable {
			continue
		}
		a, b := e.p.id, o.p.id
		if b < a {
			a, b = b, a
		}
		if ix.cannot[[2]string{a, b}] {
			continue
		}
		if ix.vetoed(n, ed.to) {
			continue // two entities: a relationship, not a candidate merge
		}
		r := Review{A: a, B: b, Weight: ed.w, Probability: Probability(ed.w)}
		if linkable || ed.w >= ix.cfg.MatchWeight {
			// A link the whole-cluster check refused: name the members
			// whose conflict stopped it, so a steward sees both sides.
			ca, cb, v := ix.clusterConflict(ix.ents[e.cluster].members, ix.ents[o.cluster].members)
			if v != vetoNone {
				r.ConflictA, r.ConflictB, r.Conflict = ix.id(ca), ix.id(cb), v.String()
				if ix.ents[ca].cluster != ix.ents[ix.byID[a]].cluster {
					r.ConflictA, r.ConflictB = r.ConflictB, r.ConflictA
				}
			} else if ed.w < ix.cfg.ReviewWeight {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

func lessReview(x, y Review) bool {
	if x.A != y.A {
		return x.A < y.A
	}
	return x.B < y.B
}

// Cluster is one resolved person: its ID (the smallest record ID in it),
// its record IDs in order and the links that joined them.
type Cluster struct {
	ID      string
	Records []string
	Links   []Link
}

// ClusterOf returns the cluster holding record id.
func (ix *Index) ClusterOf(id string) (Cluster, error) {
	n, ok := ix.byID[id]
	if !ok {
		return Cluster{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return ix.clusterAt(ix.ents[n].cluster), nil
}

// ClusterID returns the ID of the cluster record id is in (its
// representative record's ID), without copying the cluster's members;
// ok is false when id is not indexed.
func (ix *Index) ClusterID(id string) (string, bool) {
	n, ok := ix.byID[id]
	if !ok {
		return "", false
	}
	return ix.id(ix.ents[n].cluster), true
}

func (ix *Index) clusterAt(rep int32) Cluster {
	e := ix.ents[rep]
	c := Cluster{ID: e.p.id, Records: make([]string, len(e.members))}
	for i, m := range e.members {
		c.Records[i] = ix.id(m)
	}
	for _, l := range e.links {
		c.Links = append(c.Links, ix.link(l))
	}
	return c
}

// Clusters returns every cluster, sorted by ID, singletons included.
func (ix *Index) Clusters() []Cluster {
	var out []Cluster
	for _, n := range ix.sortedEntries() {
		if ix.ents[n].cluster == n {
			out = append(out, ix.clusterAt(n))
		}
	}
	return out
}

// Assignments returns record ID → cluster ID pairs, sorted by record ID.
func (ix *Index) Assignments() [][2]string {
	ns := ix.sortedEntries()
	out := make([][2]string, len(ns))
	for i, n := range ns {
		out[i] = [2]string{ix.id(n), ix.id(ix.ents[n].cluster)}
	}
	return out
}

func (ix *Index) sortedEntries() []int32 {
	ns := make([]int32, 0, len(ix.byID))
	for n, e := range ix.ents {
		if e != nil {
			ns = append(ns, int32(n))
		}
	}
	sort.Slice(ns, func(i, j int) bool { return ix.id(ns[i]) < ix.id(ns[j]) })
	return ns
}

// Accept records a steward's decision that records a and b are the same
// person and re-clusters them. It returns the records whose cluster
// changed. A later Reject of the same pair replaces it.
func (ix *Index) Accept(a, b string) ([]Move, error) { return ix.steward(a, b, true) }

// Reject records a steward's decision that a and b are different people:
// no merge will put them in one cluster.
func (ix *Index) Reject(a, b string) ([]Move, error) { return ix.steward(a, b, false) }

func (ix *Index) steward(a, b string, same bool) ([]Move, error) {
	na, nb, err := ix.pair(a, b)
	if err != nil {
		return nil, err
	}
	k := pairKey(a, b)
	delete(ix.must, k)
	delete(ix.cannot, k)
	if same {
		ix.must[k] = true
		ix.peers[a] = appendUnique(ix.peers[a], b)
		ix.peers[b] = appendUnique(ix.peers[b], a)
		if !ix.hasEdge(na, nb) {
			w := ix.pairWeight(na, nb)
			ix.ents[na].adj = append(ix.ents[na].adj, edge{nb, w})
			ix.ents[nb].adj = append(ix.ents[nb].adj, edge{na, w})
		}
	} else {
		ix.cannot[k] = true
	}
	return ix.recluster([]int32{na, nb}), nil
}

// pair returns the records of IDs a and b; an unknown one is ErrNotFound.
func (ix *Index) pair(a, b string) (na, nb int32, err error) {
	na, ok := ix.byID[a]
	if !ok {
		return 0, 0, fmt.Errorf("%w: %s", ErrNotFound, a)
	}
	nb, ok = ix.byID[b]
	if !ok {
		return 0, 0, fmt.Errorf("%w: %s", ErrNotFound, b)
	}
	return na, nb, nil
}

// Forget drops a steward's decision on the pair (a, b), as if it had
// never been made, and re-clusters them: the must-link or cannot-link
// goes, and the pair keeps only the links its records support. Erasure
// uses it (the hub forgets every decision naming an erased record). It
// returns the records whose cluster changed; unknown IDs are
// ErrNotFound.
func (ix *Index) Forget(a, b string) ([]Move, error) {
	na, nb, err := ix.pair(a, b)
	if err != nil {
		return nil, err
	}
	k := pairKey(a, b)
	delete(ix.must, k)
	delete(ix.cannot, k)
	ix.peers[a] = slices.DeleteFunc(ix.peers[a], func(s string) bool { return s == b })
	ix.peers[b] = slices.DeleteFunc(ix.peers[b], func(s string) bool { return s == a })
	if len(ix.peers[a]) == 0 {
		delete(ix.peers, a)
	}
	if len(ix.peers[b]) == 0 {
		delete(ix.peers, b)
	}
	if !ix.supported(na, nb) {
		ix.dropEdge(na, nb)
	}
	return ix.recluster([]int32{na, nb}), nil
}

// dropEdge removes the edge between a and b, if any.
func (ix *Index) dropEdge(a, b int32) {
	ix.ents[a].adj = slices.DeleteFunc(ix.ents[a].adj, func(e edge) bool { return e.to == b })
	ix.ents[b].adj = slices.DeleteFunc(ix.ents[b].adj, func(e edge) bool { return e.to == a })
}
