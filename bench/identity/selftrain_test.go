package identity

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"ucv/hub"
	hid "ucv/hub/identity"
)

// BenchmarkSelfTrain measures what the hub's self-training
// (hub.FitIdentity: EM on the 80 % of records not held back, checked
// against the untrained model on the other 20 %) gains on a data set —
// the quality a hub gets without an operator installing a model: B³ F1
// of the whole set resolved with the untrained default, with the
// self-trained candidate and with a model trained offline on every
// record (ucv resolve). UCV_BENCH_SELFTRAIN_SETS lists the sets
// (default historical_50k). It fails when self-training installs a model
// that resolves the set worse than the untrained one, or (on
// historical_50k) does not install.
//
//	go test ./bench/identity -run '^$' -bench SelfTrain -benchtime 1x -v
//	UCV_BENCH_SELFTRAIN_SETS=customers go test ./bench/identity -run '^$' -bench SelfTrain -benchtime 1x -v
func BenchmarkSelfTrain(b *testing.B) {
	sets := "historical_50k"
	if s := os.Getenv("UCV_BENCH_SELFTRAIN_SETS"); s != "" {
		sets = s
	}
	for _, name := range strings.Split(sets, ",") {
		b.Run(name, func(b *testing.B) { selfTrain(b, name) })
	}
}

func selfTrain(b *testing.B, name string) {
	dir := ""
	if !Generated(name) {
		dir = dataDir(b)
	}
	ds, err := Load(dir, name)
	if err != nil {
		b.Fatal(err)
	}
	cfg := hid.DefaultConfig()
	untrained, err := hid.Untrained(cfg)
	if err != nil {
		b.Fatal(err)
	}
	offline, err := hid.TrainResolved(ds.Records, cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Stewards: the hub under the untrained model offers its review
	// queue; stewards (the truth) decide up to UCV_BENCH_SELFTRAIN_STEWARD
	// pairs of it (default 200), spread evenly over the queue.
	decide := 200
	if s := os.Getenv("UCV_BENCH_SELFTRAIN_STEWARD"); s != "" {
		if decide, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ix := hid.NewIndex(untrained)
	if err := ix.Load(ds.Records, nil); err != nil {
		b.Fatal(err)
	}
	byID := map[string]hid.Record{}
	for _, r := range ds.Records {
		byID[r.ID] = r
	}
	var labelled []hub.LabelledPair
	if rs := ix.Reviews(); len(rs) > 0 && decide > 0 {
		step := max(1, len(rs)/decide)
		for i := 0; i < len(rs) && len(labelled) < decide; i += step {
			a, c := rs[i].A, rs[i].B
			labelled = append(labelled, hub.LabelledPair{A: byID[a], B: byID[c], Same: ds.Entity[a] == ds.Entity[c]})
		}
	}
	// The hub's clusters when it fits: the untrained model's resolution.
	clusters := make([]string, len(ds.Records))
	for i, r := range ds.Records {
		clusters[i], _ = ix.ClusterID(r.ID)
	}
	_, _, unsup, err := hub.FitIdentity(hub.IdentityFitInput{Records: ds.Records, Clusters: clusters, InUse: untrained})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("without steward decisions: %s: %s", unsup.Decision, unsup.Reason)
	var fit hub.ModelFit
	var cand *hid.Model
	var enc []byte
	b.ResetTimer()
	for range b.N {
		if cand, enc, fit, err = hub.FitIdentity(hub.IdentityFitInput{Records: ds.Records, Clusters: clusters, InUse: untrained, Labelled: labelled}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.Logf("with %d steward decisions (%d review pairs offered): %s: %s", len(labelled), len(ix.Reviews()), fit.Decision, fit.Reason)
	b.Logf("fit: %d records (%d train, %d held back), decision %s: %s", fit.Fragments, fit.TrainRecords, fit.HeldBackRecords, fit.Decision, fit.Reason)
	b.Logf("held-back pairs %d; λ candidate %.4f, untrained %.4f; prior %.3g; candidate encoding %d bytes",
		fit.Candidate.Pairs, fit.Candidate.MatchFraction, fit.InUse.MatchFraction, fit.Prior, len(enc))
	for _, r := range fit.Rules {
		b.Logf("  rule %-24s pairs %7d sampled %7d λ %.4f iterations %d change %.2g converged %v", r.Rule, r.Pairs, r.Sampled, r.MatchFraction, r.Iterations, r.Change, r.Converged)
	}
	Header(os.Stdout)
	var f1 [3]float64
	for i, m := range []struct {
		m     *hid.Model
		label string
	}{{untrained, " (untrained)"}, {cand, " (self-trained candidate)"}, {offline, " (trained offline)"}} {
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
	if fit.Decision == hub.FitInstalled && f1[1] < f1[0] {
		b.Errorf("self-training on %s (with %d steward decisions) installs a model with B³ F1 %.4f, below the untrained %.4f", name, len(labelled), f1[1], f1[0])
	}
	if name == "historical_50k" && fit.Decision != hub.FitInstalled {
		b.Errorf("self-training on historical_50k rejected its candidate: %s", fit.Reason)
	}
}
