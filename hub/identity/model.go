package identity

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"

	"ucv/parallel"
	"ucv/profile"
)

// Config controls training and linking. The zero value is not usable;
// start from DefaultConfig.
type Config struct {
	// Rules are the identity rules shared with the edge: per-type limits,
	// priorities and blocked values. Nil means profile.DefaultRules().
	Rules *profile.Rules
	// Region reads phone numbers written without a country code.
	Region string
	// DateOrder reads ambiguous slashed birth dates.
	DateOrder DateOrder

	// MatchWeight is the match weight (log2 of the posterior odds, prior
	// included) at or above which a pair links automatically.
	MatchWeight float64
	// ReviewWeight is the lower end of the review band: pairs in
	// [ReviewWeight, MatchWeight) that end up in different clusters are
	// review candidates (Index.ReviewCandidates), from which
	// Index.Reviews builds the steward's queue (ReviewMinProbability).
	ReviewWeight float64
	// ClusterMinProbability is the mean match probability over all pairs
	// across two clusters that a probabilistic merge of them needs. It
	// stops weak links from chaining unrelated records together.
	ClusterMinProbability float64
	// VetoWeight: a probabilistic merge is refused when any pair across
	// the two clusters that is not itself a match has disagreeing fields
	// whose weights sum below it (a strong contradiction, such as a
	// different birth date and national id), however well the rest agrees.
	VetoWeight float64
	// DeterministicVetoWeight: a shared identifier does not link two
	// records whose other fields, taken alone (prior excluded), score
	// below it — the husband and wife who share a phone.
	DeterministicVetoWeight float64

	// BlockCap is the largest block compared; a blocking key shared by
	// more records is too common to be useful and produces no pairs.
	BlockCap int
	// IdentifierBlockCap is the same for identifier values (e-mail,
	// phone, ids). A value held by more records is generic.
	IdentifierBlockCap int
	// GenericMinNames: an identifier value held by records with at least
	// this many clearly different names is generic (a test e-mail, a
	// call-centre phone) and never links anything.
	GenericMinNames int

	// TrainPairsPerRule caps the pairs EM sees per blocking rule.
	TrainPairsPerRule int
	// RandomPairs is the number of random pairs that estimate u.
	RandomPairs int
	// EMIterations is the number of EM rounds per blocking rule.
	EMIterations int
	// Prior, when > 0, is the probability that two random records match;
	// 0 estimates it from the EM results.
	Prior float64
}

// DefaultConfig returns the settings documented in
// docs/decisions/0005-identity-resolution.md.
func DefaultConfig() Config {
	return Config{
		Region:                  "US",
		MatchWeight:             2,
		ReviewWeight:            -2,
		ClusterMinProbability:   0.3,
		VetoWeight:              -10,
		DeterministicVetoWeight: -8,
		BlockCap:                50,
		IdentifierBlockCap:      1000,
		GenericMinNames:         3,
		TrainPairsPerRule:       200000,
		RandomPairs:             300000,
		EMIterations:            25,
	}
}

// Validate reports the first invalid setting; the error matches
// ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(f, why string) error { return fmt.Errorf("%w: %s %s", ErrInvalidConfig, f, why) }
	switch {
	case c.ReviewWeight > c.MatchWeight:
		return bad("ReviewWeight", "must not exceed MatchWeight")
	case c.ClusterMinProbability < 0 || c.ClusterMinProbability > 1:
		return bad("ClusterMinProbability", "must be in [0, 1]")
	case c.BlockCap < 2:
		return bad("BlockCap", "must be at least 2")
	case c.IdentifierBlockCap < 2:
		return bad("IdentifierBlockCap", "must be at least 2")
	case c.GenericMinNames < 2:
		return bad("GenericMinNames", "must be at least 2")
	case c.RandomPairs < 1000:
		return bad("RandomPairs", "must be at least 1000")
	case c.EMIterations < 1:
		return bad("EMIterations", "must be at least 1")
	case c.Prior < 0 || c.Prior >= 1:
		return bad("Prior", "must be in [0, 1)")
	}
	return nil
}

// Model holds trained match parameters: per comparison level the m and u
// probabilities, term frequencies for exact matches on names, cities and
// postcodes, and the prior. It is immutable and safe for concurrent use.
// Nodes that must agree byte for byte share one trained Model rather than
// each training their own.
type Model struct {
	cfg Config
	// comps is how many of this binary's comparisons, from the first,
	// the model was fitted with: numComp for every model Train fits,
	// fewer for one decoded from before a comparison existed, whose
	// later comparisons are weightless (encode.go).
	comps comp
	m, u  [numComp][maxLevels]float64
	w     [numComp][maxLevels]float64
	tf    [numComp]map[string]float64 // value → weight of an exact match on it
	// rareOn: the tables hold only values that two or more training
	// records share, and an exact match on a value a table does not hold
	// weighs rare[c] (the weight of a value seen once; full names:
	// fullRare) — what refitting with the value would give it. Models
	// encoded before version 3 kept every value and weigh an unknown one
	// at w[c][1] (decision 0058).
	rareOn      bool
	rare        [numComp]float64
	fullRare    float64
	fullRareOn  bool
	prior       float64
	priorWeight float64
	report      TrainReport
}

// TrainReport describes what training saw, for benchmarks and operators.
type TrainReport struct {
	Records     int
	RandomPairs int
	Rules       []RuleReport
	Prior       float64
	// Noise is how often records that a document, or an equal name and
	// birth date, vouch for disagree on the fields vetoes trust; a field
	// noisy enough has its veto waived (reliability.go).
	Noise Noise
}

// RuleReport is the EM outcome of one blocking rule.
type RuleReport struct {
	Rule            string
	Pairs           int     // candidate pairs the rule produces (capped blocks)
	Sampled         int     // pairs EM used
	MatchFraction   float64 // EM's estimate of the share of matches among them
	ExpectedMatches float64
	// Iterations is the number of EM rounds run (Config.EMIterations;
	// 0 when the rule produced no pairs) and Change the largest absolute
	// change of the match fraction or of any m probability in the last
	// of them: how far EM was from a fixed point when it stopped. Not
	// part of a model's encoding (a decoded model reports zeros).
	Iterations int
	Change     float64
}

// Report returns what training saw.
func (m *Model) Report() TrainReport { return m.report }

// Config returns the configuration the model was trained with.
func (m *Model) Config() Config { return m.cfg }

// Train estimates a Model from unlabelled records, as Splink does: u from
// random pairs, m by EM over the pairs of each blocking rule with that
// rule's own comparisons left out, m per comparison averaged over the
// rules that could estimate it. It reads records only; the order of recs
// does not matter.
func Train(recs []Record, cfg Config) (*Model, error) {
	return TrainClustered(recs, cfg, nil)
}

// TrainClustered is Train with the records' current clusters known:
// clusters[i] is recs[i]'s cluster ID (a resolution of recs — the hub's
// own, or a first pass with a model trained without clusters; "" for a
// record in none). The term-frequency tables then count a value once per
// cluster that holds it, not once per record, so a person's many records
// do not make that person's own name look common (decision 0074). EM and
// the u probabilities read records as Train does. clusters nil is Train;
// otherwise it must be as long as recs.
func TrainClustered(recs []Record, cfg Config, clusters []string) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clusters != nil && len(clusters) != len(recs) {
		return nil, fmt.Errorf("identity: train: %d clusters for %d records", len(clusters), len(recs))
	}
	if cfg.Rules == nil {
		cfg.Rules = profile.DefaultRules()
	}
	ps, err := prepareAll(recs, cfg)
	if err != nil {
		return nil, err
	}
	var cluster []string
	if clusters != nil {
		// ps is recs sorted by ID (IDs are unique): the same permutation
		// orders the clusters.
		perm := make([]int32, len(recs))
		for i := range perm {
			perm[i] = int32(i)
		}
		slices.SortFunc(perm, func(a, b int32) int { return strings.Compare(recs[a].ID, recs[b].ID) })
		cluster = make([]string, len(ps))
		for k, i := range perm {
			cluster[k] = clusters[i]
		}
	}
	return trainPrepared(ps, cfg, cluster), nil
}

// TrainResolved trains in two passes, as `ucv resolve` and `ucv bench
// identity` do: Train, a batch resolution of recs with that model, then
// TrainClustered with the resolution's clusters. The result does not
// depend on the order of recs.
func TrainResolved(recs []Record, cfg Config) (*Model, error) {
	m, err := Train(recs, cfg)
	if err != nil {
		return nil, err
	}
	ix := NewIndex(m)
	if err := ix.Load(recs, nil); err != nil {
		return nil, err
	}
	clusters := make([]string, len(recs))
	for i, r := range recs {
		clusters[i], _ = ix.ClusterID(r.ID)
	}
	return TrainClustered(recs, cfg, clusters)
}

// prepareAll normalizes recs and returns them sorted by ID.
func prepareAll(recs []Record, cfg Config) ([]*prep, error) {
	if len(recs) == 0 {
		return nil, ErrNoRecords
	}
	ps := make([]*prep, len(recs))
	for i, r := range recs {
		if r.ID == "" {
			return nil, fmt.Errorf("record %d: %w", i, ErrEmptyID)
		}
		if err := checkKinds(r); err != nil {
			return nil, err
		}
		ps[i] = prepare(r, cfg.Rules, cfg.Region, cfg.DateOrder)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
	for i := 1; i < len(ps); i++ {
		if ps[i].id == ps[i-1].id {
			return nil, fmt.Errorf("%w: %s", ErrDuplicateID, ps[i].id)
		}
	}
	return ps, nil
}

func checkKinds(r Record) error {
	for _, f := range r.Fields {
		if _, err := ParseKind(string(f.Kind)); err != nil {
			return fmt.Errorf("record %s: %w", r.ID, err)
		}
	}
	return nil
}

// splitmix64 is a tiny deterministic generator for sampling random pairs.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

const (
	probFloor      = 1e-6
	uPseudoPairs   = 500
	mPseudoMatches = 20
)

// priorU returns the prior u per level of c; the last level takes the
// remainder so the levels sum to 1.
func priorU(c comp) [maxLevels]float64 {
	var u [maxLevels]float64
	L := len(specs[c].levels)
	rest := 1.0
	for l := 1; l < L-1; l++ {
		u[l] = specs[c].u0[l]
		rest -= u[l]
	}
	u[L-1] = rest
	return u
}

// trainPrepared trains on ps (sorted by ID). cluster, when not nil, is
// each record's cluster (TrainClustered), by index into ps.
func trainPrepared(ps []*prep, cfg Config, cluster []string) *Model {
	md := &Model{cfg: cfg, comps: numComp}
	n := len(ps)
	md.report.Records = n

	// u from random pairs.
	var cnt [numComp][maxLevels]float64
	rng := splitmix64(0x5eed)
	pairs := 0
	if n >= 2 {
		for k := 0; k < cfg.RandomPairs; k++ {
			i := int(rng.next() % uint64(n))
			j := int(rng.next() % uint64(n))
			if i == j {
				continue
			}
			v := compare(ps[i], ps[j])
			for c := comp(0); c < numComp; c++ {
				cnt[c][v.lv[c]]++
			}
			pairs++
		}
	}
	md.report.RandomPairs = pairs
	md.report.Noise = measureNoise(ps)
	for c := comp(0); c < numComp; c++ {
		L := len(specs[c].levels)
		u0 := priorU(c)
		nonNull := 0.0
		for l := 1; l < L; l++ {
			nonNull += cnt[c][l]
		}
		for l := 1; l < L; l++ {
			// Blend with the prior as uPseudoPairs pseudo-observations:
			// negligible with real data, decisive with a dozen records.
			md.u[c][l] = math.Max((cnt[c][l]+uPseudoPairs*u0[l])/(nonNull+uPseudoPairs), probFloor)
			md.m[c][l] = specs[c].m[l]
		}
	}

	// m by EM per blocking rule.
	// m per comparison: the rules' estimates weighted by their support
	// (posterior mass of matches with data), plus the prior m as
	// mPseudoMatches pseudo-matches.
	var sum [numComp][maxLevels]float64
	var weight [numComp]float64
	maxExpected := 0.0
	var blocked []uint64 // every rule's pairs, for blockedPrior
	for ri := range blockRules {
		vs, pairs := rulePairs(ps, ri, cfg)
		total := len(pairs)
		blocked = append(blocked, pairs...)
		rr := RuleReport{Rule: blockRules[ri].name, Pairs: total, Sampled: len(vs)}
		if len(vs) == 0 {
			md.report.Rules = append(md.report.Rules, rr)
			continue
		}
		excluded := [numComp]bool{}
		for _, c := range blockRules[ri].excludes {
			excluded[c] = true
		}
		m, lambda, support, change := em(vs, md.u, md.m, excluded, cfg.EMIterations)
		rr.MatchFraction, rr.Iterations, rr.Change = lambda, cfg.EMIterations, change
		rr.ExpectedMatches = lambda * float64(total)
		if rr.ExpectedMatches > maxExpected {
			maxExpected = rr.ExpectedMatches
		}
		md.report.Rules = append(md.report.Rules, rr)
		for c := comp(0); c < numComp; c++ {
			if excluded[c] || support[c] == 0 {
				continue
			}
			weight[c] += support[c]
			for l := range m[c] {
				sum[c][l] += m[c][l] * support[c]
			}
		}
	}
	for c := comp(0); c < numComp; c++ {
		for l := 1; l < len(specs[c].levels); l++ {
			md.m[c][l] = math.Max((sum[c][l]+mPseudoMatches*specs[c].m[l])/(weight[c]+mPseudoMatches), probFloor)
		}
		capDisagreement(&md.m[c], c)
		if c == cDOB {
			capLevel(&md.m[c], c, dobNearMiss, maxDOBNearMiss)
		}
	}
	for c := comp(0); c < numComp; c++ {
		for l := 1; l < len(specs[c].levels); l++ {
			md.w[c][l] = math.Log2(md.m[c][l] / md.u[c][l])
		}
	}

	// Term frequencies for exact matches.
	for c := comp(0); c < numComp; c++ {
		if !specs[c].tf {
			continue
		}
		freq := map[string]int{}
		total := 0
		seen := map[clusterValue]bool{}
		for i, p := range ps {
			for _, v := range tfFields(c, p) {
				if v != "" && firstInCluster(seen, cluster, i, v) {
					freq[v]++
					total++
				}
			}
		}
		if total == 0 {
			continue
		}
		// A value one record holds is looked up only against a record
		// the model was not trained on, and weighs what any such value
		// does: the table keeps the values two or more records share
		// (a fraction of them, and no one's own e-mail or phone).
		md.rareOn = true
		md.rare[c] = tfWeight(md.m[c][1], 1/float64(total), md.u[c][1])
		tab := make(map[string]float64)
		for v, k := range freq { // order-free: each entry is computed alone
			if k >= 2 {
				tab[v] = tfWeight(md.m[c][1], float64(k)/float64(total), md.u[c][1])
			}
		}
		if c == cFirst {
			// Full names share the given-name table under fullNameKey
			// (names never hold the separator), so the encoding stays
			// version 1 and older models simply lack them.
			full := map[string]int{}
			n := 0
			seen := map[clusterValue]bool{}
			for i, p := range ps {
				if p.first == "" || p.last == "" {
					continue
				}
				if k := fullNameKey(p.first, p.last); firstInCluster(seen, cluster, i, k) {
					full[k]++
					n++
				}
			}
			mf, uf := md.m[cFirst][1]*md.m[cLast][1], md.u[cFirst][1]*md.u[cLast][1]
			if n > 0 {
				md.fullRare, md.fullRareOn = tfWeight(mf, 1/float64(n), uf), true
			}
			for v, k := range full {
				// Less the record itself: a name one person wears on
				// two records is not yet a common name (its weight is
				// fullRare's, so the table leaves it out too).
				if k >= 3 {
					tab[v] = tfWeight(mf, float64(k-1)/float64(n), uf)
				}
			}
		}
		md.tf[c] = tab
	}

	// Prior: the best rule's expected matches over all pairs, refined by
	// blockedPrior.
	all := float64(n) * float64(n-1) / 2
	switch {
	case cfg.Prior > 0:
		md.prior = cfg.Prior
	case all > 0 && maxExpected > 0:
		md.prior = math.Min(math.Max(maxExpected/all, 1e-12), 0.5)
	default:
		md.prior = 1e-4
	}
	md.priorWeight = math.Log2(md.prior / (1 - md.prior))
	if cfg.Prior <= 0 && all > 0 && maxExpected > 0 {
		// The best rule's count is where EM starts; the matches the
		// model itself expects among all blocked pairs are the estimate.
		if p, ok := blockedPrior(md, ps, blocked, cfg, all); ok {
			md.prior = p
			md.priorWeight = math.Log2(md.prior / (1 - md.prior))
		}
	}
	md.report.Prior = md.prior
	return md
}

// maxDisagreement bounds how much more often than its prior m a true
// match may disagree completely on one comparison ("different", the last
// level). EM over blocked pairs learns whatever latent class separates
// them best; where the blocks are mostly households (same surname and
// address), that class is "same household", whose members disagree on
// given names and birth dates all the time, and EM then reads a
// different given name as no evidence at all. A person's own records
// disagree on an identifying comparison only by corruption, so the
// trained m of "different" is capped at this multiple of the prior
// (docs/decisions/0042-entity-centric-matching.md).
const maxDisagreement = 3

// capDisagreement caps m's last level at maxDisagreement times its prior
// and scales the other levels up so that they still sum to what they did.
func capDisagreement(m *[maxLevels]float64, c comp) {
	capLevel(m, c, len(specs[c].levels)-1, maxDisagreement)
}

// maxDOBNearMiss bounds the trained m of the birth date's "2 edits or
// within a year" level at its prior, for the reason maxDisagreement
// exists: a person's own records give two dates that far apart only by
// a rare double typo, but EM over household blocks reads siblings and
// spouses born within a year of each other as the latent "match" class
// and learns the level as evidence *for* a match (+2.8 bits on the
// customers set, against −0.7 in the prior) — decision 0075.
const maxDOBNearMiss = 1

// dobNearMiss is the birth date's "2 edits or within a year" level.
const dobNearMiss = 4

// capLevel caps m's level l at mult times its prior and scales the
// other agreeing levels (1 to the one before "different", l excluded)
// up so that all still sum to what they did.
func capLevel(m *[maxLevels]float64, c comp, l int, mult float64) {
	L := len(specs[c].levels)
	limit := mult * specs[c].m[l]
	if m[l] <= limit {
		return
	}
	rest := 0.0
	for k := 1; k < L-1; k++ {
		if k != l {
			rest += m[k]
		}
	}
	if rest <= 0 {
		return
	}
	scale := (rest + m[l] - limit) / rest
	for k := 1; k < L-1; k++ {
		if k != l {
			m[k] *= scale
		}
	}
	m[l] = limit
}

// tfWeight is the weight of an exact match on a value of frequency f: u
// becomes f itself (the chance that a random record shares this very
// value), bounded so one rare value cannot outweigh everything else.
func tfWeight(m, f, u float64) float64 {
	uf := math.Max(f, u/20)
	uf = math.Min(uf, 0.5)
	return math.Log2(m / uf)
}

// firstInCluster reports whether value v of record i is the first of its
// cluster seen (and records it in seen): term frequencies count a value
// once per cluster. Without clusters every record counts.
func firstInCluster(seen map[clusterValue]bool, cluster []string, i int, v string) bool {
	if cluster == nil || cluster[i] == "" {
		return true
	}
	k := clusterValue{cluster[i], v}
	if seen[k] {
		return false
	}
	seen[k] = true
	return true
}

// clusterValue is a value of one cluster, counted once (firstInCluster).
type clusterValue struct{ cluster, v string }

// tfFields returns the values of comparison c a record holds, for the
// term-frequency tables.
func tfFields(c comp, p *prep) []string {
	switch c {
	case cFirst:
		return []string{p.first}
	case cLast:
		return []string{p.last}
	case cCity:
		return []string{p.city}
	case cPostcode:
		return []string{p.postcode}
	case cEmail:
		return p.emails
	case cPhone:
		return p.phones
	case cAddress:
		return []string{p.addr}
	case cOccupation:
		return []string{p.occupation}
	}
	return nil
}

// rulePairs returns the comparison vectors of the pairs rule ri blocks
// together (blocks larger than BlockCap skipped), sampled down to
// TrainPairsPerRule, and all the pairs (blockedPairs' form) before
// sampling.
func rulePairs(ps []*prep, ri int, cfg Config) ([]vector, []uint64) {
	pairs := blockedPairs(ps, ri, cfg)
	total := len(pairs)
	step := 1
	if cfg.TrainPairsPerRule > 0 && total > cfg.TrainPairsPerRule {
		step = (total + cfg.TrainPairsPerRule - 1) / cfg.TrainPairsPerRule
	}
	vs := make([]vector, 0, total/step+1)
	for k := 0; k < total; k += step {
		i, j := int(pairs[k]>>32), int(pairs[k]&0xffffffff)
		vs = append(vs, compare(ps[i], ps[j]))
	}
	return vs, pairs
}

// blockedPairs returns the pairs rule ri blocks together (blocks larger
// than BlockCap skipped), each as i<<32|j with i < j indexes into ps,
// sorted and without duplicates.
func blockedPairs(ps []*prep, ri int, cfg Config) []uint64 {
	type kv struct {
		k blockKey
		i int32
	}
	var kvs []kv
	for i, p := range ps {
		for _, k := range ruleKeys(p, ri) {
			kvs = append(kvs, kv{k, int32(i)})
		}
	}
	sort.Slice(kvs, func(a, b int) bool {
		if kvs[a].k != kvs[b].k {
			return kvs[a].k < kvs[b].k
		}
		return kvs[a].i < kvs[b].i
	})
	capN := cfg.BlockCap
	if blockRules[ri].identifier {
		capN = cfg.IdentifierBlockCap
	}
	var pairs []uint64
	for s := 0; s < len(kvs); {
		e := s
		for e < len(kvs) && kvs[e].k == kvs[s].k {
			e++
		}
		if e-s <= capN {
			for a := s; a < e; a++ {
				for b := a + 1; b < e; b++ {
					if kvs[a].i != kvs[b].i {
						pairs = append(pairs, uint64(kvs[a].i)<<32|uint64(kvs[b].i))
					}
				}
			}
		}
		s = e
	}
	sort.Slice(pairs, func(a, b int) bool { return pairs[a] < pairs[b] })
	return dedupeU64(pairs)
}

func dedupeU64(s []uint64) []uint64 {
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

// em runs expectation maximisation with u fixed and returns m, the match
// fraction, per comparison the posterior mass of non-missing levels
// (how much evidence backs its m) and the largest absolute change of the
// match fraction or an m in the last round.
func em(vs []vector, u, m0 [numComp][maxLevels]float64, excluded [numComp]bool, iters int) (m [numComp][maxLevels]float64, lambda float64, support [numComp]float64, change float64) {
	// Aggregate identical vectors: EM only needs their counts.
	sort.Slice(vs, func(a, b int) bool { return lessVec(&vs[a], &vs[b]) })
	type uv struct {
		v vector
		n float64
	}
	var us []uv
	for i := range vs {
		if len(us) > 0 && us[len(us)-1].v.lv == vs[i].lv {
			us[len(us)-1].n++
			continue
		}
		us = append(us, uv{vs[i], 1})
	}
	m = m0
	lambda = 0.1
	total := float64(len(vs))
	for it := 0; it < iters; it++ {
		var acc [numComp][maxLevels]float64
		var nonNull [numComp]float64
		sumPost := 0.0
		for _, x := range us {
			lr := math.Log(lambda / (1 - lambda))
			for c := comp(0); c < numComp; c++ {
				l := x.v.lv[c]
				if excluded[c] || l == 0 {
					continue
				}
				lr += math.Log(math.Max(m[c][l], probFloor) / u[c][l])
			}
			post := 1 / (1 + math.Exp(-lr))
			w := post * x.n
			sumPost += w
			for c := comp(0); c < numComp; c++ {
				l := x.v.lv[c]
				if excluded[c] || l == 0 {
					continue
				}
				acc[c][l] += w
				nonNull[c] += w
			}
		}
		next := math.Min(math.Max(sumPost/total, 1e-9), 1-1e-9)
		change = math.Abs(next - lambda)
		lambda = next
		for c := comp(0); c < numComp; c++ {
			if excluded[c] || nonNull[c] == 0 {
				continue
			}
			for l := 1; l < len(specs[c].levels); l++ {
				nm := acc[c][l] / nonNull[c]
				change = math.Max(change, math.Abs(nm-m[c][l]))
				m[c][l] = nm
			}
		}
		support = nonNull
	}
	return m, lambda, support, change
}

func lessVec(a, b *vector) bool {
	for c := comp(0); c < numComp; c++ {
		if a.lv[c] != b.lv[c] {
			return a.lv[c] < b.lv[c]
		}
	}
	return false
}

// score returns the comparison vector and match weight of a pair. Callers
// pass the pair in record-ID order so that scores are symmetric.
func (m *Model) score(a, b *prep) (vector, float64) {
	v := m.compare(a, b)
	return v, m.weightOf(a, &v)
}

// compare is compare with the vetoes m waives not applied.
func (m *Model) compare(a, b *prep) vector { return compareWaiving(a, b, m.waived()) }

// compareInOrder is compare with the two records in ID order, the order
// every stored weight and vector of a pair is computed in.
func (m *Model) compareInOrder(a, b *prep) vector {
	if b.id < a.id {
		a, b = b, a
	}
	return m.compare(a, b)
}

// vetoOf is vetoOf with the vetoes m waives not applied.
func (m *Model) vetoOf(a, b *prep) veto { return vetoWith(a, b, nil, dobUnknown, m.waived()) }

// familyName reports whether v, found in a given-name field, is more
// often a family name in the records m was fitted on — a name written
// family-first ("Sun Xiaoming" read as given name Sun) or in swapped
// columns. It compares the value's share among family names with its
// share among given names, from the term-frequency tables (values two
// or more records share); an untrained model has none and says no.
func (m *Model) familyName(v string) bool { return m.moreOftenAs(cLast, cFirst, v) }

// givenName reports whether v, found in a family-name field, is more
// often a given name in the records m was fitted on (the mirror of
// familyName).
func (m *Model) givenName(v string) bool { return m.moreOftenAs(cFirst, cLast, v) }

// moreOftenAs reports whether v is held in comparison c's table and is
// a larger share of c's values than of other's (absent from other's
// table: a share too small to keep).
func (m *Model) moreOftenAs(c, other comp, v string) bool {
	wc, ok := m.tf[c][v]
	if !ok || v == "" {
		return false
	}
	wo, ok := m.tf[other][v]
	if !ok {
		return true
	}
	return m.m[c][1]/math.Exp2(wc) > m.m[other][1]/math.Exp2(wo)
}

// waived returns the vetoes m does not apply: those whose field its
// training data showed to be noisy (TrainReport.Noise, reliability.go).
func (m *Model) waived() vetoSet { return m.report.Noise.waived() }

// weightOf sums the level weights and the prior. A vetoed pair (two
// entities that conflict, entity.go) scores at most VetoedWeight, below
// any review band: it is never linked probabilistically nor offered for
// review.
func (m *Model) weightOf(a *prep, v *vector) float64 {
	w := m.priorWeight + m.evidence(a, v, false)
	if !v.personal() {
		// Only places agree: the records share an address, which a
		// household does; that is a relationship (/related), not a
		// person, and not worth a steward's time either.
		w = math.Min(w, m.cfg.ReviewWeight-1)
	}
	if v.veto != vetoNone {
		w = math.Min(w, m.vetoedWeight())
	}
	return w
}

// evidence sums the comparisons' weights, without the prior or vetoes,
// correcting for the comparisons that are not independent; without
// contact leaves e-mail and phone out (what a shared identifier's link
// must survive, canMerge).
func (m *Model) evidence(a *prep, v *vector, withoutContact bool) float64 {
	w := 0.0
	var street, area float64
	for c := comp(0); c < numComp; c++ {
		if withoutContact && (c == cEmail || c == cPhone) {
			continue
		}
		lw := m.levelWeight(c, a, v)
		switch {
		case lw <= 0 || !isLocation(c):
			w += lw
		case c == cAddress || c == cStreetNo:
			street += lw
		default:
			area = math.Max(area, lw)
		}
	}
	// Location comparisons are nested, not independent: the same street
	// and number almost imply the same postcode, city and state, and a
	// household shares all of them. Their agreements count once, the
	// most specific (street and number, else the best of postcode, city,
	// state); their disagreements all count.
	w += math.Max(street, area)
	// Given name and surname are not independent either (both follow
	// the family's culture), so an exact full name weighs at most what
	// the full name's own frequency says.
	if v.lv[cFirst] == 1 && v.lv[cLast] == 1 && m.tf[cFirst] != nil {
		first, last := tfValue(cFirst, a, v), tfValue(cLast, a, v)
		fw, ok := m.fullNameWeight(first, last)
		if _, crosswise := otherNamePart(cFirst, v); crosswise && ok {
			// Crosswise, the name's frequency is its commoner reading's.
			if rw, ok := m.fullNameWeight(last, first); ok {
				fw = math.Min(fw, rw)
			}
		}
		if ok {
			both := m.levelWeight(cFirst, a, v) + m.levelWeight(cLast, a, v)
			w -= both - math.Min(both, fw)
		}
	}
	// An e-mail local part that spells the agreed name repeats the names.
	// (Every name it spells must agree: "ann.lee" on Ann Lee and on Ann
	// Smith, née Lee, still links the two.)
	if !withoutContact && v.nameLocal != 0 &&
		(v.nameLocal&spellsLast == 0 || v.lv[cLast] >= 1 && v.lv[cLast] <= 3) &&
		(v.nameLocal&spellsFirst == 0 || v.lv[cFirst] >= 1 && v.lv[cFirst] <= 4) {
		w -= math.Max(m.levelWeight(cEmail, a, v), 0)
	}
	return w
}

// fullNameKey is the term-frequency key of a full name in the given-name
// table: given name, U+001F, surname.
func fullNameKey(first, last string) string { return first + "\x1f" + last }

// isLocation reports whether c compares a part of the address.
func isLocation(c comp) bool {
	switch c {
	case cAddress, cStreetNo, cCity, cState, cPostcode:
		return true
	}
	return false
}

// vetoedWeight is the weight a vetoed pair scores at most.
func (m *Model) vetoedWeight() float64 {
	return math.Min(m.cfg.ReviewWeight, m.cfg.VetoWeight) - 10
}

// levelWeight is the Bayes-factor weight comparison c contributes.
func (m *Model) levelWeight(c comp, a *prep, v *vector) float64 {
	l := v.lv[c]
	if l == 0 {
		return 0
	}
	if l == 1 && m.tf[c] != nil {
		s := tfValue(c, a, v)
		if tw, ok := m.tfWeightOf(c, s); ok {
			if o, crosswise := otherNamePart(c, v); crosswise {
				// The value sits in the given-name field on one side and
				// the family-name field on the other, and which side is
				// right is unknown: it weighs what it does where it is
				// commoner ("Reed", rare as a given name, is a common
				// surname; decision 0076).
				if ow, ok := m.tfWeightOf(o, s); ok {
					tw = math.Min(tw, ow)
				}
			}
			return tw
		}
	}
	return m.w[c][l]
}

// otherNamePart returns, for a name comparison c of a crosswise reading
// of two records that both hold both name parts (v.crossed), the other
// name comparison and true; otherwise false. (A lone name compared
// across fields keeps its table: decision 0076.)
func otherNamePart(c comp, v *vector) (comp, bool) {
	if !v.crossed {
		return c, false
	}
	switch c {
	case cFirst:
		return cLast, true
	case cLast:
		return cFirst, true
	}
	return c, false
}

// tfWeightOf is the weight of an exact match of comparison c on value
// s: its table's, else rare[c] (rareOn), else none. Caller checks that
// c has a table.
func (m *Model) tfWeightOf(c comp, s string) (float64, bool) {
	if tw, ok := m.tf[c][s]; ok {
		return tw, true
	}
	return m.rare[c], m.rareOn
}

// fullNameWeight is the weight of an exact match on the full name first
// last: the given-name table's, else fullRare (rareOn), else none.
func (m *Model) fullNameWeight(first, last string) (float64, bool) {
	if fw, ok := m.tf[cFirst][fullNameKey(first, last)]; ok {
		return fw, true
	}
	return m.fullRare, m.rareOn && m.fullRareOn
}

// Probability converts a match weight to a match probability.
func Probability(weight float64) float64 { return 1 / (1 + math.Exp2(-weight)) }

// Untrained returns the model trained on no data under cfg: the
// documented prior m and u of every comparison level, no term
// frequencies, the default prior. It is a pure function of cfg and this
// binary, so every node that calls it holds the same model; the hub
// scores with it until an operator installs a trained one.
func Untrained(cfg Config) (*Model, error) {
	return Train([]Record{{ID: "untrained"}}, cfg)
}

// blockedPrior estimates the share of matches among all pairs as the
// fixed point of p = Σ P(match | pair; p) / all over the distinct pairs
// the blocking rules produce, scored by the trained model md (started
// from md's prior): the matches the model itself expects to find,
// instead of one rule's EM match fraction. The rule estimate errs both
// ways: where blocks are households (customer data) EM's λ counts
// household members as matches and overstates the prior about twice;
// where one person has many records reaching the others through
// different rules (historical_50k) the best rule sees a fraction of
// them and understates it. Vetoed pairs and pairs where nothing
// personal agrees count as no match, as the engine scores them. keys
// are the rules' pairs (blockedPairs' form, duplicates allowed; sorted
// in place). ok is false when no blocked pair can be a match.
func blockedPrior(md *Model, ps []*prep, keys []uint64, cfg Config, all float64) (float64, bool) {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	// Every step-th pair, each standing for step pairs: the estimate
	// needs a sum, not every term.
	step := 1
	if cfg.TrainPairsPerRule > 0 && len(keys) > cfg.TrainPairsPerRule {
		step = (len(keys) + cfg.TrainPairsPerRule - 1) / cfg.TrainPairsPerRule
	}
	ev := make([]float64, (len(keys)+step-1)/step)
	parallel.For(len(ev), runtime.GOMAXPROCS(0), func(i int) {
		k := keys[i*step]
		a, b := ps[int(k>>32)], ps[int(k&0xffffffff)] // a.id < b.id: ps is sorted by ID
		v := md.compare(a, b)
		if v.veto != vetoNone || !v.personal() {
			ev[i] = math.Inf(-1)
			return
		}
		ev[i] = md.evidence(a, &v, false)
	})
	ev = slices.DeleteFunc(ev, func(x float64) bool { return math.IsInf(x, -1) })
	if len(ev) == 0 {
		return 0, false
	}
	p := md.prior
	for range blockedPriorRounds {
		lw := math.Log2(p / (1 - p))
		e := 0.0
		for _, x := range ev {
			e += 1 / (1 + math.Exp2(-(x + lw)))
		}
		next := math.Min(math.Max(e*float64(step)/all, 1e-12), 0.5)
		done := math.Abs(next-p) <= blockedPriorTolerance*p
		p = next
		if done {
			break
		}
	}
	return p, true
}

// blockedPriorTolerance is the relative change of the prior at which
// blockedPrior's iteration stops (a millionth of a bit of weight).
const blockedPriorTolerance = 1e-6

// blockedPriorRounds bounds blockedPrior's fixed-point iteration (it
// converges in a few dozen rounds: each moves p by the expected matches'
// change, which shrinks geometrically).
const blockedPriorRounds = 200

// known returns how many comparisons, from the first, the model was
// fitted with (comps).
func (m *Model) known() comp { return m.comps }

// unknown makes comparison c, which the model predates, weightless: m
// and u both the prior u, so every level weighs 0 and neither scores,
// the review band nor explanations see anything from it.
func (m *Model) unknown(c comp) {
	u := priorU(c)
	for l := 1; l < len(specs[c].levels); l++ {
		m.m[c][l], m.u[c][l], m.w[c][l] = u[l], u[l], 0
	}
}
