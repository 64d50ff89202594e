package store

import (
	"math"
	"sync/atomic"
	"time"
)

// Pacing (docs/decisions/0102-pacing.md): the applier takes no batch
// while it commits (0.3–0.5 s for a full open transaction under load),
// so an appender that logs as fast as it can fills the lag bound and
// then holds every acknowledgement in flight until the commit ends — a
// tenth of /v1/batch's requests waited half a second. Past Options.PaceAbove outstanding events the appender instead
// admits groups at the applier's measured rate, scaled down the further
// the lag is past the soft bound, so every acknowledgement waits a
// little instead of a few waiting a commit; maxApplyLag stays the hard
// bound behind it, with room for what arrives during one commit.

// paceSample is how much of the applier's busy time one rate sample
// covers: several batches, so a commit's long batch and the quick ones
// between commits average out.
const paceSample = 250 * time.Millisecond

// paceWeight is a new sample's weight in the rate's moving average
// (about a second of the applier's busy time remembered).
const paceWeight = 0.25

// paceMaxWait caps one group's wait, so a wrong rate (a stalled disk
// makes the applier slow for a moment) delays an acknowledgement by at
// most this; the hard bound (waitRoom) holds the lag meanwhile.
const paceMaxWait = 500 * time.Millisecond

// pacer measures the applier's rate (observe, on the applier) and tells
// the appender how long to wait before logging a group (wait, on the
// appender). The rate is logged events per second of the applier's busy
// time — not of wall time, so an idle edge's rate is its capacity and a
// burst after a quiet minute is paced at what the applier can do, not
// at what it was asked to do.
type pacer struct {
	// above is Options.PaceAbove: no pacing at or under it; none at all
	// when it is not positive.
	above int64
	// The applier's sample in progress (applier only).
	events int64
	busy   time.Duration
	// rate holds math.Float64bits of the measured events per busy
	// second; 0 until the first sample, and no pacing before it.
	rate atomic.Uint64
	// last is when the previous group was logged, paced or not
	// (appender only).
	last time.Time
	// waits and waitNanos count the groups that waited and for how long.
	waits, waitNanos atomic.Int64
}

// Rate returns the applier's measured rate in logged events per second
// of its busy time, 0 before the first sample.
func (p *pacer) Rate() float64 { return math.Float64frombits(p.rate.Load()) }

// observe adds a batch the applier took busy to apply (and commit, when
// it did), n of whose events were logged, to the sample in progress.
func (p *pacer) observe(n int, busy time.Duration) {
	p.events += int64(n)
	p.busy += busy
	if p.busy < paceSample {
		return
	}
	r := float64(p.events) / p.busy.Seconds()
	if old := p.Rate(); old > 0 {
		r = old + paceWeight*(r-old)
	}
	p.rate.Store(math.Float64bits(r))
	p.events, p.busy = 0, 0
}

// wait returns how long the appender waits, at now, before logging a
// group of n events with lag events outstanding: none at or under the
// soft bound or before the applier's rate is known; past it, until the
// previous group's time plus n / rate × lag / above (the applier's rate,
// less the further the lag is past the bound), at most paceMaxWait. The
// caller logs the group after the wait and calls logged.
func (p *pacer) wait(n int, lag int64, now time.Time) time.Duration {
	r := p.Rate()
	if p.above <= 0 || lag <= p.above || r <= 0 || p.last.IsZero() {
		return 0
	}
	gap := time.Duration(float64(n) / r * float64(lag) / float64(p.above) * float64(time.Second))
	return min(max(p.last.Add(gap).Sub(now), 0), paceMaxWait)
}

// logged records that a group was logged at now after waiting d.
func (p *pacer) logged(now time.Time, d time.Duration) {
	p.last = now
	if d > 0 {
		p.waits.Add(1)
		p.waitNanos.Add(int64(d))
	}
}
