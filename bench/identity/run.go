package identity

import (
	"fmt"
	"io"
	"time"

	hid "ucv/hub/identity"
)

// Result is one data set's benchmark outcome.
type Result struct {
	Dataset string
	Records int
	Metrics
	// BlockingCompleteness is the share of true pairs that blocking made
	// candidates; ComparisonsPerRecord is candidate pairs / records.
	BlockingCompleteness float64
	CandidatePairs       int
	ComparisonsPerRecord float64
	// PairsPerSecond is single-goroutine pair scoring throughput over the
	// candidate pairs (comparison vector + weight).
	PairsPerSecond float64
	Clusters       int
	// Reviews is the number of items in the review queue
	// (hid.Index.Reviews); ReviewRecords the distinct records they name,
	// the records a steward has to look at.
	Reviews       int
	ReviewRecords int
	TrainTime     time.Duration
	ResolveTime   time.Duration
	WallTime      time.Duration
	PriorWeight   float64
	// Breakdown classifies the errors on a generated customers set; nil
	// for the others.
	Breakdown *Breakdown
}

// Run trains on ds.Records (without the truth), resolves them in batch
// and scores the result. progress may be nil.
func Run(ds Dataset, cfg hid.Config, progress func(done, total int)) (Result, error) {
	start := time.Now()
	m, err := hid.TrainResolved(ds.Records, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("bench/identity: %s: %w", ds.Name, err)
	}
	return run(ds, m, "", start, progress)
}

// RunUntrained resolves ds.Records with hid.Untrained(cfg), the model
// the hub scores with until a trained one is installed, and scores the
// result. Everything but the model is as in Run; Result.Dataset carries
// the suffix " (untrained)". progress may be nil.
func RunUntrained(ds Dataset, cfg hid.Config, progress func(done, total int)) (Result, error) {
	start := time.Now()
	m, err := hid.Untrained(cfg)
	if err != nil {
		return Result{}, fmt.Errorf("bench/identity: %s: %w", ds.Name, err)
	}
	return run(ds, m, " (untrained)", start, progress)
}

// RunModel resolves ds.Records with m (trained elsewhere: the hub's
// self-training, hub.FitIdentity) and scores the result as Run does;
// label is appended to Result.Dataset. progress may be nil.
func RunModel(ds Dataset, m *hid.Model, label string, progress func(done, total int)) (Result, error) {
	return run(ds, m, label, time.Now(), progress)
}

func run(ds Dataset, m *hid.Model, label string, start time.Time, progress func(done, total int)) (Result, error) {
	trained := time.Now()
	ix := hid.NewIndex(m)
	if err := ix.Load(ds.Records, progress); err != nil {
		return Result{}, fmt.Errorf("bench/identity: %s: %w", ds.Name, err)
	}
	done := time.Now()
	r := Result{
		Dataset: ds.Name + label, Records: len(ds.Records),
		TrainTime: trained.Sub(start), ResolveTime: done.Sub(trained), WallTime: done.Sub(start),
		PriorWeight: m.PriorWeight(),
	}
	var source map[string]string
	if ds.Link {
		source = ds.Source
	}
	assign := ix.Assignments()
	r.Metrics = Score(assign, ds.Entity, source)
	if ds.Customers != nil {
		b := ds.Customers.Analyze(assign)
		r.Breakdown = &b
	}
	r.Clusters = len(ix.Clusters())
	queue := ix.Reviews()
	r.Reviews = len(queue)
	named := map[string]bool{}
	for _, rv := range queue {
		named[rv.A], named[rv.B] = true, true
	}
	r.ReviewRecords = len(named)

	truth := map[[2]string]bool{}
	for _, p := range TruePairs(ds.Entity) {
		truth[p] = true
	}
	found := 0
	ix.CandidatePairs(func(a, b string) {
		r.CandidatePairs++
		if truth[[2]string{a, b}] {
			found++
		}
	})
	if len(truth) > 0 {
		r.BlockingCompleteness = float64(found) / float64(len(truth))
	}
	r.ComparisonsPerRecord = float64(r.CandidatePairs) / float64(len(ds.Records))

	set := ix.CandidateSet()
	t0 := time.Now()
	rounds := 0
	for time.Since(t0) < 300*time.Millisecond || rounds == 0 {
		set.Score()
		rounds++
	}
	if el := time.Since(t0).Seconds(); el > 0 {
		r.PairsPerSecond = float64(set.Len()*rounds) / el
	}
	return r, nil
}

// Header writes the column names of WriteRow.
func Header(w io.Writer) {
	fmt.Fprintf(w, "| data set | records | pair P | pair R | pair F1 | link F1 | cluster F1 | B³ P | B³ R | B³ F1 | blocking PC | cmp/rec | review items | %% in review | pairs/s | wall |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
}

// ReviewShare is the percentage of the records that the review queue
// names.
func (r Result) ReviewShare() float64 {
	if r.Records == 0 {
		return 0
	}
	return 100 * float64(r.ReviewRecords) / float64(r.Records)
}

// WriteRow writes r as a Markdown table row.
func WriteRow(w io.Writer, r Result) {
	link := "–"
	if r.LinkF1 > 0 || r.LinkPrecision > 0 {
		link = fmt.Sprintf("%.4f", r.LinkF1)
	}
	fmt.Fprintf(w, "| %s | %d | %.4f | %.4f | %.4f | %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.1f | %d | %.2f %% | %.0fk | %s |\n",
		r.Dataset, r.Records, r.PairPrecision, r.PairRecall, r.PairF1, link, r.ClusterF1,
		r.BCubedPrecision, r.BCubedRecall, r.BCubedF1, r.BlockingCompleteness, r.ComparisonsPerRecord,
		r.Reviews, r.ReviewShare(), r.PairsPerSecond/1000, r.WallTime.Round(time.Millisecond))
}
