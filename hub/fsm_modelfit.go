package hub

import (
	"fmt"

	"ucv/crdt/codec"
	"ucv/hub/identity"
)

// The fit history of self-training (docs/decisions/0047-hub-self-training.md):
// replicated, the newest MaxModelFits kept, in the snapshot as records
// of type recModelFit after every other kind.

// recModelFit is the snapshot record of one fit (encodeFit with its
// indexes). Its presence adds an eighteenth count to the end record.
const recModelFit byte = 18

// modelFit applies a CmdModelFit: an installing fit whose check was made
// against the model still in use installs its model at this index
// (setModel, exactly as CmdModel); one checked against another model —
// an operator or an earlier fit installed one meanwhile — is recorded as
// rejected. Either way the fit joins the history.
func (a *applier) modelFit(e *ModelFitEntry, m *identity.Model) {
	f := e.Fit // a copy: the entry may be shared with the caller
	f.Index, f.Installed = a.index, 0
	f.Rules = append([]FitRule(nil), f.Rules...)
	if f.Decision == FitInstalled {
		if in := a.st.modelIndex(); in != f.InUseIndex {
			f.Decision = FitRejected
			f.Reason = fmt.Sprintf("the model in use changed since the check (checked against the model of index %d, index %d is in use)", f.InUseIndex, in)
		} else {
			a.setModel(&SetModel{Model: e.Model, Actor: SelfTrainActor}, m)
			f.Installed = a.index
		}
	}
	a.st.appendFit(f)
}

// modelIndex returns the Raft index at which the model in use was
// installed (0: the untrained default).
func (st *state) modelIndex() uint64 {
	if st.model == nil {
		return 0
	}
	return st.model.index
}

// appendFit adds f to the history, dropping the oldest beyond
// MaxModelFits. The slice is never changed in place (snapshots share
// it).
func (st *state) appendFit(f ModelFit) {
	keep := st.fits
	if len(keep) >= MaxModelFits {
		keep = keep[len(keep)-MaxModelFits+1:]
	}
	fits := make([]ModelFit, 0, len(keep)+1)
	st.fits = append(append(fits, keep...), f)
}

// ModelFits returns the fit history, oldest first (at most MaxModelFits).
// Safe for concurrent use; the result is the caller's.
func (f *FSM) ModelFits() []ModelFit {
	f.mu.RLock()
	fits := f.st.fits
	f.mu.RUnlock()
	out := make([]ModelFit, len(fits))
	for i, x := range fits {
		x.Rules = append([]FitRule(nil), x.Rules...)
		out[i] = x
	}
	return out
}

// writeFits writes the fit records and returns how many it wrote.
func (s *snapshot) writeFits(enc *codec.Encoder, put func(byte, func() error) bool) int {
	n := 0
	for i := range s.fits {
		n++
		if !put(recModelFit, func() error { return encodeFit(enc, &s.fits[i], true) }) {
			break
		}
	}
	return n
}

// readFit reads one fit record into st.
func readFit(st *state, d *codec.Decoder) error {
	f, err := decodeFit(d, true)
	if err != nil {
		return err
	}
	if len(st.fits) >= MaxModelFits {
		return fmt.Errorf("more than %d fits", MaxModelFits)
	}
	if n := len(st.fits); n > 0 && st.fits[n-1].Index >= f.Index {
		return fmt.Errorf("fit of index %d after fit of index %d", f.Index, st.fits[n-1].Index)
	}
	st.fits = append(st.fits, *f)
	return nil
}
