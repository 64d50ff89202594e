package store

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"ucv/profile"
	"ucv/profile/catalog"
)

func offerCatalog(tb testing.TB) catalog.Catalog {
	tb.Helper()
	c, _, err := catalog.ParseFile([]byte(`{
		"audiences": {"buyers": {"expression": "count(\"Order Completed\", \"lifetime\") >= 1"}},
		"offers": {
			"welcome": {"placement": "checkout", "eligibility": "!(\"buyers\" in audiences)", "priority": 1},
			"loyal": {"placement": "checkout", "eligibility": "\"buyers\" in audiences", "priority": 10, "cap": {"max": 2, "window": "24h"}, "payload": {"code":"L"}},
			"news": {"placement": "checkout", "priority": 5, "consent": "marketing"},
			"banner": {"placement": "home", "priority": 100}
		}}`))
	if err != nil {
		tb.Fatal(err)
	}
	c.Version = 1
	return c
}

func shownEvent(u, id string, at time.Time, offer string) string {
	return fmt.Sprintf(`{"type":"track","event":"Offer Shown","userId":%q,"messageId":%q,"timestamp":%q,"properties":{"offer_id":%q}}`,
		u, id, at.Format(time.RFC3339Nano), offer)
}

// decisionOf returns user u's stored decision at placement (stored
// false when none is usable) and checks it against deciding from the
// profile now.
func decisionOf(tb testing.TB, s *Store, u, placement string) (offers []string, stored bool) {
	tb.Helper()
	ident := profile.Identifier{Type: profile.UserID, Value: u}
	d, found, stored, err := s.Decision("", ident, false, placement, 50)
	if err != nil || !found {
		tb.Fatalf("Decision(%s) = %v, found %v", u, err, found)
	}
	id, err := s.ResolveIdentifier(ident)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := s.Profile(id)
	if err != nil {
		tb.Fatal(err)
	}
	want := s.Catalog().Decide(p, s.opts.Now(), placement, 50, false)
	var got, exp []string
	for _, o := range d.Offers {
		got = append(got, fmt.Sprintf("%s=%g%s", o.ID, o.Score, o.Payload))
	}
	for _, o := range want.Offers {
		exp = append(exp, fmt.Sprintf("%s=%g%s", o.ID, o.Score, o.Payload))
	}
	if stored && (!slices.Equal(got, exp) || d.Version != p.Version.String() || d.ID != id) {
		tb.Fatalf("stored decision %v (%s), deciding now gives %v (%s)", got, d.Version, exp, p.Version)
	}
	return exp, stored
}

// Decisions are stored with views, agree with deciding from the profile,
// and are not served once time has changed them (an impression leaving
// its cap window) until the sweep renders them again.
func TestDecisionsStored(t *testing.T) {
	clk := newTestClock(t0)
	s := open(t, func(o *Options) { o.Now = clk.now; o.SweepInterval = 5 * time.Millisecond })
	if _, err := s.SetCatalog(offerCatalog(t)); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, order("ann", "o1", t0.Add(-time.Hour), "5"))
	want := func(what, placement string, exp ...string) {
		t.Helper()
		got, stored := decisionOf(t, s, "ann", placement)
		if !stored || !slices.Equal(got, exp) {
			t.Fatalf("%s: %v (stored %v), want %v stored", what, got, stored, exp)
		}
	}
	want("a buyer", "checkout", `loyal=10{"code":"L"}`)
	want("a buyer at home", "home", "banner=100")
	ingest(t, s, `{"type":"identify","userId":"ann","messageId":"c1","context":{"consent":{"categoryPreferences":{"Marketing":true}}}}`)
	want("consent", "checkout", `loyal=10{"code":"L"}`, "news=5")
	ingest(t, s, shownEvent("ann", "s1", t0.Add(-3*time.Hour), "loyal"), shownEvent("ann", "s2", t0.Add(-2*time.Hour), "loyal"))
	want("capped", "checkout", "news=5")
	if ev := rawEval(t, s, "ann"); ev.nextMs != t0.Add(21*time.Hour).UnixMilli() {
		t.Fatalf("stored next change %v, want when s1 leaves the cap window", time.UnixMilli(ev.nextMs).UTC())
	}
	// The first impression leaves the window: the stored decision is
	// stale, not served, until the sweep renders it again.
	s.sweepMu.Lock() // hold the sweep back
	clk.set(t0.Add(21 * time.Hour))
	if got, stored := decisionOf(t, s, "ann", "checkout"); stored || !slices.Equal(got, []string{`loyal=10{"code":"L"}`, "news=5"}) {
		t.Fatalf("after the window: %v, stored %v; want loyal back and the stale decision unused", got, stored)
	}
	s.sweepMu.Unlock()
	waitFor(t, "the sweep to render the decision again", func() bool { _, stored := decisionOf(t, s, "ann", "checkout"); return stored })
	want("after the sweep", "checkout", `loyal=10{"code":"L"}`, "news=5")

	// A catalog without offers leaves no decision stored.
	c := offerCatalog(t)
	c.Offers, c.Version = nil, 2
	if _, err := s.SetCatalog(c); err != nil {
		t.Fatal(err)
	}
	if got, stored := decisionOf(t, s, "ann", "checkout"); stored || got != nil {
		t.Fatalf("without offers: %v, stored %v", got, stored)
	}
	waitFor(t, "the sweep to render without offers", func() bool { return rawEval(t, s, "ann").digest == s.Catalog().Digest() })
	if got, stored := decisionOf(t, s, "ann", "checkout"); stored || got != nil {
		t.Fatalf("without offers after the sweep: %v, stored %v", got, stored)
	}
	// The rendering without offers removed the record, not only made it
	// stale (putDecision looks at the bucket once a transaction).
	if err := s.view(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketDecisions).Cursor().First(); k != nil {
			t.Errorf("decision of %s still stored without offers", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedDecisionIsNotServed: a stored decision record that fails
// its checksum (here a byte of an offer's score flipped, which still
// parses) is not served: the read answers stored false and the caller
// decides from the profile.
func TestDamagedDecisionIsNotServed(t *testing.T) {
	s := open(t)
	if _, err := s.SetCatalog(offerCatalog(t)); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, order("ann", "o1", t0.Add(-time.Hour), "5"))
	if got, stored := decisionOf(t, s, "ann", "checkout"); !stored || !slices.Equal(got, []string{`loyal=10{"code":"L"}`}) {
		t.Fatalf("before the damage: %v, stored %v", got, stored)
	}
	id, err := s.ResolveIdentifier(profile.Identifier{Type: profile.UserID, Value: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDecisions)
		rec := bytes.Clone(b.Get([]byte(id)))
		if len(rec) == 0 {
			t.Fatal("no decision stored")
		}
		rec[len(rec)-1] ^= 0x40 // the last offer's score: 10 becomes 10.000000000000114
		return b.Put([]byte(id), rec)
	}); err != nil {
		t.Fatal(err)
	}
	// decisionOf fails the test if a stored decision disagrees with
	// deciding from the profile.
	if got, stored := decisionOf(t, s, "ann", "checkout"); stored || !slices.Equal(got, []string{`loyal=10{"code":"L"}`}) {
		t.Fatalf("after the damage: %v, stored %v; want the record unused", got, stored)
	}
}

// A decision record decodes to what was encoded, only under the
// evaluation it was stamped with and the profile ID it was sealed for,
// and any bytes decode without panic. The fuzzer's bytes are the
// record past its checksum (parseDecision): sealed, they would almost
// never get past it.
func FuzzDecodeDecision(f *testing.F) {
	ev := viewEval{digest: 42, nextMs: 1_700_000_000_000, ok: true}
	ranked := []catalog.Decided{{ID: "loyal", Score: 20}, {ID: "news", Score: -1.5}}
	f.Add(encodeDecision("p1", ev, ranked)[sumLen:])
	f.Add(encodeDecision("p1", ev, nil)[sumLen:])
	f.Add([]byte{})
	id := []byte("p1")
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []catalog.Decided
		if !parseDecision(b, ev, func(id []byte, score float64) bool {
			got = append(got, catalog.Decided{ID: string(id), Score: score})
			return true
		}) {
			return
		}
		again := encodeDecision(string(id), ev, got)
		var back []catalog.Decided
		if !decodeDecision(id, again, ev, func(id []byte, score float64) bool {
			back = append(back, catalog.Decided{ID: string(id), Score: score})
			return true
		}) || len(back) != len(got) {
			t.Fatalf("re-encoding %v does not decode", got)
		}
		other := ev
		other.nextMs++
		if decodeDecision(id, again, other, func([]byte, float64) bool { return true }) {
			t.Fatal("a decision decoded under another evaluation")
		}
		if decodeDecision([]byte("p2"), again, ev, func([]byte, float64) bool { return true }) {
			t.Fatal("a decision decoded under another profile ID")
		}
		for i := range again {
			flipped := bytes.Clone(again)
			flipped[i] ^= 0x20
			if decodeDecision(id, flipped, ev, func([]byte, float64) bool { return true }) {
				t.Fatalf("a decision with byte %d flipped decoded", i)
			}
		}
	})
}
