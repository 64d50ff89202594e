package hub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/hub/webhook"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

const hookSecret = "whsec-0123456789abcdef"

// receipt is one request a receiver got.
type receipt struct {
	id, typ string
	attempt string
	event   hub.WebhookEvent
	status  int
	at      time.Time
}

// receiver is a webhook endpoint on loopback. answer decides each
// request's status (nil: 200) from the request and n, the number of
// attempts made before it (its Ucv-Attempt − 1: a request sent again by
// a new leader after an unplanned election, which the race detector on
// a loaded machine can cause, repeats its attempt number and gets the
// same answer); every request's signature must verify.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	got    []receipt
	clock  func() time.Time // the verifier's clock: the cluster's
	answer func(r receipt, n int) (status int, header map[string]string)
}

func newReceiver(t testing.TB, answer func(r receipt, n int) (int, map[string]string)) *receiver {
	rc := &receiver{t: t, answer: answer, clock: time.Now}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if err := webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.SignatureHeader), body, rc.clock(), 5*time.Minute); err != nil {
		rc.t.Errorf("delivery %s: signature: %v", r.Header.Get(webhook.IDHeader), err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rp := receipt{id: r.Header.Get(webhook.IDHeader), typ: r.Header.Get(webhook.TypeHeader), attempt: r.Header.Get(webhook.AttemptHeader), at: time.Now()}
	if err := json.Unmarshal(body, &rp.event); err != nil {
		rc.t.Errorf("body %s: %v", body, err)
	}
	if rp.event.ID != rp.id || rp.event.Type != rp.typ {
		rc.t.Errorf("header id %s type %s, body id %s type %s", rp.id, rp.typ, rp.event.ID, rp.event.Type)
	}
	n := 0
	if _, err := fmt.Sscan(rp.attempt, &n); err != nil || n < 1 {
		rc.t.Errorf("attempt header %q", rp.attempt)
	}
	n--
	rp.status = 200
	var hdr map[string]string
	if rc.answer != nil {
		rp.status, hdr = rc.answer(rp, n)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, rp)
	rc.mu.Unlock()
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.status)
}

// delivered returns the first receipt answered 2xx of each delivery
// ID, in order.
func (rc *receiver) delivered() []receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []receipt
	seen := map[string]bool{}
	for _, r := range rc.got {
		if r.status < 300 && !seen[r.id] {
			seen[r.id] = true
			out = append(out, r)
		}
	}
	return out
}

// all returns the receipts, in order, the first of each (delivery ID,
// attempt) only: at least once on the wire means an attempt may be
// repeated by a new leader.
func (rc *receiver) all() []receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []receipt
	seen := map[[2]string]bool{}
	for _, r := range rc.got {
		if k := [2]string{r.id, r.attempt}; !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// raw returns every receipt, in order.
func (rc *receiver) raw() []receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// fastHooks shrinks the deliverer's backoff so retries take
// milliseconds.
func fastHooks(c *hub.Config) {
	c.Webhooks = &hub.WebhookConfig{Timeout: 2 * time.Second, Concurrency: 4, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
}

// hookCluster starts a 3-node cluster with audience "vip" (plan = vip)
// and returns it with an apply helper.
func hookCluster(t *testing.T) (*hubtest.Cluster, func(cmd []byte) *hub.Result) {
	t.Helper()
	c := hubtest.NewClusterWith(t, 3, fastHooks)
	apply := func(cmd []byte) *hub.Result {
		t.Helper()
		r, err := c.Apply(c.Leader(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	apply(must(define(catalog.KindAudience, "vip", `{"expression":"'plan' in traits && traits.plan == 'vip'"}`)))
	return c, apply
}

func destBody(url string, extra string) string {
	return fmt.Sprintf(`{"type":"webhook","url":%q,"secret":%q,"events":["audience.entered","audience.exited","profile.merged","profile.unmerged"]%s}`, url, hookSecret, extra)
}

// plan is an identify event setting profile id's plan.
func plan(id, p string) hubtest.Event {
	return hubtest.Event{Profile: id, Kind: profile.Identify, Traits: map[string]any{"plan": p}, IDs: []profile.Identifier{hubtest.Email(id + "@example.org")}}
}

func pushAll(t *testing.T, e *hubtest.Edge, apply func([]byte) *hub.Result, evs ...hubtest.Event) *hub.Result {
	t.Helper()
	var es []replication.Entry
	for _, ev := range evs {
		es = append(es, e.Delta(ev))
	}
	return apply(must(hub.MarshalSync(&hub.SyncBatch{Edge: e.Name, Entries: es})))
}

// settled waits until every node agrees that destination name has
// nothing pending and delivered n.
func settled(t *testing.T, c *hubtest.Cluster, name string, delivered uint64) {
	t.Helper()
	c.WaitFor(fmt.Sprintf("%s: %d delivered, none pending, on every node", name, delivered), func() bool {
		for i := range c.Len() {
			s := c.Server(i)
			if s == nil {
				continue
			}
			st, ok := s.FSM().Destination(name)
			if !ok || st.Pending != 0 || st.Delivered != delivered {
				return false
			}
		}
		return true
	})
}

// One transition is one delivery, system-wide: signed (the receiver
// verifies every request), with the body the decision record describes,
// acknowledged on every node; the secret never comes back.
func TestWebhookSignedOnce(t *testing.T) {
	c, apply := hookCluster(t)
	rc := newReceiver(t, nil)
	apply(must(define(hub.KindDestination, "crm", destBody(rc.srv.URL, `,"audiences":["vip"]`))))
	e := hubtest.NewEdge("e", 1)
	pushAll(t, e, apply, plan("p1", "vip"), plan("p2", "basic"))
	settled(t, c, "crm", 1)
	got := rc.delivered()
	if len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want 1: %+v", len(got), got)
	}
	ev := got[0].event
	if ev.Type != hub.EventEntered || ev.Audience != "vip" || ev.Profile.ID != "p1" || ev.Cause != "event" || ev.At.IsZero() {
		t.Errorf("event = %+v, want p1 entering vip", ev)
	}
	if want := []profile.Identifier{hubtest.Email("p1@example.org")}; !slices.Equal(ev.Profile.Identities, want) {
		t.Errorf("identities = %v, want %v", ev.Profile.Identities, want)
	}
	if got[0].attempt != "1" {
		t.Errorf("attempt header = %q, want 1", got[0].attempt)
	}
	for i := range c.Len() {
		st, _ := c.Server(i).FSM().Destination("crm")
		if st.Definition.Secret != "" {
			t.Errorf("node %d: status carries the secret", i)
		}
		if st.Failed != 0 || st.DeadLetters != 0 || !st.OldestPending.IsZero() {
			t.Errorf("node %d: status %+v", i, st)
		}
	}
	// A tampered body or another secret does not verify.
	body, _ := json.Marshal(ev)
	sig := webhook.Sign([]byte(hookSecret), time.Now(), body)
	if err := webhook.Verify([]byte(hookSecret), sig, append(body, ' '), time.Now(), time.Minute); err == nil {
		t.Error("a changed body verified")
	}
	if err := webhook.Verify([]byte("another-secret-0123456789"), sig, body, time.Now(), time.Minute); err == nil {
		t.Error("another secret verified")
	}
	if err := webhook.Verify([]byte(hookSecret), sig, body, time.Now().Add(time.Hour), time.Minute); err == nil {
		t.Error("an hour-old signature verified with a minute's tolerance")
	}
}

// A receiver failing its first attempts (503, then a timeout-free 500)
// gets the delivery once it recovers, every attempt under the same
// delivery ID; a 429's Retry-After is honoured (the leaders' clock is
// moved past it, not slept through).
func TestWebhookRetriesUntilRecovered(t *testing.T) {
	c, apply := hookCluster(t)
	const failures = 3
	rc := newReceiver(t, func(r receipt, n int) (int, map[string]string) {
		switch {
		case r.event.Profile.ID == "p1" && n < failures:
			return []int{503, 500, 502}[n], nil
		case r.event.Profile.ID == "p2" && n == 0:
			return 429, map[string]string{"Retry-After": "3600"}
		}
		return 200, nil
	})
	rc.clock = c.Clock().Now
	apply(must(define(hub.KindDestination, "crm", destBody(rc.srv.URL, ""))))
	e := hubtest.NewEdge("e", 1)
	pushAll(t, e, apply, plan("p1", "vip"))
	settled(t, c, "crm", 1)
	all := rc.all()
	if len(all) != failures+1 {
		t.Fatalf("receiver got %d requests, want %d", len(all), failures+1)
	}
	for i, r := range all {
		if r.id != all[0].id || r.attempt != fmt.Sprint(i+1) {
			t.Errorf("request %d: id %s attempt %s, want %s attempt %d", i, r.id, r.attempt, all[0].id, i+1)
		}
	}
	st, _ := c.Server(c.Leader()).FSM().Destination("crm")
	if st.LastError != "HTTP 502" || st.LastErrorAt.IsZero() {
		t.Errorf("last error %q at %v, want HTTP 502", st.LastError, st.LastErrorAt)
	}

	pushAll(t, e, apply, plan("p2", "vip"))
	c.WaitFor("the 429", func() bool { return len(rc.all()) == failures+2 })
	c.WaitFor("the retry to be scheduled", func() bool {
		st, _ := c.Server(c.Leader()).FSM().Destination("crm")
		return st.LastError == "HTTP 429"
	})
	if n := len(rc.delivered()); n != 1 {
		t.Fatalf("delivered %d before Retry-After passed, want 1", n)
	}
	c.Clock().Advance(time.Hour + time.Second)
	settled(t, c, "crm", 2)
}

// A leader killed while a request is in flight: the next leader sends
// what was not acknowledged, under the same delivery ID, and every node
// ends with it delivered once.
func TestWebhookLeaderKilledMidDelivery(t *testing.T) {
	c, apply := hookCluster(t)
	held := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(r receipt, n int) (int, map[string]string) {
		if n == 0 {
			once.Do(func() { close(held) })
			<-release // the first attempt hangs until the leader is gone
			return 503, nil
		}
		return 200, nil
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	apply(must(define(hub.KindDestination, "crm", destBody(rc.srv.URL, ""))))
	e := hubtest.NewEdge("e", 1)
	pushAll(t, e, apply, plan("p1", "vip"))
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("no request reached the receiver")
	}
	old := c.Leader()
	c.Kill(old)
	close(release)
	nl := c.Leader()
	settled(t, c, "crm", 1)
	got := rc.raw()
	if len(got) < 2 {
		t.Fatalf("receiver got %d requests, want the hung one and the new leader's", len(got))
	}
	for _, r := range got {
		if r.id != got[0].id {
			t.Errorf("delivery IDs differ: %s and %s", got[0].id, r.id)
		}
	}
	if d := rc.delivered(); len(d) != 1 {
		t.Errorf("delivered %d times, want once", len(d))
	}
	c.Restart(old)
	settled(t, c, "crm", 1)
	_ = nl
}

// Per profile, an exit never arrives before its entry, even when the
// entry needs retries; profiles do not wait for one another.
func TestWebhookOrderPerProfile(t *testing.T) {
	c, apply := hookCluster(t)
	rc := newReceiver(t, func(r receipt, n int) (int, map[string]string) {
		if r.typ == hub.EventEntered && n < 2 {
			return 500, nil
		}
		return 200, nil
	})
	apply(must(define(hub.KindDestination, "crm", destBody(rc.srv.URL, ""))))
	e := hubtest.NewEdge("e", 1)
	var ids []string
	for i := range 5 {
		ids = append(ids, fmt.Sprintf("p%d", i))
	}
	for _, id := range ids {
		pushAll(t, e, apply, plan(id, "vip"))
	}
	for _, id := range ids {
		pushAll(t, e, apply, plan(id, "basic"))
	}
	for _, id := range ids {
		pushAll(t, e, apply, plan(id, "vip"))
	}
	settled(t, c, "crm", uint64(3*len(ids)))
	seen := map[string][]string{}
	for _, r := range rc.all() {
		seen[r.event.Profile.ID] = append(seen[r.event.Profile.ID], fmt.Sprintf("%s/%d", r.typ, r.status))
	}
	want := []string{"audience.entered/500", "audience.entered/500", "audience.entered/200", "audience.exited/200",
		"audience.entered/500", "audience.entered/500", "audience.entered/200"}
	for _, id := range ids {
		if !slices.Equal(seen[id], want) {
			t.Errorf("%s: receiver saw %v, want %v", id, seen[id], want)
		}
	}
}

// A 4xx fails a delivery at once, max_attempts retries end in the dead
// letter list; a replay sends them again under their IDs.
func TestWebhookDeadLetterAndReplay(t *testing.T) {
	c, apply := hookCluster(t)
	var mu sync.Mutex
	healthy := false
	rc := newReceiver(t, func(r receipt, n int) (int, map[string]string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case healthy:
			return 200, nil
		case r.event.Profile.ID == "p1":
			return 410, nil
		}
		return 500, nil
	})
	apply(must(define(hub.KindDestination, "crm", destBody(rc.srv.URL, `,"max_attempts":3`))))
	e := hubtest.NewEdge("e", 1)
	pushAll(t, e, apply, plan("p1", "vip"), plan("p2", "vip"))
	c.WaitFor("two dead letters", func() bool {
		st, _ := c.Server(c.Leader()).FSM().Destination("crm")
		return st.DeadLetters == 2 && st.Pending == 0
	})
	fsm := c.Server(c.Leader()).FSM()
	dead, more := fsm.DeadLetters("crm", 0, 10)
	if len(dead) != 2 || more {
		t.Fatalf("dead letters = %+v", dead)
	}
	byProfile := map[string]hub.DeadLetter{}
	for _, d := range dead {
		byProfile[d.Profile] = d
	}
	if d := byProfile["p1"]; d.Attempts != 1 || d.Error != "HTTP 410" {
		t.Errorf("p1's dead letter = %+v, want 1 attempt, HTTP 410", d)
	}
	if d := byProfile["p2"]; d.Attempts != 3 || !strings.Contains(d.Error, "gave up after 3 attempts: HTTP 500") {
		t.Errorf("p2's dead letter = %+v, want 3 attempts", d)
	}
	if n := len(rc.all()); n != 4 {
		t.Errorf("receiver got %d requests, want 1 + 3", n)
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	id, _ := hub.ParseDeliveryID(byProfile["p1"].ID)
	r := apply(must(hub.MarshalReplay(&hub.Replay{Dest: "crm", IDs: []uint64{id}, Actor: "ops"})))
	if r.Replayed != 1 {
		t.Fatalf("replayed %d, want 1", r.Replayed)
	}
	settled(t, c, "crm", 1)
	r = apply(must(hub.MarshalReplay(&hub.Replay{Dest: "crm", Actor: "ops"})))
	if r.Replayed != 1 {
		t.Fatalf("replay all: %d, want 1", r.Replayed)
	}
	settled(t, c, "crm", 2)
	var ids []string
	for _, d := range rc.delivered() {
		ids = append(ids, d.id)
	}
	if want := []string{byProfile["p1"].ID, byProfile["p2"].ID}; !slices.Equal(ids, want) {
		t.Errorf("delivered %v, want the dead letters' IDs %v", ids, want)
	}
	st, _ := fsm.Destination("crm")
	if st.Failed != 2 || st.DeadLetters != 0 {
		t.Errorf("status after replay: %+v", st)
	}
}

// A destination with a consent category sends only people who granted
// it; the others' transitions are not queued.
func TestWebhookConsent(t *testing.T) {
	c, apply := hookCluster(t)
	rc := newReceiver(t, nil)
	apply(must(define(hub.KindDestination, "ads", destBody(rc.srv.URL, `,"consent":"Advertising"`))))
	e := hubtest.NewEdge("e", 1)
	granted, refused, silent := plan("p1", "vip"), plan("p2", "vip"), plan("p3", "vip")
	granted.Consent = map[string]bool{"Advertising": true}
	refused.Consent = map[string]bool{"Advertising": false, "Analytics": true}
	pushAll(t, e, apply, granted, refused, silent)
	settled(t, c, "ads", 1)
	if got := rc.delivered(); len(got) != 1 || got[0].event.Profile.ID != "p1" {
		t.Fatalf("delivered %+v, want only p1", got)
	}
}

// A destination a catalog consent purpose lists (decision 0041) sends
// only people who granted that purpose, though the destination itself
// names no consent category.
func TestWebhookConsentPurpose(t *testing.T) {
	c, apply := hookCluster(t)
	rc := newReceiver(t, nil)
	apply(must(define(catalog.KindPurpose, "advertising", `{"destinations":["ads"]}`)))
	apply(must(define(hub.KindDestination, "ads", destBody(rc.srv.URL, ""))))
	e := hubtest.NewEdge("e", 1)
	granted, refused, silent := plan("p1", "vip"), plan("p2", "vip"), plan("p3", "vip")
	granted.Consent = map[string]bool{"ADVERTISING": true}
	refused.Consent = map[string]bool{"advertising": false, "analytics": true}
	pushAll(t, e, apply, granted, refused, silent)
	settled(t, c, "ads", 1)
	if got := rc.delivered(); len(got) != 1 || got[0].event.Profile.ID != "p1" {
		t.Fatalf("delivered %+v, want only p1", got)
	}
}

// Deleting a destination drops its pending deliveries (counted) and
// nothing more is sent to it.
func TestWebhookDestinationDeleted(t *testing.T) {
	c, apply := hookCluster(t)
	rc := newReceiver(t, func(receipt, int) (int, map[string]string) { return 503, map[string]string{"Retry-After": "3600"} })
	apply(must(define(hub.KindDestination, "crm", destBody(rc.srv.URL, ""))))
	e := hubtest.NewEdge("e", 1)
	pushAll(t, e, apply, plan("p1", "vip"), plan("p2", "vip"), plan("p3", "vip"))
	c.WaitFor("three attempts", func() bool { return len(rc.all()) == 3 })
	r := apply(must(undefine(hub.KindDestination, "crm")))
	if r.Dropped != 3 {
		t.Errorf("dropped %d, want 3", r.Dropped)
	}
	c.WaitApplied(r.Index)
	for i := range c.Len() {
		f := c.Server(i).FSM()
		if _, ok := f.Destination("crm"); ok || f.PendingDeliveries() != 0 {
			t.Errorf("node %d still holds the destination or its queue", i)
		}
	}
	c.Clock().Advance(2 * time.Hour)
	pushAll(t, e, apply, plan("p1", "basic"))
	r = pushAll(t, e, apply, plan("p4", "vip"))
	c.WaitApplied(r.Index)
	if n := len(rc.all()); n != 3 {
		t.Errorf("receiver got %d requests after the deletion, want 3", n)
	}
	// An audience a destination names cannot be removed while it does.
	rc2 := newReceiver(t, nil)
	apply(must(define(hub.KindDestination, "crm2", destBody(rc2.srv.URL, `,"audiences":["vip"]`))))
	if _, err := c.Apply(c.Leader(), must(undefine(catalog.KindAudience, "vip"))); err == nil || !strings.Contains(err.Error(), "crm2") {
		t.Errorf("removing an audience a destination names: %v, want a conflict naming crm2", err)
	}
}
