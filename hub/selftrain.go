package hub

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"ucv/hub/identity"
)

// Self-training of the identity model
// (docs/decisions/0047-hub-self-training.md). The leader fits a model by
// EM on 80 % of its fragments' identity records (a hash of the fragment
// ID picks them), checks it against the model in use on the other 20 %
// and on the stewards' decisions, and proposes the fit as a CmdModelFit:
// with the model when it is no worse, so every node installs it at one
// log index (the CmdModel path), without it otherwise. Reading the
// records holds the FSM's read lock for a copy of the slice headers
// only; training and checking run on the loop's goroutine, never in
// Apply.

// Self-training defaults, for the zero values of Config's fields.
const (
	// DefaultIdentityTrainMinRecords is the smallest population the
	// leader trains on; below it the model in use stays.
	DefaultIdentityTrainMinRecords = 1000
	// DefaultIdentityTrainGrowth and DefaultIdentityTrainGrowthMin: the
	// leader refits before the interval is up once the fragments have
	// grown by this fraction and this many since the last fit.
	DefaultIdentityTrainGrowth    = 0.25
	DefaultIdentityTrainGrowthMin = 1000
	// HeldBackPairs caps the held-back candidate pairs scored.
	HeldBackPairs = 200000
)

// Triggers of a fit (ModelFit.Trigger).
const (
	TriggerSchedule = "schedule"
	TriggerGrowth   = "growth"
	TriggerManual   = "manual"
)

// heldBack reports whether the fragment id is in the held-back 20 %: a
// function of the ID alone, so a record keeps its side as data grows.
func heldBack(id string) bool {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()%5 == 0
}

// LabelledPair is a steward's decision on two fragments' records: Same
// when they were ruled one person (merge, accepted review), else apart.
type LabelledPair struct {
	A, B identity.Record
	Same bool
}

// IdentityFitInput is what FitIdentity fits and checks.
type IdentityFitInput struct {
	// Records are the fragments' identity records (IDs unique).
	Records []identity.Record
	// Clusters, when set, holds each record's current cluster ID
	// (Clusters[i] is Records[i]'s): the candidate's term frequencies
	// then count a value once per cluster (identity.TrainClustered).
	Clusters []string
	// Labelled are the stewards' decisions.
	Labelled []LabelledPair
	// InUse is the model in use and InUseIndex the Raft index that
	// installed it (0: the untrained default). The candidate is trained
	// with InUse's Config, so thresholds an operator chose carry over.
	InUse      *identity.Model
	InUseIndex uint64
	// Candidate, when set, replaces the trained candidate before the
	// check (Config.IdentityCandidate: tests force a bad one).
	Candidate func(*identity.Model) *identity.Model
	// Tune, when set, adjusts the training configuration
	// (Config.IdentityTrainTune: tests train on fewer random pairs).
	Tune func(*identity.Config)
	// MinLabelled is the number of labelled pairs a candidate must be
	// checked against to be installed (Config.IdentityTrainMinLabelled);
	// 0: the likelihood check alone may install.
	MinLabelled int
}

// FitIdentity trains a candidate on the records not held back, scores it
// and the model in use on the held-back records' candidate pairs
// (identity.Model.HeldOut) and on the labelled pairs, and decides: the
// candidate is to be installed only when its held-back log-likelihood is
// at least the in-use model's, it misclassifies no more labelled pairs
// and it differs from the model in use. It returns the candidate, its
// encoding and the fit record (Index and Installed unset: the state
// machine sets them). It reads its input only and is deterministic.
func FitIdentity(in IdentityFitInput) (*identity.Model, []byte, ModelFit, error) {
	f := ModelFit{Fragments: len(in.Records), InUseIndex: in.InUseIndex}
	if in.Clusters != nil && len(in.Clusters) != len(in.Records) {
		return nil, nil, f, fmt.Errorf("hub: fit identity model: %d clusters for %d records", len(in.Clusters), len(in.Records))
	}
	var train, held []identity.Record
	var trainClusters []string
	for i, r := range in.Records {
		if heldBack(r.ID) {
			held = append(held, r)
		} else {
			train = append(train, r)
			if in.Clusters != nil {
				trainClusters = append(trainClusters, in.Clusters[i])
			}
		}
	}
	f.TrainRecords, f.HeldBackRecords = len(train), len(held)
	if len(train) == 0 {
		return nil, nil, f, fmt.Errorf("hub: fit identity model: %w: no records to train on", ErrTooLittleData)
	}
	cfg := in.InUse.Config()
	if in.Tune != nil {
		in.Tune(&cfg)
	}
	cand, err := identity.TrainClustered(train, cfg, trainClusters)
	if err != nil {
		return nil, nil, f, fmt.Errorf("hub: fit identity model: %w", err)
	}
	if in.Candidate != nil {
		cand = in.Candidate(cand)
	}
	rep := cand.Report()
	f.Prior = rep.Prior
	for _, r := range rep.Rules {
		f.Rules = append(f.Rules, FitRule{Rule: r.Rule, Pairs: r.Pairs, Sampled: r.Sampled, MatchFraction: r.MatchFraction,
			Iterations: r.Iterations, Change: r.Change, Converged: r.Iterations > 0 && r.Change <= ConvergedChange})
	}
	enc, err := cand.Marshal()
	if err != nil {
		return nil, nil, f, fmt.Errorf("hub: fit identity model: %w", err)
	}
	f.CandidateHash = identity.HashOf(enc)
	inEnc, err := in.InUse.Marshal()
	if err != nil {
		return nil, nil, f, fmt.Errorf("hub: fit identity model: %w", err)
	}
	if len(held) > 0 {
		sample, err := identity.SamplePairs(held, cfg, HeldBackPairs)
		if err != nil {
			return nil, nil, f, fmt.Errorf("hub: fit identity model: held-back pairs: %w", err)
		}
		f.InUse.HeldOut, f.Candidate.HeldOut = in.InUse.HeldOut(sample), cand.HeldOut(sample)
	}
	f.LabelledPairs = len(in.Labelled)
	for _, lp := range in.Labelled {
		for _, x := range []struct {
			m *identity.Model
			s *FitScore
		}{{in.InUse, &f.InUse}, {cand, &f.Candidate}} {
			w, err := x.m.Weight(lp.A, lp.B)
			if err != nil {
				return nil, nil, f, fmt.Errorf("hub: fit identity model: labelled pair: %w", err)
			}
			if linked := w >= x.m.Config().MatchWeight; linked != lp.Same {
				x.s.Misclassified++
			}
		}
	}
	c, u := f.Candidate, f.InUse
	f.Decision = FitRejected
	cFinite, uFinite := finite(c.LogLikelihood), finite(u.LogLikelihood)
	if !cFinite {
		f.Candidate.LogLikelihood = 0 // the record holds finite numbers only
	}
	if !uFinite {
		f.InUse.LogLikelihood = 0
	}
	switch {
	case c.Pairs == 0:
		f.Reason = "no candidate pairs among the held-back records to check the candidate on"
	case !cFinite:
		f.Reason = "the candidate's held-back log-likelihood is not finite"
	case uFinite && c.LogLikelihood < u.LogLikelihood:
		f.Reason = fmt.Sprintf("held-back log-likelihood %.6f is below the model in use's %.6f", c.LogLikelihood, u.LogLikelihood)
	case f.LabelledPairs < in.MinLabelled:
		f.Reason = fmt.Sprintf("only %d steward decisions to check the candidate against, %d required", f.LabelledPairs, in.MinLabelled)
	case c.Misclassified > u.Misclassified:
		f.Reason = fmt.Sprintf("misclassifies %d of %d steward decisions, the model in use %d", c.Misclassified, f.LabelledPairs, u.Misclassified)
	case identity.HashOf(inEnc) == f.CandidateHash:
		f.Reason = "the candidate is the model in use"
	default:
		f.Decision = FitInstalled
		f.Reason = fmt.Sprintf("held-back log-likelihood %.6f ≥ %.6f of the model in use; misclassifies %d of %d steward decisions, the model in use %d",
			c.LogLikelihood, u.LogLikelihood, c.Misclassified, f.LabelledPairs, u.Misclassified)
	}
	return cand, enc, f, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// identityTrainingSet copies, under the read lock, what a fit needs:
// every fragment's record (slice headers only — Apply replaces a
// record's fields, never changes them) and its cluster's ID, the steward
// decisions as labelled pairs, the model in use and its index.
func (f *FSM) identityTrainingSet() (IdentityFitInput, error) {
	def, err := model() // the untrained default (record.go)
	if err != nil {
		return IdentityFitInput{}, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	st := f.st
	in := IdentityFitInput{Records: make([]identity.Record, 0, st.frags.Len()), Clusters: make([]string, 0, st.frags.Len()),
		InUse: def, InUseIndex: st.modelIndex()}
	if st.model != nil {
		in.InUse = st.model.m
	}
	st.frags.Ascend(func(fr *fragment) bool {
		in.Records = append(in.Records, identity.Record{ID: fr.id, Fields: unpackFields(st.recs[fr.id])})
		in.Clusters = append(in.Clusters, fr.cluster)
		return true
	})
	st.decisions.Ascend(func(d *decision) bool {
		a, okA := st.recs[d.a]
		b, okB := st.recs[d.b]
		if okA && okB {
			in.Labelled = append(in.Labelled, LabelledPair{A: identity.Record{ID: d.a, Fields: unpackFields(a)}, B: identity.Record{ID: d.b, Fields: unpackFields(b)}, Same: d.same})
		}
		return true
	})
	return in, nil
}

// trainState returns the number of fragments and the latest fit (ok
// false when none is recorded): what the schedule compares.
func (f *FSM) trainState() (frags int, last ModelFit, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	frags = f.st.frags.Len()
	if n := len(f.st.fits); n > 0 {
		return frags, f.st.fits[n-1], true
	}
	return frags, ModelFit{}, false
}

// TrainIdentity fits the identity model now on the leader (FitIdentity
// over the FSM's records) and proposes the fit; trigger is recorded
// with it. It returns the fit as the state machine recorded it (whose
// Decision may say rejected although the check passed: see
// CmdModelFit). Errors: *NotLeaderError on a follower; one wrapping
// ErrTooLittleData below Config.IdentityTrainMinRecords fragments (no
// fit is recorded then); a training or Apply failure; ctx's error when it
// ends first (the training itself then finishes in the background and
// is dropped). One fit runs at a time; a second call waits for the
// first.
func (s *Server) TrainIdentity(ctx context.Context, trigger string) (ModelFit, error) {
	s.trainMu.Lock()
	defer s.trainMu.Unlock()
	if !s.IsLeader() {
		id, addr := s.Leader()
		return ModelFit{}, &NotLeaderError{LeaderID: id, LeaderAddr: addr}
	}
	start := time.Now()
	at := s.now()
	in, err := s.fsm.identityTrainingSet()
	if err != nil {
		return ModelFit{}, err
	}
	minRecs := s.cfg.IdentityTrainMinRecords
	if minRecs <= 0 {
		minRecs = DefaultIdentityTrainMinRecords
	}
	if len(in.Records) < minRecs {
		return ModelFit{}, fmt.Errorf("%w: %d fragments, self-training needs %d", ErrTooLittleData, len(in.Records), minRecs)
	}
	in.Candidate, in.Tune, in.MinLabelled = s.cfg.IdentityCandidate, s.cfg.IdentityTrainTune, s.cfg.IdentityTrainMinLabelled
	// Training cannot be interrupted; so that Close (which ends ctx) need
	// not wait for it, it runs on its own goroutine, whose result is
	// dropped when ctx ends first. It reads the copy in only.
	type result struct {
		enc []byte
		fit ModelFit
		err error
	}
	done := make(chan result, 1)
	go func() {
		_, enc, fit, err := FitIdentity(in)
		done <- result{enc, fit, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return ModelFit{}, fmt.Errorf("hub: fit identity model: %w", ctx.Err())
	}
	if r.err != nil {
		return ModelFit{}, r.err
	}
	enc, fit := r.enc, r.fit
	fit.At, fit.Trigger, fit.Seconds = at.UTC().Truncate(time.Millisecond), trigger, time.Since(start).Seconds()
	if fit.Decision != FitInstalled {
		enc = nil
	}
	cmd, err := MarshalModelFit(&ModelFitEntry{Fit: fit, Model: enc})
	if errors.Is(err, ErrInvalid) && enc != nil {
		// A model beyond MaxModelBytes: record the fit, keep the model.
		fit.Decision, fit.Reason, enc = FitRejected, fmt.Sprintf("the candidate's encoding is too large for a log entry: %v", err), nil
		cmd, err = MarshalModelFit(&ModelFitEntry{Fit: fit})
	}
	if err != nil {
		return ModelFit{}, fmt.Errorf("hub: fit identity model: %w", err)
	}
	res, err := s.Apply(ctx, cmd)
	if err != nil {
		return ModelFit{}, fmt.Errorf("hub: record identity model fit: %w", err)
	}
	for _, rec := range s.fsm.ModelFits() {
		if rec.Index == res.Index {
			fit = rec
		}
	}
	s.log.Info("identity model fitted", "trigger", trigger, "fragments", fit.Fragments, "decision", fit.Decision,
		"candidate_loglik", fit.Candidate.LogLikelihood, "in_use_loglik", fit.InUse.LogLikelihood,
		"seconds", fit.Seconds, "index", fit.Index, "installed", fit.Installed)
	return fit, nil
}

// identityTrainDue returns the trigger of a fit due now ("" when none),
// from the replicated history: the schedule, once
// Config.IdentityTrainInterval has passed since the last fit (or none
// was ever recorded), or growth, once the fragments grew by the
// configured fraction and count since the last fit. Below the minimum
// population nothing is due.
func (s *Server) identityTrainDue(now time.Time) string {
	frags, fit, ok := s.fsm.trainState()
	minRecs, growth, growthMin := s.cfg.IdentityTrainMinRecords, s.cfg.IdentityTrainGrowth, s.cfg.IdentityTrainGrowthMin
	if minRecs <= 0 {
		minRecs = DefaultIdentityTrainMinRecords
	}
	if growth <= 0 {
		growth = DefaultIdentityTrainGrowth
	}
	if growthMin <= 0 {
		growthMin = DefaultIdentityTrainGrowthMin
	}
	switch {
	case frags < minRecs:
		return ""
	case !ok || now.Sub(fit.At) >= s.cfg.IdentityTrainInterval:
		return TriggerSchedule
	}
	if d := frags - fit.Fragments; d >= growthMin && float64(d) >= growth*float64(fit.Fragments) {
		return TriggerGrowth
	}
	return ""
}

// identityTrainLoop runs on every node and trains on the leader: every
// poll (Config.IdentityTrainPoll) it checks whether a fit is due
// (identityTrainDue) and runs it. A new leader carries on from the
// replicated history. A fit that fails (leadership lost, Apply timed
// out) is retried after 50 polls or the interval, whichever is
// shorter, not at every poll.
func (s *Server) identityTrainLoop() {
	defer s.ticker.Done()
	poll := s.cfg.IdentityTrainPoll
	if poll <= 0 {
		poll = min(s.cfg.IdentityTrainInterval, time.Minute)
	}
	retry := min(50*poll, s.cfg.IdentityTrainInterval)
	ctx, cancel := s.untilClosed()
	defer cancel()
	t := time.NewTicker(poll)
	defer t.Stop()
	var failed time.Time
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		if !s.IsLeader() {
			continue
		}
		now := s.now()
		if !failed.IsZero() && now.Sub(failed) < retry {
			continue
		}
		trigger := s.identityTrainDue(now)
		if trigger == "" {
			continue
		}
		if _, err := s.TrainIdentity(ctx, trigger); err != nil {
			failed = now
			if ctx.Err() == nil {
				s.log.Warn("identity model not fitted; the model in use stays", "trigger", trigger, "err", err)
			}
			continue
		}
		failed = time.Time{}
	}
}
