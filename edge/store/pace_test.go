package store

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/profile"
)

// TestPacerRate: the rate is logged events per second of the applier's
// busy time, unknown until a sample covers paceSample of it, then a
// moving average of the samples.
func TestPacerRate(t *testing.T) {
	var p pacer
	p.observe(1000, 100*time.Millisecond)
	p.observe(1000, 100*time.Millisecond)
	if r := p.Rate(); r != 0 {
		t.Fatalf("rate %v after 200 ms of busy time, want none yet", r)
	}
	p.observe(500, 50*time.Millisecond) // 2,500 events in 250 ms
	if r := p.Rate(); r != 10000 {
		t.Fatalf("first sample: rate %v, want 10000", r)
	}
	p.observe(1000, 500*time.Millisecond) // a commit's long batch: 2,000/s
	if r, want := p.Rate(), 10000+paceWeight*(2000-10000); r != want {
		t.Fatalf("second sample: rate %v, want %v", r, want)
	}
	p.observe(0, time.Second) // remote changes only: the applier busy, no logged events
	if r := p.Rate(); r <= 0 || r >= 10000+paceWeight*(2000-10000) {
		t.Fatalf("a busy sample without logged events: rate %v, want lower and positive", r)
	}
}

// TestPacerWait: no wait at or under the soft bound, without a rate, or
// for the first group; past the bound the previous group's time plus
// n / rate × lag / above, less the time already passed, at most
// paceMaxWait.
func TestPacerWait(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	p := pacer{above: 1000}
	if d := p.wait(100, 5000, t0); d != 0 {
		t.Fatalf("no rate: wait %v", d)
	}
	p.rate.Store(math.Float64bits(10000))
	if d := p.wait(100, 5000, t0); d != 0 {
		t.Fatalf("first group: wait %v", d)
	}
	p.logged(t0, 0)
	cases := []struct {
		n     int
		lag   int64
		since time.Duration
		want  time.Duration
	}{
		{100, 1000, 0, 0},                                        // at the bound
		{100, 1001, 0, 10010 * time.Microsecond},                 // just past it: n / rate
		{100, 2000, 0, 20 * time.Millisecond},                    // twice the bound: half the rate
		{100, 2000, 5 * time.Millisecond, 15 * time.Millisecond}, // the log's write took some
		{100, 2000, 30 * time.Millisecond, 0},                    // already later than due
		{100000, 32768, 0, paceMaxWait},                          // capped
	}
	for _, c := range cases {
		if d := p.wait(c.n, c.lag, t0.Add(c.since)); d != c.want {
			t.Errorf("wait(%d events, lag %d, %v after the last group) = %v, want %v", c.n, c.lag, c.since, d, c.want)
		}
	}
	off := pacer{above: -1, last: t0}
	off.rate.Store(math.Float64bits(10000))
	if d := off.wait(100, 30000, t0); d != 0 {
		t.Errorf("PaceAbove negative: wait %v", d)
	}
}

// TestPacingAdmitsPastTheSoftBoundAtTheApplierRate: the store measures
// its applier's rate (an applier made to take at least a millisecond an
// event can do at most 1,000 a second), and once that applier is held,
// the appender goes on acknowledging past the soft bound — the point:
// a commit no longer stops acknowledgements — but no faster than the
// measured rate, and the hard bound is not what stops it. Everything
// acknowledged is applied once the applier runs again.
func TestPacingAdmitsPastTheSoftBoundAtTheApplierRate(t *testing.T) {
	const above = 64
	var held atomic.Bool
	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	s := open(t, func(o *Options) {
		o.NoSync = true
		o.PaceAbove = above
		o.Linger = -1
		o.applyErr = func(Event) error {
			time.Sleep(time.Millisecond)
			return nil
		}
		o.applyHook = func() {
			if held.Load() {
				entered <- struct{}{}
				<-hold
			}
		}
	})
	t.Cleanup(release)
	ctx := context.Background()

	// Measure: 300 events, at least 300 ms of the applier's busy time.
	for i := 0; i < 30; i++ {
		if _, err := s.Ingest(ctx, walEvents(t, i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	rate := s.pace.Rate()
	if rate <= 0 || rate > 1000 {
		t.Fatalf("applier rate %v events/s, want measured and at most 1,000", rate)
	}
	st, err := s.CommittedStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.ApplyRate <= 0 || st.ApplyRate > 1000 || st.PacedGroups != 0 {
		t.Fatalf("stats: rate %v, %d paced groups before any lag", st.ApplyRate, st.PacedGroups)
	}

	// Hold the applier; acknowledge groups of 10 past the soft bound.
	held.Store(true)
	if err := s.Append(ctx, walEvents(t, 1000, 1)); err != nil { // the applier takes it and stops
		t.Fatal(err)
	}
	<-entered
	// The rate the appender paces at: no sample ends while the applier
	// is held (the last one may have ended after Ingest returned).
	rate = s.pace.Rate()
	const groups = 30
	var paced time.Duration
	from := 2000
	for lag := 1; lag <= above; lag += 10 { // up to the soft bound: no wait
		if err := s.Append(ctx, walEvents(t, from, 10)); err != nil {
			t.Fatal(err)
		}
		from += 10
	}
	start := time.Now()
	for i := 0; i < groups; i++ {
		if err := s.Append(ctx, walEvents(t, from, 10)); err != nil {
			t.Fatal(err)
		}
		from += 10
		if i > 0 {
			paced += time.Duration(10 / rate * float64(time.Second)) // at least n / rate each
		}
	}
	elapsed := time.Since(start)
	if elapsed < paced {
		t.Errorf("%d groups past the soft bound acknowledged in %v, want at least %v at the applier's %.0f events/s", groups, elapsed, paced, rate)
	}
	st, err = s.CommittedStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.PacedGroups < groups-1 || st.PaceSeconds <= 0 {
		t.Errorf("stats: %d paced groups waiting %v s, want at least %d", st.PacedGroups, st.PaceSeconds, groups-1)
	}
	if lag := s.lagEvents.Load(); lag <= above || lag >= maxApplyLag {
		t.Errorf("lag %d with the applier held, want past the soft bound %d and under the hard bound", lag, above)
	}

	release()
	held.Store(false)
	ctx2, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.waitPos(ctx2, s.ackedPos.Load()); err != nil {
		t.Fatal(err)
	}
	st, err = s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Ingested[profile.Track]+st.Duplicates, uint64(from-2000+300+1); got != want {
		t.Errorf("%d events applied, %d acknowledged", got, want)
	}
}
