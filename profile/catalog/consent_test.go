package catalog

import (
	"errors"
	"slices"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/profile"
)

// consentCatalog: an audience and a computed trait marked under
// advertising, an offer needing advertising through the purpose, one
// needing it through its own consent field, and one needing nothing.
func consentCatalog(t *testing.T) Catalog {
	t.Helper()
	c := mustWith(t, Catalog{}, "buyers", Audience{Expression: `count("Order Completed", "lifetime") >= 1`})
	c = mustWith(t, c, "everyone", Audience{Expression: `true`})
	c = mustWith(t, c, "orders_30d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "30d"})
	for name, body := range map[string]string{
		"retarget": `{"placement":"home","priority":3}`,
		"ads_own":  `{"placement":"home","priority":2,"consent":"Advertising"}`,
		"plain":    `{"placement":"home","priority":1}`,
	} {
		o, err := ParseDefinition(KindOffer, name, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		c = mustWith(t, c, name, o)
	}
	cp, err := ParseDefinition(KindPurpose, "advertising", []byte(`{"traits":["email","orders_30d"],"audiences":["buyers"],"offers":["retarget"],"destinations":["ads_hook"],"recommendations":true}`))
	if err != nil {
		t.Fatal(err)
	}
	return mustWith(t, c, "advertising", cp)
}

// person applies messages for one user; consent states advertising.
func person(t *testing.T, comp *Compiled, consent map[string]bool) *profile.Profile {
	t.Helper()
	p := profile.New("P")
	m := &profile.Message{Kind: profile.Track, MessageID: "o1", Event: "Order Completed", Timestamp: t0.Add(-time.Hour),
		Traits: map[string]any{"email": "ann@example.com", "plan": "gold"}, Consent: consent}
	deliver(p, m, 1, comp)
	return p
}

func TestWithholdForPurpose(t *testing.T) {
	comp, err := Compile(consentCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	declined := person(t, comp, map[string]bool{"advertising": false})
	w := comp.Withhold(declined, "advertising")
	if !w.Any() || !w.Trait("email") || !w.Trait("orders_30d") || w.Trait("plan") || !w.Audience("buyers") || w.Audience("everyone") || !w.Recommendations() {
		t.Fatalf("declined: withheld %+v", w.purpose)
	}
	if comp.Withhold(declined, "analytics").Any() {
		t.Error("a built-in purpose the catalog does not define withholds something")
	}
	granted := person(t, comp, map[string]bool{"Advertising": true})
	if comp.Withhold(granted, "ADVERTISING").Any() {
		t.Error("withheld from a person who granted the purpose")
	}
	// No consent data: the default decides.
	silent := person(t, comp, nil)
	if !comp.Withhold(silent, "advertising").Any() {
		t.Error("consent-default denied: nothing withheld from a silent profile")
	}
	if comp.WithConsentDefault(true).Withhold(silent, "advertising").Any() {
		t.Error("consent-default granted: withheld from a silent profile")
	}
	if comp.WithConsentDefault(true).Digest() == comp.Digest() {
		t.Error("the consent default does not change the digest")
	}
	if !comp.KnownPurpose("Advertising") || !comp.KnownPurpose("analytics") || comp.KnownPurpose("adverts") {
		t.Error("KnownPurpose")
	}
	if got := comp.DestinationPurposes("ads_hook"); !slices.Equal(got, []string{"advertising"}) {
		t.Errorf("DestinationPurposes = %v", got)
	}
}

func TestDecideHonoursPurposes(t *testing.T) {
	comp, err := Compile(consentCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		consent map[string]bool
		deflt   bool
		want    []string
	}{
		{"declined", map[string]bool{"advertising": false}, true, []string{"plain"}},
		{"granted", map[string]bool{"advertising": true}, false, []string{"retarget", "ads_own", "plain"}},
		{"silent, default denied", nil, false, []string{"plain"}},
		{"silent, default granted", nil, true, []string{"retarget", "ads_own", "plain"}},
	} {
		c := comp.WithConsentDefault(tc.deflt)
		p := person(t, c, tc.consent)
		var got []string
		for _, o := range c.Decide(p, t0, "home", 10, false).Offers {
			got = append(got, o.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Decide = %v, want %v", tc.name, got, tc.want)
		}
		offers, _ := c.Rank(p, t0, nil)
		var ranked []string
		for _, o := range offers {
			ranked = append(ranked, o.ID)
		}
		if !slices.Equal(ranked, tc.want) {
			t.Errorf("%s: Rank = %v, want %v", tc.name, ranked, tc.want)
		}
	}
	d := comp.Decide(person(t, comp, map[string]bool{"advertising": false}), t0, "home", 10, true)
	for _, ex := range d.Explain {
		if ex.Offer == "retarget" && (ex.Eligible || ex.Reason != ReasonConsent || ex.Consent == nil || ex.Consent.Category != "advertising") {
			t.Errorf("retarget explained %+v", ex)
		}
	}
}

func TestConsentPurposeErrors(t *testing.T) {
	c := consentCatalog(t)
	for _, bad := range []struct{ kind, name, body, field string }{
		{KindPurpose, "Ads", `{}`, "name"},
		{KindPurpose, "ads", `{"audiences":["Nope!"]}`, "audiences"},
		{KindPurpose, "ads", `{"traits":[""]}`, "traits"},
		{KindPurpose, "ads", `{"colour":"red"}`, "colour"},
		{KindRetention, "other", `{"events_days":30}`, "name"},
		{KindRetention, RetentionPolicyName, `{}`, "events_days"},
		{KindRetention, RetentionPolicyName, `{"events_days":-1}`, "events_days"},
		{KindRetention, RetentionPolicyName, `{"inactive_days":30,"anonymous_days":60}`, "anonymous_days"},
		{KindRetention, RetentionPolicyName, `{"inactive_days":99999}`, "inactive_days"},
	} {
		_, err := ParseDefinition(bad.kind, bad.name, []byte(bad.body))
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != bad.field {
			t.Errorf("%s %s %s: %v, want an error on %s", bad.kind, bad.name, bad.body, err, bad.field)
		}
	}
	// Against the catalog: unknown audience, offer with an unknown
	// consent category; removing what a purpose lists is a conflict.
	var ce *Error
	if _, _, err := c.With("ads", ConsentPurpose{Audiences: []string{"nobody"}}, 9); !errors.As(err, &ce) || ce.Field != "audiences" {
		t.Errorf("unknown audience: %v", err)
	}
	if _, _, err := c.With("o", Offer{Placement: "home", Consent: "adverts"}, 9); !errors.As(err, &ce) || ce.Field != "consent" {
		t.Errorf("unknown consent category: %v", err)
	}
	if _, _, err := c.With("o", Offer{Placement: "home", Consent: "Marketing"}, 9); err != nil {
		t.Errorf("built-in consent category refused: %v", err)
	}
	if _, _, err := c.Without(KindOffer, "retarget", 9); !errors.As(err, &ce) || !ce.Conflict {
		t.Errorf("removing an offer a purpose lists: %v", err)
	}
	// An offer may need a purpose the catalog defines.
	c2 := mustWith(t, c, "loyalty", ConsentPurpose{})
	c2 = mustWith(t, c2, "club", Offer{Placement: "home", Consent: "loyalty"})
	if _, _, err := c2.Without(KindPurpose, "loyalty", 9); !errors.As(err, &ce) || !ce.Conflict {
		t.Errorf("removing a purpose an offer needs: %v", err)
	}
}

// The new kinds round-trip; without them a catalog keeps its old bytes.
func TestConsentAndRetentionEncoding(t *testing.T) {
	c := consentCatalog(t)
	without := c
	without.ConsentPurposes = nil
	b, _ := without.Marshal()
	if b[1] != 0x95 { // fixarray of 5: offers and models, nothing new
		t.Fatalf("a catalog without purposes or retention starts %x", b[:2])
	}
	c = mustWith(t, c, RetentionPolicyName, Retention{EventsDays: 30, InactiveDays: 365, AnonymousDays: 30})
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != 0x97 {
		t.Fatalf("with purposes and retention the catalog starts %x", b[:2])
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := back.Marshal()
	if string(b) != string(b2) || back.Retention[RetentionPolicyName].InactiveDays != 365 || !slices.Equal(back.ConsentPurposes["advertising"].Offers, []string{"retarget"}) {
		t.Fatalf("round trip: %+v", back)
	}
	if _, err := Compile(back); err != nil {
		t.Fatal(err)
	}
}

// Retention: two replicas that received the same events in different
// orders, one pruned and one not, compute the same windows, and after
// pruning both hold the same events.
func TestRetentionWindowsOnTwoReplicas(t *testing.T) {
	c := mustWith(t, Catalog{}, "orders", ComputedTrait{Event: "Order Completed", Aggregate: "count"})
	c = mustWith(t, c, "orders_90d", ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "90d"})
	c = mustWith(t, c, RetentionPolicyName, Retention{EventsDays: 30})
	comp, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(17 * time.Minute) // the cutoff is on the hour: t0 - 30 days
	var msgs []*profile.Message
	for i, ago := range []time.Duration{60 * day, 31 * day, 30*day + 10*time.Minute, 29 * day, time.Hour} {
		msgs = append(msgs, &profile.Message{Kind: profile.Track, MessageID: string(rune('a' + i)), Event: "Order Completed", Timestamp: t0.Add(-ago)})
	}
	a, b := profile.New("P"), profile.New("P")
	for _, m := range msgs {
		deliver(a, m, 1, comp)
	}
	for _, m := range slices.Backward(msgs) {
		deliver(b, m, 2, comp)
	}
	ra, rb := comp.Evaluate(a, now), comp.Evaluate(b, now)
	if ra.Computed[0].Value != int64(2) || ra.Computed[1].Value != int64(2) {
		t.Fatalf("replica a: %v, want 2 orders within retention", ra.Computed)
	}
	cut, ok := comp.RetentionCutoff(now)
	if !ok || cut != t0.Add(-30*day).UnixMilli() {
		t.Fatalf("cutoff %v", time.UnixMilli(cut))
	}
	a.Prune(cut)
	// The same values pruned or not; an unpruned replica is told to
	// come back at the next hour (and prune then).
	pa := comp.Evaluate(a, now)
	if !slices.Equal(computedOf(pa), computedOf(rb)) {
		t.Fatalf("pruned %v, unpruned %v", pa.Computed, rb.Computed)
	}
	if want := t0.Add(NowGranularity); !rb.Next.Equal(want) {
		t.Errorf("unpruned Next = %v, want %v", rb.Next, want)
	}
	b.Prune(cut)
	a.Merge(b)
	b.Merge(a)
	if !a.Equal(b) || len(a.Events()) != 2 || len(b.Events()) != 2 {
		t.Fatalf("after pruning: %d and %d events, equal %v", len(a.Events()), len(b.Events()), a.Equal(b))
	}
	// The 29-day-old order leaves at the first hour its age passes 30 days.
	if want := t0.Add(day).Add(NowGranularity); !pa.Next.Equal(want) {
		t.Errorf("pruned Next = %v, want %v", pa.Next, want)
	}
}

func computedOf(r Result) []any {
	var out []any
	for _, v := range r.Computed {
		out = append(out, v.Value)
	}
	return out
}

func TestExpired(t *testing.T) {
	policy := Retention{InactiveDays: 365, AnonymousDays: 30}
	clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	mk := func(ids []profile.Identifier, lastSeen time.Time) *profile.Profile {
		p := profile.New("P")
		m := &profile.Message{Kind: profile.Track, MessageID: "m", Event: "Page Viewed", Timestamp: lastSeen, Identifiers: ids}
		p.Apply(m, ids, profile.Source{Node: 1}, clk.Now())
		return p
	}
	anon := []profile.Identifier{{Type: profile.AnonymousID, Value: "a1"}, {Type: profile.DeviceID, Value: "d1"}}
	known := []profile.Identifier{{Type: profile.AnonymousID, Value: "a1"}, {Type: profile.Email, Value: "ann@example.com"}}
	for _, tc := range []struct {
		name   string
		p      *profile.Profile
		now    time.Time
		want   bool
		reason string
	}{
		{"anonymous, fresh", mk(anon, t0), t0.Add(29 * day), false, ""},
		{"anonymous, 30 days", mk(anon, t0), t0.Add(30 * day), true, ExpiredAnonymous},
		{"known, 30 days", mk(known, t0), t0.Add(30 * day), false, ""},
		{"known, 364 days", mk(known, t0), t0.Add(364 * day), false, ""},
		{"known, 365 days", mk(known, t0), t0.Add(365 * day), true, ExpiredInactive},
		// The clock is the hour: 30 days minus a minute is not yet.
		{"anonymous, within the hour", mk(anon, t0.Add(30*time.Minute)), t0.Add(30*day + 59*time.Minute), false, ""},
	} {
		got, why := Expired(tc.p, policy, tc.now)
		if got != tc.want || why != tc.reason {
			t.Errorf("%s: Expired = %v %q, want %v %q", tc.name, got, why, tc.want, tc.reason)
		}
	}
	erased := mk(anon, t0)
	erased.Erase([]byte("s"), clk.Now())
	if got, _ := Expired(erased, policy, t0.Add(400*day)); got {
		t.Error("an erased profile expired")
	}
	if got, _ := Expired(mk(anon, t0), Retention{EventsDays: 10}, t0.Add(4000*day)); got {
		t.Error("expired without an inactive or anonymous rule")
	}
}
