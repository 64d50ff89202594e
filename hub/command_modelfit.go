package hub

import (
	"fmt"
	"math"
	"time"

	"ucv/crdt/codec"
	"ucv/hub/identity"
)

// CmdModelFit records one self-training fit of the identity model
// (ModelFitEntry) and, when the fit passed its held-back check, installs
// the model it fitted at its own index, as CmdModel does
// (docs/decisions/0047-hub-self-training.md). Only the leader's trainer
// proposes it. 48 leaves room below for the commands other branches
// add.
const CmdModelFit CmdType = 48

// Decisions of a ModelFit.
const (
	// FitInstalled: the candidate was no worse than the model in use and
	// was installed at the fit's index.
	FitInstalled = "installed"
	// FitRejected: the candidate was kept out; Reason says why.
	FitRejected = "rejected"
)

// MaxModelFits is how many fits the state machine keeps: the newest.
const MaxModelFits = 20

// ModelFit is the record of one self-training fit: what it saw, how EM
// went, how the candidate and the model in use scored on the held-back
// records, and what was decided. It holds no personal data.
type ModelFit struct {
	// Index is the Raft index of the fit's record (CmdModelFit); Installed
	// equals it when the candidate was installed, else 0.
	Index     uint64 `json:"index"`
	Installed uint64 `json:"installed_index,omitempty"`
	// At is the leader's clock when the fit began (millisecond
	// precision); Seconds how long reading, training and checking took.
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"`
	// Trigger is why it ran: "schedule" or "growth".
	Trigger string `json:"trigger"`
	// Fragments is the number of fragments' records read; TrainRecords
	// of them trained the candidate and HeldBackRecords checked it (the
	// split is a hash of the fragment ID).
	Fragments       int `json:"fragments"`
	TrainRecords    int `json:"train_records"`
	HeldBackRecords int `json:"held_back_records"`
	// Prior is the candidate's prior: the probability that two random
	// records match.
	Prior float64 `json:"prior"`
	// Rules is EM's outcome per blocking rule.
	Rules []FitRule `json:"rules"`
	// InUseIndex is the Raft index at which the model in use during the
	// check was installed (0: the untrained default). An installing fit
	// that finds another model in use when it applies is rejected.
	InUseIndex uint64 `json:"in_use_index"`
	// InUse and Candidate are the two models' held-back scores.
	InUse     FitScore `json:"in_use"`
	Candidate FitScore `json:"candidate"`
	// CandidateHash is the hex SHA-256 of the candidate's encoding.
	CandidateHash string `json:"candidate_hash"`
	// LabelledPairs is the number of steward decisions checked.
	LabelledPairs int `json:"labelled_pairs"`
	// Decision is FitInstalled or FitRejected; Reason explains it.
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

// FitRule is EM's outcome on one blocking rule's pairs.
type FitRule struct {
	Rule string `json:"rule"`
	// Pairs is the rule's candidate pairs, Sampled those EM used.
	Pairs   int `json:"pairs"`
	Sampled int `json:"sampled"`
	// MatchFraction is EM's λ: the share of matches among the pairs.
	MatchFraction float64 `json:"match_fraction"`
	// Iterations is the number of EM rounds; Change the largest change
	// of λ or an m in the last; Converged is Change ≤ ConvergedChange.
	Iterations int     `json:"iterations"`
	Change     float64 `json:"change"`
	Converged  bool    `json:"converged"`
}

// ConvergedChange is the largest last-round change of a FitRule that
// counts as converged.
const ConvergedChange = 1e-4

// FitScore is a model's held-back score.
type FitScore struct {
	identity.HeldOut
	// Misclassified counts the steward-decided pairs whose decision the
	// model would contradict on its own: a pair decided the same person
	// scoring below the model's match weight, or one decided different
	// people at or above it.
	Misclassified int `json:"misclassified"`
}

// ModelFitEntry is the body of a CmdModelFit entry: the fit, and for an
// installing fit (Decision FitInstalled) the model's encoding.
type ModelFitEntry struct {
	Fit   ModelFit
	Model []byte
}

// SelfTrainActor is the actor recorded with a model the hub installed
// itself.
const SelfTrainActor = "hub:self-training"

// MarshalModelFit encodes a CmdModelFit entry. The fit's Index and
// Installed are set by the state machine and not encoded.
func MarshalModelFit(e *ModelFitEntry) ([]byte, error) {
	f := &e.Fit
	switch {
	case f.Decision != FitInstalled && f.Decision != FitRejected:
		return nil, fmt.Errorf("%w: fit decision %q", ErrInvalid, f.Decision)
	case f.Decision == FitInstalled && len(e.Model) == 0:
		return nil, fmt.Errorf("%w: installing fit without a model", ErrInvalid)
	case f.Decision == FitRejected && len(e.Model) > 0:
		return nil, fmt.Errorf("%w: rejected fit with a model", ErrInvalid)
	case len(e.Model) > MaxModelBytes:
		return nil, fmt.Errorf("%w: model of %d bytes, limit %d", ErrInvalid, len(e.Model), MaxModelBytes)
	case len(f.Rules) > 64:
		return nil, fmt.Errorf("%w: %d rules", ErrInvalid, len(f.Rules))
	case f.At.UnixMilli() < 0:
		return nil, fmt.Errorf("%w: fit before 1970", ErrInvalid)
	}
	for _, s := range []string{f.Trigger, f.CandidateHash, f.Reason} {
		if len(s) > MaxNameBytes {
			return nil, fmt.Errorf("%w: field of %d bytes", ErrInvalid, len(s))
		}
	}
	for _, r := range f.Rules {
		if len(r.Rule) > MaxNameBytes {
			return nil, fmt.Errorf("%w: rule name of %d bytes", ErrInvalid, len(r.Rule))
		}
	}
	if err := checkFitFloats(f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return frame(CmdModelFit, func(enc *codec.Encoder) error {
		if err := first(enc.EncodeArrayLen(2), encodeFit(enc, f, false)); err != nil {
			return err
		}
		return enc.EncodeBytes(e.Model)
	})
}

// UnmarshalModelFit decodes a CmdModelFit entry and, for an installing
// fit, the model it carries. Errors wrap ErrMalformed (and
// identity.ErrBadModel for a model this binary cannot read). Neither
// result aliases b.
func UnmarshalModelFit(b []byte) (*ModelFitEntry, *identity.Model, error) {
	d, err := bodyOf(b, CmdModelFit)
	if err != nil {
		return nil, nil, err
	}
	e := &ModelFitEntry{}
	err = func() error {
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		f, err := decodeFit(d, false)
		if err != nil {
			return err
		}
		e.Fit = *f
		if e.Model, err = d.Bytes(); err != nil {
			return err
		}
		switch {
		case len(e.Model) > MaxModelBytes:
			return fmt.Errorf("%w: model of %d bytes", ErrMalformed, len(e.Model))
		case (f.Decision == FitInstalled) != (len(e.Model) > 0):
			return fmt.Errorf("%w: fit decision %q with a model of %d bytes", ErrMalformed, f.Decision, len(e.Model))
		}
		return nil
	}()
	if err := finish(d, err); err != nil {
		return nil, nil, err
	}
	if len(e.Model) == 0 {
		e.Model = nil
		return e, nil, nil
	}
	m, err := identity.Unmarshal(e.Model)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return e, m, nil
}

// fitFields is the length of a fit's encoding without (snapshot: with)
// its indexes.
const fitFields = 17

// encodeFit writes f as one array; withIndex adds Index and Installed
// at the end (the snapshot's record; a command's fit has no index yet).
func encodeFit(enc *codec.Encoder, f *ModelFit, withIndex bool) error {
	n := fitFields
	if withIndex {
		n += 2
	}
	fl := enc.EncodeFloat64
	err := first(enc.EncodeArrayLen(n), enc.EncodeUint(uint64(f.At.UnixMilli())), fl(f.Seconds),
		enc.EncodeString(f.Trigger), enc.EncodeInt(int64(f.Fragments)), enc.EncodeInt(int64(f.TrainRecords)),
		enc.EncodeInt(int64(f.HeldBackRecords)), fl(f.Prior), enc.EncodeArrayLen(len(f.Rules)))
	for _, r := range f.Rules {
		if err != nil {
			return err
		}
		err = first(enc.EncodeArrayLen(7), enc.EncodeString(r.Rule), enc.EncodeInt(int64(r.Pairs)),
			enc.EncodeInt(int64(r.Sampled)), fl(r.MatchFraction), enc.EncodeInt(int64(r.Iterations)),
			fl(r.Change), enc.EncodeBool(r.Converged))
	}
	score := func(s *FitScore) error {
		return first(enc.EncodeArrayLen(4), enc.EncodeInt(int64(s.Pairs)), fl(s.LogLikelihood),
			fl(s.MatchFraction), enc.EncodeInt(int64(s.Misclassified)))
	}
	err = first(err, enc.EncodeUint(f.InUseIndex), score(&f.InUse), score(&f.Candidate),
		enc.EncodeString(f.CandidateHash), enc.EncodeInt(int64(f.LabelledPairs)), enc.EncodeString(f.Decision),
		enc.EncodeString(f.Reason))
	if err == nil && withIndex {
		err = first(enc.EncodeUint(f.Index), enc.EncodeUint(f.Installed))
	}
	return err
}

// decodeFit reads what encodeFit wrote.
func decodeFit(d *codec.Decoder, withIndex bool) (*ModelFit, error) {
	n := fitFields
	if withIndex {
		n += 2
	}
	if err := d.ExpectArray(n); err != nil {
		return nil, err
	}
	f := &ModelFit{}
	count := func() (int, error) {
		v, err := d.Int()
		if err == nil && (v < 0 || v > math.MaxInt32) {
			err = fmt.Errorf("%w: count %d", ErrMalformed, v)
		}
		return int(v), err
	}
	at, err := d.Uint()
	if err == nil && at > math.MaxInt64 {
		err = fmt.Errorf("%w: fit at %d ms", ErrMalformed, at)
	}
	var errs [8]error
	f.Seconds, errs[0] = d.DecodeFloat64()
	f.Trigger, errs[1] = decodeName(d)
	f.Fragments, errs[2] = count()
	f.TrainRecords, errs[3] = count()
	f.HeldBackRecords, errs[4] = count()
	f.Prior, errs[5] = d.DecodeFloat64()
	var rules int
	rules, errs[6] = d.ArrayLen(8)
	if err := first(append([]error{err}, errs[:7]...)...); err != nil {
		return nil, err
	}
	f.At = time.UnixMilli(int64(at)).UTC()
	if rules > 64 {
		return nil, fmt.Errorf("%w: %d rules", ErrMalformed, rules)
	}
	for range rules {
		if err := d.ExpectArray(7); err != nil {
			return nil, err
		}
		var r FitRule
		var re [7]error
		r.Rule, re[0] = decodeName(d)
		r.Pairs, re[1] = count()
		r.Sampled, re[2] = count()
		r.MatchFraction, re[3] = d.DecodeFloat64()
		r.Iterations, re[4] = count()
		r.Change, re[5] = d.DecodeFloat64()
		r.Converged, re[6] = d.Bool()
		if err := first(re[:]...); err != nil {
			return nil, err
		}
		f.Rules = append(f.Rules, r)
	}
	score := func(s *FitScore) error {
		if err := d.ExpectArray(4); err != nil {
			return err
		}
		var se [4]error
		s.Pairs, se[0] = count()
		s.LogLikelihood, se[1] = d.DecodeFloat64()
		s.MatchFraction, se[2] = d.DecodeFloat64()
		s.Misclassified, se[3] = count()
		return first(se[:]...)
	}
	var fe [7]error
	f.InUseIndex, fe[0] = d.Uint()
	fe[1] = score(&f.InUse)
	fe[2] = score(&f.Candidate)
	f.CandidateHash, fe[3] = decodeName(d)
	f.LabelledPairs, fe[4] = count()
	f.Decision, fe[5] = decodeName(d)
	f.Reason, fe[6] = decodeName(d)
	if err := first(fe[:]...); err != nil {
		return nil, err
	}
	if f.Decision != FitInstalled && f.Decision != FitRejected {
		return nil, fmt.Errorf("%w: fit decision %q", ErrMalformed, f.Decision)
	}
	if err := checkFitFloats(f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if withIndex {
		var e1, e2 error
		f.Index, e1 = d.Uint()
		f.Installed, e2 = d.Uint()
		if err := first(e1, e2); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// checkFitFloats refuses a fit with a NaN or infinite number: the
// history is served as JSON, which has neither.
func checkFitFloats(f *ModelFit) error {
	xs := []float64{f.Seconds, f.Prior, f.InUse.LogLikelihood, f.InUse.MatchFraction, f.Candidate.LogLikelihood, f.Candidate.MatchFraction}
	for _, r := range f.Rules {
		xs = append(xs, r.MatchFraction, r.Change)
	}
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("fit with a number %v", x)
		}
	}
	return nil
}
