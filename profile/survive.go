package profile

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"ucv/crdt"
	"ucv/crdt/codec"
)

// Survivorship (MDM's golden record; docs/decisions/0045-survivorship.md).
//
// Profile.Traits keeps one last-writer-wins register per trait: the
// value written last. Profile.Candidates keeps, per trait, the values
// each (source, record) wrote — the latest of each, an LWW register
// under the key trait ‖ 0 ‖ source ‖ 0 ‖ record, where record is the ID
// of the profile the value was written to (an edge profile, an imported
// record: a hub fragment) — so that a policy (most frequent value,
// preferred source, longest, max, min) can choose among them. The map is
// bounded: per (trait, source) it keeps the MaxCandidates most recent
// records, which is still a join (the kept set is the top of a total
// order over the per-key maxima, as a capped timeline is). Survive
// applies the policies when a profile is rendered; the stored state
// stays policy-free, so changing a policy needs no rewrite of data.

// MaxCandidates is how many records' values a profile keeps per trait
// and source. It is part of the merge semantics: every replica must use
// the same value.
const MaxCandidates = 8

// Survivorship policies.
const (
	PolicySourcePriority = "source_priority"
	PolicyMostRecent     = "most_recent"
	PolicyMostFrequent   = "most_frequent"
	PolicyLongest        = "longest"
	PolicyMax            = "max"
	PolicyMin            = "min"
)

// Policies lists every survivorship policy.
var Policies = []string{PolicySourcePriority, PolicyMostRecent, PolicyMostFrequent, PolicyLongest, PolicyMax, PolicyMin}

// Policy chooses a trait's value among its candidates.
type Policy struct {
	// Name is one of Policies.
	Name string
	// Sources, for source_priority, are source names, preferred first;
	// sources not listed rank after every listed one.
	Sources []string
}

// Candidate is one value of a trait as one source wrote it to one
// record.
type Candidate struct {
	Source string         // "" when unknown (written before candidates were kept)
	Record string         // the profile ID written to; "" when unknown
	TS     crdt.Timestamp // when it was written (HLC)
	Val    []byte         // msgpack value
}

// Winner says which candidate a policy chose for a trait, and why.
type Winner struct {
	Trait  string
	Policy string
	Candidate
	// Count is how many candidates hold the winning value (out of
	// Candidates).
	Count, Candidates int
	// Reason is a sentence naming the source, record and rule, never
	// the value.
	Reason string
}

const candSep = "\x00"

func candidateKey(trait, source, record string) string {
	return trait + candSep + source + candSep + record
}

// splitCandidateKey returns the parts of a candidate key.
func splitCandidateKey(k string) (trait, source, record string, ok bool) {
	trait, rest, ok1 := strings.Cut(k, candSep)
	source, record, ok2 := strings.Cut(rest, candSep)
	return trait, source, record, ok1 && ok2
}

// AddCandidates returns the candidate registers for traits written by
// source to record — what Apply records beside every trait it writes, for
// writers that build a delta's Traits themselves (the hub's import).
func AddCandidates(traits map[string]crdt.Register, source, record string) crdt.LWWMap {
	return addCandidates(traits, source, record)
}

// addCandidates returns the candidate registers for traits written at ts
// by source to record.
func addCandidates(traits map[string]crdt.Register, source, record string) crdt.LWWMap {
	m := make(map[string]crdt.Register, len(traits))
	for k, r := range traits {
		m[candidateKey(k, source, record)] = r
	}
	return crdt.LWWMap{M: m}
}

// mergeCandidates joins o into p's candidates and caps them
// (capCandidates). The cap can bite only when the join added a key — a
// new record for some trait and source —: with the same keys no group
// grew, and since every path that changes candidates caps them, the cap
// would scan them all (over a third of an identify's Apply on a profile
// of 50 traits) to return them as they are.
func (p *Profile) mergeCandidates(o crdt.LWWMap) {
	n := len(p.Candidates.M)
	p.Candidates.Merge(o)
	if len(p.Candidates.M) > n {
		p.Candidates = capCandidates(p.Candidates, MaxCandidates)
	}
}

// capCandidates keeps at most max registers per (trait, source): those
// with the greatest (timestamp, key). It returns m itself when nothing
// is over, else a new map (m may be shared: crdt's persistent joins).
func capCandidates(m crdt.LWWMap, max int) crdt.LWWMap {
	if len(m.M) <= max {
		return m
	}
	groups := map[string]int{}
	over := false
	for k := range m.M {
		t, s, _, _ := splitCandidateKey(k)
		g := t + candSep + s
		groups[g]++
		over = over || groups[g] > max
	}
	if !over {
		return m
	}
	byGroup := map[string][]string{}
	for k := range m.M {
		t, s, _, _ := splitCandidateKey(k)
		if g := t + candSep + s; groups[g] > max {
			byGroup[g] = append(byGroup[g], k)
		}
	}
	out := crdt.LWWMap{M: make(map[string]crdt.Register, len(m.M))}
	for k, r := range m.M {
		out.M[k] = r
	}
	for _, keys := range byGroup {
		slices.SortFunc(keys, func(a, b string) int { // newest first
			if c := m.M[b].TS.Compare(m.M[a].TS); c != 0 {
				return c
			}
			return strings.Compare(b, a)
		})
		for _, k := range keys[max:] {
			delete(out.M, k)
		}
	}
	return out
}

// CandidatesOf returns trait's candidates, sorted by source and record.
// A trait written before candidates were kept (or whose live register
// no candidate holds) has its register as a candidate of unknown source
// and record.
func (p *Profile) CandidatesOf(trait string) []Candidate {
	return p.candidates(trait, p.candidatesByTrait())
}

// candidatesByTrait groups the candidates by trait in one pass.
func (p *Profile) candidatesByTrait() map[string][]Candidate {
	by := make(map[string][]Candidate, p.Traits.Len())
	if len(p.Candidates.M) > 2*p.Traits.Len() { // several candidates a trait
		for k := range p.Traits.M {
			by[k] = make([]Candidate, 0, 4)
		}
	}
	for k, r := range p.Candidates.M {
		if r.Val == nil {
			continue
		}
		t, s, rec, ok := splitCandidateKey(k)
		if !ok {
			continue
		}
		by[t] = append(by[t], Candidate{Source: s, Record: rec, TS: r.TS, Val: r.Val})
	}
	return by
}

// candidates completes by[trait] (candidatesByTrait) as CandidatesOf
// returns it.
func (p *Profile) candidates(trait string, by map[string][]Candidate) []Candidate {
	reg, live := p.Traits.M[trait]
	if !live || reg.Val == nil {
		return nil
	}
	out := by[trait]
	if !slices.ContainsFunc(out, func(c Candidate) bool { return c.TS == reg.TS && bytes.Equal(c.Val, reg.Val) }) {
		out = append(out, Candidate{TS: reg.TS, Val: reg.Val})
	}
	slices.SortFunc(out, func(a, b Candidate) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Record, b.Record))
	})
	return out
}

// newer orders candidates by recency: (timestamp, value bytes, source,
// record), so every replica breaks every tie the same way.
func newer(a, b Candidate) bool {
	if c := a.TS.Compare(b.TS); c != 0 {
		return c > 0
	}
	if c := bytes.Compare(a.Val, b.Val); c != 0 {
		return c > 0
	}
	return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Record, b.Record)) > 0
}

// Choose applies pol to cs (CandidatesOf) and returns the winner
// (without its Reason: Profile.Winners explains). Every policy breaks
// ties by recency. cs must not be empty.
func Choose(trait string, pol Policy, cs []Candidate) Winner {
	counts := map[string]int{}
	for _, c := range cs {
		counts[string(c.Val)]++
	}
	// better reports whether a should win over b under pol.
	var better func(a, b Candidate) bool
	switch pol.Name {
	case PolicySourcePriority:
		rank := func(c Candidate) int {
			if i := slices.Index(pol.Sources, c.Source); i >= 0 {
				return i
			}
			return len(pol.Sources)
		}
		better = func(a, b Candidate) bool {
			if ra, rb := rank(a), rank(b); ra != rb {
				return ra < rb
			}
			return newer(a, b)
		}
	case PolicyMostFrequent:
		better = func(a, b Candidate) bool {
			if ca, cb := counts[string(a.Val)], counts[string(b.Val)]; ca != cb {
				return ca > cb
			}
			return newer(a, b)
		}
	case PolicyLongest:
		lens := map[string]int{} // each distinct value decoded once
		length := func(b []byte) int {
			n, ok := lens[string(b)]
			if !ok {
				n = valueLength(b)
				lens[string(b)] = n
			}
			return n
		}
		better = func(a, b Candidate) bool {
			if la, lb := length(a.Val), length(b.Val); la != lb {
				return la > lb
			}
			return newer(a, b)
		}
	case PolicyMax, PolicyMin:
		sign := 1
		if pol.Name == PolicyMin {
			sign = -1
		}
		keys := map[string]vkey{}
		key := func(b []byte) vkey {
			k, ok := keys[string(b)]
			if !ok {
				k.kind, k.n, k.s = valueKey(b)
				keys[string(b)] = k
			}
			return k
		}
		better = func(a, b Candidate) bool {
			if c := compareKeys(key(a.Val), key(b.Val)); c != 0 {
				return c*sign > 0
			}
			return newer(a, b)
		}
	default: // most_recent: the LWW register's choice
		better = newer
	}
	best := cs[0]
	for _, c := range cs[1:] {
		if better(c, best) {
			best = c
		}
	}
	w := Winner{Trait: trait, Policy: pol.Name, Candidate: best, Count: counts[string(best.Val)], Candidates: len(cs)}
	if w.Policy == "" {
		w.Policy = PolicyMostRecent
	}
	return w
}

// explain sets w.Reason: w was chosen under pol.
func (w *Winner) explain(pol Policy) {
	best := w.Candidate
	var reason string
	src := best.Source
	if src == "" {
		src = "an unknown source"
	} else {
		src = "source " + src
	}
	rec := best.Record
	if rec == "" {
		rec = "an unknown record"
	} else {
		rec = "record " + rec
	}
	switch w.Policy {
	case PolicySourcePriority:
		if i := slices.Index(pol.Sources, best.Source); i >= 0 {
			reason = "its source is ranked " + ordinal(i+1) + " in the priority list (" + strings.Join(pol.Sources, " > ") + ")"
		} else {
			reason = "no listed source (" + strings.Join(pol.Sources, " > ") + ") has a value; the most recent value won"
		}
	case PolicyMostFrequent:
		reason = "its value is held by " + itoa(w.Count) + " of " + itoa(w.Candidates) + " candidates, more than any other (ties go to the most recent)"
	case PolicyLongest:
		reason = "its value is the longest (ties go to the most recent)"
	case PolicyMax:
		reason = "its value is the greatest (ties go to the most recent)"
	case PolicyMin:
		reason = "its value is the least (ties go to the most recent)"
	default:
		reason = "its value was written last"
	}
	w.Reason = "The value from " + src + ", " + rec + ", written at " + best.TS.Time().Format("2006-01-02T15:04:05.000Z07:00") + ", won under " + w.Policy + ": " + reason + "."
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return itoa(n) + "th"
}

func itoa(n int) string { return strconv.Itoa(n) }

// valueLength is a string value's length in characters, or the length
// of another value's JSON rendering.
func valueLength(b []byte) int {
	v, err := codec.UnmarshalValue(b)
	if err != nil {
		return -1
	}
	if s, ok := v.(string); ok {
		return utf8.RuneCountInString(strings.TrimSpace(s))
	}
	j, _, err := codec.AppendJSON(nil, b)
	if err != nil {
		return -1
	}
	return len(j)
}

// compareValues orders values for max and min: numbers by value above
// strings (by bytes: ISO dates order as times), above everything else
// (bools, null, lists, objects), which ties.
func compareKeys(a, b vkey) int {
	if a.kind != b.kind {
		return cmp.Compare(a.kind, b.kind)
	}
	switch a.kind {
	case 2:
		return cmp.Compare(a.n, b.n)
	case 1:
		return strings.Compare(a.s, b.s)
	}
	return 0
}

// vkey is a value decoded for ordering (valueKey).
type vkey struct {
	kind int
	n    float64
	s    string
}

func valueKey(b []byte) (kind int, n float64, s string) {
	v, err := codec.UnmarshalValue(b)
	if err != nil {
		return 0, 0, ""
	}
	switch x := Normalize(v).(type) {
	case string:
		return 1, 0, x
	case float64:
		return 2, x, ""
	case int64:
		return 2, float64(x), ""
	}
	return 0, 0, ""
}

// Survivor chooses the policy of each trait: the owner of the policies
// (the catalog) implements it. A nil Survivor means most_recent for all.
type Survivor interface {
	// PolicyFor returns trait's policy ("" means most_recent).
	PolicyFor(trait string) Policy
}

// Survive returns p with each live trait set to the value its policy
// chooses (and without candidates): p itself when every policy picks
// the value the LWW register holds (always so under most_recent) or p
// has no candidates,
// else a shallow copy sharing everything else with p, which must not
// then be changed in place.
func (p *Profile) Survive(s Survivor) *Profile {
	if s == nil || len(p.Candidates.M) == 0 {
		return p
	}
	var traits map[string]crdt.Register
	var by map[string][]Candidate
	for k, reg := range p.Traits.M {
		if reg.Val == nil {
			continue
		}
		pol := s.PolicyFor(k)
		if pol.Name == "" || pol.Name == PolicyMostRecent {
			continue
		}
		if by == nil {
			by = p.candidatesByTrait()
		}
		cs := by[k]
		if len(cs) == 0 || len(cs) == 1 && cs[0].TS == reg.TS && bytes.Equal(cs[0].Val, reg.Val) {
			continue // one value: nothing to choose
		}
		w := Choose(k, pol, p.candidates(k, by))
		if bytes.Equal(w.Val, reg.Val) {
			continue
		}
		if traits == nil {
			traits = maps.Clone(p.Traits.M)
		}
		traits[k] = crdt.Register{TS: reg.TS, Val: w.Val}
	}
	if traits == nil {
		return p
	}
	c := *p
	c.Candidates = crdt.LWWMap{}
	c.Traits = crdt.LWWMap{M: traits}
	return &c
}

// Winners explains, for each live trait, the value s chooses, sorted by
// trait.
func (p *Profile) Winners(s Survivor) []Winner {
	var out []Winner
	by := p.candidatesByTrait()
	for _, k := range p.Traits.Keys() {
		pol := Policy{Name: PolicyMostRecent}
		if s != nil {
			if q := s.PolicyFor(k); q.Name != "" {
				pol = q
			}
		}
		if cs := p.candidates(k, by); len(cs) > 0 {
			w := Choose(k, pol, cs)
			w.explain(pol)
			out = append(out, w)
		}
	}
	return out
}

// dropCandidates drops the candidates for which drop returns true.
func (p *Profile) dropCandidates(drop func(trait string, val []byte) bool) {
	p.Candidates.DropKeys(func(k string) bool {
		t, _, _, _ := splitCandidateKey(k)
		return drop(t, p.Candidates.M[k].Val)
	})
}
