package catalog

import (
	"errors"
	"slices"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/profile"
)

// The survivorship kind round-trips; a catalog without it keeps the
// bytes it had before the kind existed (3, 5 or 7 fields), and with it
// the encoding grows an eighth array.
func TestSurvivorshipEncoding(t *testing.T) {
	for _, base := range []Catalog{
		mustWith(t, Catalog{}, "orders", ComputedTrait{Event: "Order Completed", Aggregate: "count"}),
		consentCatalog(t),
	} {
		before, _ := base.Marshal()
		c := mustWith(t, base, "first_name", Survivorship{Policy: profile.PolicySourcePriority, Sources: []string{"crm", "pos"}})
		c = mustWith(t, c, SurvivorshipDefault, Survivorship{Policy: profile.PolicyMostFrequent})
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if b[1] != 0x98 {
			t.Fatalf("with survivorship the catalog starts %x", b[:2])
		}
		back, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if b2, _ := back.Marshal(); string(b) != string(b2) || !slices.Equal(back.Survivorship["first_name"].Sources, []string{"crm", "pos"}) {
			t.Fatalf("round trip: %+v", back.Survivorship)
		}
		// Removing every policy gives the old bytes back (but for the
		// version).
		c, _, err = c.Without(KindSurvivorship, "first_name", base.Version)
		if err != nil {
			t.Fatal(err)
		}
		c, _, _ = c.Without(KindSurvivorship, SurvivorshipDefault, base.Version)
		if after, _ := c.Marshal(); string(after) != string(before) {
			t.Fatalf("without policies the bytes differ: %x vs %x", after[:4], before[:4])
		}
		// The digest follows the policies, so edges re-render their views.
		c1, _ := Compile(base)
		c2, _ := Compile(mustWith(t, base, "x", Survivorship{Policy: profile.PolicyLongest}))
		if c1.Digest() == c2.Digest() {
			t.Fatal("a policy leaves the digest unchanged")
		}
	}
}

func TestSurvivorshipErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, field string
	}{
		{"first_name", `{"policy":"best"}`, "policy"},
		{"first_name", `{"policy":"source_priority"}`, "sources"},
		{"first_name", `{"policy":"longest","sources":["crm"]}`, "sources"},
		{"first_name", `{"policy":"source_priority","sources":["crm","crm"]}`, "sources"},
		{"first_name", `{"policy":"source_priority","sources":[""]}`, "sources"},
		{"first_name", `{"policy":"max","weight":2}`, "weight"},
		{"bad\nname", `{"policy":"max"}`, "name"},
	} {
		_, err := ParseDefinition(KindSurvivorship, tc.name, []byte(tc.body))
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s %s: %v, want an error on %s", tc.name, tc.body, err, tc.field)
		}
	}
	// Trait keys in camelCase are names too.
	if _, err := ParseDefinition(KindSurvivorship, "firstName", []byte(`{"policy":"longest"}`)); err != nil {
		t.Error(err)
	}
	if err := CheckName(KindSurvivorship, "address.city"); err != nil {
		t.Error(err)
	}
}

// Evaluations read the golden record: an audience over a trait sees the
// value the policy chose, not the latest write.
func TestSurvivorshipInEvaluation(t *testing.T) {
	c := mustWith(t, Catalog{}, "gold", Audience{Expression: `traits.tier == "gold"`})
	c = mustWith(t, c, "tier", Survivorship{Policy: profile.PolicySourcePriority, Sources: []string{"crm"}})
	comp, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	p := profile.New("P")
	for i, w := range []struct{ src, tier string }{{"crm", "gold"}, {"web", "silver"}} {
		m := &profile.Message{Kind: profile.Identify, MessageID: w.src, Timestamp: t0, Traits: map[string]any{"tier": w.tier}}
		p.Apply(m, nil, profile.Source{Node: 1, Name: w.src}, crdt.Timestamp{Wall: t0.Add(time.Duration(i) * time.Minute).UnixMilli(), Node: 1})
	}
	if r := comp.Evaluate(p, t0.Add(time.Hour)); !slices.Equal(r.Audiences, []string{"gold"}) {
		t.Fatalf("audiences %v, want gold (the CRM's tier)", r.Audiences)
	}
	if ws := comp.Winners(p); len(ws) != 1 || ws[0].Source != "crm" || ws[0].Policy != profile.PolicySourcePriority {
		t.Fatalf("winners %+v", ws)
	}
}
