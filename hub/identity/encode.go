package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	"ucv/crdt/codec"
	"ucv/profile"
)

// Model encoding, version 1: one msgpack array
//
//	["ucv-identity-model", 1, config, comparisons, prior, priorWeight, report]
//
// config is [Region, DateOrder, MatchWeight, ReviewWeight,
// ClusterMinProbability, VetoWeight, DeterministicVetoWeight, BlockCap,
// IdentifierBlockCap, GenericMinNames, TrainPairsPerRule, RandomPairs,
// EMIterations, Prior]; comparisons is one entry per comparison in this
// binary's order, [name, levels, m, u, w, tf], where m, u and w list the
// levels above "missing" and tf is the term-frequency table as
// [value, weight] pairs sorted by value (empty when the comparison has
// none); report is [Records, RandomPairs, Prior, rules] with rules as
// [rule, pairs, sampled, matchFraction, expectedMatches]. Every float is
// written as its IEEE-754 bits (an unsigned integer), so a decoded model
// scores every pair exactly as the encoded one did. Marshal is
// deterministic (tables sorted, compact integers): re-encoding a decoded
// model gives the bytes Marshal wrote. Later versions append; a binary
// refuses versions it does not know.
//
// Version 2 appends one element, the training report's noise
// (TrainReport.Noise, reliability.go):
//
//	["ucv-identity-model", 2, config, comparisons, prior, priorWeight, report, noise]
//
// noise is [[pairs, different] of the given name, of the birth date, of
// documents]. Marshal writes version 1 when the noise is empty (no
// anchored pairs: data without documents, the untrained model), so the
// models of data without documents keep their version-1 bytes and hash;
// a version-1 model decodes with empty noise, every veto in force.
//
// Version 3 (decision 0058) is written for every model whose tables keep
// only the values two or more training records share (Model.rareOn:
// every model Train fits since). It writes the noise, empty or not, and
// appends the weights of an exact match on a value a table does not hold:
//
//	["ucv-identity-model", 3, config, comparisons, prior, priorWeight, report, noise, rare]
//
// rare is one [has, weight] per comparison in this binary's order, then
// one for full names. A version-1 or -2 model keeps its old meaning: a
// value its table lacks weighs its level's weight.
//
// Comparisons are only ever appended to this binary's order (never
// removed, renamed or reordered), so a model lists a prefix of them: one
// written before a comparison existed (the 16 before "occupation")
// decodes with that comparison weightless at every level — the model
// keeps the meaning it was fitted and checked with — and re-encodes to
// the same bytes. Train always fits every comparison.
const (
	modelMagic   = "ucv-identity-model"
	modelVersion = 3
	// maxModelRegion bounds Config.Region in an encoding.
	maxModelRegion = 64
	// maxModelValue bounds one term-frequency value or rule name.
	maxModelValue = 1024
)

// minComps is the fewest comparisons a model may list: the 16 of the
// first encoding, before "occupation".
const minComps = cOccupation

// Marshal encodes the model (version 2 above, or 1 without noise). The identity rules are not
// encoded: Unmarshal gives the model profile.DefaultRules(), the rules
// the hub and `ucv resolve` use, so a model trained under other rules
// does not survive the trip. The result is the same for the same model
// on every platform.
//
// The term-frequency tables hold values of the training records (first
// and last names, cities, postcodes): the encoding is personal data and
// must be stored and moved as such.
func (m *Model) Marshal() ([]byte, error) {
	enc := codec.NewEncoder()
	f := func(x float64) error { return enc.EncodeUint(math.Float64bits(x)) }
	c := m.cfg
	noise := m.report.Noise
	version, elems := uint64(1), 7
	switch {
	case m.rareOn:
		version, elems = 3, 9
	case noise != (Noise{}):
		version, elems = 2, 8
	}
	err := codec.FirstErr(enc.EncodeArrayLen(elems), enc.EncodeString(modelMagic), enc.EncodeUint(version),
		enc.EncodeArrayLen(14), enc.EncodeString(c.Region), enc.EncodeUint(uint64(c.DateOrder)),
		f(c.MatchWeight), f(c.ReviewWeight), f(c.ClusterMinProbability), f(c.VetoWeight), f(c.DeterministicVetoWeight),
		enc.EncodeInt(int64(c.BlockCap)), enc.EncodeInt(int64(c.IdentifierBlockCap)), enc.EncodeInt(int64(c.GenericMinNames)),
		enc.EncodeInt(int64(c.TrainPairsPerRule)), enc.EncodeInt(int64(c.RandomPairs)), enc.EncodeInt(int64(c.EMIterations)),
		f(c.Prior), enc.EncodeArrayLen(int(m.known())))
	for cp := comp(0); cp < m.known() && err == nil; cp++ {
		L := len(specs[cp].levels)
		err = codec.FirstErr(enc.EncodeArrayLen(6), enc.EncodeString(specs[cp].name), enc.EncodeUint(uint64(L)))
		for _, tab := range []*[maxLevels]float64{&m.m[cp], &m.u[cp], &m.w[cp]} {
			if err == nil {
				err = enc.EncodeArrayLen(L - 1)
			}
			for l := 1; l < L && err == nil; l++ {
				err = f(tab[l])
			}
		}
		keys := make([]string, 0, len(m.tf[cp]))
		for k := range m.tf[cp] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if err == nil {
			err = enc.EncodeArrayLen(len(keys))
		}
		for _, k := range keys {
			if err != nil {
				break
			}
			err = codec.FirstErr(enc.EncodeArrayLen(2), enc.EncodeString(k), f(m.tf[cp][k]))
		}
	}
	r := m.report
	if err == nil {
		err = codec.FirstErr(f(m.prior), f(m.priorWeight), enc.EncodeArrayLen(4), enc.EncodeInt(int64(r.Records)),
			enc.EncodeInt(int64(r.RandomPairs)), f(r.Prior), enc.EncodeArrayLen(len(r.Rules)))
	}
	for _, rr := range r.Rules {
		if err != nil {
			break
		}
		err = codec.FirstErr(enc.EncodeArrayLen(5), enc.EncodeString(rr.Rule), enc.EncodeInt(int64(rr.Pairs)),
			enc.EncodeInt(int64(rr.Sampled)), f(rr.MatchFraction), f(rr.ExpectedMatches))
	}
	if err == nil && version >= 2 {
		err = enc.EncodeArrayLen(3)
		for _, fn := range [...]FieldNoise{noise.GivenName, noise.BirthDate, noise.Document} {
			if err == nil {
				err = codec.FirstErr(enc.EncodeArrayLen(2), enc.EncodeInt(int64(fn.Pairs)), enc.EncodeInt(int64(fn.Different)))
			}
		}
	}
	if err == nil && version == 3 {
		err = enc.EncodeArrayLen(int(m.known()) + 1)
		rare := func(has bool, x float64) error {
			if !has {
				x = 0
			}
			return codec.FirstErr(enc.EncodeArrayLen(2), enc.EncodeBool(has), f(x))
		}
		for c := comp(0); c < m.known() && err == nil; c++ {
			err = rare(m.tf[c] != nil, m.rare[c])
		}
		if err == nil {
			err = rare(m.fullRareOn, m.fullRare)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("identity: encode model: %w", err)
	}
	return slices.Clone(enc.Bytes()), nil
}

// Unmarshal decodes a model that Marshal wrote. It checks everything a
// scorer relies on: the version, that the comparisons and their levels
// are this binary's, that every probability lies in (0, 1] and every
// weight is finite, that term-frequency values are sorted and unique,
// and that the configuration is valid. Errors wrap ErrBadModel, name
// the part at fault and never quote a term-frequency value. The result
// does not alias b.
func Unmarshal(b []byte) (*Model, error) {
	d := codec.NewDecoder(b)
	m, err := decodeModel(d)
	if err == nil && d.Remaining() != 0 {
		err = fmt.Errorf("%d trailing bytes", d.Remaining())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	return m, nil
}

func decodeModel(d *codec.Decoder) (*Model, error) {
	elems, err := d.ArrayLen(1)
	if err != nil || elems < 7 || elems > 9 {
		return nil, fmt.Errorf("not a model: array of %d (%v)", elems, err)
	}
	magic, err := d.String()
	if err != nil || magic != modelMagic {
		return nil, fmt.Errorf("not a model (magic)")
	}
	v, err := d.Uint()
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	if v < 1 || v > modelVersion {
		return nil, fmt.Errorf("version %d, this binary reads 1 to %d", v, modelVersion)
	}
	if want := 6 + int(v); elems != want {
		return nil, fmt.Errorf("version %d with %d elements, want %d", v, elems, want)
	}
	m := &Model{}
	if m.cfg, err = decodeModelConfig(d); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	k, err := d.ArrayLen(8)
	if err != nil {
		return nil, fmt.Errorf("comparisons: %w", err)
	}
	if k < int(minComps) || k > int(numComp) {
		return nil, fmt.Errorf("comparisons: %d, this binary reads %d to %d", k, minComps, numComp)
	}
	m.comps = comp(k)
	for c := comp(0); c < m.comps; c++ {
		if err := decodeComparison(d, m, c); err != nil {
			return nil, fmt.Errorf("comparison %s: %w", specs[c].name, err)
		}
	}
	for c := m.comps; c < numComp; c++ {
		m.unknown(c)
	}
	if m.prior, err = decodeFloat(d); err != nil {
		return nil, fmt.Errorf("prior: %w", err)
	}
	if !(m.prior > 0 && m.prior < 1) {
		return nil, fmt.Errorf("prior %v outside (0, 1)", m.prior)
	}
	if m.priorWeight, err = decodeFloat(d); err != nil {
		return nil, fmt.Errorf("prior weight: %w", err)
	}
	if m.report, err = decodeReport(d); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if v >= 2 {
		if m.report.Noise, err = decodeNoise(d); err != nil {
			return nil, fmt.Errorf("noise: %w", err)
		}
		if v == 2 && m.report.Noise == (Noise{}) {
			// Marshal writes empty noise as version 1: accepting it here
			// would decode two encodings to one model.
			return nil, fmt.Errorf("empty noise in a version-2 model")
		}
	}
	if v == 3 {
		if err := decodeRare(d, m); err != nil {
			return nil, fmt.Errorf("rare values: %w", err)
		}
	}
	return m, nil
}

// decodeRare reads version 3's rare element into m (rareOn). A
// comparison has a rare weight exactly when it has a table, which may
// be empty.
func decodeRare(d *codec.Decoder, m *Model) error {
	if err := d.ExpectArray(int(m.known()) + 1); err != nil {
		return err
	}
	m.rareOn = true
	for c := comp(0); c <= m.known(); c++ {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		has, err := d.Bool()
		if err != nil {
			return err
		}
		x, err := decodeFloat(d)
		if err != nil {
			return err
		}
		if !has {
			if x != 0 {
				return fmt.Errorf("weight %v without a value", x)
			}
			if c < m.known() && m.tf[c] != nil {
				return fmt.Errorf("comparison %s: a table without a rare weight", specs[c].name)
			}
			continue
		}
		if c == m.known() {
			if m.tf[cFirst] == nil {
				return fmt.Errorf("full names without a given-name table")
			}
			m.fullRare, m.fullRareOn = x, true
			continue
		}
		if !specs[c].tf {
			return fmt.Errorf("comparison %s: a rare weight without term frequencies", specs[c].name)
		}
		if m.tf[c] == nil {
			m.tf[c] = map[string]float64{}
		}
		m.rare[c] = x
	}
	return nil
}

// decodeNoise reads version 2's noise element.
func decodeNoise(d *codec.Decoder) (Noise, error) {
	var n Noise
	if err := d.ExpectArray(3); err != nil {
		return n, err
	}
	for i, fn := range [...]*FieldNoise{&n.GivenName, &n.BirthDate, &n.Document} {
		if err := d.ExpectArray(2); err != nil {
			return n, err
		}
		var errs [2]error
		fn.Pairs, errs[0] = decodeInt(d)
		fn.Different, errs[1] = decodeInt(d)
		if err := codec.FirstErr(errs[:]...); err != nil {
			return n, fmt.Errorf("field %d: %w", i, err)
		}
		if fn.Different > fn.Pairs {
			return n, fmt.Errorf("field %d: %d of %d pairs", i, fn.Different, fn.Pairs)
		}
	}
	return n, nil
}

// decodeFloat reads a float written as its bits and refuses NaN and the
// infinities.
func decodeFloat(d *codec.Decoder) (float64, error) {
	u, err := d.Uint()
	if err != nil {
		return 0, err
	}
	x := math.Float64frombits(u)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("not a finite number")
	}
	return x, nil
}

func decodeInt(d *codec.Decoder) (int, error) {
	v, err := d.Int()
	if err != nil {
		return 0, err
	}
	if v < 0 || v > math.MaxInt32 {
		return 0, fmt.Errorf("count %d out of range", v)
	}
	return int(v), nil
}

func decodeModelConfig(d *codec.Decoder) (Config, error) {
	var c Config
	if err := d.ExpectArray(14); err != nil {
		return c, err
	}
	var errs [14]error
	var order uint64
	c.Region, errs[0] = d.String()
	order, errs[1] = d.Uint()
	c.MatchWeight, errs[2] = decodeFloat(d)
	c.ReviewWeight, errs[3] = decodeFloat(d)
	c.ClusterMinProbability, errs[4] = decodeFloat(d)
	c.VetoWeight, errs[5] = decodeFloat(d)
	c.DeterministicVetoWeight, errs[6] = decodeFloat(d)
	c.BlockCap, errs[7] = decodeInt(d)
	c.IdentifierBlockCap, errs[8] = decodeInt(d)
	c.GenericMinNames, errs[9] = decodeInt(d)
	c.TrainPairsPerRule, errs[10] = decodeInt(d)
	c.RandomPairs, errs[11] = decodeInt(d)
	c.EMIterations, errs[12] = decodeInt(d)
	c.Prior, errs[13] = decodeFloat(d)
	if err := codec.FirstErr(errs[:]...); err != nil {
		return c, err
	}
	if len(c.Region) > maxModelRegion {
		return c, fmt.Errorf("region of %d bytes", len(c.Region))
	}
	if order > uint64(DateDMY) {
		return c, fmt.Errorf("date order %d", order)
	}
	c.DateOrder = DateOrder(order)
	if err := c.Validate(); err != nil {
		return c, err
	}
	c.Rules = profile.DefaultRules()
	return c, nil
}

func decodeComparison(d *codec.Decoder, m *Model, c comp) error {
	if err := d.ExpectArray(6); err != nil {
		return err
	}
	name, err := d.String()
	if err != nil {
		return err
	}
	if name != specs[c].name {
		return fmt.Errorf("found %q in its place; this binary's comparisons differ", truncate(name))
	}
	L := len(specs[c].levels)
	n, err := d.Uint()
	if err != nil {
		return err
	}
	if n != uint64(L) {
		return fmt.Errorf("%d levels, this binary has %d", n, L)
	}
	for i, tab := range []*[maxLevels]float64{&m.m[c], &m.u[c], &m.w[c]} {
		if err := d.ExpectArray(L - 1); err != nil {
			return err
		}
		for l := 1; l < L; l++ {
			x, err := decodeFloat(d)
			if err != nil {
				return fmt.Errorf("level %d: %w", l, err)
			}
			if i < 2 && !(x > 0 && x <= 1) {
				return fmt.Errorf("level %d: probability %v outside (0, 1]", l, x)
			}
			tab[l] = x
		}
	}
	k, err := d.ArrayLen(3)
	if err != nil {
		return err
	}
	if k > 0 && !specs[c].tf {
		return fmt.Errorf("term frequencies on a comparison without them")
	}
	if k == 0 {
		return nil
	}
	tab := make(map[string]float64, k)
	prev := ""
	for i := 0; i < k; i++ {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		v, err := d.String()
		if err != nil {
			return err
		}
		if len(v) > maxModelValue {
			return fmt.Errorf("term frequency %d: value of %d bytes", i, len(v))
		}
		if i > 0 && v <= prev {
			return fmt.Errorf("term frequency %d: values not sorted and unique", i)
		}
		prev = v
		if tab[v], err = decodeFloat(d); err != nil {
			return fmt.Errorf("term frequency %d: %w", i, err)
		}
	}
	m.tf[c] = tab
	return nil
}

func decodeReport(d *codec.Decoder) (TrainReport, error) {
	var r TrainReport
	if err := d.ExpectArray(4); err != nil {
		return r, err
	}
	var errs [3]error
	r.Records, errs[0] = decodeInt(d)
	r.RandomPairs, errs[1] = decodeInt(d)
	r.Prior, errs[2] = decodeFloat(d)
	if err := codec.FirstErr(errs[:]...); err != nil {
		return r, err
	}
	n, err := d.ArrayLen(6)
	if err != nil {
		return r, err
	}
	for i := 0; i < n; i++ {
		if err := d.ExpectArray(5); err != nil {
			return r, err
		}
		var rr RuleReport
		var errs [5]error
		rr.Rule, errs[0] = d.String()
		rr.Pairs, errs[1] = decodeInt(d)
		rr.Sampled, errs[2] = decodeInt(d)
		rr.MatchFraction, errs[3] = decodeFloat(d)
		rr.ExpectedMatches, errs[4] = decodeFloat(d)
		if err := codec.FirstErr(errs[:]...); err != nil {
			return r, fmt.Errorf("rule %d: %w", i, err)
		}
		if len(rr.Rule) > maxModelValue {
			return r, fmt.Errorf("rule %d: name of %d bytes", i, len(rr.Rule))
		}
		r.Rules = append(r.Rules, rr)
	}
	return r, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Hash returns the hex SHA-256 of the model's encoding: a short name for
// the exact model, equal on every node that holds it.
func (m *Model) Hash() (string, error) {
	b, err := m.Marshal()
	if err != nil {
		return "", err
	}
	return HashOf(b), nil
}

// HashOf returns the hex SHA-256 of an encoded model (see Hash).
func HashOf(encoded []byte) string {
	h := sha256.Sum256(encoded)
	return hex.EncodeToString(h[:])
}

// LevelParams are the trained parameters of one comparison level.
type LevelParams struct {
	Comparison, Level string
	M, U, Weight      float64
}

// Levels returns m, u and the weight log2(m/u) of every comparison level
// above "missing", in a fixed order. It holds no record values.
func (m *Model) Levels() []LevelParams {
	var out []LevelParams
	for c := comp(0); c < numComp; c++ {
		for l := 1; l < len(specs[c].levels); l++ {
			out = append(out, LevelParams{Comparison: specs[c].name, Level: specs[c].levels[l],
				M: m.m[c][l], U: m.u[c][l], Weight: m.w[c][l]})
		}
	}
	return out
}

// TermFrequencies returns, per comparison that has a term-frequency
// table, the number of values in it (the values themselves are record
// data and are not returned).
func (m *Model) TermFrequencies() map[string]int {
	out := map[string]int{}
	for c := comp(0); c < numComp; c++ {
		if len(m.tf[c]) > 0 {
			out[specs[c].name] = len(m.tf[c])
		}
	}
	return out
}
