package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucv/profile"
)

// TestAppendLeadsWhenTheAppenderIsIdle (decision 0108): one caller at a
// time logs its own group — every log write is led, none handed to the
// appender — and what it acknowledged is applied; with the applier held
// past the soft bound, callers queue for the appender instead and their
// ctx ends their wait.
func TestAppendLeadsWhenTheAppenderIsIdle(t *testing.T) {
	s, holdApplier, releaseApplier := openHoldable(t, func(o *Options) {
		o.PaceAbove = 120 // over the 95 events the first 19 Appends can leave unapplied
	})
	for i := range 20 {
		if err := s.Append(context.Background(), walEvents(t, i*5, 5)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.LogSyncs != 20 || st.LedSyncs != 20 {
		t.Errorf("log writes %d, led %d: want 20 and 20 (each Append alone, the appender idle)", st.LogSyncs, st.LedSyncs)
	}
	if got := st.Ingested[profile.Track]; got != 100 {
		t.Errorf("%d events applied, want the 100 acknowledged", got)
	}

	// Past the soft bound nobody leads: the requests queue for the
	// appender, which waits for room past the hard one.
	holdApplier()
	for i := range 30 { // 150 events: past PaceAbove with the applier held
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.Append(ctx, walEvents(t, 1000+i*5, 5))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	before := s.ledSyncs.Load()
	for i := range 5 {
		if err := s.Append(context.Background(), walEvents(t, 2000+i*5, 5)); err != nil {
			t.Fatal(err)
		}
	}
	if led := s.ledSyncs.Load() - before; led != 0 {
		t.Errorf("%d groups led past the soft bound, want 0 (they queue for the appender)", led)
	}
	releaseApplier()
	st, err = s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Ingested[profile.Track]; got != 100+150+25 {
		t.Errorf("%d events applied, want the %d acknowledged", got, 100+150+25)
	}
}

// TestAppendersRaceClose: callers leading their own groups and queuing
// for the appender while Close runs — with time to finish, or giving up
// at once — every Append ends, with nil or ErrClosed (or
// ErrOverloaded), and every one acknowledged is in the store when it
// opens again.
func TestAppendersRaceClose(t *testing.T) {
	t.Run("close", func(t *testing.T) { testAppendersRaceClose(t, false) })
	t.Run("give up", func(t *testing.T) { testAppendersRaceClose(t, true) })
}

func testAppendersRaceClose(t *testing.T, giveUp bool) {
	s := open(t, func(o *Options) { o.NoSync = true })
	const callers, each = 16, 40
	var acked atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range callers {
		wg.Go(func() {
			<-start
			for i := range each {
				err := s.Append(context.Background(), walEvents(t, (c*each+i)*2, 2))
				switch {
				case err == nil:
					acked.Add(2)
				case errors.Is(err, ErrClosed), errors.Is(err, ErrOverloaded):
				default:
					t.Errorf("Append: %v", err)
				}
			}
		})
	}
	close(start)
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	if giveUp {
		cancel()
	}
	if err := s.Close(ctx); err != nil && !(giveUp && errors.Is(err, context.Canceled)) {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Appends still running 30 s after Close")
	}
	s2, err := Open(s.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	var orders float64 // walEvents are orders of u0…u6
	for u := range 7 {
		// A customer none of whose orders was acknowledged (Close given
		// up at once acknowledges few) is not found.
		_, err := s2.LookupIdentifier(profile.Identifier{Type: profile.UserID, Value: fmt.Sprintf("u%d", u)})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if _, m := lookup(t, s2, profile.UserID, fmt.Sprintf("u%d", u)); m != nil {
			orders += m["computed"].(map[string]any)["order_count"].(float64)
		}
	}
	if int64(orders) != acked.Load() {
		t.Errorf("%v orders in the store after reopening, %d acknowledged", orders, acked.Load())
	}
	if acked.Load() == 0 {
		t.Error("nothing acknowledged before Close: the race was not run")
	}
}

// TestAppendWithinBoundsTheWait: AppendWithin returns once its events
// are durable — led by the caller, without a timer — and with the
// applier held past the hard bound gives up after its bound with
// context.DeadlineExceeded, its reused timer never firing early for the
// next call; the events it gave up on are still logged and applied.
func TestAppendWithinBoundsTheWait(t *testing.T) {
	s, holdApplier, releaseApplier := openHoldable(t, func(o *Options) {
		o.lagBound = 64
		o.PaceAbove = -1
	})
	for i := range 4 {
		if err := s.AppendWithin(time.Minute, walEvents(t, i*4, 4)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Stats(); err != nil { // everything applied
		t.Fatal(err)
	}
	holdApplier()
	for i := range 16 { // 64 events: the applier, held, lets none go
		if err := s.AppendWithin(time.Minute, walEvents(t, 100+i*4, 4)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		start := time.Now()
		err := s.AppendWithin(50*time.Millisecond, walEvents(t, 200+i*4, 4))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("past the hard bound: %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited < 50*time.Millisecond {
			t.Fatalf("gave up after %v, before its 50 ms", waited)
		}
	}
	releaseApplier()
	if err := s.AppendWithin(time.Minute, walEvents(t, 300, 4)); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Ingested[profile.Track]; got != 16+64+12+4 {
		t.Errorf("%d events applied, want %d (those given up on are logged too)", got, 16+64+12+4)
	}
}

// openHoldable opens a store (without fdatasyncs, opts applied) whose
// applier, once holdApplier is called, stops before its next batch
// until releaseApplier (called at cleanup too).
func openHoldable(t *testing.T, opts func(*Options)) (s *Store, holdApplier, releaseApplier func()) {
	hold := make(chan struct{})
	var held atomic.Bool
	var once sync.Once
	s = open(t, func(o *Options) {
		o.NoSync = true
		opts(o)
		o.applyHook = func() {
			if held.Load() {
				<-hold
			}
		}
	})
	releaseApplier = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(releaseApplier)
	return s, func() { held.Store(true) }, releaseApplier
}
