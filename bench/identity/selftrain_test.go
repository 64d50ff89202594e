package identity

import (
	"os"
	"testing"

	"ucv/hub"
	hid "ucv/hub/identity"
)

// BenchmarkSelfTrainHistorical measures what the hub's self-training
// (hub.FitIdentity: EM on the 80 % of records not held back, checked
// against the untrained model on the other 20 %) gains on
// historical_50k, the quality the hub gets without an operator
// installing a model: B³ F1 of the whole set resolved with the
// self-trained candidate, with the untrained default and with a model
// trained offline on every record (ucv resolve).
//
//	go test ./bench/identity -run '^$' -bench SelfTrainHistorical -benchtime 1x -v
func BenchmarkSelfTrainHistorical(b *testing.B) {
	ds, err := Load(dataDir(b), "historical_50k")
	if err != nil {
		b.Fatal(err)
	}
	cfg := hid.DefaultConfig()
	untrained, err := hid.Untrained(cfg)
	if err != nil {
		b.Fatal(err)
	}
	offline, err := hid.Train(ds.Records, cfg)
	if err != nil {
		b.Fatal(err)
	}
	var fit hub.ModelFit
	var cand *hid.Model
	b.ResetTimer()
	for range b.N {
		if cand, _, fit, err = hub.FitIdentity(hub.IdentityFitInput{Records: ds.Records, InUse: untrained}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.Logf("fit: %d records (%d train, %d held back), decision %s: %s", fit.Fragments, fit.TrainRecords, fit.HeldBackRecords, fit.Decision, fit.Reason)
	b.Logf("held-back pairs %d; λ candidate %.4f, untrained %.4f; prior %.3g", fit.Candidate.Pairs, fit.Candidate.MatchFraction, fit.InUse.MatchFraction, fit.Prior)
	for _, r := range fit.Rules {
		b.Logf("  rule %-24s pairs %7d sampled %7d λ %.4f iterations %d change %.2g converged %v", r.Rule, r.Pairs, r.Sampled, r.MatchFraction, r.Iterations, r.Change, r.Converged)
	}
	Header(os.Stdout)
	var f1 [3]float64
	for i, m := range []struct {
		m     *hid.Model
		label string
	}{{untrained, " (untrained)"}, {cand, " (self-trained)"}, {offline, " (trained offline)"}} {
		r, err := RunModel(ds, m.m, m.label, nil)
		if err != nil {
			b.Fatal(err)
		}
		WriteRow(os.Stdout, r)
		f1[i] = r.Metrics.BCubedF1
	}
	b.ReportMetric(f1[0], "b3f1-untrained")
	b.ReportMetric(f1[1], "b3f1-selftrained")
	b.ReportMetric(f1[2], "b3f1-offline")
	if fit.Decision != hub.FitInstalled || f1[1] <= f1[0] {
		b.Errorf("self-training on historical_50k: decision %s, B³ F1 %.4f vs untrained %.4f", fit.Decision, f1[1], f1[0])
	}
}
