package integration_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"ucv/profile"
)

// An offer defined at the hub reaches two edges syncing through it; an
// impression the app reported to both tills (one messageId) counts once
// everywhere, and a second one, at the other till, caps the offer at both
// — each edge decides from its own store with the hub's catalog.
func TestOfferCapAcrossEdgesThroughHub(t *testing.T) {
	h, url := newHub(t, "h0")
	adminDo(t, "PUT", url+"/v1/admin/audiences/buyers", `{"expression":"count(\"Order Completed\", \"lifetime\") >= 1"}`)
	v := adminDo(t, "PUT", url+"/v1/admin/offers/loyal", `{"placement":"checkout","eligibility":"\"buyers\" in audiences",
		"priority":"double(count(\"Order Completed\", \"30d\"))","cap":{"max":2,"window":"24h"},"payload":{"code":"LOYAL"}}`)
	var es []*edge
	for i := range 2 {
		e := openEdge(t, filepath.Join(t.TempDir(), fmt.Sprintf("edge-%d.db", i)))
		e.sync(url)
		waitFor(t, "the offer to reach the edge", func() bool { return e.st.Catalog().Catalog().Version == v })
		es = append(es, e)
	}
	zoe := profile.Identifier{Type: profile.UserID, Value: "zoe"}
	// decide answers zoe's offers at e: the decision stored with the view
	// when there is one, checked against deciding from the profile read
	// after it — when both reads saw the same version (a sync may apply
	// the other till's event between them).
	compared := 0
	decide := func(e *edge) []string {
		d, found, stored, err := e.st.Decision("", zoe, false, "checkout", 3)
		if err != nil || !found {
			return []string{fmt.Sprintf("not found (%v)", err)}
		}
		id, err := e.st.ResolveIdentifier(zoe)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.st.Profile(id)
		if err != nil {
			t.Fatal(err)
		}
		var fresh, got []string
		for _, o := range e.st.Catalog().Decide(p, time.Now(), "checkout", 3, false).Offers {
			fresh = append(fresh, fmt.Sprintf("%s=%g", o.ID, o.Score))
		}
		for _, o := range d.Offers {
			got = append(got, fmt.Sprintf("%s=%g", o.ID, o.Score))
		}
		if v := p.Version.String(); v != d.Version {
			return []string{fmt.Sprintf("moved from %s to %s between the reads", d.Version, v)}
		}
		if stored {
			compared++
			if !slices.Equal(got, fresh) {
				t.Fatalf("stored decision %v, deciding from the profile %v (both at %s)", got, fresh, d.Version)
			}
		}
		return fresh
	}
	until := func(what string, want ...string) {
		t.Helper()
		for i, e := range es {
			waitFor(t, fmt.Sprintf("edge %d: %s", i, what), func() bool { return slices.Equal(decide(e), want) })
		}
	}
	es[0].ingest(`{"type":"track","event":"Order Completed","userId":"zoe","messageId":"order-1"}`)
	until("zoe to be a buyer everywhere", "loyal=1")
	shown := `{"type":"track","event":"Offer Shown","userId":"zoe","messageId":"imp-1","properties":{"offer_id":"loyal"}}`
	es[0].ingest(shown)
	es[1].ingest(shown) // the app's retry reached the other till
	waitFor(t, "the edges to settle", func() bool { return es[0].settled(h) && es[1].settled(h) })
	until("one impression, counted once", "loyal=1")
	es[1].ingest(`{"type":"track","event":"Offer Shown","userId":"zoe","messageId":"imp-2","properties":{"offer_id":"loyal"}}`)
	until("two impressions to cap the offer everywhere")
	if compared == 0 {
		t.Fatal("no stored decision was compared with the profile's")
	}
}
