package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/hub/webhook"
	"ucv/profile"
	"ucv/profile/catalog"
)

// dueOf lists the deliveries due as "destination type profile attempts".
func dueOf(f *hub.FSM, at time.Time) []string {
	due, _ := f.DueDeliveries(at, func(string) int { return 100 }, func(uint64) bool { return false })
	var out []string
	for _, p := range due {
		var ev hub.WebhookEvent
		if err := json.Unmarshal(p.Body, &ev); err != nil {
			panic(err)
		}
		out = append(out, p.Dest+" "+p.Type+" "+ev.Profile.ID+" "+string(rune('0'+p.Attempts)))
	}
	slices.Sort(out)
	return out
}

func dueQ(f *hub.FSM, at time.Time, dest, profileID string) uint64 {
	due, _ := f.DueDeliveries(at, func(string) int { return 100 }, func(uint64) bool { return false })
	for _, p := range due {
		var ev hub.WebhookEvent
		_ = json.Unmarshal(p.Body, &ev)
		if p.Dest == dest && ev.Profile.ID == profileID {
			return p.Q
		}
	}
	return 0
}

// The delivery queue in the state machine: deliveries are queued per
// matching destination (type, audience filter, consent), only the head
// of a (destination, profile) chain is due, merges are delivered, and
// results move the queue; the whole of it is in the snapshot (golden),
// and a restored state machine goes on as the original does.
func TestDeliveryQueueSnapshotGolden(t *testing.T) {
	l := newLog(t)
	l.at = t0
	defineAll(t, l, [3]string{catalog.KindAudience, "vip", `{"expression":"'plan' in traits && traits.plan == 'vip'"}`})
	l.apply(define(hub.KindDestination, "all", `{"type":"webhook","url":"https://a.example/h","secret":"0123456789abcdef","events":["audience.entered","audience.exited","profile.merged"]}`))
	l.apply(define(hub.KindDestination, "ads", `{"type":"webhook","url":"https://b.example/h","secret":"fedcba9876543210","events":["audience.entered"],"audiences":["vip"],"consent":"ads","max_attempts":2}`))
	e := hubtest.NewEdge("e", 1)
	vip := func(id, p string, ads bool) hubtest.Event {
		return hubtest.Event{Profile: id, Kind: profile.Identify, Traits: map[string]any{"plan": p}, Consent: map[string]bool{"ads": ads},
			IDs: []profile.Identifier{hubtest.Email(id + "@example.org")}}
	}
	l.push(e, vip(p1, "vip", true), vip(p2, "vip", false))
	l.push(e, vip(p1, "basic", true))
	want := []string{"ads audience.entered " + p1 + " 0", "all audience.entered " + p1 + " 0", "all audience.entered " + p2 + " 0"}
	if got := dueOf(l.f, t0); !slices.Equal(got, want) {
		t.Fatalf("due = %q, want %q (p1's exit waits for its entry)", got, want)
	}
	l.apply(hub.MarshalMerge(&hub.Merge{A: p1, B: p2, Actor: "ops", Reason: "same person"}))
	q1 := dueQ(l.f, t0, "all", p1)
	qAds := dueQ(l.f, t0, "ads", p1)
	q2 := dueQ(l.f, t0, "all", p2)
	l.apply(hub.MarshalDelivered(&hub.Delivered{Results: []hub.DeliveryResult{
		{Q: q1, Outcome: webhook.Delivered},
		{Q: qAds, Outcome: webhook.Retry, Next: t0.Add(time.Minute).UnixMilli(), Err: "HTTP 503"},
		{Q: q2, Outcome: webhook.Failed, Err: "HTTP 410"},
	}}))
	// p1's exit heads its chain now (the merge waits behind it); p2,
	// absorbed by the merge, left vip.
	want = []string{"all audience.exited " + p1 + " 0", "all audience.exited " + p2 + " 0"}
	if got := dueOf(l.f, t0); !slices.Equal(got, want) {
		t.Fatalf("due after the results = %q, want %q", got, want)
	}
	l.apply(hub.MarshalDelivered(&hub.Delivered{Results: []hub.DeliveryResult{{Q: dueQ(l.f, t0, "all", p1), Outcome: webhook.Delivered}}}))
	due, _ := l.f.DueDeliveries(t0, func(string) int { return 10 }, func(uint64) bool { return false })
	var merged hub.WebhookEvent
	for _, p := range due {
		if p.Type == hub.EventMerged {
			_ = json.Unmarshal(p.Body, &merged)
		}
	}
	if merged.Profile.ID != p1 || !slices.Equal(merged.MergedFrom, []string{p2}) || len(merged.Profile.Identities) != 2 {
		t.Errorf("merge delivery = %+v, want p2 merged into p1 with both e-mails", merged)
	}
	if got := dueOf(l.f, t0.Add(time.Minute)); !slices.Contains(got, "ads audience.entered "+p1+" 1") {
		t.Fatalf("due a minute later = %q, want the retry", got)
	}
	all, _ := l.f.Destination("all")
	if all.Delivered != 2 || all.DeadLetters != 1 || all.Pending != 2 || all.LastError != "HTTP 410" || !all.OldestPending.Equal(t0) {
		t.Errorf("status of all = %+v", all)
	}
	r := goldenRestore(t, l.snapshot(), "snapshot_deliveries.golden", "DeliveryQueueSnapshotGolden")
	for _, at := range []time.Time{t0, t0.Add(time.Minute)} {
		if d := cmp.Diff(dueOf(l.f, at), dueOf(r, at)); d != "" {
			t.Errorf("restored queue differs at %v:\n%s", at, d)
		}
	}
	if d := cmp.Diff(l.f.Destinations(), r.Destinations()); d != "" {
		t.Errorf("restored destinations differ:\n%s", d)
	}
	// The retry fails again: max_attempts 2 sends it to the dead letters,
	// on the original and the restored state machine alike.
	next := must(hub.MarshalDelivered(&hub.Delivered{Results: []hub.DeliveryResult{{Q: qAds, Outcome: webhook.Retry, Err: "timeout"}}}))
	l.apply(next, nil)
	r.Apply(rlog(l.index, next))
	if !bytes.Equal(l.snapshot(), snapshotOf(t, r)) {
		t.Error("the restored FSM and the original differ after the same results")
	}
	dead, _ := r.DeadLetters("ads", 0, 10)
	if len(dead) != 1 || dead[0].Attempts != 2 || dead[0].Error != "gave up after 2 attempts: timeout" {
		t.Errorf("dead letters of ads = %+v", dead)
	}
}

// TestPropertyDeliveryQueue: random transitions (plan changes of four
// profiles, some sharing an e-mail, so merges happen too) and random
// results for the due deliveries. At every step: no two due deliveries
// of one destination are about one profile; every transition is
// delivered, pending or dead exactly once (delivered + pending + dead ==
// transitions, for a destination taking every transition); within a
// (destination, profile) chain deliveries are acknowledged in queue
// order; and a restored snapshot holds the same state.
func TestPropertyDeliveryQueue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := newLog(t)
		l.at = t0
		if r := l.apply(define(catalog.KindAudience, "vip", `{"expression":"'plan' in traits && traits.plan == 'vip'"}`)); r.Err != nil {
			t.Fatal(r.Err)
		}
		l.apply(define(hub.KindDestination, "all", `{"type":"webhook","url":"https://a.example/h","secret":"0123456789abcdef","events":["audience.entered","audience.exited"],"max_attempts":3}`))
		e := hubtest.NewEdge("e", 1)
		emails := []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org", "a@example.org"}
		lastAcked := map[string]uint64{} // profile → last acknowledged delivery ID
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			if rapid.Bool().Draw(t, "push") {
				i := rapid.IntRange(0, 3).Draw(t, "profile")
				id := fmt.Sprintf("P%d", i)
				l.push(e, hubtest.Event{Profile: id, Kind: profile.Identify, Traits: map[string]any{"plan": rapid.SampledFrom([]string{"vip", "free"}).Draw(t, "plan")},
					IDs: []profile.Identifier{hubtest.Email(emails[i+rapid.IntRange(0, 1).Draw(t, "shared")])}})
			} else {
				due, _ := l.f.DueDeliveries(t0.Add(time.Hour), func(string) int { return 100 }, func(uint64) bool { return false })
				var res []hub.DeliveryResult
				for _, p := range due {
					o := webhook.Outcome(rapid.IntRange(1, 3).Draw(t, "outcome"))
					res = append(res, hub.DeliveryResult{Q: p.Q, Outcome: o, Next: t0.Add(time.Minute).UnixMilli(), Err: "x"})
					if o == webhook.Delivered {
						var ev hub.WebhookEvent
						_ = json.Unmarshal(p.Body, &ev)
						if p.ID <= lastAcked[ev.Profile.ID] {
							t.Fatalf("delivery %d of %s acknowledged after %d", p.ID, ev.Profile.ID, lastAcked[ev.Profile.ID])
						}
						lastAcked[ev.Profile.ID] = p.ID
					}
				}
				if len(res) > 0 {
					l.apply(hub.MarshalDelivered(&hub.Delivered{Results: res}))
				}
			}
			due, _ := l.f.DueDeliveries(t0.Add(time.Hour), func(string) int { return 100 }, func(uint64) bool { return false })
			seen := map[string]bool{}
			for _, p := range due {
				var ev hub.WebhookEvent
				_ = json.Unmarshal(p.Body, &ev)
				if seen[ev.Profile.ID] {
					t.Fatalf("two due deliveries about %s", ev.Profile.ID)
				}
				seen[ev.Profile.ID] = true
			}
			st, _ := l.f.Destination("all")
			if n := len(l.f.Transitions(0, 1<<20)); int(st.Delivered)+st.Pending+st.DeadLetters != n {
				t.Fatalf("delivered %d + pending %d + dead %d != %d transitions", st.Delivered, st.Pending, st.DeadLetters, n)
			}
		}
		r, err := hub.NewFSM()
		if err != nil {
			t.Fatal(err)
		}
		snap := l.snapshot()
		if err := r.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(snapshotOf2(t, r), snap) {
			t.Fatal("restore then snapshot changed the bytes")
		}
	})
}

func snapshotOf2(t *rapid.T, f *hub.FSM) []byte {
	var b bytes.Buffer
	if err := f.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Destinations never reach edges: defining one changes neither the
// catalog's version nor its encoding, so no feed page or bootstrap
// carries it (or its secret), and edges are not sent a new catalog.
func TestDestinationsStayAtTheHub(t *testing.T) {
	l := newLog(t)
	l.at = t0
	defineAll(t, l, [3]string{catalog.KindAudience, "vip", `{"expression":"true"}`})
	before := l.f.Catalog()
	enc := l.f.Bootstrap().Catalog()
	const secret = "never-to-an-edge-0123"
	if r := l.apply(define(hub.KindDestination, "crm", `{"type":"webhook","url":"https://a.example/h","secret":"`+secret+`","events":["audience.entered"],"audiences":["vip"]}`)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v := l.f.Catalog().Version; v != before.Version {
		t.Errorf("catalog version %d after defining a destination, want %d", v, before.Version)
	}
	if !bytes.Equal(l.f.Bootstrap().Catalog(), enc) {
		t.Error("the bootstrap's catalog changed with a destination")
	}
	page := l.f.FeedPage(0, 100)
	if bytes.Contains(page.Catalog, []byte(secret)) || bytes.Contains(page.Catalog, []byte("a.example")) {
		t.Error("the feed carries the destination")
	}
	if !bytes.Contains(l.snapshot(), []byte(secret)) {
		t.Error("the hub's own snapshot lacks the secret: a new leader could not sign")
	}
}

// A snapshot written before consent was kept by event time, with its
// history in the ledger (decision 0041), restores and snapshots to the
// same bytes, with the same destinations and deliveries due.
func TestDeliverySnapshotBeforeConsentRestores(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "snapshot_deliveries_before_consent.golden"))
	if err != nil {
		t.Fatal(err)
	}
	r := newFSM(t)
	if err := r.Restore(nopCloser{bytes.NewReader(old)}); err != nil {
		t.Fatalf("Restore(old snapshot): %v", err)
	}
	var again bytes.Buffer
	if err := r.WriteSnapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), old) {
		t.Fatal("restore then snapshot changed the old bytes")
	}
	if ds := r.Destinations(); len(ds) != 2 {
		t.Errorf("destinations after restore: %+v", ds)
	}
	if got := dueOf(r, t0.Add(time.Minute)); !slices.Contains(got, "ads audience.entered "+p1+" 1") {
		t.Errorf("due after restore = %q", got)
	}
}
