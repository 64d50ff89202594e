package profile

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
)

// consentMessage is message i stating category ads = granted at t0+sec.
func consentMessage(t interface{ Fatalf(string, ...any) }, i int, sec int, granted bool) *Message {
	o := map[string]any{
		"type": "track", "event": "Page Viewed", "userId": "u1",
		"messageId": fmt.Sprintf("c-%d", i),
		"timestamp": t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339),
		"context":   map[string]any{"consent": map[string]any{"categoryPreferences": map[string]any{"advertising": granted}}},
	}
	b, _ := json.Marshal(o)
	m, err := ParseMessage(b, "", t0.Add(24*time.Hour), ParseOptions{Normalize: DefaultNormalizeOptions()})
	if err != nil {
		t.Fatalf("message %d invalid: %v", i, err)
	}
	return m
}

// TestConsentLatestByEventTime: whatever order the statements arrive
// in, at whichever replicas, and however replicas exchange state, every
// replica ends with the statement of the latest event time (ties by
// message key) and with the whole history, each statement once.
func TestConsentLatestByEventTime(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(1, 8).Draw(t, "statements")
		type st struct {
			sec     int
			granted bool
		}
		sts := make([]st, k)
		for i := range sts {
			sts[i] = st{rapid.IntRange(0, 20).Draw(t, "sec"), rapid.Bool().Draw(t, "granted")}
		}
		// The expected winner: greatest (event time, message key).
		win := 0
		for i := range sts {
			a, b := ConsentTimestamp(fmt.Sprintf("c-%d", win), int64(sts[win].sec)), ConsentTimestamp(fmt.Sprintf("c-%d", i), int64(sts[i].sec))
			if a.Less(b) {
				win = i
			}
		}
		n := 3
		rs := make([]*Profile, n)
		clocks := make([]*crdt.Clock, n)
		for i := range rs {
			rs[i] = New("P")
			wall := t0.Add(time.Hour) // arrival time, later than every event
			clocks[i] = crdt.NewClock(crdt.ReplicaID(i+1), func() time.Time { return wall }, time.Second, crdt.Timestamp{})
		}
		// Deliver every statement at least once, in a random order, to
		// random replicas, with merges in between.
		order := rapid.Permutation(func() []int {
			out := make([]int, k)
			for i := range out {
				out[i] = i
			}
			return out
		}()).Draw(t, "arrival")
		for _, i := range order {
			r := rapid.IntRange(0, n-1).Draw(t, "at")
			m := consentMessage(t, i, sts[i].sec, sts[i].granted)
			rs[r].Apply(m, nil, Source{Node: crdt.ReplicaID(r + 1), Name: fmt.Sprintf("till-%d", r)}, clocks[r].Now())
			if rapid.Bool().Draw(t, "sync") {
				rs[rapid.IntRange(0, n-1).Draw(t, "to")].Merge(rs[r])
			}
		}
		for _, r := range rs[1:] {
			rs[0].Merge(r)
		}
		g, known := rs[0].ConsentState("Advertising")
		if !known || g != sts[win].granted {
			t.Fatalf("advertising = %v (known %v), want %v from statement %d at %ds", g, known, sts[win].granted, win, sts[win].sec)
		}
		h := rs[0].ConsentHistory()
		if len(h) != k {
			t.Fatalf("history has %d statements, want %d: %v", len(h), k, h)
		}
		for i := 1; i < len(h); i++ {
			if h[i].Time < h[i-1].Time {
				t.Fatalf("history not in event-time order: %v", h)
			}
		}
		for _, c := range h {
			var i int
			fmt.Sscanf(c.MessageID, "c-%d", &i)
			if c.Category != "advertising" || c.Granted != sts[i].granted || c.Time != t0.Add(time.Duration(sts[i].sec)*time.Second).UnixMilli() {
				t.Fatalf("history entry %+v does not match statement %d %+v", c, i, sts[i])
			}
		}
	})
}

// TestConsentOlderStatementArrivingLater: a decline sent before a grant
// but delivered after it does not override it.
func TestConsentOlderStatementArrivingLater(t *testing.T) {
	p := New("P")
	clk := crdt.NewClock(1, func() time.Time { return t0.Add(time.Hour) }, time.Second, crdt.Timestamp{})
	p.Apply(consentMessage(t, 2, 20, true), nil, Source{Node: 1, Name: "web"}, clk.Now())
	p.Apply(consentMessage(t, 1, 10, false), nil, Source{Node: 1, Name: "app"}, clk.Now())
	if g, _ := p.ConsentState("advertising"); !g {
		t.Fatal("the older decline, arriving later, won")
	}
	h := p.ConsentHistory()
	if len(h) != 2 || h[0].Granted || !h[1].Granted || h[0].Source != "app" || h[1].MessageID != "c-2" {
		t.Fatalf("history = %+v", h)
	}
}

// live counts the ledger entries that still hold an event.
func live(p *Profile) int {
	n := 0
	p.LedgerEvents(func(*LedgerEvent) { n++ })
	return n
}

// TestPruneRetention: events before the cutoff leave the ledger and the
// timeline, state stays, and merging the old state back does not bring
// them back; an event older than the watermark applied later is not
// kept.
func TestPruneRetention(t *testing.T) {
	clk := crdt.NewClock(1, func() time.Time { return t0.Add(time.Hour) }, time.Second, crdt.Timestamp{})
	p := New("P")
	for i, sec := range []int{10, 20, 30, 40} {
		m := consentMessage(t, i, sec, i%2 == 0)
		p.Apply(m, nil, Source{Node: 1}, clk.Now())
	}
	old := p.Clone()
	cut := t0.Add(25 * time.Second).UnixMilli()
	d, dropped := p.Prune(cut)
	if !dropped {
		t.Error("Prune reports nothing dropped")
	}
	if _, again := p.Prune(cut); again {
		t.Error("a second Prune at the same cutoff dropped something")
	}
	if live(p) != 2 || len(p.Timeline.Items) != 2 {
		t.Fatalf("after prune: %d ledger entries, %d timeline events; want 2, 2", live(p), len(p.Timeline.Items))
	}
	if !p.FirstSeen.Set || p.FirstSeen.V != t0.Add(10*time.Second).UnixMilli() {
		t.Error("first seen changed")
	}
	p.Merge(old)
	if live(p) != 2 || len(p.Timeline.Items) != 2 {
		t.Fatal("merging the old state brought pruned events back")
	}
	// The delta prunes another replica the same way.
	q := old.Clone()
	q.Merge(d)
	if !q.Equal(p) {
		t.Fatal("the prune delta does not give the same state")
	}
	q.Apply(consentMessage(t, 9, 5, true), nil, Source{Node: 1}, clk.Now())
	if live(q) != 2 || len(q.Timeline.Items) != 2 {
		t.Fatal("an event older than the watermark was kept")
	}
	if g, _ := q.ConsentState("advertising"); g {
		t.Fatal("a statement older than the state's won") // the latest (40s) is a decline
	}
	b, _ := q.Marshal()
	back, err := Unmarshal(b)
	if err != nil || !back.Equal(q) {
		t.Fatalf("watermark does not round-trip: %v", err)
	}
}
