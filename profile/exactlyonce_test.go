package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
)

// onceMessage returns message i of a fixed universe: the same i is the
// same event (messageId, event, amount, categories) however often it is
// sent; only its timestamp may differ between deliveries, as a client's
// retry to another till corrects the clock skew with another receivedAt.
func onceMessage(t *rapid.T, i int, jitterMs int) *Message {
	o := map[string]any{
		"messageId": fmt.Sprintf("msg-%d", i),
		"userId":    "u1",
		"timestamp": t0.Add(time.Duration(i)*time.Minute + time.Duration(jitterMs)*time.Millisecond).Format(time.RFC3339Nano),
	}
	switch i % 4 {
	case 0:
		o["type"], o["event"] = "track", "Order Completed"
		o["properties"] = map[string]any{"total": fmt.Sprintf("%d.%02d", 10+i, i%100), "currency": []string{"EUR", "USD"}[i%2], "category": []string{"Shoes", "Books", "Games"}[i%3]}
	case 1:
		o["type"], o["event"] = "track", "Product Viewed"
		o["properties"] = map[string]any{"category": []string{"Shoes", "Books"}[i%2]}
	case 2:
		o["type"], o["name"] = "page", "Home"
	case 3:
		o["type"], o["traits"] = "identify", map[string]any{"plan": fmt.Sprintf("p%d", i)}
	}
	b, _ := json.Marshal(o)
	m, err := ParseMessage(b, "", t0.Add(time.Hour), ParseOptions{Normalize: DefaultNormalizeOptions()})
	if err != nil {
		t.Fatalf("message %d invalid: %v\n%s", i, err, b)
	}
	return m
}

// TestExactlyOnceAcrossReplicas is the system's counting contract at the
// level of the profile CRDT: any interleaving of deliveries of the same
// messages to any replicas and to either of two profiles — duplicates at
// one replica, the same message at several replicas, deltas redelivered,
// replicas syncing partially, the two profiles merged by identity
// resolution at some replicas — ends with the counters, revenue and
// computed view that delivering each distinct message once gives.
func TestExactlyOnceAcrossReplicas(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(t, "replicas")
		universe := rapid.IntRange(1, 12).Draw(t, "messages")
		type replica struct {
			p, q *Profile // two profiles one person may be split across
			clk  *crdt.Clock
		}
		rs := make([]*replica, n)
		for i := range rs {
			wall := t0.Add(time.Hour)
			rs[i] = &replica{p: New("P"), q: New("Q"), clk: crdt.NewClock(crdt.ReplicaID(i+1), func() time.Time { return wall }, time.Second, crdt.Timestamp{})}
		}
		delivered := map[int]bool{}
		var deltas []*Profile
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			i := rapid.IntRange(0, n-1).Draw(t, "at")
			r := rs[i]
			src := Source{Node: crdt.ReplicaID(i + 1), Name: fmt.Sprintf("till-%d", i)}
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1, 2: // an event reaches this replica, for P or for Q
				k := rapid.IntRange(0, universe-1).Draw(t, "msg")
				m := onceMessage(t, k, rapid.IntRange(0, 900).Draw(t, "jitter"))
				delivered[k] = true
				target := r.p
				if rapid.Bool().Draw(t, "toQ") {
					target = r.q
				}
				deltas = append(deltas, target.Apply(m, m.Identifiers, src, r.clk.Now()).Clone())
			case 3: // gossip: another replica's whole state
				o := rs[rapid.IntRange(0, n-1).Draw(t, "from")]
				r.p.Merge(o.p)
				r.q.Merge(o.q)
			case 4: // a redelivered delta
				if len(deltas) > 0 {
					d := deltas[rapid.IntRange(0, len(deltas)-1).Draw(t, "delta")]
					if d.ID == "P" {
						r.p.Merge(d)
					} else {
						r.q.Merge(d)
					}
				}
			case 5: // identity resolution folds Q into P here
				d := r.q.Clone()
				d.ID = "P"
				r.p.Merge(d)
			}
		}
		// Every replica ends with everything, Q folded into P.
		all := New("P")
		for _, r := range rs {
			all.Merge(r.p)
			q := r.q.Clone()
			q.ID = "P"
			all.Merge(q)
		}
		want := New("P")
		clk := crdt.NewClock(99, func() time.Time { return t0.Add(time.Hour) }, time.Second, crdt.Timestamp{})
		for k := range universe {
			if delivered[k] {
				m := onceMessage(t, k, 0)
				want.Apply(m, m.Identifiers, Source{Node: 99}, clk.Now())
			}
		}
		if got, w := all.Totals(), want.Totals(); !maps.Equal(got, w) {
			t.Fatalf("counters after any delivery = %v\nwant each message once = %v", got, w)
		}
		// Times are not counts: a message seen at two tills with two
		// clock corrections moves last_order_at to the later sighting
		// (Max is idempotent too), so they are left out here.
		now := t0.Add(48 * time.Hour)
		got, w := all.Computed(now), want.Computed(now)
		got.LastOrderAt, w.LastOrderAt, got.DaysSinceLastSeen, w.DaysSinceLastSeen = nil, nil, nil, nil
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(w)
		if string(gb) != string(wb) {
			t.Fatalf("computed view = %s\nwant %s", gb, wb)
		}
		// The same holds for the deltas alone, in any order.
		fresh := New("P")
		for _, d := range rapid.Permutation(deltas).Draw(t, "order") {
			d = d.Clone()
			d.ID = "P"
			fresh.Merge(d)
		}
		if got, w := fresh.Totals(), want.Totals(); !maps.Equal(got, w) {
			t.Fatalf("counters from all deltas = %v, want %v", got, w)
		}
	})
}

// One order sent to two tills (a client retrying against another till)
// counts once once both tills' states meet, and once at each till alone.
func TestSameMessageAtTwoTillsCountsOnce(t *testing.T) {
	body := `{"type":"track","userId":"u1","event":"Order Completed","messageId":"M","properties":{"total":"59.90","currency":"EUR"}}`
	a, b := New("P"), New("P")
	ca := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	cb := crdt.NewClock(2, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	m := msg(t, body)
	da := a.Apply(m, m.Identifiers, Source{Node: 1}, ca.Now())
	b.Merge(da) // gossip reaches till 2 first
	m2 := msg(t, body)
	m2.Timestamp = m2.Timestamp.Add(3 * time.Second) // the retry's own clock correction
	db := b.Apply(m2, m2.Identifiers, Source{Node: 2}, cb.Now())
	a.Merge(db)
	for name, p := range map[string]*Profile{"till 1": a, "till 2": b} {
		if got := p.Count("orders"); got != 1 {
			t.Errorf("%s: orders = %d, want 1", name, got)
		}
		if got := p.Count("revenue:EUR"); got != 5990 {
			t.Errorf("%s: revenue:EUR = %d, want 5990", name, got)
		}
	}
}

// TestDamagedLaterSectionsKeepTheCount: an entry whose counted part
// reads but whose props section does not (a count past the end, a pair
// cut short) still counts, for the tally and for definitions alike, and
// only loses its props and products. The fuzzer found the tally and the
// decoder disagreeing on the first of these.
func TestDamagedLaterSectionsKeepTheCount(t *testing.T) {
	base := contribution{kind: Track, event: "Order Completed", isOrder: true, currency: "EUR", minor: 5990, cats: []string{"Shoes"}}.encode()
	cut := contribution{kind: Track, event: "Order Completed", isOrder: true, currency: "EUR", minor: 5990, cats: []string{"Shoes"},
		props: []capturedProp{{path: "total", val: []byte{0xcb, 1, 2, 3, 4, 5, 6, 7, 8}}}, products: []string{"p1"}}.encode()
	for name, data := range map[string][]byte{
		"props count past the end": append(bytes.Clone(base), 0x05),
		"props pair cut short":     cut[:len(cut)-6],
	} {
		t.Run(name, func(t *testing.T) {
			c, ok := decodeContribution(data)
			if !ok || c.event != "Order Completed" || c.minor != 5990 || len(c.cats) != 1 || c.props != nil || c.products != nil {
				t.Fatalf("decodeContribution = %+v, %v; want the counted part, no props or products", c, ok)
			}
			if !newTally().fold(data) {
				t.Fatal("the tally refused it")
			}
			p := &Profile{Ledger: crdt.Ledger{Entries: []crdt.LedgerEntry{{Key: 1, Time: 5, Data: data}}}}
			if got := p.Count("revenue:EUR"); got != 5990 {
				t.Fatalf("revenue:EUR = %d, want 5990", got)
			}
			seen := 0
			p.LedgerEvents(func(e *LedgerEvent) {
				seen++
				if _, ok := e.Prop("total"); ok || e.Products() != nil || e.Minor != 5990 {
					t.Fatalf("event %+v: want no props or products and its amount", e)
				}
			})
			if seen != 1 {
				t.Fatalf("LedgerEvents gave %d events, want 1", seen)
			}
		})
	}
}

func FuzzContribution(f *testing.F) {
	f.Add(contribution{kind: Track, event: "Order Completed", isOrder: true, currency: "EUR", minor: 5990, cats: []string{"Shoes"}}.encode())
	f.Add(contribution{kind: Identify}.encode())
	f.Add(contribution{kind: Track, event: "Viewed", products: []string{"p1"},
		consent: &consentRecord{messageID: "m1", source: "web", cats: []consentCat{{"ads", false}, {"analytics", true}}}}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := decodeContribution(b)
		if folded := newTally().fold(b); folded != ok {
			t.Fatalf("decode accepts %v, fold accepts %v", ok, folded)
		}
		if !ok {
			return
		}
		if rec := readConsent(b); rec != nil {
			c.consent = rec
			if again := readConsent(c.encode()); again == nil || again.messageID != rec.messageID || len(again.cats) != len(rec.cats) {
				t.Fatalf("consent record %+v re-read as %+v", rec, again)
			}
		}
		back, ok := decodeContribution(c.encode())
		if !ok || back.kind != c.kind || back.event != c.event || back.minor != c.minor || len(back.cats) != len(c.cats) {
			t.Fatalf("re-decoding %+v gave %+v, %v", c, back, ok)
		}
	})
}

// FuzzConsentRecord: the consent record of any ledger entry's bytes is
// read without panicking, bounded, and reads back the same after being
// written again.
func FuzzConsentRecord(f *testing.F) {
	f.Add(contribution{kind: Track, event: "Viewed", products: []string{"p1"},
		consent: &consentRecord{messageID: "m1", source: "web", cats: []consentCat{{"ads", false}, {"analytics", true}}}}.encode())
	f.Add(contribution{kind: Identify, consent: &consentRecord{messageID: "m2", cats: []consentCat{{"x", true}}}}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		rec := readConsent(b)
		p := &Profile{Ledger: crdt.Ledger{Entries: []crdt.LedgerEntry{{Key: 1, Time: 5, Data: b}}}}
		h := p.ConsentHistory()
		if rec == nil {
			if len(h) != 0 {
				t.Fatalf("history %v from an unreadable record", h)
			}
			return
		}
		if len(rec.cats) > MaxConsentCategories || len(h) != len(rec.cats) {
			t.Fatalf("record of %d categories, history of %d", len(rec.cats), len(h))
		}
		again := readConsent(contribution{kind: Track, consent: rec}.encode())
		if again == nil || again.messageID != rec.messageID || again.source != rec.source || len(again.cats) != len(rec.cats) {
			t.Fatalf("record %+v re-read as %+v", rec, again)
		}
	})
}
