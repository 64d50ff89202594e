package hub_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/hub/identity"
	"ucv/profile"
)

// peopleRecords returns hubtest.People as identity records, as the hub
// derives them from the fragments.
func peopleRecords(seed uint64, prefix string, n int) []identity.Record {
	kinds := map[string]identity.Kind{"firstName": identity.FirstName, "lastName": identity.LastName,
		"birthday": identity.BirthDate, "city": identity.City, "postalCode": identity.Postcode}
	var recs []identity.Record
	for _, ev := range hubtest.People(seed, prefix, n) {
		r := identity.Record{ID: ev.Profile}
		for _, id := range ev.IDs {
			if id.Type == profile.Email {
				r.Fields = append(r.Fields, identity.Field{Kind: identity.Email, Name: "email", Value: id.Value})
			}
		}
		for _, k := range []string{"firstName", "lastName", "birthday", "city", "postalCode"} {
			if v, ok := ev.Traits[k].(string); ok {
				r.Fields = append(r.Fields, identity.Field{Kind: kinds[k], Name: k, Value: v})
			}
		}
		recs = append(recs, r)
	}
	return recs
}

// TestFitIdentityLabelledPairs: steward decisions are labelled pairs. A
// candidate that decides a pair against the stewards, where the model in
// use decides it their way, misclassifies more and is rejected, however
// much better it fits the held-back records; the stewards on the
// candidate's side let it in.
func TestFitIdentityLabelledPairs(t *testing.T) {
	recs := peopleRecords(4, "L", 1000)
	cfg := identity.DefaultConfig()
	cfg.RandomPairs = 20000 // the candidate trains with the in-use model's config: fast
	untrained, err := identity.Untrained(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cand, enc, fit, err := hub.FitIdentity(hub.IdentityFitInput{Records: recs, InUse: untrained})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Decision != hub.FitInstalled || len(enc) == 0 || fit.CandidateHash != identity.HashOf(enc) || fit.LabelledPairs != 0 {
		t.Fatalf("unlabelled fit = %+v", fit)
	}
	// A pair the two models disagree on: one links it, the other not.
	match := identity.DefaultConfig().MatchWeight
	lastName := func(r identity.Record) string {
		for _, f := range r.Fields {
			if f.Kind == identity.LastName {
				return f.Value
			}
		}
		return ""
	}
	byName := map[string][]identity.Record{}
	for _, r := range recs {
		byName[lastName(r)] = append(byName[lastName(r)], r)
	}
	var pair *hub.LabelledPair
	candLinks := false
	for _, r := range recs { // in ID order: deterministic
		for _, o := range byName[lastName(r)] {
			if pair != nil || o.ID <= r.ID {
				continue
			}
			wc, err1 := cand.Weight(r, o)
			wu, err2 := untrained.Weight(r, o)
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			if (wc >= match) != (wu >= match) {
				pair, candLinks = &hub.LabelledPair{A: r, B: o}, wc >= match
			}
		}
	}
	if pair == nil {
		t.Fatal("no pair the candidate and the untrained model disagree on")
	}
	wrong := *pair
	wrong.Same = !candLinks // the stewards side with the untrained model
	_, _, fit, err = hub.FitIdentity(hub.IdentityFitInput{Records: recs, InUse: untrained, Labelled: []hub.LabelledPair{wrong}})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Decision != hub.FitRejected || fit.Candidate.Misclassified != 1 || fit.InUse.Misclassified != 0 ||
		fit.LabelledPairs != 1 || !strings.Contains(fit.Reason, "misclassifies 1 of 1 steward decisions") ||
		fit.Candidate.LogLikelihood < fit.InUse.LogLikelihood {
		t.Errorf("fit with the stewards against the candidate = %+v, want rejected for misclassifying the pair", fit)
	}
	right := *pair
	right.Same = candLinks
	_, _, fit, err = hub.FitIdentity(hub.IdentityFitInput{Records: recs, InUse: untrained, Labelled: []hub.LabelledPair{right}})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Decision != hub.FitInstalled || fit.Candidate.Misclassified != 0 || fit.InUse.Misclassified != 1 {
		t.Errorf("fit with the stewards on the candidate's side = %+v, want installed", fit)
	}
	// Config.IdentityTrainMinLabelled: too few decisions, no install.
	_, _, fit, err = hub.FitIdentity(hub.IdentityFitInput{Records: recs, InUse: untrained, Labelled: []hub.LabelledPair{right}, MinLabelled: 2})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Decision != hub.FitRejected || fit.Reason != "only 1 steward decisions to check the candidate against, 2 required" {
		t.Errorf("fit with 1 of 2 required decisions = %+v, want rejected", fit)
	}
	// The candidate is checked against itself: no change, no install.
	_, _, fit, err = hub.FitIdentity(hub.IdentityFitInput{Records: recs, InUse: cand})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Decision != hub.FitRejected || fit.Reason != "the candidate is the model in use" {
		t.Errorf("refit against itself = %+v", fit)
	}
}

func testFit(decision string, inUse uint64) hub.ModelFit {
	return hub.ModelFit{
		At: time.UnixMilli(1_700_000_000_123).UTC(), Seconds: 1.5, Trigger: hub.TriggerSchedule,
		Fragments: 1000, TrainRecords: 800, HeldBackRecords: 200, Prior: 0.001,
		Rules: []hub.FitRule{{Rule: "birth_date", Pairs: 10, Sampled: 10, MatchFraction: 0.5, Iterations: 25, Change: 1e-9, Converged: true},
			{Rule: "national_id"}},
		InUseIndex:    inUse,
		InUse:         hub.FitScore{HeldOut: identity.HeldOut{Pairs: 40, LogLikelihood: -6.5, MatchFraction: 0.2}, Misclassified: 1},
		Candidate:     hub.FitScore{HeldOut: identity.HeldOut{Pairs: 40, LogLikelihood: -5.25, MatchFraction: 0.25}},
		CandidateHash: "ab", LabelledPairs: 3, Decision: decision, Reason: "because",
	}
}

// TestModelFitCommand: CmdModelFit round-trips, refuses inconsistent
// entries, installs its model at its own index when checked against the
// model in use, and is recorded as rejected when another model was
// installed since its check. The history is in the snapshot
// (golden-tested: a format change must be deliberate).
func TestModelFitCommand(t *testing.T) {
	model := historicalModel(t)
	for _, bad := range []*hub.ModelFitEntry{
		{Fit: testFit(hub.FitInstalled, 0)},              // installing without a model
		{Fit: testFit(hub.FitRejected, 0), Model: model}, // rejected with a model
		{Fit: testFit("maybe", 0)},
	} {
		if _, err := hub.MarshalModelFit(bad); !errors.Is(err, hub.ErrInvalid) {
			t.Errorf("MarshalModelFit(%s, %d bytes) = %v, want ErrInvalid", bad.Fit.Decision, len(bad.Model), err)
		}
	}
	in := &hub.ModelFitEntry{Fit: testFit(hub.FitInstalled, 0), Model: model}
	cmd, err := hub.MarshalModelFit(in)
	if err != nil {
		t.Fatal(err)
	}
	out, m, err := hub.UnmarshalModelFit(cmd)
	if err != nil || m == nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("UnmarshalModelFit = %+v, %v; want %+v", out, err, in)
	}
	if _, _, err := hub.UnmarshalModelFit(cmd[:len(cmd)-3]); !errors.Is(err, hub.ErrMalformed) {
		t.Errorf("UnmarshalModelFit(truncated) = %v, want ErrMalformed", err)
	}

	l := newLog(t)
	bevan(l)
	res := l.apply(cmd, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if v, _ := l.f.Profile(p2); v.ID != p1 {
		t.Errorf("after the installing fit, %s resolves to %s, want %s (merged by the installed model)", p2, v.ID, p1)
	}
	info, err := l.f.Model()
	if err != nil || !info.Installed || info.Index != res.Index || info.Actor != hub.SelfTrainActor {
		t.Errorf("Model() = %+v, %v", info, err)
	}
	// A second fit checked against the untrained model (index 0) finds
	// the model of res.Index in use: recorded, not installed.
	stale := l.apply(hub.MarshalModelFit(&hub.ModelFitEntry{Fit: testFit(hub.FitInstalled, 0), Model: model}))
	rejected := l.apply(hub.MarshalModelFit(&hub.ModelFitEntry{Fit: testFit(hub.FitRejected, res.Index)}))
	fits := l.f.ModelFits()
	if len(fits) != 3 || fits[0].Installed != res.Index || fits[0].Index != res.Index ||
		fits[1].Decision != hub.FitRejected || fits[1].Installed != 0 || fits[1].Index != stale.Index ||
		!strings.Contains(fits[1].Reason, "the model in use changed") ||
		fits[2].Index != rejected.Index || fits[2].Reason != "because" {
		t.Errorf("ModelFits() = %+v", fits)
	}
	if info2, _ := l.f.Model(); info2.Index != res.Index {
		t.Errorf("the stale fit replaced the model: %+v", info2)
	}
	r := goldenRestore(t, l.snapshot(), "snapshot_modelfit.golden", "ModelFitCommand")
	if got := r.ModelFits(); !reflect.DeepEqual(got, fits) {
		t.Errorf("restored ModelFits() = %+v, want %+v", got, fits)
	}
	// The history keeps the newest MaxModelFits.
	for range hub.MaxModelFits {
		l.apply(hub.MarshalModelFit(&hub.ModelFitEntry{Fit: testFit(hub.FitRejected, res.Index)}))
	}
	if fits := l.f.ModelFits(); len(fits) != hub.MaxModelFits || fits[0].Index != rejected.Index+1 {
		t.Errorf("after %d more fits the history holds %d from index %d", hub.MaxModelFits, len(fits), fits[0].Index)
	}
}

// FuzzModelFit: the CmdModelFit decoder never panics, and what it
// accepts re-encodes canonically.
func FuzzModelFit(f *testing.F) {
	for _, e := range []*hub.ModelFitEntry{{Fit: testFit(hub.FitRejected, 7)}, {Fit: testFit(hub.FitRejected, 0)}} {
		b, err := hub.MarshalModelFit(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{byte(hub.CmdModelFit), 0x92})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, _, err := hub.UnmarshalModelFit(data)
		if err != nil {
			return
		}
		again, err := hub.MarshalModelFit(e)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := hub.UnmarshalModelFit(again)
		if err != nil {
			t.Fatal(err)
		}
		if third, err := hub.MarshalModelFit(back); err != nil || !bytes.Equal(third, again) {
			t.Fatalf("model fit does not round-trip: %v", err)
		}
	})
}

// FuzzRestoreModelFit: Restore never panics on damaged snapshots with a
// fit history.
func FuzzRestoreModelFit(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "snapshot_modelfit.golden")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm, err := hub.NewFSM()
		if err != nil {
			t.Fatal(err)
		}
		_ = fsm.Restore(nopCloser{bytes.NewReader(data)})
	})
}
